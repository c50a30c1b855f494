//! `vexil-cluster`: run a local N-node cluster from the command line.
//!
//! ```text
//! vexil-cluster up 3            # start nodes 1..3, print their URLs
//! vexil-cluster status          # who leads, who is ready
//! vexil-cluster kill 2          # SIGKILL node 2
//! vexil-cluster restart 2       # kill and start node 2 again
//! vexil-cluster down            # stop every node
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vexil_cluster::{Cluster, Spec};

#[derive(Debug, Parser)]
#[command(name = "vexil-cluster", about = "Run N local vexil nodes")]
struct Cli {
    /// Where node data, logs and cluster.json live.
    #[arg(
        long,
        env = "VEXIL_CLUSTER_DIR",
        default_value = ".vexil-cluster",
        global = true
    )]
    dir: PathBuf,
    /// The vexil binary (defaults to the one next to this command).
    #[arg(long, env = "VEXIL_BIN", global = true)]
    bin: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start N nodes as a new cluster. Arguments after `--` go to every
    /// `vexil serve` (e.g. `-- --snapshot-every 100`).
    Up {
        n: u64,
        #[arg(last = true)]
        serve_args: Vec<String>,
    },
    /// Stop every node (SIGTERM).
    Down,
    /// Show each node's address, pid and readiness, and the leader.
    Status,
    /// SIGKILL one node.
    Kill { id: u64 },
    /// Kill and start one node again.
    Restart { id: u64 },
}

fn default_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("vexil")))
        .unwrap_or_else(|| PathBuf::from("vexil"))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Up { n, serve_args } => {
            let bin = cli.bin.unwrap_or_else(default_bin);
            let mut spec = Spec::fast(bin, &cli.dir);
            spec.extra_args = serve_args;
            let cluster = Cluster::up(spec, n)?;
            println!("admin token: {}", cluster.spec.admin_token);
            for node in cluster.nodes.values() {
                println!("node {}: http://{} (peer {})", node.id, node.api, node.peer);
            }
            // The nodes outlive this command.
            std::mem::forget(cluster);
        }
        Cmd::Down => Cluster::load(&cli.dir)?.down()?,
        Cmd::Status => {
            let cluster = Cluster::load(&cli.dir)?;
            for node in cluster.nodes.values() {
                let ready = if cluster.ready(node.id).is_some() {
                    "ready"
                } else {
                    "not ready"
                };
                let pid = node.pid.map_or("-".to_owned(), |p| p.to_string());
                println!("node {}: http://{} pid {pid} {ready}", node.id, node.api);
            }
            match cluster.leader() {
                Some(l) => println!("leader: node {l}"),
                None => println!("leader: none agreed"),
            }
        }
        Cmd::Kill { id } => Cluster::load(&cli.dir)?.kill(id)?,
        Cmd::Restart { id } => Cluster::load(&cli.dir)?.restart(id)?,
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vexil-cluster: {e:#}");
            ExitCode::FAILURE
        }
    }
}
