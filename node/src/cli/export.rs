//! `vexil export`: every flag and segment as an apply file, without the
//! fields the server owns, so `vexil apply -f` of it changes nothing. With
//! `--project/--env` it is that environment's segments and flags (each
//! flag's definition with that environment's configuration); the file does
//! not name its environment, so it applies to another one as well.

use clap::Args;
use serde_json::{Value, json};

use super::versioned::Kind;
use super::{CliError, Ctx};

#[derive(Debug, Args)]
pub struct ExportArgs {}

/// Fields the server sets; an export leaves them out.
pub const SERVER_OWNED: [&str; 5] = [
    "version",
    "created_at",
    "updated_at",
    "updated_by",
    "used_by",
];

/// Removes the server-owned fields of a flag or segment.
pub fn strip(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for f in SERVER_OWNED {
            o.remove(f);
        }
    }
    v
}

pub fn run(ctx: &Ctx, _args: &ExportArgs) -> Result<(), CliError> {
    let segments: Vec<Value> = ctx
        .client
        .all_pages(&ctx.list_path(Kind::Segment), "segments")?
        .into_iter()
        .map(strip)
        .collect();
    let flags: Vec<Value> = ctx
        .client
        .all_pages(&ctx.list_path(Kind::Flag), "flags")?
        .into_iter()
        .map(strip)
        .collect();
    super::output::json(&json!({ "segments": segments, "flags": flags }))
}
