//! `vexil-chaos`: run many seeds of the simulation (long soaks).
//!
//! ```text
//! vexil-chaos --seeds 1000               # seeds 0..1000, stop at the first failure
//! vexil-chaos --seeds 2000 --keep-going  # run them all, list every failure
//! vexil-chaos --seed 4242                # replay one seed, printing its faults
//! ```

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "vexil-chaos",
    about = "Seeded fault-injection runs of a simulated Vexil cluster"
)]
struct Cli {
    /// Run exactly this seed and print its fault trace and membership
    /// changes.
    #[arg(long)]
    seed: Option<u64>,
    /// Number of seeds to run.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Write the run's history and fault trace here (with --seed), to diff
    /// two runs.
    #[arg(long)]
    dump: Option<std::path::PathBuf>,
    /// Cluster size (3 or 5).
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// No membership changes (the workload before they were added).
    #[arg(long)]
    no_membership: bool,
    /// Run every seed, each in a process of its own, then list each failure
    /// (instead of stopping at the first).
    #[arg(long)]
    keep_going: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let seeds: Vec<u64> = match cli.seed {
        Some(s) => vec![s],
        None => (cli.start..cli.start + cli.seeds).collect(),
    };
    let started = Instant::now();
    let (mut passed, mut ops) = (0u64, 0usize);
    let mut failed: Vec<(u64, String)> = Vec::new();
    for seed in seeds {
        if cli.keep_going {
            // Each seed in a process of its own, as a replay runs it (runs
            // sharing a process also share tokio's task counters, which
            // shifts scheduling), and so that a panic in a node fails one
            // seed instead of the soak.
            match isolated(&cli, seed) {
                Ok(()) => passed += 1,
                Err(why) => {
                    eprintln!("seed {seed} FAILED: {why}");
                    failed.push((seed, why));
                }
            }
            if (passed + failed.len() as u64).is_multiple_of(10) {
                println!(
                    "{passed} seeds passed, {} failed ({:.0?}); last: seed {seed}",
                    failed.len(),
                    started.elapsed()
                );
            }
            continue;
        }
        let mut opts = vexil_chaos_tests::Options::new(seed);
        opts.nodes = cli.nodes;
        opts.membership = !cli.no_membership;
        let report = vexil_chaos_tests::run(&opts);
        ops += report.ops;
        if let Some(path) = &cli.dump {
            let text = report.fingerprint.replace("},{", "},\n{");
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("cannot write {}: {e}", path.display());
            }
        }
        if cli.seed.is_some() {
            println!("faults:");
            for line in &report.faults {
                println!("{line}");
            }
            println!("membership changes:");
            for line in &report.changes {
                println!("{line}");
            }
        }
        if !report.violations.is_empty() {
            eprintln!("seed {seed} FAILED:");
            for v in &report.violations {
                eprintln!("  - {v}");
            }
            eprintln!("replay: {}", report.replay());
            return ExitCode::FAILURE;
        }
        passed += 1;
        if passed % 10 == 0 || cli.seed.is_some() {
            println!(
                "{passed} seeds passed ({ops} operations, {:.0?}); last: seed {seed}, {} acked writes, {} terms, {} membership changes",
                started.elapsed(),
                report.acked_writes,
                report.terms,
                report.changes.len()
            );
        }
    }
    if failed.is_empty() {
        println!("all {passed} seeds passed in {:.0?}", started.elapsed());
        return ExitCode::SUCCESS;
    }
    println!(
        "{passed} seeds passed, {} failed, in {:.0?}:",
        failed.len(),
        started.elapsed()
    );
    for (seed, why) in &failed {
        println!("  seed {seed}: {why}");
    }
    ExitCode::FAILURE
}

/// Wall-clock seconds after which a child running one seed is killed.
const SEED_DEADLINE_SECS: u64 = 180;

/// Runs `seed` as `vexil-chaos --seed <seed>` in a child process; on a
/// failure, says how (its first violation or its panic) and how to replay.
fn isolated(cli: &Cli, seed: u64) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "--seed",
        &seed.to_string(),
        "--nodes",
        &cli.nodes.to_string(),
    ]);
    if cli.no_membership {
        cmd.arg("--no-membership");
    }
    let mut child = cmd
        .env("RUST_BACKTRACE", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    // A seed takes about a second; one that runs for minutes is stuck.
    let deadline = Instant::now() + std::time::Duration::from_secs(SEED_DEADLINE_SECS);
    let mut stderr = String::new();
    let mut pipe = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(p) = pipe.as_mut() {
            let _ = std::io::Read::read_to_string(p, &mut text);
        }
        text
    });
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break Some(status),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    if let Ok(text) = reader.join() {
        stderr = text;
    }
    match status {
        Some(s) if s.success() => return Ok(()),
        Some(_) => {}
        None => stderr = format!("  - still running after {SEED_DEADLINE_SECS} s: killed (hung)"),
    }
    let first = stderr
        .lines()
        .find(|l| l.starts_with("  - "))
        .or_else(|| {
            let mut lines = stderr.lines();
            lines.find(|l| l.contains("panicked"))?;
            lines.next()
        })
        .unwrap_or("no violation printed");
    let first: String = first.trim_start_matches("  - ").chars().take(200).collect();
    let mut replay = format!("scripts/chaos.sh --seed {seed}");
    if cli.nodes != 3 {
        replay += &format!(" --nodes {}", cli.nodes);
    }
    if cli.no_membership {
        replay += " --no-membership";
    }
    Err(format!("{replay}  # {first}"))
}
