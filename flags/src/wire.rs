//! The change-feed wire shapes, shared by the server's stream and the SDK.
//!
//! A stream opens with a [`StateSnapshot`] (`event: snapshot`, `id: N`, where N
//! is the node's applied log index) and continues with one [`ChangeEvent`]
//! (`event: change`) per committed flag or segment change. `prev_id` names the
//! previous change event's id, so a client can prove it missed nothing: each
//! event's `prev_id` must equal the id of the last change it saw, or be at most
//! the id of the snapshot it started from.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Flag, Segment};

/// Every flag and segment at one applied index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StateSnapshot {
    /// The applied Raft log index this state is at.
    pub id: u64,
    pub flags: Vec<Arc<Flag>>,
    pub segments: Vec<Arc<Segment>>,
    /// The cluster this state belongs to (a restore from backup makes a new
    /// one, whose log indexes may repeat ones a client already saw): a
    /// client holding another cluster's state starts over. Empty if unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_id: String,
}

/// One committed change to a flag or a segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeEvent {
    /// The Raft log index of the change.
    pub id: u64,
    /// The id of the previous change event (0 if none).
    pub prev_id: u64,
    #[serde(flatten)]
    pub change: Change,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    FlagUpsert { flag: Arc<Flag> },
    FlagDelete { key: String },
    SegmentUpsert { segment: Arc<Segment> },
    SegmentDelete { key: String },
}

impl Change {
    /// The key of the flag or segment that changed.
    pub fn key(&self) -> &str {
        match self {
            Change::FlagUpsert { flag } => &flag.key,
            Change::SegmentUpsert { segment } => &segment.key,
            Change::FlagDelete { key } | Change::SegmentDelete { key } => key,
        }
    }
}
