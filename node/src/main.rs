//! The `vexil` binary: parses arguments and hands over to the library —
//! `serve` runs a node, every other command is a client of one
//! (`vexil_node::cli`).

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vexil_node::cli::error::exit;
use vexil_node::cli::{ClientCommand, Connection};
use vexil_node::config::{LogFormat, ServeArgs, ServeConfig};

/// jemalloc instead of glibc's malloc: a node allocates and frees many
/// short-lived buffers per write (request, log entry, replication, apply),
/// and glibc's arena bookkeeping (`malloc_consolidate`, `unlink_chunk`) was
/// a tenth of the leader's CPU under load (docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Vexil: a local-first feature flag service.
///
/// Client commands exit with 0 (ok), 1 (other failure), 2 (usage error or
/// invalid request), 3 (not found), 4 (conflict), 5 (unauthorized or
/// forbidden) or 6 (unavailable: unreachable, no leader or quorum).
#[derive(Debug, Parser)]
#[command(name = "vexil", version, about)]
struct Cli {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node (a one-node cluster unless told otherwise).
    Serve(ServeArgs),
    #[command(flatten)]
    Client(ClientCommand),
}

fn init_logs(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,openraft=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn serve(config: ServeConfig) -> ExitCode {
    init_logs(config.log_format);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vexil: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(vexil_node::server::serve(config, stop_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vexil: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Serve(args) => {
            let serve_matches = matches.subcommand_matches("serve");
            let config = args
                .resolve(serve_matches)
                .and_then(|c| c.check_dirs().map(|()| c));
            match config {
                Ok(c) => serve(c),
                Err(e) => {
                    eprintln!("vexil: {e}");
                    ExitCode::from(exit::USAGE)
                }
            }
        }
        Command::Client(cmd) => match vexil_node::cli::run(&cli.conn, cmd) {
            Ok(()) => ExitCode::from(exit::OK),
            Err(e) => {
                eprintln!("vexil: {e}");
                ExitCode::from(e.exit_code())
            }
        },
    }
}
