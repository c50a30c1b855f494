//! The `vexil` binary: parses arguments and hands over to the library.

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vexil_node::config::{LogFormat, ServeArgs};

/// Vexil: a local-first feature flag service.
#[derive(Debug, Parser)]
#[command(name = "vexil", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node (a one-node cluster unless told otherwise).
    Serve(ServeArgs),
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

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = match args.validate() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("vexil: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            init_logs(config.log_format);
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("vexil: cannot start the async runtime: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            let shutdown = async {
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
            };
            match rt.block_on(vexil_node::server::serve(config, shutdown)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vexil: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}
