//! `vexil tokens …` (admin).

use clap::Subcommand;
use serde_json::json;
use vexil_flags::scope::{ProjectGrant, describe_scope, parse_grants};

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
        /// A project (`web`) or one of its environments (`web/staging`)
        /// the token reaches; repeat for more. Without it the token
        /// reaches every project. An sdk token names one environment, and
        /// is served it by `/v1/evaluate`, `/v1/stream` and OFREP.
        #[arg(long = "scope", value_name = "PROJECT[/ENV]")]
        scope: Vec<String>,
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
        TokensCmd::Create { name, role, scope } => create(ctx, &name, &role, &scope),
        TokensCmd::List => {
            let v = ctx.client.get("/v1/tokens")?;
            let mut items = v["tokens"].as_array().cloned().unwrap_or_default();
            if ctx.format == Format::Table {
                for t in &mut items {
                    let scope: Option<Vec<ProjectGrant>> =
                        serde_json::from_value(t["scope"].clone()).unwrap_or_default();
                    t["scope"] = json!(describe_scope(scope.as_deref()));
                }
            }
            print_list(
                ctx,
                items,
                &["name", "role", "scope", "created_at", "created_by"],
            )
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

fn create(ctx: &Ctx, name: &str, role: &str, scope: &[String]) -> Result<(), CliError> {
    let mut body = json!({ "name": name, "role": role });
    if !scope.is_empty() {
        body["scope"] = json!(parse_grants(scope).map_err(CliError::Usage)?);
    }
    let v = ctx.client.post("/v1/tokens", &body)?;
    match ctx.format {
        Format::Json => output::json(&v),
        Format::Table => {
            outln!("created token {name} ({role}); its secret, shown once:")?;
            outln!("{}", output::cell(v.get("secret")))
        }
    }
}
