//! `vexil flags …`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::encode;
use super::output::{self, Format, outln};
use super::versioned::{self, Kind};
use super::{CliError, Ctx};

#[derive(Debug, Subcommand)]
pub enum FlagsCmd {
    /// List flags (every page).
    List {
        /// Only flags with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only flags whose key or name contains this.
        #[arg(long)]
        search: Option<String>,
        /// Only flags that are on (true) or off (false).
        #[arg(long)]
        enabled: Option<bool>,
    },
    /// Print one flag.
    Get {
        /// The flag's key.
        key: String,
    },
    /// Create a flag from a file (JSON or YAML), or a boolean flag (off) by key.
    Create {
        /// The new boolean flag's key (without -f).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        key: Option<String>,
        /// The flag as JSON or YAML (`-` reads stdin).
        #[arg(short, long)]
        file: Option<PathBuf>,
    },
    /// Replace a flag with a file's content (its `version`, else the current one).
    Update {
        /// The flag as JSON or YAML, with its `key` (`-` reads stdin).
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Delete a flag (a rollback restores it).
    Delete {
        /// The flag's key.
        key: String,
        /// With `--project`/`--env`: a flag is deleted from every
        /// environment of its project at once; say so.
        #[arg(long)]
        all_environments: bool,
    },
    /// Turn a flag on.
    On {
        /// The flag's key.
        key: String,
    },
    /// Turn a flag off (the kill switch).
    Off {
        /// The flag's key.
        key: String,
    },
    /// Make a flag as it was at a version (a new version).
    Rollback {
        /// The flag's key.
        key: String,
        /// The version to go back to (see `history`).
        #[arg(long)]
        version: u64,
    },
    /// A flag's versions, newest first.
    History {
        /// The flag's key.
        key: String,
        /// At most this many versions.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

pub fn run(ctx: &Ctx, cmd: FlagsCmd) -> Result<(), CliError> {
    match cmd {
        FlagsCmd::List {
            tag,
            search,
            enabled,
        } => list(ctx, tag, search, enabled),
        FlagsCmd::Get { key } => versioned::get(ctx, Kind::Flag, &key),
        FlagsCmd::Create { key, file } => create(ctx, key, file),
        FlagsCmd::Update { file } => versioned::update(ctx, Kind::Flag, &file),
        FlagsCmd::Delete {
            key,
            all_environments,
        } => {
            if let (Some((p, _)), false) = (&ctx.env, all_environments) {
                return Err(CliError::Usage(format!(
                    "a flag is deleted from every environment of project {p} at once: add \
                     --all-environments, or turn it off here with `flags off {key}`"
                )));
            }
            versioned::delete(ctx, Kind::Flag, &key)
        }
        FlagsCmd::On { key } => toggle(ctx, &key, true),
        FlagsCmd::Off { key } => toggle(ctx, &key, false),
        FlagsCmd::Rollback { key, version } => versioned::rollback(ctx, Kind::Flag, &key, version),
        FlagsCmd::History { key, limit } => versioned::history(ctx, Kind::Flag, &key, limit),
    }
}

fn list(
    ctx: &Ctx,
    tag: Option<String>,
    search: Option<String>,
    enabled: Option<bool>,
) -> Result<(), CliError> {
    let mut query = Vec::new();
    if let Some(t) = tag {
        query.push(format!("tag={}", encode(&t)));
    }
    if let Some(q) = search {
        query.push(format!("q={}", encode(&q)));
    }
    // One environment's list has no `enabled` filter: it is applied here.
    if let (Some(e), None) = (enabled, &ctx.env) {
        query.push(format!("enabled={e}"));
    }
    let base = ctx.list_path(Kind::Flag);
    let path = if query.is_empty() {
        base
    } else {
        format!("{base}?{}", query.join("&"))
    };
    let mut flags = ctx.client.all_pages(&path, "flags")?;
    if let (Some(e), Some(_)) = (enabled, &ctx.env) {
        flags.retain(|f| f["enabled"].as_bool() == Some(e));
    }
    versioned::print_list(ctx, flags, &["key", "kind", "enabled", "version", "name"])
}

fn create(ctx: &Ctx, key: Option<String>, file: Option<PathBuf>) -> Result<(), CliError> {
    let doc: Value = match (key, file) {
        (_, Some(f)) => versioned::read_document(&f)?,
        (Some(key), None) => json!({
            "key": key,
            "kind": "boolean",
            "variations": [{"value": true}, {"value": false}],
            "off_variation": 1,
            "fallthrough": {"variation": 0},
            "enabled": false,
        }),
        (None, None) => return Err(CliError::Usage("give a key or -f FILE".into())),
    };
    if ctx.env.is_none() {
        return versioned::create(ctx, Kind::Flag, doc);
    }
    let v = create_in_env(ctx, &doc)?;
    let key = output::cell(v.get("key"));
    let (p, e) = ctx
        .env
        .as_ref()
        .map_or(("", ""), |(p, e)| (p.as_str(), e.as_str()));
    versioned::print_one(
        ctx,
        &v,
        &format!(
            "created flag {key} in project {p} (off in every environment but {e}, which has the file's configuration)"
        ),
    )
}

/// With one environment chosen (`ctx.env`), makes the flag `doc` in every
/// environment of the project, off and with no targeting, then gives the
/// chosen environment `doc`'s configuration; `vexil flags create` and
/// `vexil apply` share it. Returns the chosen environment's flag.
pub fn create_in_env(ctx: &Ctx, doc: &Value) -> Result<Value, CliError> {
    let mut blank = doc.clone();
    if let Some(o) = blank.as_object_mut() {
        o.insert("enabled".into(), json!(false));
        for list in ["targets", "rules", "prerequisites"] {
            o.remove(list);
        }
    }
    let made = ctx.client.post(&ctx.project_flag_path(None), &blank)?;
    let key = output::cell(made.get("key"));
    let path = ctx.path(Kind::Flag, &key);
    let version = ctx.client.get(&path)?["version"].as_u64().unwrap_or(0);
    ctx.client.call(
        reqwest::Method::PUT,
        &path,
        Some(doc),
        &[("If-Match", format!("\"{version}\""))],
    )
}

fn toggle(ctx: &Ctx, key: &str, enabled: bool) -> Result<(), CliError> {
    let path = format!("{}/toggle", ctx.path(Kind::Flag, key));
    let v = ctx.client.post(&path, &json!({ "enabled": enabled }))?;
    match ctx.format {
        Format::Json => output::json(&v),
        Format::Table => outln!(
            "flag {key} is {} (version {})",
            if enabled { "on" } else { "off" },
            output::cell(v.get("version"))
        ),
    }
}
