//! One seeded run: chaos (faults, load and membership changes), then
//! healing and liveness, then every check.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use turmoil::Sim;
use vexil_node::server::Bootstrap;
use vexil_storage::Engine;

use crate::check::{Violation, converge, election::Elections, linear, liveness, stores};
use crate::cluster::{Hosts, Registry, View, initial_members};
use crate::faults::{Down, Faults};
use crate::history::{History, Outcome};
use crate::membership::{Change, EXTRA_IDS, Membership};
use crate::workload::{self, SdkView, Shape};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub nodes: u64,
    /// Simulated time with faults and load.
    pub chaos: Duration,
    /// How long the healed cluster may take to take a write and converge.
    pub liveness: Duration,
    pub writers: usize,
    pub readers: usize,
    pub subscribers: u64,
    pub keys: usize,
    /// Membership changes on a seeded schedule (adds, removals, leadership
    /// moves) during the chaos.
    pub membership: bool,
    /// One exact sequence forced at a time, on top of the seeded ones.
    pub forced: Option<(Duration, Forced)>,
    /// Deliberately serve linearizable reads without a barrier (a bug).
    pub inject_stale_reads: bool,
}

/// A sequence a test forces, relative to whoever leads at that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forced {
    /// Lose every follower for good: no quorum is left, ever.
    LoseFollowers,
    /// Issue 20: lose one follower for good and, in the same instant, ask
    /// the leader to remove the other follower.
    LoseOneRemoveOther,
}

impl Options {
    pub fn new(seed: u64) -> Options {
        Options {
            seed,
            nodes: 3,
            chaos: Duration::from_secs(12),
            liveness: liveness::WRITABLE_WITHIN,
            writers: 3,
            readers: 2,
            subscribers: 2,
            keys: 4,
            membership: true,
            forced: None,
            inject_stale_reads: false,
        }
    }
}

/// What happened.
#[derive(Debug)]
pub struct Report {
    pub seed: u64,
    pub nodes: u64,
    pub membership: bool,
    pub violations: Vec<Violation>,
    pub ops: usize,
    pub acked_writes: usize,
    pub unknown: usize,
    pub terms: usize,
    pub faults: Vec<String>,
    /// Every membership request and its answer.
    pub changes: Vec<String>,
    /// The client-visible history, fault trace and membership requests,
    /// serialized: two runs of one seed must produce the same text.
    pub fingerprint: String,
    pub sim_time: Duration,
    /// Promotions the promoter's project holds at the end (on the disk
    /// checked), each of them whole.
    pub promotions: usize,
}

impl Report {
    /// The command that replays this run.
    pub fn replay(&self) -> String {
        let mut cmd = format!("scripts/chaos.sh --seed {}", self.seed);
        if self.nodes != 3 {
            cmd += &format!(" --nodes {}", self.nodes);
        }
        if !self.membership {
            cmd += " --no-membership";
        }
        cmd
    }
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

/// Everything a run drives, step by step.
struct Run<'a> {
    sim: Sim<'a>,
    hosts: Hosts,
    faults: Faults,
    changes: Membership,
    /// Requests whose answer was already acted on.
    acted: BTreeSet<usize>,
}

impl Run<'_> {
    fn view(&self) -> View {
        View::read(
            &self.hosts.registry,
            &self.hosts,
            self.changes.requests.in_flight(),
        )
    }

    fn took_down(&mut self, down: Down) {
        let now = self.sim.elapsed();
        match down {
            Down::Crashed(id) => {
                self.hosts
                    .registry
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                self.changes.went_down(now, id);
            }
            Down::Lost(id) => {
                self.hosts.retire(&mut self.sim, id, true);
                self.changes.went_down(now, id);
            }
        }
    }

    /// An operator decommissions a node once its removal is acknowledged.
    fn decommission_removed(&mut self) {
        for (i, r) in self.changes.requests.all().into_iter().enumerate() {
            if r.answer.is_none() || !self.acted.insert(i) {
                continue;
            }
            if let Change::Remove(id) = r.change
                && r.ok()
                && !self.hosts.retired.contains(&id)
            {
                let was_down = self.faults.forget(id);
                self.hosts.retire(&mut self.sim, id, was_down);
            }
        }
    }

    /// After healing, an operator also stops any node the cluster does not
    /// count as a member (a removal whose answer was lost, an add that
    /// failed before the node became a learner), once the membership is
    /// settled and no add for that node is pending.
    fn stop_strays(&mut self) {
        let view = self.view();
        if !view.settled {
            return;
        }
        let members = view.members();
        for id in view.hosts {
            if !members.contains(&id) {
                let was_down = self.faults.forget(id);
                self.hosts.retire(&mut self.sim, id, was_down);
            }
        }
    }

    fn force(&mut self, what: Forced) -> bool {
        let view = self.view();
        let Some(leader) = view.leader else {
            return false;
        };
        let now = self.sim.elapsed();
        let followers: Vec<u64> = view
            .voters
            .iter()
            .filter(|v| **v != leader && view.hosts.contains(v))
            .copied()
            .collect();
        match what {
            Forced::LoseFollowers => {
                for id in followers {
                    let down = self.faults.lose(&mut self.sim, now, id);
                    self.took_down(down);
                }
            }
            Forced::LoseOneRemoveOther => {
                if let [lost, other, ..] = followers[..] {
                    let down = self.faults.lose(&mut self.sim, now, lost);
                    self.took_down(down);
                    self.changes
                        .send(&mut self.sim, Change::Remove(other), leader, Duration::ZERO);
                }
            }
        }
        true
    }
}

/// Runs one seed to completion and checks it.
pub fn run(opts: &Options) -> Report {
    vexil_raft::seed_thread_rng(opts.seed);
    let total = opts.chaos + opts.liveness + Duration::from_secs(5);
    let sim = turmoil::Builder::new()
        .rng_seed(opts.seed)
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .simulation_duration(total)
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(4))
        .tcp_capacity(1 << 16)
        .build();
    let registry: Registry = Arc::default();
    let mut run = Run {
        sim,
        hosts: Hosts::new(registry.clone(), opts.inject_stale_reads),
        faults: Faults::new(opts.seed),
        changes: Membership::new(opts.seed, opts.nodes, opts.membership, opts.chaos),
        acted: BTreeSet::new(),
    };
    for id in 1..=opts.nodes {
        let boot = Bootstrap::Initial(initial_members(opts.nodes));
        run.hosts.start(&mut run.sim, id, boot);
    }
    let history = History::default();
    let shape = Shape {
        roster: run.hosts.roster.clone(),
        keys: opts.keys,
        until: opts.chaos,
    };
    for w in 0..opts.writers {
        let seed = opts.seed.wrapping_mul(31).wrapping_add(w as u64);
        run.sim.client(
            format!("w{w}"),
            workload::writer(format!("w{w}"), seed, shape.clone(), history.clone()),
        );
    }
    for r in 0..opts.readers {
        let seed = opts.seed.wrapping_mul(37).wrapping_add(r as u64);
        run.sim.client(
            format!("r{r}"),
            workload::reader(format!("r{r}"), seed, shape.clone(), history.clone()),
        );
    }
    run.sim.client(
        "promoter",
        workload::promoter(opts.seed.wrapping_mul(43), shape.clone()),
    );
    let views: Vec<Arc<Mutex<SdkView>>> = (0..opts.subscribers).map(|_| Arc::default()).collect();
    let ids = opts.nodes + if opts.membership { EXTRA_IDS } else { 0 };
    for (i, view) in views.iter().enumerate() {
        let first = (i as u64 % opts.nodes) + 1;
        let seed = opts.seed.wrapping_mul(41).wrapping_add(i as u64);
        run.sim.client(
            format!("s{i}"),
            workload::subscriber(seed, first, ids, total, view.clone()),
        );
    }

    let mut violations = Vec::new();
    let mut elections = Elections::default();
    let mut forced = opts.forced;
    // Chaos.
    while run.sim.elapsed() < opts.chaos {
        let now = run.sim.elapsed();
        run.faults.heal_due(&mut run.sim, now);
        if let Some((at, what)) = forced
            && now >= at
            && run.force(what)
        {
            forced = None;
        }
        if run.faults.due(now) || run.changes.due(now) {
            let view = run.view();
            if let Some(down) = run.faults.start_due(&mut run.sim, now, &view) {
                run.took_down(down);
            }
            run.changes.tick(&mut run.sim, now, &view, &mut run.hosts);
        }
        if let Err(e) = run.sim.step() {
            violations.push(Violation(format!("simulation error: {e}")));
            break;
        }
        observe(&registry, &mut elections, &mut violations);
        run.decommission_removed();
    }
    // Liveness: heal, then require a write, one leader and convergence.
    let now = run.sim.elapsed();
    let started: Vec<u64> = run.hosts.disks.keys().copied().collect();
    run.faults.heal_all(&mut run.sim, now, &started);
    let healed_at = run.sim.elapsed();
    run.sim.client(
        "live",
        workload::live_write(history.clone(), run.hosts.roster.clone()),
    );
    let mut done = false;
    while violations.is_empty() && run.sim.elapsed() < healed_at + opts.liveness {
        if let Err(e) = run.sim.step() {
            violations.push(Violation(format!("simulation error: {e}")));
            break;
        }
        observe(&registry, &mut elections, &mut violations);
        run.decommission_removed();
        if run.sim.elapsed().as_millis() % 100 == 0 {
            run.stop_strays();
            if history.live_write_done() && converge::converged(&registry, &run.hosts, &views) {
                done = true;
                break;
            }
        }
    }
    if violations.is_empty() {
        let wedged = liveness::writable(healed_at, history.live_write_at(), opts.liveness);
        if let Some(v) = wedged {
            violations.push(Violation(format!(
                "{v}; {}",
                converge::diagnose(&registry, &run.hosts, &views, &history)
            )));
        } else if !done {
            violations.push(Violation(format!(
                "convergence: no single leader with equal state on every member and SDKs caught up within {:?} of healing; {}",
                opts.liveness,
                converge::diagnose(&registry, &run.hosts, &views, &history)
            )));
        }
    }
    let ops = history.ops();
    // Every disk, members or not: whatever a node applied was committed,
    // so even a removed or lost node's entries must agree.
    let engines: BTreeMap<u64, &dyn Engine> = run
        .hosts
        .disks
        .iter()
        .map(|(id, d)| (*id, &d.engine as &dyn Engine))
        .collect();
    violations.extend(stores::agreement(&engines));
    let mut promotions = 0;
    if let Some(disk) = truth_disk(&registry, &run.hosts) {
        promotions = stores::promotion_count(&disk.engine);
        violations.extend(linear::check(&ops, &stores::truth(&disk.engine)));
        violations.extend(stores::audit(&disk.engine));
        violations.extend(stores::promotions(&disk.engine, workload::PROMO_FLAGS));
    }
    violations.extend(crate::check::sdk::contiguous(&views));
    let changes: Vec<String> = run
        .changes
        .requests
        .all()
        .iter()
        .map(|r| r.describe())
        .collect();
    let fingerprint = format!(
        "{}\n{}\n{}",
        serde_json::to_string(&ops).unwrap_or_default(),
        run.faults.trace.join("\n"),
        changes.join("\n")
    );
    Report {
        seed: opts.seed,
        nodes: opts.nodes,
        membership: opts.membership,
        acked_writes: ops
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Wrote { .. }))
            .count(),
        unknown: ops.iter().filter(|o| o.outcome == Outcome::Unknown).count(),
        ops: ops.len(),
        terms: elections.terms(),
        faults: run.faults.trace.clone(),
        changes,
        fingerprint,
        violations,
        sim_time: run.sim.elapsed(),
        promotions,
    }
}

/// The disk whose committed history the linearizability check reads: the
/// running node that applied the most (after convergence, the leader's
/// equal), never a node removed or lost with an older history.
fn truth_disk<'a>(registry: &Registry, hosts: &'a Hosts) -> Option<&'a crate::cluster::Disk> {
    let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    let best = reg
        .values()
        .map(|r| r.raft.status())
        .max_by_key(|s| {
            (
                s.applied_index,
                s.state == "leader",
                std::cmp::Reverse(s.id),
            )
        })
        .map(|s| s.id);
    match best {
        Some(id) => hosts.disks.get(&id),
        None => hosts
            .disks
            .values()
            .max_by_key(|d| stores::state_digest(&d.engine).0),
    }
}
