//! `vexil promote` and `vexil promotions …`: copying flag configurations
//! from one environment to another (`POST /v1/projects/{p}/promote`), and
//! the promotions made, each rolled back as a whole.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::encode;
use super::output::{self, Format, outln};
use super::{CliError, Ctx};

/// `vexil promote --from staging --to production [--flag K]… [--tag T] [--all] [--dry-run]`,
/// in the project chosen by `--project` (`VEXIL_PROJECT`, the config
/// file's `project`; `default` otherwise).
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The environment copied from.
    #[arg(long)]
    from: String,
    /// The environment copied to.
    #[arg(long)]
    to: String,
    /// A flag to promote (repeat for more).
    #[arg(long = "flag", conflicts_with_all = ["tag", "all"])]
    flags: Vec<String>,
    /// Promote the flags with this tag.
    #[arg(long, conflicts_with = "all")]
    tag: Option<String>,
    /// Promote every flag of the project.
    #[arg(long)]
    all: bool,
    /// Only show what would change.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum PromotionsCmd {
    /// A project's promotions, newest first.
    List,
    /// One promotion: its flags, and each target's versions before and after.
    Get {
        /// The promotion's id (`promotions list`, or what `promote` printed).
        id: u64,
    },
    /// Give every flag a promotion changed its earlier configuration, in
    /// one entry (refused if one changed since).
    Rollback {
        /// The promotion's id (`promotions list`, or what `promote` printed).
        id: u64,
    },
}

impl PromoteArgs {
    fn body(&self) -> Result<Value, CliError> {
        let mut body = json!({"from": self.from, "to": self.to, "dry_run": true});
        if !self.flags.is_empty() {
            body["flags"] = json!(self.flags);
        } else if let Some(tag) = &self.tag {
            body["tag"] = json!(tag);
        } else if self.all {
            body["all"] = json!(true);
        } else {
            return Err(CliError::Usage(
                "name the flags to promote: --flag KEY (repeatable), --tag TAG or --all".into(),
            ));
        }
        Ok(body)
    }
}

/// Dry-runs the promotion, prints the plan, then (without `--dry-run`)
/// applies exactly that plan: the versions the dry run saw are sent as
/// the expected ones, so a flag changed meanwhile refuses the whole.
pub fn run(ctx: &Ctx, args: &PromoteArgs) -> Result<(), CliError> {
    let path = format!("/v1/projects/{}/promote", encode(ctx.project()));
    let mut body = args.body()?;
    let dry = ctx.client.post(&path, &body)?;
    if args.dry_run {
        return match ctx.format {
            Format::Json => output::json(&dry),
            Format::Table => print_plan(&dry, args),
        };
    }
    let missing = dry["plan"]["missing_segments"]
        .as_array()
        .is_some_and(|m| !m.is_empty());
    let changes = dry["plan"]["flags"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if !changes || missing {
        // Nothing to do, or refused: print the plan, and let the server
        // refuse (it names the segments) so the exit status says so.
        match ctx.format {
            Format::Table => print_plan(&dry, args)?,
            Format::Json if !changes => output::json(&dry)?,
            Format::Json => {}
        }
        if !changes {
            return Ok(());
        }
    }
    body["dry_run"] = json!(false);
    body["expected_versions"] = dry["expected_versions"].clone();
    body["source_versions"] = dry["source_versions"].clone();
    let done = ctx.client.post(&path, &body)?;
    match ctx.format {
        Format::Json => output::json(&done),
        Format::Table if done["applied"] != true => {
            print_plan(&done, args)?;
            outln!("nothing promoted: {} and {} are alike", args.from, args.to)
        }
        Format::Table => {
            print_plan(&done, args)?;
            let id = output::cell(done["promotion"].get("id"));
            outln!(
                "promoted {} flags from {} to {} as promotion {id} (`vexil promotions rollback {id}` undoes it)",
                done["promotion"]["flags"].as_array().map_or(0, Vec::len),
                args.from,
                args.to
            )
        }
    }
}

fn print_plan(v: &Value, args: &PromoteArgs) -> Result<(), CliError> {
    let mut rows = Vec::new();
    for f in v["plan"]["flags"].as_array().into_iter().flatten() {
        let changes: Vec<String> = f["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{}: {} -> {}",
                    c["field"].as_str().unwrap_or(""),
                    short(&c["before"]),
                    short(&c["after"])
                )
            })
            .collect();
        rows.push(vec![output::cell(f.get("key")), changes.join("; ")]);
    }
    output::table(&["flag", "changes"], &rows)?;
    for m in v["plan"]["missing_segments"]
        .as_array()
        .into_iter()
        .flatten()
    {
        outln!(
            "flag {} matches on segment {}, which {} lacks",
            output::cell(m.get("flag")),
            output::cell(m.get("segment")),
            args.to
        )?;
    }
    outln!(
        "{} flags change, {} are the same in {} and {}",
        rows.len(),
        v["plan"]["unchanged"].as_array().map_or(0, Vec::len),
        args.from,
        args.to
    )
}

/// A JSON value on one line, cut to 60 characters.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

/// The promotions of the project chosen by `--project` (`VEXIL_PROJECT`,
/// the config file's `project`; `default` otherwise).
pub fn run_promotions(ctx: &Ctx, cmd: PromotionsCmd) -> Result<(), CliError> {
    match cmd {
        PromotionsCmd::List => {
            // Every page, not the first 100.
            let promotions = ctx.client.all_pages(
                &format!("/v1/projects/{}/promotions", encode(ctx.project())),
                "promotions",
            )?;
            if ctx.format == Format::Json {
                return output::json(&json!({ "promotions": promotions }));
            }
            let rows: Vec<Vec<String>> = promotions
                .iter()
                .map(|p| {
                    vec![
                        output::cell(p.get("id")),
                        output::cell(p.get("at")),
                        output::cell(p.get("actor")),
                        format!(
                            "{} -> {}",
                            output::cell(p.get("from")),
                            output::cell(p.get("to"))
                        ),
                        p["flags"].as_array().map_or(0, Vec::len).to_string(),
                        p.get("rolled_back_by")
                            .map_or(String::new(), |b| format!("at {b}")),
                    ]
                })
                .collect();
            output::table(
                &["id", "at", "actor", "from -> to", "flags", "rolled back"],
                &rows,
            )
        }
        PromotionsCmd::Get { id } => {
            let v = ctx.client.get(&format!(
                "/v1/projects/{}/promotions/{id}",
                encode(ctx.project())
            ))?;
            output::json(&v)
        }
        PromotionsCmd::Rollback { id } => {
            let path = format!(
                "/v1/projects/{}/promotions/{id}/rollback",
                encode(ctx.project())
            );
            let v = ctx.client.post(&path, &Value::Null)?;
            match ctx.format {
                Format::Json => output::json(&v),
                Format::Table => outln!(
                    "rolled back promotion {id}: {} flags of {} have their earlier configuration",
                    v["flags"].as_array().map_or(0, Vec::len),
                    output::cell(v.get("to"))
                ),
            }
        }
    }
}
