//! `vexil-soak`: fault scenarios on real `vexil` processes.
//!
//! ```text
//! vexil-soak kill9 --seconds 120        # SIGKILL the leader every ~5 s under ~100 writes/s
//! vexil-soak snapshot-kill              # SIGKILL a node while it installs a snapshot
//! vexil-soak membership-kill            # SIGKILL the leader during a membership change
//! vexil-soak disk-full --dir /mnt/small # writes refused, reads and feed work, recovery
//! ```
//! Each scenario verifies its outcome and exits non-zero on any violation.

mod checks;
mod disk;
mod kill9;
mod promote;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "vexil-soak", about = "Fault scenarios on real vexil processes")]
struct Cli {
    /// The vexil binary.
    #[arg(long, env = "VEXIL_BIN", global = true)]
    bin: Option<PathBuf>,
    /// Scratch directory for node data and logs.
    #[arg(long, global = true, default_value = "/tmp/vexil-soak")]
    dir: PathBuf,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// SIGKILL the leader every `--kill-every` seconds under steady writes.
    Kill9 {
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        /// Target writes per second.
        #[arg(long, default_value_t = 100)]
        rate: u64,
        #[arg(long, default_value_t = 5)]
        kill_every: u64,
    },
    /// SIGKILL a node in the middle of installing a snapshot.
    SnapshotKill,
    /// SIGKILL the leader while a new member is being added.
    MembershipKill,
    /// Fill the data directory's device: writes are refused with a clear
    /// error, reads and the feed keep working, and writes resume after.
    DiskFull {
        /// A small filesystem to run the node on (e.g. a 64 MiB tmpfs).
        #[arg(long)]
        device_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let bin = cli.bin.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("vexil")))
            .unwrap_or_else(|| PathBuf::from("vexil"))
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vexil-soak: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.scenario {
            Scenario::Kill9 {
                seconds,
                rate,
                kill_every,
            } => kill9::run(&bin, &cli.dir, seconds, rate, kill_every).await,
            Scenario::SnapshotKill => scenarios::snapshot_kill(&bin, &cli.dir).await,
            Scenario::MembershipKill => scenarios::membership_kill(&bin, &cli.dir).await,
            Scenario::DiskFull { device_dir } => disk::run(&bin, &device_dir).await,
        }
    });
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vexil-soak: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}
