//! `vexil-cluster`: run a local N-node cluster from the command line.
//!
//! ```text
//! vexil-cluster up 3            # start nodes 1..3, print their URLs
//! vexil-cluster status          # who leads, who is ready
//! vexil-cluster kill 2          # SIGKILL node 2
//! vexil-cluster restart 2       # kill and start node 2 again
//! vexil-cluster down            # stop every node
//! ```
//!
//! Nodes outlive the command that started them; `down` stops them.
//! Secrets come from `VEXIL_CLUSTER_SECRET` / `VEXIL_ADMIN_TOKEN` or
//! `--cluster-secret-file` / `--admin-token-file`, else local defaults.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
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
        /// How many nodes (ids 1..=N).
        n: u64,
        /// A file holding the cluster secret (else $VEXIL_CLUSTER_SECRET,
        /// else a local default).
        #[arg(long, value_name = "FILE")]
        cluster_secret_file: Option<PathBuf>,
        /// A file holding the first admin token (else $VEXIL_ADMIN_TOKEN,
        /// else a local default).
        #[arg(long, value_name = "FILE")]
        admin_token_file: Option<PathBuf>,
        /// Extra `vexil serve` arguments for every node.
        #[arg(last = true)]
        serve_args: Vec<String>,
    },
    /// Stop every node (SIGTERM; SIGKILL if one has not exited after 15 s)
    /// and wait until they have exited.
    Down,
    /// Show each node's address, pid and readiness, and the leader.
    Status,
    /// SIGKILL one node.
    Kill {
        /// The node's id.
        id: u64,
    },
    /// Kill and start one node again; it keeps running after this command.
    Restart {
        /// The node's id.
        id: u64,
    },
}

fn default_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("vexil")))
        .unwrap_or_else(|| PathBuf::from("vexil"))
}

/// A secret from a file (trimmed), else an environment variable, else
/// `default`; says where it came from.
fn secret(
    file: Option<&Path>,
    var: &str,
    default: String,
) -> anyhow::Result<(String, &'static str)> {
    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let text = text.trim();
        if text.is_empty() {
            bail!("{} is empty", path.display());
        }
        return Ok((text.to_owned(), "file"));
    }
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok((v, "env")),
        _ => Ok((default, "default")),
    }
}

fn up(
    cli: &Cli,
    n: u64,
    secret_file: Option<&Path>,
    token_file: Option<&Path>,
    serve_args: Vec<String>,
) -> anyhow::Result<()> {
    let bin = cli.bin.clone().unwrap_or_else(default_bin);
    let mut spec = Spec::fast(bin, &cli.dir);
    spec.extra_args = serve_args;
    (spec.cluster_secret, _) = secret(secret_file, "VEXIL_CLUSTER_SECRET", spec.cluster_secret)?;
    let (token, from) = secret(token_file, "VEXIL_ADMIN_TOKEN", spec.admin_token)?;
    spec.admin_token = token;
    let cluster = Cluster::up(spec, n)?;
    match from {
        // A token the caller chose is not echoed.
        "default" => println!("admin token: {}", cluster.spec.admin_token),
        "env" => println!("admin token: the one in VEXIL_ADMIN_TOKEN"),
        _ => println!("admin token: the one in the --admin-token-file"),
    }
    for node in cluster.nodes.values() {
        println!("node {}: http://{} (peer {})", node.id, node.api, node.peer);
    }
    cluster.detach();
    Ok(())
}

fn status(dir: &Path) -> anyhow::Result<()> {
    let cluster = Cluster::load(dir)?;
    for node in cluster.nodes.values() {
        let state = match node.pid {
            None => "stopped".to_owned(),
            Some(pid) if !cluster.is_running(node.id) => format!("pid {pid} exited"),
            Some(pid) if cluster.ready(node.id).is_some() => format!("pid {pid} ready"),
            Some(pid) => format!("pid {pid} running, not ready"),
        };
        println!("node {}: http://{} {state}", node.id, node.api);
    }
    match cluster.leader() {
        Some(l) => println!("leader: node {l}"),
        None => println!("leader: none agreed"),
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Cmd::Up {
            n,
            cluster_secret_file,
            admin_token_file,
            serve_args,
        } => up(
            &cli,
            *n,
            cluster_secret_file.as_deref(),
            admin_token_file.as_deref(),
            serve_args.clone(),
        )?,
        Cmd::Down => Cluster::load(&cli.dir)?.down()?,
        Cmd::Status => status(&cli.dir)?,
        Cmd::Kill { id } => Cluster::load(&cli.dir)?.kill(*id)?,
        Cmd::Restart { id } => {
            let mut cluster = Cluster::load(&cli.dir)?;
            let restarted = cluster.restart(*id);
            // The restarted node outlives this command, even one slow to
            // become ready (`status` shows it).
            cluster.detach();
            restarted?;
        }
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
