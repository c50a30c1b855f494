//! The public, openraft-free face of a replica: configuration, errors and
//! status. `node/` and the simulation use only these.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::member::Member;
use crate::state::FeedConfig;

/// Where "now" comes from: the wall clock in production, simulated time in
/// the simulation (so a seed replays exactly).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Tunables of one replica. `Default` gives the production values.
#[derive(Clone)]
pub struct RaftConfig {
    pub id: u64,
    /// This node's own addresses, as other members should reach it.
    pub member: Member,
    pub heartbeat: Duration,
    pub election_timeout: (Duration, Duration),
    /// Build a snapshot after this many log entries since the last one.
    pub snapshot_every: u64,
    /// Entries kept in the log behind the last snapshot, so that a briefly
    /// lagging follower catches up from the log rather than a snapshot.
    pub keep_logs: u64,
    /// The longest a write may wait for commit before it answers "timed out".
    pub write_timeout: Duration,
    /// Deadline of one peer RPC that is not a snapshot.
    pub rpc_timeout: Duration,
    /// Deadline of a whole snapshot transfer.
    pub snapshot_timeout: Duration,
    pub feed: FeedConfig,
    pub clock: Clock,
}

impl std::fmt::Debug for RaftConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftConfig")
            .field("id", &self.id)
            .field("member", &self.member)
            .field("heartbeat", &self.heartbeat)
            .field("election_timeout", &self.election_timeout)
            .field("snapshot_every", &self.snapshot_every)
            .finish_non_exhaustive()
    }
}

impl RaftConfig {
    pub fn new(id: u64, member: Member) -> Self {
        RaftConfig {
            id,
            member,
            heartbeat: Duration::from_millis(100),
            election_timeout: (Duration::from_millis(400), Duration::from_millis(800)),
            snapshot_every: 100_000,
            keep_logs: 1_000,
            write_timeout: Duration::from_secs(5),
            rpc_timeout: Duration::from_secs(2),
            snapshot_timeout: Duration::from_secs(120),
            feed: FeedConfig::default(),
            clock: Arc::new(Utc::now),
        }
    }
}

/// Why a write was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
// Adjacent tagging: internal tagging cannot carry the newtype variants
// (`Timeout(u64)`), and these cross the peer network.
#[serde(tag = "type", content = "detail", rename_all = "snake_case")]
pub enum WriteError {
    /// There is no leader right now (an election is under way, or this node
    /// is cut off from a majority). Safe to retry.
    #[error("no leader: the cluster is electing one or this node cannot reach a majority")]
    NoLeader,
    /// This node leads but has not heard from a majority recently.
    #[error("no quorum: this leader reaches {reachable} of {voters} voters")]
    NoQuorum { reachable: usize, voters: usize },
    /// Asked a node that is not the leader (internal: callers retry).
    #[error("not the leader; leader is {leader:?}")]
    NotLeader { leader: Option<u64> },
    /// Not committed in time. It may still commit: retry with the same
    /// idempotency key to learn the outcome.
    #[error("the write was not committed within {0} ms; its outcome is unknown")]
    Timeout(u64),
    /// Forwarding to the leader failed.
    #[error("could not reach the leader: {0}")]
    Forward(String),
    /// This node's Raft stopped (shutdown or a storage failure).
    #[error("raft stopped: {0}")]
    Stopped(String),
    /// The command needs a cluster level (`crate::version`) the cluster
    /// has not reached: a member still runs an older release. Only raised
    /// before the command is proposed or forwarded.
    #[error(
        "the cluster is at level {level} and this change needs level {needs}: upgrade every member to this release first"
    )]
    ClusterLevel { needs: u32, level: u32 },
}

/// Why a linearizable read could not be served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
// Adjacent tagging: internal tagging cannot carry the newtype variants
// (`Timeout(u64)`), and these cross the peer network.
#[serde(tag = "type", content = "detail", rename_all = "snake_case")]
pub enum ReadError {
    #[error("no leader to confirm the read against")]
    NoLeader,
    #[error("not the leader; leader is {leader:?}")]
    NotLeader { leader: Option<u64> },
    #[error("could not confirm leadership with a quorum: {0}")]
    NoQuorum(String),
    #[error("this node did not catch up within {0} ms")]
    Timeout(u64),
    #[error("could not reach the leader: {0}")]
    Forward(String),
    #[error("raft stopped: {0}")]
    Stopped(String),
}

/// Why a membership change was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
// Adjacent tagging: internal tagging cannot carry the newtype variants
// (`Timeout(u64)`), and these cross the peer network.
#[serde(tag = "type", content = "detail", rename_all = "snake_case")]
pub enum MembershipError {
    #[error("node {0} is already a voter")]
    AlreadyMember(u64),
    #[error("node {0} is not a member")]
    NotMember(u64),
    #[error(
        "refused: after this change {healthy} of {voters} voters would be healthy, fewer than the {needed} a quorum needs"
    )]
    WouldLoseQuorum {
        voters: usize,
        healthy: usize,
        needed: usize,
    },
    #[error("the new member did not catch up: {0}")]
    CatchUp(String),
    /// Another node answers at the new member's peer address.
    #[error("{detail}")]
    WrongAddress { id: u64, detail: String },
    #[error("node {0} is a learner, not a voter: it cannot lead")]
    NotVoter(u64),
    #[error("node {0} has not answered the leader recently: it cannot take over now")]
    Unhealthy(u64),
    #[error("no other voter has answered the leader recently: none can take over")]
    NoCandidate,
    #[error("no leader")]
    NoLeader,
    #[error("not the leader; leader is {leader:?}")]
    NotLeader { leader: Option<u64> },
    #[error("membership change failed: {0}")]
    Failed(String),
    /// The new member runs a release older than the cluster's level.
    #[error(
        "node {id} supports cluster level {level}, but the cluster is at level {cluster_level}: start it with this release"
    )]
    ReleaseTooOld {
        id: u64,
        level: u32,
        cluster_level: u32,
    },
    /// Another change is running on the leader, or a change the log holds
    /// is not committed yet; only one can be in flight.
    #[error("{0}")]
    InProgress(String),
    /// A change was proposed but not committed within its deadline; it
    /// commits once enough of the old and the new voters answer.
    #[error("{0}")]
    NotCommitted(String),
    /// A pending add was cancelled (by removing that node, or by shutdown).
    #[error("{0}")]
    Cancelled(String),
}

/// One node's view of itself, served by `Rpc::Status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: u64,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub state: String,
    pub term: u64,
    pub leader: Option<u64>,
    pub last_log_index: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub member: Member,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    pub members: BTreeMap<u64, Member>,
    /// Leader only: each follower's highest replicated index.
    pub replication: Option<BTreeMap<u64, Option<u64>>>,
    /// Live change-feed subscribers on this node.
    pub subscribers: usize,
    /// The highest cluster level this node's release supports
    /// (`crate::version`); nodes of the first release send none.
    #[serde(default = "crate::version::base")]
    pub level: u32,
    /// The cluster's level as this node has applied it.
    #[serde(default = "crate::version::base")]
    pub cluster_level: u32,
}

/// A member as `GET /v1/cluster` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberView {
    pub id: u64,
    /// `voter` or `learner`.
    pub role: String,
    pub peer_addr: String,
    pub client_addr: String,
    pub is_leader: bool,
    /// Answered a status call within the deadline.
    pub healthy: bool,
    pub term: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub last_log_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    /// How far this member's applied index trails the leader's commit index.
    pub lag: Option<u64>,
    pub error: Option<String>,
    /// The highest cluster level the member's release supports.
    pub level: Option<u32>,
}

/// The cluster as one node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterView {
    /// The node that answered.
    pub node: u64,
    /// Set when the cluster was formed; a restore makes a new one.
    pub cluster_id: String,
    pub leader: Option<u64>,
    pub term: u64,
    /// The cluster's feature level (`crate::version`): raised by the
    /// leader once every member supports the next one.
    pub level: u32,
    pub members: Vec<MemberView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(values: &[T])
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        for v in values {
            let bytes = serde_json::to_vec(v).expect("serialises");
            let back: T = serde_json::from_slice(&bytes).expect("deserialises");
            assert_eq!(&back, v);
        }
    }

    /// These errors cross the peer network: every variant must survive it.
    #[test]
    fn every_error_variant_round_trips_through_json() {
        round_trip(&[
            WriteError::NoLeader,
            WriteError::NoQuorum {
                reachable: 1,
                voters: 3,
            },
            WriteError::NotLeader { leader: Some(2) },
            WriteError::Timeout(5000),
            WriteError::Forward("eof".into()),
            WriteError::Stopped("x".into()),
            WriteError::ClusterLevel { needs: 2, level: 1 },
        ]);
        round_trip(&[
            ReadError::NoLeader,
            ReadError::NotLeader { leader: None },
            ReadError::NoQuorum("lost".into()),
            ReadError::Timeout(1),
            ReadError::Forward("eof".into()),
            ReadError::Stopped("x".into()),
        ]);
        round_trip(&[
            MembershipError::AlreadyMember(4),
            MembershipError::NotMember(5),
            MembershipError::WouldLoseQuorum {
                voters: 3,
                healthy: 1,
                needed: 2,
            },
            MembershipError::CatchUp("slow".into()),
            MembershipError::WrongAddress {
                id: 4,
                detail: "at a:1: this is node 1".into(),
            },
            MembershipError::NoLeader,
            MembershipError::NotLeader { leader: Some(1) },
            MembershipError::Failed("x".into()),
            MembershipError::InProgress("adding node 4".into()),
            MembershipError::NotCommitted("voters {1, 3}".into()),
            MembershipError::Cancelled("node 4".into()),
            MembershipError::ReleaseTooOld {
                id: 4,
                level: 1,
                cluster_level: 2,
            },
        ]);
    }

    /// A node of the first release sends no level: it reads as level 1,
    /// and a node of this release says what it supports.
    #[test]
    fn t21_a_status_without_a_level_is_the_first_release() {
        let old = serde_json::json!({
            "id": 3, "state": "follower", "term": 2, "leader": 1,
            "last_log_index": 9, "commit_index": 9, "applied_index": 9,
            "snapshot_index": null, "purged_index": null,
            "member": {"peer_addr": "127.0.0.1:1", "client_addr": "127.0.0.1:2"},
            "voters": [1, 2, 3], "learners": [], "members": {},
            "replication": null, "subscribers": 0
        });
        let status: NodeStatus = serde_json::from_value(old).expect("decodes");
        assert_eq!(status.level, crate::version::BASE);
        assert_eq!(status.cluster_level, crate::version::BASE);
        let mut new = status.clone();
        new.level = crate::version::SUPPORTED;
        let back: NodeStatus = serde_json::from_slice(&serde_json::to_vec(&new).unwrap()).unwrap();
        assert_eq!(back.level, crate::version::SUPPORTED);
    }
}
