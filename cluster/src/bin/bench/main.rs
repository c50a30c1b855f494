//! `vexil-bench`: Vexil's own benchmarks, on local clusters started with the
//! launcher. Each part prints a table and the command that reproduces it.
//!
//! ```text
//! vexil-bench writes --concurrency 1,16,64 --seconds 10 [--target both --etcd-urls …]
//! vexil-bench scale --flags 10000 --audit 1000000
//! vexil-bench promote --flags 2000 --rounds 3
//! vexil-bench feed --subscribers 10000 --writes 20 --interval-ms 500
//! ```

mod common;
mod feed;
mod promote;
mod scale;
mod writes;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "vexil-bench", about = "Benchmarks of Vexil on local clusters")]
struct Cli {
    /// The vexil binary to benchmark (a release build, normally).
    #[arg(long, env = "VEXIL_BIN", global = true)]
    bin: Option<PathBuf>,
    /// Scratch directory for node data.
    #[arg(long, global = true, default_value = "/tmp/vexil-bench")]
    dir: PathBuf,
    #[command(subcommand)]
    part: Part,
}

#[derive(Debug, Subcommand)]
enum Part {
    /// Acknowledged replicated writes per second at several concurrencies.
    Writes {
        #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
        concurrency: Vec<usize>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Nodes in the cluster.
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        /// What to load: Vexil, an etcd cluster, or both and compare.
        #[arg(long, value_enum, default_value = "vexil")]
        target: writes::Target,
        /// Client URLs of a running etcd cluster (for `--target etcd|both`).
        #[arg(long, value_delimiter = ',')]
        etcd_urls: Vec<String>,
    },
    /// Pages, restarts, snapshots, joins and SDK cold start at scale.
    Scale {
        #[arg(long, default_value_t = 10_000)]
        flags: usize,
        #[arg(long, default_value_t = 1_000_000)]
        audit: usize,
        /// Projects to add, each with `--envs` environments and
        /// `--project-flags` flags configured in every one of them.
        #[arg(long, default_value_t = 0)]
        projects: usize,
        #[arg(long, default_value_t = 5)]
        envs: usize,
        #[arg(long, default_value_t = 2_000)]
        project_flags: usize,
    },
    /// A promotion of every flag of a project: dry run, apply, rollback.
    Promote {
        #[arg(long, default_value_t = 2_000)]
        flags: usize,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Change-feed propagation to many subscribers on a follower, and the
    /// follower's memory per subscriber.
    Feed {
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        #[arg(long, default_value_t = 20)]
        writes: usize,
        /// Pause between writes, in milliseconds.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let bin = cli.bin.clone().unwrap_or_else(common::default_bin);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vexil-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<String> = std::env::args().collect();
    let result = rt.block_on(async {
        match cli.part {
            Part::Writes {
                concurrency,
                seconds,
                nodes,
                target,
                etcd_urls,
            } => {
                let o = writes::Options {
                    concurrency,
                    seconds,
                    nodes,
                    target,
                    etcd_urls,
                };
                writes::run(&bin, &cli.dir, &o).await
            }
            Part::Scale {
                flags,
                audit,
                projects,
                envs,
                project_flags,
            } => {
                let projects = scale::Projects {
                    projects,
                    envs,
                    flags: project_flags,
                };
                scale::run(&bin, &cli.dir, flags, audit, projects).await
            }
            Part::Promote { flags, rounds } => promote::run(&bin, &cli.dir, flags, rounds).await,
            Part::Feed {
                subscribers,
                writes,
                interval_ms,
            } => feed::run(&bin, &cli.dir, subscribers, writes, interval_ms).await,
        }
    });
    match result {
        Ok(()) => {
            println!("\nreproduce: {}", args.join(" "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vexil-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
