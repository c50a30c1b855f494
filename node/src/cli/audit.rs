//! `vexil audit list`.

use clap::Subcommand;
use serde_json::Value;

use super::client::encode;
use super::versioned::print_list;
use super::{CliError, Ctx};

/// Every audit action the state machine writes.
pub const ACTIONS: [&str; 19] = vexil_raft::records::AUDIT_ACTIONS;

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Audit entries, newest first.
    List(AuditFilter),
}

/// Filters of `vexil audit list` (the API's `GET /v1/audit` query).
#[derive(Debug, clap::Args)]
pub struct AuditFilter {
    /// Entries about this flag.
    #[arg(long)]
    pub flag: Option<String>,
    /// Entries about this segment.
    #[arg(long)]
    pub segment: Option<String>,
    /// Entries about this token (by name).
    #[arg(long = "token-name")]
    pub token_name: Option<String>,
    /// Changes made by this token name.
    #[arg(long)]
    pub actor: Option<String>,
    /// Entries of this action.
    #[arg(long, value_parser = ACTIONS)]
    pub action: Option<String>,
    /// Entries at or after this RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Entries at or before this RFC 3339 time.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many entries.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub fn run(ctx: &Ctx, cmd: AuditCmd) -> Result<(), CliError> {
    match cmd {
        AuditCmd::List(f) => list(ctx, &f),
    }
}

fn list(ctx: &Ctx, f: &AuditFilter) -> Result<(), CliError> {
    let pairs = [
        ("flag", &f.flag),
        ("segment", &f.segment),
        ("token", &f.token_name),
        ("actor", &f.actor),
        ("action", &f.action),
        ("since", &f.since),
        ("until", &f.until),
    ];
    let mut query: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    query.push(format!("limit={}", f.limit.clamp(1, 1000)));
    let page = ctx.client.get(&format!("/v1/audit?{}", query.join("&")))?;
    let entries = page["entries"].as_array().cloned().unwrap_or_default();
    let entries: Vec<Value> = entries.into_iter().take(f.limit).collect();
    print_list(
        ctx,
        entries,
        &["id", "at", "actor", "action", "target", "version"],
    )
}
