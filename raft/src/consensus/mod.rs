//! The only module that knows openraft.
//!
//! It declares the type configuration, adapts our engine to openraft's log
//! and state-machine traits, carries RPCs over our [`Transport`], and wraps it
//! all in [`RaftNode`], whose methods speak only this crate's types.

pub mod backup;
mod log_store;
mod membership;
mod network;
mod rpc;
mod runtime;
mod state_machine;
mod status;
pub mod suite;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use openraft::{Config, SnapshotPolicy};
use vexil_storage::{BlobStore, Engine};

use crate::api::RaftConfig;
use crate::command::{Command, Response};
use crate::loader::load_state;
use crate::member::Member;
use crate::state::Shared;
use crate::transport::Transport;

pub use rpc::{BadRequest, IncomingSnapshot};
pub use runtime::seed_thread_rng;

openraft::declare_raft_types!(
    /// Vexil's Raft types: commands in, responses out, u64 node ids, one
    /// leader per term.
    pub TypeConfig:
        D = Command,
        R = Response,
        NodeId = u64,
        Node = Member,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
        AsyncRuntime = runtime::SeededRuntime,
);

type Raft = openraft::Raft<TypeConfig, state_machine::StateMachine>;

/// One replica: Raft, the state machine and the mirror. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RaftNode {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    raft: Raft,
    config: RaftConfig,
    shared: Arc<Shared>,
    engine: Arc<dyn Engine>,
    blobs: Arc<dyn BlobStore>,
    transport: Arc<dyn Transport>,
    /// Serializes membership changes on this node.
    membership_lock: tokio::sync::Mutex<()>,
    /// The membership change running on this leader, if any.
    pending: std::sync::Mutex<Option<membership::Pending>>,
    /// Set once the node shuts down: cancels a running membership change
    /// and refuses new ones, with this reason.
    stopping: tokio::sync::watch::Sender<Option<String>>,
}

/// Why a replica could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid raft configuration: {0}")]
    Config(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("raft: {0}")]
    Raft(String),
}

fn openraft_config(c: &RaftConfig) -> Result<Config, StartError> {
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let config = Config {
        cluster_name: "vexil".into(),
        heartbeat_interval: ms(c.heartbeat),
        election_timeout_min: ms(c.election_timeout.0),
        election_timeout_max: ms(c.election_timeout.1),
        install_snapshot_timeout: ms(c.snapshot_timeout),
        snapshot_policy: SnapshotPolicy::LogsSinceLast(c.snapshot_every),
        max_in_snapshot_log_to_keep: c.keep_logs,
        // Purge in batches proportional to the snapshot interval, so a
        // small interval (tests) really purges.
        purge_batch_size: (c.snapshot_every / 4).clamp(1, 256),
        ..Default::default()
    };
    config
        .validate()
        .map_err(|e| StartError::Config(e.to_string()))
}

impl RaftNode {
    /// Opens the stores and starts Raft. The node is not yet part of a
    /// cluster unless its stores say so: see [`RaftNode::initialize`].
    pub async fn start(
        config: RaftConfig,
        engine: Arc<dyn Engine>,
        blobs: Arc<dyn BlobStore>,
        transport: Arc<dyn Transport>,
    ) -> Result<RaftNode, StartError> {
        let raft_config = Arc::new(openraft_config(&config)?);
        let state = load_state(engine.as_ref()).map_err(|e| StartError::Storage(e.to_string()))?;
        let shared = Arc::new(Shared::new(state, config.feed));
        let log = log_store::LogStore::open(engine.clone())
            .map_err(|e| StartError::Storage(e.to_string()))?;
        let sm = state_machine::StateMachine::new(engine.clone(), blobs.clone(), shared.clone());
        let network = network::NetworkFactory {
            transport: transport.clone(),
            snapshot_timeout: config.snapshot_timeout,
            health: Arc::default(),
        };
        let raft = Raft::new(config.id, raft_config, network, log, sm)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        Ok(RaftNode {
            inner: Arc::new(Inner {
                raft,
                config,
                shared,
                engine,
                blobs,
                transport,
                membership_lock: tokio::sync::Mutex::new(()),
                pending: std::sync::Mutex::new(None),
                stopping: tokio::sync::watch::Sender::new(None),
            }),
        })
    }

    /// The latest Raft metrics (a cheap clone of the watched value).
    pub(crate) fn metrics(&self) -> openraft::RaftMetrics<TypeConfig> {
        use openraft::rt::watch::WatchReceiver;
        self.inner.raft.metrics().borrow_watched().clone()
    }

    pub fn id(&self) -> u64 {
        self.inner.config.id
    }

    /// Resolves once the Raft core has stopped on an error (a log entry
    /// this release cannot read, a failed disk), with the error's text.
    /// Never resolves while it runs; a clean shutdown is not an error.
    pub async fn fatal(&self) -> String {
        use openraft::rt::watch::WatchReceiver;
        let mut rx = self.inner.raft.metrics();
        loop {
            // openraft reports a clean shutdown as `Fatal::Stopped` too.
            if let Err(f) = &rx.borrow_watched().running_state
                && !matches!(f, openraft::errors::Fatal::Stopped)
            {
                return f.to_string();
            }
            if rx.changed().await.is_err() {
                // The core is gone without saying why: a shutdown.
                return std::future::pending().await;
            }
        }
    }

    /// Every member (voters and learners) of the latest membership this
    /// node knows, with its addresses.
    pub fn members(&self) -> BTreeMap<u64, Member> {
        self.metrics()
            .membership_config
            .membership()
            .nodes()
            .map(|(id, member)| (*id, member.clone()))
            .collect()
    }

    pub fn config(&self) -> &RaftConfig {
        &self.inner.config
    }

    /// The mirror and change feed.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// The storage engine, for reads the mirror does not hold (history, audit).
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.inner.engine
    }

    /// The cluster's id (set when it was first formed, new on a restore).
    pub fn cluster_id(&self) -> String {
        self.inner
            .engine
            .get(vexil_storage::Cf::Meta, crate::keys::META_CLUSTER_ID)
            .ok()
            .flatten()
            .and_then(|v| serde_json::from_slice(&v).ok())
            .unwrap_or_default()
    }

    /// Whether this node's stores already hold a cluster (a restart).
    pub async fn is_initialized(&self) -> bool {
        self.inner.raft.is_initialized().await.unwrap_or(false)
    }

    /// Makes `members` a new cluster. Every member of a new cluster may call
    /// this with the same list; a node that is already initialized ignores it.
    pub async fn initialize(&self, members: BTreeMap<u64, Member>) -> Result<(), StartError> {
        if self.is_initialized().await {
            return Ok(());
        }
        match self.inner.raft.initialize(members).await {
            Ok(()) => Ok(()),
            // Another member's leader reached us first: we are in the cluster.
            Err(openraft::errors::RaftError::APIError(
                openraft::errors::InitializeError::NotAllowed(_),
            )) => Ok(()),
            Err(e) => Err(StartError::Raft(e.to_string())),
        }
    }

    /// The leader's id and addresses, if one is known.
    pub fn leader(&self) -> Option<(u64, Member)> {
        let m = self.metrics();
        let id = m.current_leader?;
        let member = m.membership_config.membership().get_node(&id).cloned()?;
        Some((id, member))
    }

    pub fn is_leader(&self) -> bool {
        self.leader().is_some_and(|(id, _)| id == self.id())
    }

    /// Voter ids of the current membership.
    pub fn voters(&self) -> BTreeSet<u64> {
        let m = self.metrics();
        m.membership_config.membership().voter_ids().collect()
    }

    /// Waits until this node has applied at least `index`.
    pub async fn wait_applied(&self, index: u64, timeout: std::time::Duration) -> bool {
        self.inner
            .raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "wait_applied")
            .await
            .is_ok()
    }

    /// Waits until some leader is known.
    pub async fn wait_for_leader(&self, timeout: std::time::Duration) -> Option<u64> {
        self.inner
            .raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "leader")
            .await
            .ok()
            .and_then(|m| m.current_leader)
    }

    /// Builds a snapshot of everything applied so far (and lets openraft
    /// purge the log behind it). Returns once that snapshot exists: openraft
    /// only queues the build, and a caller reading metrics or the snapshot
    /// right after must not race it.
    pub async fn trigger_snapshot(&self) -> Result<(), String> {
        let applied = self.metrics().last_applied.map(|l| l.index);
        self.inner
            .raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| e.to_string())?;
        self.inner
            .raft
            .wait(Some(std::time::Duration::from_secs(30)))
            .metrics(|m| m.snapshot.map(|s| s.index) >= applied, "snapshot built")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Stops Raft; the stores stay as they are on disk.
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
    }
}
