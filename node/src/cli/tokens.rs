//! `vexil tokens …` (admin).

use clap::Subcommand;
use serde_json::json;

use super::client::encode;
use super::output::{self, Format, outln};
use super::versioned::print_list;
use super::{CliError, Ctx};

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token; its secret is printed this once.
    Create {
        /// The token's name (what the audit log shows as the actor).
        name: String,
        /// admin, editor, viewer or sdk.
        #[arg(long)]
        role: String,
    },
    /// Every token (names and roles, never secrets).
    List,
    /// Revoke a token.
    Revoke {
        /// The token's name.
        name: String,
    },
}

pub fn run(ctx: &Ctx, cmd: TokensCmd) -> Result<(), CliError> {
    match cmd {
        TokensCmd::Create { name, role } => create(ctx, &name, &role),
        TokensCmd::List => {
            let v = ctx.client.get("/v1/tokens")?;
            let items = v["tokens"].as_array().cloned().unwrap_or_default();
            print_list(ctx, items, &["name", "role", "created_at", "created_by"])
        }
        TokensCmd::Revoke { name } => {
            let v = ctx
                .client
                .delete(&format!("/v1/tokens/{}", encode(&name)))?;
            match ctx.format {
                Format::Json => output::json(&v),
                Format::Table => outln!("revoked token {name}"),
            }
        }
    }
}

fn create(ctx: &Ctx, name: &str, role: &str) -> Result<(), CliError> {
    let v = ctx
        .client
        .post("/v1/tokens", &json!({ "name": name, "role": role }))?;
    match ctx.format {
        Format::Json => output::json(&v),
        Format::Table => {
            outln!("created token {name} ({role}); its secret, shown once:")?;
            outln!("{}", output::cell(v.get("secret")))
        }
    }
}
