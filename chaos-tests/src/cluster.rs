//! A simulated cluster: node hosts running the real `vexil_node::server`
//! code over turmoil, each with an in-memory store that survives its crashes.
//! The founding members start with `Bootstrap::Initial`; nodes added later
//! start with `Bootstrap::Join` and wait for the cluster to add them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngExt;
use rand::rngs::SmallRng;
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

/// Node `id`'s addresses.
pub fn member(id: u64) -> Member {
    Member {
        peer_addr: format!("{}:{PEER_PORT}", host(id)),
        client_addr: format!("{}:{API_PORT}", host(id)),
    }
}

/// The members a new cluster of `n` nodes is founded with.
pub fn initial_members(n: u64) -> BTreeMap<u64, Member> {
    (1..=n).map(|i| (i, member(i))).collect()
}

/// Timings tuned for a fast simulation.
pub fn raft_config(id: u64) -> RaftConfig {
    let mut c = RaftConfig::new(id, member(id));
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

/// The nodes clients address: every host started and not retired. Shared
/// with the clients; the scenario updates it as hosts come and go.
#[derive(Debug, Clone, Default)]
pub struct Roster(Arc<Mutex<Vec<u64>>>);

impl Roster {
    pub fn get(&self) -> Vec<u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, ids: Vec<u64>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = ids;
    }

    /// A node drawn from `rng`.
    pub fn pick(&self, rng: &mut SmallRng) -> u64 {
        let ids = self.get();
        match ids.len() {
            0 => 1,
            n => ids[rng.random_range(0..n)],
        }
    }
}

/// Every host the run started: its disk, and whether it is gone for good.
#[derive(Debug)]
pub struct Hosts {
    /// Every node ever started, by id (retired ones too: the checks read
    /// every disk).
    pub disks: BTreeMap<u64, Disk>,
    /// Stopped for good: lost (a dead machine) or decommissioned after
    /// its removal.
    pub retired: BTreeSet<u64>,
    pub registry: Registry,
    pub roster: Roster,
    /// Switch on the stale-read bug in every node (the can-fail test).
    stale_reads: bool,
}

impl Hosts {
    pub fn new(registry: Registry, stale_reads: bool) -> Hosts {
        Hosts {
            disks: BTreeMap::new(),
            retired: BTreeSet::new(),
            registry,
            roster: Roster::default(),
            stale_reads,
        }
    }

    /// Hosts started and not retired, in id order.
    pub fn live(&self) -> Vec<u64> {
        self.disks
            .keys()
            .filter(|id| !self.retired.contains(id))
            .copied()
            .collect()
    }

    /// Starts node `id` with an empty disk.
    pub fn start(&mut self, sim: &mut Sim<'_>, id: u64, bootstrap: Bootstrap) {
        let disk = Disk::default();
        self.disks.insert(id, disk.clone());
        add_node(
            sim,
            id,
            bootstrap,
            disk,
            self.registry.clone(),
            self.stale_reads,
        );
        self.roster.set(self.live());
    }

    /// Stops `id` for good (`crashed`: it is down already).
    pub fn retire(&mut self, sim: &mut Sim<'_>, id: u64, crashed: bool) {
        if !self.retired.insert(id) {
            return;
        }
        if !crashed {
            sim.crash(host(id));
        }
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        self.roster.set(self.live());
    }
}

/// Registers host `id` with the simulation.
fn add_node(
    sim: &mut Sim<'_>,
    id: u64,
    bootstrap: Bootstrap,
    disk: Disk,
    registry: Registry,
    stale_reads: bool,
) {
    sim.host(host(id), move || {
        let (disk, registry, bootstrap) = (disk.clone(), registry.clone(), bootstrap.clone());
        async move {
            let api = SimListener(TcpListener::bind(("0.0.0.0", API_PORT)).await?);
            let peer = SimListener(TcpListener::bind(("0.0.0.0", PEER_PORT)).await?);
            let opts = RunOptions {
                raft: raft_config(id),
                engine: Arc::new(disk.engine.clone()),
                blobs: Arc::new(disk.blobs.clone()),
                dialer: Arc::new(SimDialer),
                cluster_secret: "simulated-cluster-secret".into(),
                bootstrap,
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

/// What the fault and membership schedules see of the cluster when they
/// decide something.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Hosts started and not retired (running or crashed for a while).
    pub hosts: Vec<u64>,
    pub leader: Option<u64>,
    /// The membership as the leader sees it (with no leader, as the node
    /// with the highest term does). Voters of a joint configuration are
    /// the union of both.
    pub voters: BTreeSet<u64>,
    pub learners: BTreeSet<u64>,
    /// A leader has committed its whole log (no membership change waits to
    /// commit) and no membership request is in flight.
    pub settled: bool,
}

impl View {
    /// Reads the running nodes. `requests` is the number of membership
    /// requests in flight.
    pub fn read(registry: &Registry, hosts: &Hosts, requests: usize) -> View {
        let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
        let best = reg
            .values()
            .map(|r| r.raft.status())
            .max_by_key(|s| (s.state == "leader", s.term, std::cmp::Reverse(s.id)));
        let mut view = View {
            hosts: hosts.live(),
            ..View::default()
        };
        if let Some(s) = best {
            let leads = s.state == "leader";
            view.leader = leads.then_some(s.id);
            view.voters = s.voters.iter().copied().collect();
            view.learners = s.learners.iter().copied().collect();
            view.settled = leads
                && requests == 0
                && s.commit_index.is_some_and(|c| Some(c) == s.last_log_index);
        }
        view
    }

    /// Voters and learners.
    pub fn members(&self) -> BTreeSet<u64> {
        self.voters.union(&self.learners).copied().collect()
    }
}
