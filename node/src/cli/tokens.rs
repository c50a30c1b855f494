//! `vexil tokens …` (admin).

use clap::Subcommand;
use serde_json::json;

use super::client::encode;
use super::output::{self, Format};
use super::versioned::print_list;
use super::{CliError, Ctx};

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token; its secret is printed this once.
    Create {
        name: String,
        /// admin, editor, viewer or sdk.
        #[arg(long)]
        role: String,
    },
    /// Every token (names and roles, never secrets).
    List,
    /// Revoke a token.
    Revoke { name: String },
}

pub fn run(ctx: &Ctx, cmd: TokensCmd) -> Result<(), CliError> {
    match cmd {
        TokensCmd::Create { name, role } => create(ctx, &name, &role),
        TokensCmd::List => {
            let v = ctx.client.get("/v1/tokens")?;
            let items = v["tokens"].as_array().cloned().unwrap_or_default();
            print_list(ctx, items, &["name", "role", "created_at", "created_by"]);
            Ok(())
        }
        TokensCmd::Revoke { name } => {
            let v = ctx
                .client
                .delete(&format!("/v1/tokens/{}", encode(&name)))?;
            match ctx.format {
                Format::Json => output::json(&v),
                Format::Table => println!("revoked token {name}"),
            }
            Ok(())
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
            println!("created token {name} ({role}); its secret, shown once:");
            println!("{}", output::cell(v.get("secret")));
        }
    }
    Ok(())
}
