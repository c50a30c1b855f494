//! A simulated cluster: N node hosts running the real `vexil_node::server`
//! code over turmoil, each with an in-memory store that survives its crashes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use turmoil::Sim;
use turmoil::net::TcpListener;
use vexil_node::server::{self, AdminToken, Bootstrap, RunOptions, Running};
use vexil_raft::{Member, RaftConfig};
use vexil_storage::{MemBlobStore, MemEngine};

use crate::api::ADMIN;
use crate::net::{SimDialer, SimListener};

pub const API_PORT: u16 = 7070;
pub const PEER_PORT: u16 = 7071;

pub fn host(id: u64) -> String {
    format!("n{id}")
}

pub fn url(id: u64) -> String {
    format!("http://n{id}:{API_PORT}")
}

/// "Now" for the nodes: the simulation's clock, so a seed replays exactly.
pub fn sim_clock() -> vexil_raft::api::Clock {
    Arc::new(|| {
        let since = turmoil::since_epoch().unwrap_or_default();
        DateTime::<Utc>::from_timestamp(
            i64::try_from(since.as_secs()).unwrap_or(0),
            since.subsec_nanos(),
        )
        .unwrap_or_default()
    })
}

/// One node's disk: kept across crashes.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    pub engine: MemEngine,
    pub blobs: MemBlobStore,
}

/// Handles to the running nodes, refreshed as they (re)start.
pub type Registry = Arc<Mutex<BTreeMap<u64, Running>>>;

/// Timings tuned for a fast simulation.
pub fn raft_config(id: u64) -> RaftConfig {
    let member = Member {
        peer_addr: format!("{}:{PEER_PORT}", host(id)),
        client_addr: format!("{}:{API_PORT}", host(id)),
    };
    let mut c = RaftConfig::new(id, member);
    c.heartbeat = Duration::from_millis(50);
    c.election_timeout = (Duration::from_millis(300), Duration::from_millis(600));
    c.write_timeout = Duration::from_secs(2);
    c.rpc_timeout = Duration::from_millis(500);
    c.snapshot_timeout = Duration::from_secs(10);
    // Small, so a node that is down for a few seconds needs a snapshot.
    c.snapshot_every = 60;
    c.keep_logs = 10;
    c.clock = sim_clock();
    c.feed.keep_alive = Duration::from_secs(1);
    c
}

/// Registers host `id` with the simulation.
pub fn add_node(
    sim: &mut Sim<'_>,
    id: u64,
    n: u64,
    disk: Disk,
    registry: Registry,
    stale_reads: bool,
) {
    let members: BTreeMap<u64, Member> = (1..=n).map(|i| (i, raft_config(i).member)).collect();
    sim.host(host(id), move || {
        let (disk, registry, members) = (disk.clone(), registry.clone(), members.clone());
        async move {
            let api = SimListener(TcpListener::bind(("0.0.0.0", API_PORT)).await?);
            let peer = SimListener(TcpListener::bind(("0.0.0.0", PEER_PORT)).await?);
            let opts = RunOptions {
                raft: raft_config(id),
                engine: Arc::new(disk.engine.clone()),
                blobs: Arc::new(disk.blobs.clone()),
                dialer: Arc::new(SimDialer),
                cluster_secret: "simulated-cluster-secret".into(),
                bootstrap: Bootstrap::Initial(members),
                admin_token: AdminToken::Given(ADMIN.into()),
                data_dir: None,
                min_free_bytes: 0,
            };
            let (running, done) = server::run(opts, api, peer, std::future::pending::<()>())
                .await
                .map_err(|e| e.to_string())?;
            running
                .app
                .faults
                .stale_reads
                .store(stale_reads, std::sync::atomic::Ordering::Relaxed);
            registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, running);
            let _ = done.await;
            Ok(())
        }
    });
}
