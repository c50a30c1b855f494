//! The `vexil` binary: parses arguments and hands over to the library —
//! `serve` runs a node, every other command is a client of one
//! (`vexil_node::cli`).

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vexil_node::cli::error::exit;
use vexil_node::cli::{CliError, ClientCommand, Connection};
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
    /// Before the command; `command()` adds them after each client command.
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node (a one-node cluster unless told otherwise).
    Serve(Box<ServeArgs>),
    /// Every admin token lost? On a stopped node, write a new admin secret
    /// into its data directory; the node creates the token `recovered-…`
    /// (an audited write) when it starts again and rejoins its quorum.
    RecoverAdminToken {
        /// The stopped node's data directory.
        #[arg(long, env = "VEXIL_DATA_DIR")]
        data_dir: std::path::PathBuf,
    },
    #[command(flatten)]
    Client(ClientCommand),
}

fn init_logs(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,openraft=error"));
    // Colour only for a person at a terminal: a journal or a log file gets
    // plain text, not escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
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

/// The command line. The connection options (`--url`, `--token`,
/// `--output`, `--timeout`) are taken before any command, and after each
/// client command (global there, so `vexil flags list --url …` works), but
/// are not options of `serve`: a global option at the top would be.
/// Clap merges a global option's value into every level's matches, so
/// `Cli::conn` sees a value given at either place.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    let conn: Vec<clap::Arg> = Connection::augment_args(clap::Command::new("connection"))
        .get_arguments()
        .map(|a| a.clone().global(true))
        .collect();
    let clients: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .filter(|name| name != "serve" && name != "recover-admin-token")
        .collect();
    for name in clients {
        cmd = cmd.mut_subcommand(name, |c| c.args(conn.iter().cloned()));
    }
    cmd
}

/// A connection option given on the command line before `serve`.
fn client_option_given(matches: &clap::ArgMatches) -> Option<&'static str> {
    ["url", "token", "output", "timeout"]
        .into_iter()
        .find(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Serve(_) if client_option_given(&matches).is_some() => {
            let id = client_option_given(&matches).unwrap_or_default();
            eprintln!(
                "vexil: --{id} is an option of the client commands; `vexil serve` does not take it"
            );
            ExitCode::from(exit::USAGE)
        }
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
        Command::RecoverAdminToken { data_dir } => match vexil_node::recovery::prepare(&data_dir) {
            Ok(path) => {
                println!(
                    "Wrote a new admin secret to {} (readable by its owner only).\n\
                     Start the node: once it has rejoined its cluster it creates the token \
                     `recovered-…` with it (the audit log shows its creation).",
                    path.display()
                );
                ExitCode::from(exit::OK)
            }
            Err(e) => {
                eprintln!("vexil: {e:#}");
                ExitCode::from(exit::USAGE)
            }
        },
        Command::Client(cmd) => match vexil_node::cli::run(&cli.conn, cmd) {
            Ok(()) => ExitCode::from(exit::OK),
            // The reader of stdout has gone (`| head`): nothing to say.
            Err(e @ CliError::StdoutClosed) => ExitCode::from(e.exit_code()),
            Err(e) => {
                eprintln!("vexil: {e}");
                ExitCode::from(e.exit_code())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let matches = command().try_get_matches_from(args).unwrap();
        Cli::from_arg_matches(&matches).unwrap()
    }

    #[test]
    fn t66_connection_options_go_before_or_after_a_client_command() {
        let before = parse(&["vexil", "--url", "http://a:1", "flags", "list"]);
        assert_eq!(before.conn.url.as_deref(), Some("http://a:1"));
        let after = parse(&["vexil", "flags", "list", "--url", "http://b:1"]);
        assert_eq!(after.conn.url.as_deref(), Some("http://b:1"));
        let mixed = parse(&[
            "vexil",
            "--token",
            "t",
            "eval",
            "f",
            "--output",
            "json",
            "--timeout",
            "2s",
        ]);
        assert_eq!(mixed.conn.token.as_deref(), Some("t"));
        assert_eq!(
            mixed.conn.output,
            Some(vexil_node::cli::output::Format::Json)
        );
        assert_eq!(mixed.conn.timeout, Some(std::time::Duration::from_secs(2)));
    }

    #[test]
    fn t66_serve_does_not_take_the_client_options() {
        let mut cmd = command();
        cmd.build();
        let serve = cmd.find_subcommand_mut("serve").unwrap();
        let help = serve.render_long_help().to_string();
        for option in ["--url", "--token", "--output", "--timeout"] {
            assert!(
                !help.contains(option),
                "serve --help lists {option}:\n{help}"
            );
        }
        let flags = cmd.find_subcommand_mut("flags").unwrap();
        let help = flags.render_long_help().to_string();
        assert!(help.contains("--url"), "{help}");
    }

    /// Every option and argument of every command says what it is for.
    #[test]
    fn t66_every_option_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut cmd = command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "vexil", &mut missing);
        assert!(missing.is_empty(), "options without help: {missing:#?}");
    }
}
