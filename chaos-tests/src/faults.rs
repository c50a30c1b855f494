//! The fault schedule: every choice drawn from the run's seed.
//!
//! Every `interval` of simulated time the schedule may start a fault:
//! symmetric and one-way partitions, cutting the leader off, minority /
//! majority splits, holding a link (then releasing it), latency spikes that
//! reorder messages, a small message-loss rate, and crashes whose downtime
//! is short, straddles the election timeout, or is long enough that the
//! node must catch up from a snapshot. Each fault heals on its own later.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use turmoil::Sim;

use crate::cluster::host;

/// Something that undoes a fault at a given time.
#[derive(Debug, Clone)]
enum Heal {
    Repair(u64, u64),
    RepairOneway(u64, u64),
    Release(u64, u64),
    Latency(u64, u64),
    FailRate,
    Bounce(u64),
}

/// The schedule and what it has done.
#[derive(Debug)]
pub struct Faults {
    rng: SmallRng,
    n: u64,
    interval: Duration,
    next_at: Duration,
    pending: Vec<(Duration, Heal)>,
    /// Nodes currently crashed.
    pub down: BTreeMap<u64, Duration>,
    /// A line per action, for the report (and the determinism check).
    pub trace: Vec<String>,
}

fn pair(rng: &mut SmallRng, n: u64) -> (u64, u64) {
    let a = rng.random_range(1..=n);
    let mut b = rng.random_range(1..=n);
    while b == a {
        b = rng.random_range(1..=n);
    }
    (a, b)
}

impl Faults {
    pub fn new(seed: u64, n: u64) -> Faults {
        Faults {
            rng: SmallRng::seed_from_u64(seed ^ 0xfa17_5eed),
            n,
            interval: Duration::from_millis(400),
            next_at: Duration::from_millis(1500),
            pending: Vec::new(),
            down: BTreeMap::new(),
            trace: Vec::new(),
        }
    }

    fn note(&mut self, now: Duration, what: String) {
        self.trace.push(format!("{:>7}ms {what}", now.as_millis()));
    }

    /// Applies due heals and maybe starts a new fault. Returns the nodes it
    /// crashed (the caller forgets their handles).
    pub fn tick(&mut self, sim: &mut Sim<'_>, now: Duration, leader: Option<u64>) -> Vec<u64> {
        self.heal_due(sim, now);
        if now < self.next_at {
            return Vec::new();
        }
        self.next_at = now + self.interval;
        if self.rng.random_range(0..100) >= 45 {
            return Vec::new();
        }
        self.start(sim, now, leader)
    }

    fn later(&mut self, now: Duration, min_ms: u64, max_ms: u64, heal: Heal) {
        let d = Duration::from_millis(self.rng.random_range(min_ms..=max_ms));
        self.pending.push((now + d, heal));
    }

    fn start(&mut self, sim: &mut Sim<'_>, now: Duration, leader: Option<u64>) -> Vec<u64> {
        let n = self.n;
        match self.rng.random_range(0..9) {
            0 => {
                let (a, b) = pair(&mut self.rng, n);
                sim.partition(host(a), host(b));
                self.note(now, format!("partition n{a} <-> n{b}"));
                self.later(now, 300, 2500, Heal::Repair(a, b));
            }
            1 => {
                let (a, b) = pair(&mut self.rng, n);
                sim.partition_oneway(host(a), host(b));
                self.note(now, format!("partition n{a} -> n{b} (one way)"));
                self.later(now, 300, 2500, Heal::RepairOneway(a, b));
            }
            2 => {
                // Cut the leader (or a random node) off from everyone.
                let victim = leader.unwrap_or_else(|| self.rng.random_range(1..=n));
                let until = self.rng.random_range(500..=3000);
                for other in (1..=n).filter(|o| *o != victim) {
                    sim.partition(host(victim), host(other));
                    self.pending.push((
                        now + Duration::from_millis(until),
                        Heal::Repair(victim, other),
                    ));
                }
                self.note(
                    now,
                    format!("isolate n{victim} (leader: {leader:?}) for {until}ms"),
                );
            }
            3 => {
                let (a, b) = pair(&mut self.rng, n);
                sim.hold(host(a), host(b));
                self.note(now, format!("hold n{a} <-> n{b}"));
                self.later(now, 100, 1500, Heal::Release(a, b));
            }
            4 => {
                let (a, b) = pair(&mut self.rng, n);
                let ms = self.rng.random_range(20..=200);
                sim.set_link_latency(host(a), host(b), Duration::from_millis(ms));
                self.note(now, format!("latency n{a} <-> n{b} {ms}ms"));
                self.later(now, 500, 2500, Heal::Latency(a, b));
            }
            5 => {
                sim.set_fail_rate(0.01);
                self.note(now, "fail rate 1%".into());
                self.later(now, 300, 1500, Heal::FailRate);
            }
            6 if n >= 5 => {
                // Split a minority of two from the majority.
                let (a, b) = pair(&mut self.rng, n);
                let until = self.rng.random_range(500..=3000);
                for other in (1..=n).filter(|o| *o != a && *o != b) {
                    for side in [a, b] {
                        sim.partition(host(side), host(other));
                        self.pending.push((
                            now + Duration::from_millis(until),
                            Heal::Repair(side, other),
                        ));
                    }
                }
                self.note(
                    now,
                    format!("split {{n{a}, n{b}}} from the rest for {until}ms"),
                );
            }
            _ => return self.crash(sim, now, leader),
        }
        Vec::new()
    }

    fn crash(&mut self, sim: &mut Sim<'_>, now: Duration, leader: Option<u64>) -> Vec<u64> {
        // At most one node down at a time, so the cluster keeps a majority.
        if !self.down.is_empty() {
            return Vec::new();
        }
        let victim = if self.rng.random_range(0..2) == 0 {
            leader.unwrap_or(1)
        } else {
            self.rng.random_range(1..=self.n)
        };
        // Short, straddling the election timeout (300–600 ms), or long
        // enough to need a snapshot.
        let downtime = match self.rng.random_range(0..3) {
            0 => self.rng.random_range(50..=250),
            1 => self.rng.random_range(250..=700),
            _ => self.rng.random_range(2500..=5000),
        };
        sim.crash(host(victim));
        self.down.insert(victim, now);
        self.pending
            .push((now + Duration::from_millis(downtime), Heal::Bounce(victim)));
        self.note(now, format!("crash n{victim} for {downtime}ms"));
        vec![victim]
    }

    fn heal_due(&mut self, sim: &mut Sim<'_>, now: Duration) {
        let (due, rest): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|(at, _)| *at <= now);
        self.pending = rest;
        for (_, heal) in due {
            self.apply(sim, now, heal);
        }
    }

    fn apply(&mut self, sim: &mut Sim<'_>, now: Duration, heal: Heal) {
        match heal {
            Heal::Repair(a, b) => sim.repair(host(a), host(b)),
            Heal::RepairOneway(a, b) => sim.repair_oneway(host(a), host(b)),
            Heal::Release(a, b) => sim.release(host(a), host(b)),
            Heal::Latency(a, b) => sim.set_link_latency(host(a), host(b), Duration::from_millis(1)),
            Heal::FailRate => sim.set_fail_rate(0.0),
            Heal::Bounce(id) => {
                sim.bounce(host(id));
                self.down.remove(&id);
                self.note(now, format!("restart n{id}"));
            }
        }
    }

    /// Ends every fault now (the liveness phase starts).
    pub fn heal_all(&mut self, sim: &mut Sim<'_>, now: Duration) {
        let pending: Vec<_> = self.pending.drain(..).collect();
        for (_, heal) in pending {
            self.apply(sim, now, heal);
        }
        for a in 1..=self.n {
            for b in 1..=self.n {
                if a != b {
                    sim.repair(host(a), host(b));
                    sim.release(host(a), host(b));
                }
            }
        }
        sim.set_fail_rate(0.0);
        self.note(now, "heal everything".into());
    }
}
