//! One seeded run: chaos, then liveness, then every check.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use vexil_storage::Engine;

use crate::check::{Violation, election::Elections, linear, stores};
use crate::cluster::{self, Disk, Registry};
use crate::faults::Faults;
use crate::history::{History, Outcome};
use crate::workload::{self, SdkView, Shape};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub nodes: u64,
    /// Simulated time with faults and load.
    pub chaos: Duration,
    /// How long the healed cluster may take to converge and take a write.
    pub liveness: Duration,
    pub writers: usize,
    pub readers: usize,
    pub subscribers: u64,
    pub keys: usize,
    /// Deliberately serve linearizable reads without a barrier (a bug).
    pub inject_stale_reads: bool,
}

impl Options {
    pub fn new(seed: u64) -> Options {
        Options {
            seed,
            nodes: 3,
            chaos: Duration::from_secs(12),
            liveness: Duration::from_secs(20),
            writers: 3,
            readers: 2,
            subscribers: 2,
            keys: 4,
            inject_stale_reads: false,
        }
    }
}

/// What happened.
#[derive(Debug)]
pub struct Report {
    pub seed: u64,
    pub nodes: u64,
    pub violations: Vec<Violation>,
    pub ops: usize,
    pub acked_writes: usize,
    pub unknown: usize,
    pub terms: usize,
    pub faults: Vec<String>,
    /// The client-visible history and fault trace, serialized: two runs of
    /// one seed must produce the same text.
    pub fingerprint: String,
    pub sim_time: Duration,
}

impl Report {
    /// The command that replays this run.
    pub fn replay(&self) -> String {
        match self.nodes {
            3 => format!("scripts/chaos.sh --seed {}", self.seed),
            n => format!("scripts/chaos.sh --seed {} --nodes {n}", self.seed),
        }
    }
}

fn leader(registry: &Registry) -> Option<u64> {
    let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    reg.values()
        .map(|r| r.raft.status())
        .find(|s| s.state == "leader")
        .map(|s| s.id)
}

fn observe(registry: &Registry, elections: &mut Elections, out: &mut Vec<Violation>) {
    let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    for r in reg.values() {
        let s = r.raft.status();
        if s.state == "leader"
            && let Err(v) = elections.saw_leader(s.term, s.id)
            && !out.contains(&v)
        {
            out.push(v);
        }
    }
}

/// Whether the healed cluster agrees on everything.
fn converged(
    registry: &Registry,
    disks: &BTreeMap<u64, Disk>,
    n: u64,
    views: &[Arc<Mutex<SdkView>>],
) -> bool {
    let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    if reg.len() as u64 != n {
        return false;
    }
    let statuses: Vec<_> = reg.values().map(|r| r.raft.status()).collect();
    let leader = statuses[0].leader;
    if leader.is_none()
        || statuses
            .iter()
            .any(|s| s.leader != leader || s.applied_index != statuses[0].applied_index)
    {
        return false;
    }
    let digests: Vec<_> = disks
        .values()
        .map(|d| stores::state_digest(&d.engine))
        .collect();
    if digests.iter().any(|d| *d != digests[0]) {
        return false;
    }
    // SDKs must hold every change (their id counts changes, not blank
    // or membership entries) and the same flag versions.
    let Some((last_change, cluster_flags)) = reg.values().next().map(|r| {
        let st = r.raft.shared().read();
        let flags: BTreeMap<String, u64> = st
            .flags
            .flags()
            .map(|f| (f.key().to_owned(), f.flag().version))
            .collect();
        (st.last_change, flags)
    }) else {
        return false;
    };
    views.iter().all(|v| {
        let v = v.lock().unwrap_or_else(|p| p.into_inner());
        v.state_id.is_some_and(|id| id >= last_change) && v.flags == cluster_flags
    })
}

/// Where each node and SDK stands, for a failure message.
fn diagnose(
    registry: &Registry,
    disks: &BTreeMap<u64, Disk>,
    views: &[Arc<Mutex<SdkView>>],
    history: &History,
) -> String {
    let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = format!("live write done: {}; ", history.live_write_done());
    for (id, r) in reg.iter() {
        let s = r.raft.status();
        out += &format!(
            "n{id}: {} term {} leader {:?} commit {:?} applied {:?} digest {:?}; ",
            s.state,
            s.term,
            s.leader,
            s.commit_index,
            s.applied_index,
            disks.get(id).map(|d| stores::state_digest(&d.engine))
        );
    }
    for (i, v) in views.iter().enumerate() {
        let v = v.lock().unwrap_or_else(|p| p.into_inner());
        out += &format!(
            "sdk{i}: state {:?} with {} flags; ",
            v.state_id,
            v.flags.len()
        );
    }
    out
}

/// Runs one seed to completion and checks it.
pub fn run(opts: &Options) -> Report {
    vexil_raft::seed_thread_rng(opts.seed);
    let total = opts.chaos + opts.liveness + Duration::from_secs(5);
    let mut sim = turmoil::Builder::new()
        .rng_seed(opts.seed)
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .simulation_duration(total)
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(4))
        .tcp_capacity(1 << 16)
        .build();
    let registry: Registry = Arc::default();
    let disks: BTreeMap<u64, Disk> = (1..=opts.nodes).map(|i| (i, Disk::default())).collect();
    for (id, disk) in &disks {
        cluster::add_node(
            &mut sim,
            *id,
            opts.nodes,
            disk.clone(),
            registry.clone(),
            opts.inject_stale_reads,
        );
    }
    let history = History::default();
    let shape = Shape {
        nodes: opts.nodes,
        keys: opts.keys,
        until: opts.chaos,
    };
    for w in 0..opts.writers {
        let seed = opts.seed.wrapping_mul(31).wrapping_add(w as u64);
        sim.client(
            format!("w{w}"),
            workload::writer(format!("w{w}"), seed, shape.clone(), history.clone()),
        );
    }
    for r in 0..opts.readers {
        let seed = opts.seed.wrapping_mul(37).wrapping_add(r as u64);
        sim.client(
            format!("r{r}"),
            workload::reader(format!("r{r}"), seed, shape.clone(), history.clone()),
        );
    }
    let views: Vec<Arc<Mutex<SdkView>>> = (0..opts.subscribers).map(|_| Arc::default()).collect();
    for (i, view) in views.iter().enumerate() {
        let first = (i as u64 % opts.nodes) + 1;
        let seed = opts.seed.wrapping_mul(41).wrapping_add(i as u64);
        sim.client(
            format!("s{i}"),
            workload::subscriber(seed, first, opts.nodes, total, view.clone()),
        );
    }

    let mut violations = Vec::new();
    let mut elections = Elections::default();
    let mut faults = Faults::new(opts.seed, opts.nodes);
    // Chaos.
    while sim.elapsed() < opts.chaos {
        let lead = leader(&registry);
        let now = sim.elapsed();
        for crashed in faults.tick(&mut sim, now, lead) {
            registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&crashed);
        }
        if let Err(e) = sim.step() {
            violations.push(Violation(format!("simulation error: {e}")));
            break;
        }
        observe(&registry, &mut elections, &mut violations);
    }
    // Liveness: heal, then require one leader, convergence and a write.
    let now = sim.elapsed();
    faults.heal_all(&mut sim, now);
    let healed_at = sim.elapsed();
    sim.client("live", crate::workload::live_write(history.clone()));
    let mut done = false;
    while violations.is_empty() && sim.elapsed() < healed_at + opts.liveness {
        if let Err(e) = sim.step() {
            violations.push(Violation(format!("simulation error: {e}")));
            break;
        }
        observe(&registry, &mut elections, &mut violations);
        if sim.elapsed().as_millis() % 100 == 0
            && history.live_write_done()
            && converged(&registry, &disks, opts.nodes, &views)
        {
            done = true;
            break;
        }
    }
    if !done && violations.is_empty() {
        violations.push(Violation(format!(
            "liveness: no convergence (one leader, equal state, SDKs caught up) and successful write within {:?} of healing; {}",
            opts.liveness,
            diagnose(&registry, &disks, &views, &history)
        )));
    }
    let ops = history.ops();
    let engines: BTreeMap<u64, &dyn Engine> = disks
        .iter()
        .map(|(id, d)| (*id, &d.engine as &dyn Engine))
        .collect();
    violations.extend(stores::agreement(&engines));
    if let Some(disk) = disks
        .values()
        .max_by_key(|d| stores::state_digest(&d.engine).0)
    {
        violations.extend(linear::check(&ops, &stores::truth(&disk.engine)));
        violations.extend(stores::audit(&disk.engine));
    }
    violations.extend(crate::check::sdk::contiguous(&views));
    let fingerprint = format!(
        "{}\n{}",
        serde_json::to_string(&ops).unwrap_or_default(),
        faults.trace.join("\n")
    );
    Report {
        seed: opts.seed,
        nodes: opts.nodes,
        acked_writes: ops
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Wrote { .. }))
            .count(),
        unknown: ops.iter().filter(|o| o.outcome == Outcome::Unknown).count(),
        ops: ops.len(),
        terms: elections.terms(),
        faults: faults.trace.clone(),
        fingerprint,
        violations,
        sim_time: sim.elapsed(),
    }
}
