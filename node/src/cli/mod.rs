//! The client commands of the `vexil` binary: they talk HTTP to any node
//! (`--url`, `--token`), print a table or JSON (`--output`), and exit with a
//! code that says what happened ([`error::exit`]).
//!
//! Connection settings come from, in order: the flags, `VEXIL_URL` /
//! `VEXIL_TOKEN` / `VEXIL_OUTPUT` / `VEXIL_PROJECT` / `VEXIL_ENV`, then a
//! TOML file (`$VEXIL_CLI_CONFIG`, else `$XDG_CONFIG_HOME/vexil/cli.toml`,
//! else `~/.config/vexil/cli.toml`) with the keys `url`, `token`, `output`,
//! `project` and `env`. `--project`/`--env` point `flags`, `segments` and
//! `eval` at one environment (without them: `default`'s `production`, the
//! routes without a project).
//!
//! # Layout
//! One module per command group, one function per command: [`flags`],
//! [`segments`], [`audit`], [`tokens`], [`cluster`], [`eval`],
//! [`export`] (and `apply`, in `crate::apply`), [`backup`] (backup, verify,
//! restore). [`client`] is the HTTP client, [`output`] prints.

pub mod audit;
pub mod backup;
pub mod client;
pub mod cluster;
pub mod error;
pub mod eval;
pub mod export;
pub mod flags;
pub mod output;
pub mod projects;
pub mod promote;
pub mod segments;
pub mod tokens;
pub mod versioned;

use std::path::PathBuf;

use clap::Subcommand;
use serde::Deserialize;

pub use client::Client;
pub use error::CliError;
use output::Format;

/// The default node URL.
pub const DEFAULT_URL: &str = "http://127.0.0.1:7070";

/// Connection options shared by every client command. They are accepted
/// before the command (`vexil --url U flags list`) and after it (`vexil
/// flags list --url U`), and never by `vexil serve` (see `main.rs`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Connection {
    /// A node's API URL (any node: writes are forwarded to the leader)
    /// [default: http://127.0.0.1:7070].
    #[arg(long, env = "VEXIL_URL")]
    pub url: Option<String>,
    /// The API token to send (as `Authorization: Bearer`).
    #[arg(long, env = "VEXIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// How to print results [default: table].
    #[arg(long, env = "VEXIL_OUTPUT", value_enum)]
    pub output: Option<Format>,
    /// How long to wait for a node's answer to one call, e.g. `30s`, `2m`
    /// [default: 30s]. A change whose answer does not come in time may
    /// still be made.
    #[arg(long, env = "VEXIL_TIMEOUT", value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<std::time::Duration>,
    /// The project `flags`, `segments` and `eval` work in [default:
    /// default].
    #[arg(long, env = "VEXIL_PROJECT")]
    pub project: Option<String>,
    /// The environment of the project they work in [default: production].
    #[arg(long = "env", env = "VEXIL_ENV")]
    pub env: Option<String>,
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
}

/// The CLI config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CliFile {
    url: Option<String>,
    token: Option<String>,
    output: Option<Format>,
    project: Option<String>,
    env: Option<String>,
}

/// Where the CLI config file is looked for.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VEXIL_CLI_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("vexil").join("cli.toml"))
}

/// Settled connection settings.
#[derive(Debug)]
pub struct Ctx {
    pub client: Client,
    pub format: Format,
    /// The project and environment `flags`, `segments` and `eval` work in,
    /// when not `default`'s `production` (whose routes have no project).
    pub env: Option<(String, String)>,
}

impl Ctx {
    /// The project chosen (`default` when none is).
    pub fn project(&self) -> &str {
        self.env
            .as_ref()
            .map_or(vexil_flags::scope::DEFAULT_PROJECT, |(p, _)| p)
    }

    /// `/v1/projects/{p}/environments/{e}`, when an environment is chosen.
    fn env_base(&self) -> Option<String> {
        self.env.as_ref().map(|(p, e)| {
            format!(
                "/v1/projects/{}/environments/{}",
                client::encode(p),
                client::encode(e)
            )
        })
    }

    /// Where one flag or segment (or project, environment) is read and
    /// changed.
    pub fn path(&self, kind: versioned::Kind, key: &str) -> String {
        match (kind, self.env_base()) {
            (versioned::Kind::Flag | versioned::Kind::Segment, Some(base)) => {
                format!("{base}/{}/{}", kind.plural(), client::encode(key))
            }
            _ => kind.path(key),
        }
    }

    /// Where the list of `kind` is read.
    pub fn list_path(&self, kind: versioned::Kind) -> String {
        match (kind, self.env_base()) {
            (versioned::Kind::Flag | versioned::Kind::Segment, Some(base)) => {
                format!("{base}/{}", kind.plural())
            }
            _ => format!("/v1/{}", kind.plural()),
        }
    }

    /// Where a flag is created and deleted: in every environment of the
    /// project at once, whichever one is chosen.
    pub fn project_flag_path(&self, key: Option<&str>) -> String {
        match (&self.env, key) {
            (Some((p, _)), Some(k)) => {
                format!(
                    "/v1/projects/{}/flags/{}",
                    client::encode(p),
                    client::encode(k)
                )
            }
            (Some((p, _)), None) => format!("/v1/projects/{}/flags", client::encode(p)),
            (None, Some(k)) => versioned::Kind::Flag.path(k),
            (None, None) => "/v1/flags".into(),
        }
    }

    /// Where evaluation is asked.
    pub fn evaluate_path(&self) -> String {
        match self.env_base() {
            Some(base) => format!("{base}/evaluate"),
            None => "/v1/evaluate".into(),
        }
    }
}

impl Connection {
    /// Fills what the flags and environment left unset from the config file.
    pub fn resolve(&self) -> Result<Ctx, CliError> {
        let file = match config_path() {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| CliError::local(&p.display().to_string(), e))?;
                toml::from_str::<CliFile>(&text)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", p.display())))?
            }
            // A file named on purpose must exist; the default one may not.
            Some(p) if std::env::var_os("VEXIL_CLI_CONFIG").is_some() => {
                return Err(CliError::Usage(format!(
                    "VEXIL_CLI_CONFIG names {}, which does not exist",
                    p.display()
                )));
            }
            _ => CliFile::default(),
        };
        let url = self
            .url
            .clone()
            .or(file.url)
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let token = self.token.clone().or(file.token);
        let format = self.output.or(file.output).unwrap_or_default();
        let project = self.project.clone().or(file.project);
        let env = self.env.clone().or(file.env);
        let env = match (project, env) {
            (None, None) => None,
            (p, e) => {
                let p = p.unwrap_or_else(|| vexil_flags::scope::DEFAULT_PROJECT.into());
                let e = e.unwrap_or_else(|| vexil_flags::scope::LEGACY_ENVIRONMENT.into());
                for (what, key) in [("--project", &p), ("--env", &e)] {
                    if vexil_flags::validate_key(what, key).is_some() {
                        return Err(CliError::Usage(format!(
                            "{what} {key:?}: a key is 1-128 of [A-Za-z0-9._-]"
                        )));
                    }
                }
                // Named, even as `default`/`production`: the scoped routes
                // (a token scoped to `default/production` may change its
                // configurations there, not through `/v1/flags`, which
                // also writes `default`'s other environments).
                Some((p, e))
            }
        };
        Ok(Ctx {
            client: Client::new(&url, token, self.timeout.unwrap_or(client::DEFAULT_TIMEOUT))?,
            format,
            env,
        })
    }
}

/// The client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Flags: list, get, create, update, delete, on, off, rollback, history.
    #[command(subcommand)]
    Flags(flags::FlagsCmd),
    /// Segments: list, get, create, update, delete, rollback, history.
    #[command(subcommand)]
    Segments(segments::SegmentsCmd),
    /// Projects: list, get, create, update, delete, rollback, history (admin for changes).
    #[command(subcommand)]
    Projects(projects::ProjectsCmd),
    /// A project's environments (`--project`, default `default`).
    #[command(subcommand)]
    Envs(projects::EnvsCmd),
    /// Copy flag configurations from one environment to another, as one
    /// change (a dry run first; `--dry-run` stops there).
    Promote(promote::PromoteArgs),
    /// Promotions made: list, get, rollback.
    #[command(subcommand)]
    Promotions(promote::PromotionsCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// API tokens (admin).
    #[command(subcommand)]
    Tokens(tokens::TokensCmd),
    /// Cluster members: status, add, remove, transfer-leader.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Evaluate a flag for a context; prints the value and the reason.
    Eval(eval::EvalArgs),
    /// Print every flag and segment as an apply file (JSON).
    Export(export::ExportArgs),
    /// Make the cluster's flags and segments match a file (YAML or JSON).
    Apply(crate::apply::ApplyArgs),
    /// Save a consistent backup through any node, or verify a backup file.
    Backup(backup::BackupArgs),
    /// Seed a new cluster member's data directory from a backup (offline).
    Restore(backup::RestoreArgs),
}

/// Runs one client command.
pub fn run(conn: &Connection, cmd: ClientCommand) -> Result<(), CliError> {
    if let ClientCommand::Restore(args) = &cmd {
        return backup::restore(args);
    }
    if let ClientCommand::Backup(args) = &cmd
        && args.verify.is_some()
    {
        return backup::verify(args, conn.output.unwrap_or_default());
    }
    let ctx = conn.resolve()?;
    match cmd {
        ClientCommand::Flags(c) => flags::run(&ctx, c),
        ClientCommand::Segments(c) => segments::run(&ctx, c),
        ClientCommand::Projects(c) => projects::run_projects(&ctx, c),
        ClientCommand::Envs(c) => projects::run_envs(&ctx, c),
        ClientCommand::Promote(a) => promote::run(&ctx, &a),
        ClientCommand::Promotions(c) => promote::run_promotions(&ctx, c),
        ClientCommand::Audit(c) => audit::run(&ctx, c),
        ClientCommand::Tokens(c) => tokens::run(&ctx, c),
        ClientCommand::Cluster(c) => cluster::run(&ctx, c),
        ClientCommand::Eval(a) => eval::run(&ctx, &a),
        ClientCommand::Export(a) => export::run(&ctx, &a),
        ClientCommand::Apply(a) => crate::apply::run(&ctx, &a),
        ClientCommand::Backup(a) => backup::backup(&ctx, &a),
        ClientCommand::Restore(a) => backup::restore(&a),
    }
}
