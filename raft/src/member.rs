//! A cluster member's addresses, as stored in the Raft membership.

use serde::{Deserialize, Serialize};

/// Where to reach a member. Stored in every membership log entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    /// host:port of its peer (Raft RPC) listener.
    pub peer_addr: String,
    /// host:port of its API listener; empty when not yet known (members
    /// bootstrapped from `--initial-cluster` report it in their status).
    #[serde(default)]
    pub client_addr: String,
}
