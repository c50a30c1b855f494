//! `vexil segments …`.

use std::path::PathBuf;

use clap::Subcommand;

use super::versioned::{self, Kind};
use super::{CliError, Ctx};

#[derive(Debug, Subcommand)]
pub enum SegmentsCmd {
    /// List segments (every page).
    List,
    /// Print one segment and the flags that use it.
    Get {
        /// The segment's key.
        key: String,
    },
    /// Create a segment from a file (JSON or YAML).
    Create {
        /// The segment as JSON or YAML (`-` reads stdin).
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Replace a segment with a file's content.
    Update {
        /// The segment as JSON or YAML, with its `key` (`-` reads stdin).
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Delete a segment (refused while flags use it).
    Delete {
        /// The segment's key.
        key: String,
    },
    /// Make a segment as it was at a version.
    Rollback {
        /// The segment's key.
        key: String,
        /// The version to go back to (see `history`).
        #[arg(long)]
        version: u64,
    },
    /// A segment's versions, newest first.
    History {
        /// The segment's key.
        key: String,
        /// At most this many versions.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

pub fn run(ctx: &Ctx, cmd: SegmentsCmd) -> Result<(), CliError> {
    let kind = Kind::Segment;
    match cmd {
        SegmentsCmd::List => {
            let items = ctx.client.all_pages(&ctx.list_path(kind), "segments")?;
            versioned::print_list(ctx, items, &["key", "version", "name", "used_by"])
        }
        SegmentsCmd::Get { key } => versioned::get(ctx, kind, &key),
        SegmentsCmd::Create { file } => {
            let doc = versioned::read_document(&file)?;
            versioned::create(ctx, kind, doc)
        }
        SegmentsCmd::Update { file } => versioned::update(ctx, kind, &file),
        SegmentsCmd::Delete { key } => versioned::delete(ctx, kind, &key),
        SegmentsCmd::Rollback { key, version } => versioned::rollback(ctx, kind, &key, version),
        SegmentsCmd::History { key, limit } => versioned::history(ctx, kind, &key, limit),
    }
}
