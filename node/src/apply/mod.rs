//! `vexil apply -f FILE`: makes the cluster's flags and segments match a
//! declarative file (YAML or JSON, `{segments: [...], flags: [...]}`, the
//! shape `vexil export` prints).
//!
//! - It creates what is missing and updates what differs, comparing without
//!   the fields the server owns (`version`, times, `updated_by`, and `salt`
//!   when the file leaves it to default to the key), so a second apply of the
//!   same file changes nothing.
//! - `--prune` also deletes what the file omits; `--dry-run` prints the
//!   plan and changes nothing.
//! - Order: segments, then flags with prerequisites first; deletes in
//!   reverse (flags before segments, dependents first) ([`plan`]).
//! - Every declared flag and segment is validated against the state the
//!   apply would produce before anything is written; the first problem is
//!   reported with its file position (line:column), as is a write the
//!   server refuses. Writes carry `If-Match`, so a concurrent edit stops the
//!   apply with a conflict rather than being overwritten.
//!
//! - With `--project/--env` (or their environment variables and config
//!   file entries) it works on that environment: its segments, and its
//!   configuration of each flag. A flag's definition (name, tags,
//!   variations, …) is shared by every environment of the project, so a
//!   change to it shows as `(every environment)` in the plan; a new flag is
//!   made in every environment, off there with no targeting; and `--prune`
//!   deletes that environment's segments but never a flag (that would
//!   delete it from every environment), naming each one it keeps. The file
//!   has the same shape either way, so an export of staging applies to
//!   production.
//!
//! # Layout
//! [`file`] parses and locates, [`plan`] diffs and orders, [`exec`] prints
//! or performs the plan.

mod exec;
pub mod file;
pub mod plan;

use std::path::PathBuf;

use vexil_flags::{Flag, FlagSet, Segment};

use crate::cli::versioned::Kind;
use crate::cli::{CliError, Ctx};

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The file: YAML (.yaml, .yml) or JSON; `-` reads stdin.
    #[arg(short, long)]
    pub file: PathBuf,
    /// Print the changes; make none.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete flags and segments the file does not declare.
    #[arg(long)]
    pub prune: bool,
}

fn current<T: serde::de::DeserializeOwned>(ctx: &Ctx, kind: Kind) -> Result<Vec<T>, CliError> {
    let what = kind.plural();
    ctx.client
        .all_pages(&ctx.list_path(kind), what)?
        .into_iter()
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("used_by");
            }
            serde_json::from_value(v).map_err(|e| CliError::local(&format!("reading {what}"), e))
        })
        .collect()
}

/// The flags and segments the cluster will hold after the apply.
fn outcome(
    declared: &file::Declared,
    flags: &[Flag],
    segments: &[Segment],
    prune: bool,
    prune_flags: bool,
) -> FlagSet {
    let mut fs: std::collections::BTreeMap<String, Flag> = if prune_flags {
        Default::default()
    } else {
        flags.iter().map(|f| (f.key.clone(), f.clone())).collect()
    };
    fs.extend(declared.flags.iter().map(|f| (f.key.clone(), f.clone())));
    let mut ss: std::collections::BTreeMap<String, Segment> = if prune {
        Default::default()
    } else {
        segments
            .iter()
            .map(|s| (s.key.clone(), s.clone()))
            .collect()
    };
    ss.extend(declared.segments.iter().map(|s| (s.key.clone(), s.clone())));
    FlagSet::from_parts(fs.into_values().collect(), ss.into_values().collect())
}

/// Checks every declared item against the outcome; the first problem, with
/// its position.
fn validate(declared: &file::Declared, src: &file::Source, set: &FlagSet) -> Result<(), CliError> {
    for s in &declared.segments {
        if let Some(e) = vexil_flags::validate_segment(s, set).first() {
            return Err(CliError::Usage(src.at("segment", &s.key, &e.to_string())));
        }
    }
    for f in &declared.flags {
        if let Some(e) = vexil_flags::validate_flag(f, set).first() {
            return Err(CliError::Usage(src.at("flag", &f.key, &e.to_string())));
        }
    }
    Ok(())
}

/// Runs `vexil apply`.
pub fn run(ctx: &Ctx, args: &ApplyArgs) -> Result<(), CliError> {
    let (declared, src) = file::load(&args.file)?;
    let flags: Vec<Flag> = current(ctx, Kind::Flag)?;
    let segments: Vec<Segment> = current(ctx, Kind::Segment)?;
    let per_env = ctx.env.is_some();
    let prune_flags = args.prune && !per_env;
    let after = outcome(&declared, &flags, &segments, args.prune, prune_flags);
    validate(&declared, &src, &after)?;
    // The flags an apply to one environment keeps though the file omits
    // them must still hold there (a segment they use may be pruned).
    if args.prune && per_env {
        let declared_keys: std::collections::BTreeSet<&str> =
            declared.flags.iter().map(|f| f.key.as_str()).collect();
        for f in flags
            .iter()
            .filter(|f| !declared_keys.contains(f.key.as_str()))
        {
            if let Some(e) = vexil_flags::validate_flag(f, &after).first() {
                return Err(CliError::Usage(format!(
                    "flag {:?}, which the file omits but an apply to one environment keeps: {e}",
                    f.key
                )));
            }
        }
    }
    let (kept, changes): (Vec<_>, Vec<_>) = plan::plan(
        &declared.flags,
        &declared.segments,
        &flags,
        &segments,
        args.prune,
    )
    .into_iter()
    .partition(|c| !prune_flags && c.kind == Kind::Flag && c.action == plan::Action::Delete);
    for c in kept {
        // A note beside the plan, on stderr: stdout stays the plan.
        eprintln!(
            "kept flag {:?}: it is not in the file, but a flag is in every environment of project \
             {:?}; `vexil flags delete {}` deletes it from all of them",
            c.key,
            ctx.project(),
            c.key
        );
    }
    if args.dry_run {
        exec::print_plan(ctx, &changes)
    } else {
        exec::execute(ctx, &changes, &src)
    }
}
