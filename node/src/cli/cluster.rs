//! `vexil cluster status|add|remove|transfer-leader`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::output::{self, Format, outln};
use super::{CliError, Ctx};

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Every member's role, health, indexes and lag.
    Status,
    /// Add a member (started with `vexil serve --join`); waits for it to catch up.
    Add {
        /// The new member's id (its `vexil serve --id`).
        id: u64,
        /// host:port of the new node's peer listener.
        #[arg(long)]
        peer: String,
        /// host:port of the new node's API.
        #[arg(long)]
        client: String,
    },
    /// Remove a member (refused if it would lose quorum).
    Remove {
        /// The member's id.
        id: u64,
    },
    /// Move leadership (before restarting the leader's machine): to `--to`,
    /// or to the healthiest other voter. Waits until it moved.
    TransferLeader {
        /// The voter to lead.
        #[arg(long)]
        to: Option<u64>,
    },
}

pub fn run(ctx: &Ctx, cmd: ClusterCmd) -> Result<(), CliError> {
    match cmd {
        ClusterCmd::Status => status(ctx),
        ClusterCmd::Add { id, peer, client } => {
            let body = json!({ "id": id, "peer_addr": peer, "client_addr": client });
            let v = ctx.client.post("/v1/cluster/members", &body)?;
            done(ctx, &v, &format!("added node {id}"))
        }
        ClusterCmd::Remove { id } => {
            let v = ctx.client.delete(&format!("/v1/cluster/members/{id}"))?;
            done(ctx, &v, &format!("removed node {id}"))
        }
        ClusterCmd::TransferLeader { to } => {
            let body = match to {
                Some(to) => json!({ "to": to }),
                None => json!({}),
            };
            let v = ctx.client.post("/v1/cluster/leader", &body)?;
            let leader = v["leader"].as_u64().unwrap_or_default();
            done(ctx, &v, &format!("node {leader} leads"))
        }
    }
}

fn done(ctx: &Ctx, v: &Value, line: &str) -> Result<(), CliError> {
    match ctx.format {
        Format::Json => output::json(v),
        Format::Table => outln!("{line}"),
    }
}

fn status(ctx: &Ctx) -> Result<(), CliError> {
    let v = ctx.client.get("/v1/cluster")?;
    if ctx.format == Format::Json {
        return output::json(&v);
    }
    outln!(
        "cluster {}  leader {}  term {}",
        output::cell(v.get("cluster_id")),
        output::cell(v.get("leader")),
        output::cell(v.get("term"))
    )?;
    let members = v["members"].as_array().cloned().unwrap_or_default();
    let columns = [
        "id",
        "role",
        "is_leader",
        "healthy",
        "commit_index",
        "applied_index",
        "lag",
        "client_addr",
        "peer_addr",
        // Why a member is not healthy: refused, timed out, a wrong cluster
        // secret, another node at its address.
        "error",
    ];
    output::table(&columns, &output::rows(&members, &columns))
}
