//! How nodes reach each other. `raft/` defines the calls; `node/` carries
//! them over HTTP (and the simulation over turmoil's network).

use std::fmt::Debug;
use std::time::Duration;

use futures::future::BoxFuture;
use vexil_storage::blob::BlobReader;

/// A peer RPC. Each is one POST on the peer listener, at [`Rpc::path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rpc {
    /// openraft AppendEntries.
    Append,
    /// openraft RequestVote.
    Vote,
    /// openraft TransferLeader.
    TransferLeader,
    /// A client write forwarded to the leader.
    Write,
    /// Ask the leader for a read index (follower linearizable reads).
    ReadIndex,
    /// This node's status, for `GET /v1/cluster`.
    Status,
    /// Add or remove a member (forwarded to the leader).
    Membership,
}

impl Rpc {
    pub const ALL: [Rpc; 7] = [
        Rpc::Append,
        Rpc::Vote,
        Rpc::TransferLeader,
        Rpc::Write,
        Rpc::ReadIndex,
        Rpc::Status,
        Rpc::Membership,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Rpc::Append => "/raft/append",
            Rpc::Vote => "/raft/vote",
            Rpc::TransferLeader => "/raft/transfer-leader",
            Rpc::Write => "/raft/write",
            Rpc::ReadIndex => "/raft/read-index",
            Rpc::Status => "/raft/status",
            Rpc::Membership => "/raft/membership",
        }
    }

    pub fn from_path(path: &str) -> Option<Rpc> {
        Rpc::ALL.into_iter().find(|r| r.path() == path)
    }
}

/// The path snapshots are streamed to.
pub const SNAPSHOT_PATH: &str = "/raft/snapshot";

/// Why a peer call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Nothing listens there (connection refused, no route): back off.
    #[error("peer {addr} unreachable: {reason}")]
    Unreachable { addr: String, reason: String },
    /// No answer in time.
    #[error("peer {addr} did not answer within {after:?}")]
    Timeout { addr: String, after: Duration },
    /// Another node answered there: the address is wrong (it names another
    /// member, or the caller itself under another spelling). Retrying does
    /// not help until the address is fixed.
    #[error("peer {addr} is not node {to}: {reason}")]
    Misdirected {
        addr: String,
        to: u64,
        reason: String,
    },
    /// Anything else on the wire, including a non-2xx answer.
    #[error("peer {addr}: {reason}")]
    Network { addr: String, reason: String },
}

/// Carries peer RPCs. Bodies are opaque bytes (JSON today).
///
/// `to` is the id of the node meant to answer. The receiving node refuses a
/// call meant for another id, so an address that points at the wrong node
/// (a typo naming another member, or this node itself) fails like an
/// unreachable one instead of being answered by the wrong node.
pub trait Transport: Send + Sync + Debug + 'static {
    fn call(
        &self,
        to: u64,
        addr: &str,
        rpc: Rpc,
        body: Vec<u8>,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>>;

    /// Streams a snapshot file after a small JSON `header`.
    fn send_snapshot(
        &self,
        to: u64,
        addr: &str,
        header: Vec<u8>,
        data: Box<dyn BlobReader>,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>>;
}
