//! The fault schedule: every choice drawn from the run's seed.
//!
//! Every `interval` of simulated time the schedule may start a fault:
//! symmetric and one-way partitions, cutting the leader off, minority /
//! majority splits, holding a link (then releasing it), latency spikes that
//! reorder messages, a small message-loss rate, and crashes whose downtime
//! is short, straddles the election timeout, or is long enough that the
//! node must catch up from a snapshot. Each of those heals on its own later.
//!
//! One fault does not heal: a node lost for good (its machine and disk
//! gone), which only an operator's removal undoes. It is drawn only while
//! the membership is settled and when the voters left alive stay a
//! majority, so a healed cluster can always make progress; keeping it so
//! afterwards is the membership code's job (its quorum guard).

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use turmoil::Sim;

use crate::cluster::{View, host};

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

/// A node a fault took down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Down {
    /// Crashed; it restarts later.
    Crashed(u64),
    /// Gone for good.
    Lost(u64),
}

/// The schedule and what it has done.
#[derive(Debug)]
pub struct Faults {
    rng: SmallRng,
    interval: Duration,
    next_at: Duration,
    pending: Vec<(Duration, Heal)>,
    /// Nodes currently crashed (and due to restart).
    pub down: BTreeMap<u64, Duration>,
    /// A line per action, for the report (and the determinism check).
    pub trace: Vec<String>,
}

fn pair(rng: &mut SmallRng, hosts: &[u64]) -> (u64, u64) {
    let a = rng.random_range(0..hosts.len());
    let mut b = rng.random_range(0..hosts.len());
    while b == a {
        b = rng.random_range(0..hosts.len());
    }
    (hosts[a], hosts[b])
}

fn any(rng: &mut SmallRng, hosts: &[u64]) -> u64 {
    hosts[rng.random_range(0..hosts.len())]
}

impl Faults {
    pub fn new(seed: u64) -> Faults {
        Faults {
            rng: SmallRng::seed_from_u64(seed ^ 0xfa17_5eed),
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

    /// Whether [`Faults::start_due`] would draw a fault now.
    pub fn due(&self, now: Duration) -> bool {
        now >= self.next_at
    }

    /// Applies the heals that are due (restarting crashed nodes).
    pub fn heal_due(&mut self, sim: &mut Sim<'_>, now: Duration) {
        let (due, rest): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|(at, _)| *at <= now);
        self.pending = rest;
        for (_, heal) in due {
            self.apply(sim, now, heal);
        }
    }

    /// Maybe starts a new fault. Returns the node it took down, if any
    /// (the caller forgets its handle).
    pub fn start_due(&mut self, sim: &mut Sim<'_>, now: Duration, view: &View) -> Option<Down> {
        if now < self.next_at {
            return None;
        }
        self.next_at = now + self.interval;
        if self.rng.random_range(0..100) >= 45 || view.hosts.len() < 2 {
            return None;
        }
        self.start(sim, now, view)
    }

    fn later(&mut self, now: Duration, min_ms: u64, max_ms: u64, heal: Heal) {
        let d = Duration::from_millis(self.rng.random_range(min_ms..=max_ms));
        self.pending.push((now + d, heal));
    }

    fn start(&mut self, sim: &mut Sim<'_>, now: Duration, view: &View) -> Option<Down> {
        let hosts = view.hosts.as_slice();
        match self.rng.random_range(0..9) {
            0 => {
                let (a, b) = pair(&mut self.rng, hosts);
                sim.partition(host(a), host(b));
                self.note(now, format!("partition n{a} <-> n{b}"));
                self.later(now, 300, 2500, Heal::Repair(a, b));
            }
            1 => {
                let (a, b) = pair(&mut self.rng, hosts);
                sim.partition_oneway(host(a), host(b));
                self.note(now, format!("partition n{a} -> n{b} (one way)"));
                self.later(now, 300, 2500, Heal::RepairOneway(a, b));
            }
            2 => {
                // Cut the leader (or a random node) off from everyone.
                let victim = match view.leader {
                    Some(l) => l,
                    None => any(&mut self.rng, hosts),
                };
                let until = self.rng.random_range(500..=3000);
                for other in hosts.iter().filter(|o| **o != victim) {
                    sim.partition(host(victim), host(*other));
                    self.pending.push((
                        now + Duration::from_millis(until),
                        Heal::Repair(victim, *other),
                    ));
                }
                self.note(
                    now,
                    format!(
                        "isolate n{victim} (leader: {:?}) for {until}ms",
                        view.leader
                    ),
                );
            }
            3 => {
                let (a, b) = pair(&mut self.rng, hosts);
                sim.hold(host(a), host(b));
                self.note(now, format!("hold n{a} <-> n{b}"));
                self.later(now, 100, 1500, Heal::Release(a, b));
            }
            4 => {
                let (a, b) = pair(&mut self.rng, hosts);
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
            6 if hosts.len() >= 5 => {
                // Split a minority of two from the majority.
                let (a, b) = pair(&mut self.rng, hosts);
                let until = self.rng.random_range(500..=3000);
                for other in hosts.iter().filter(|o| **o != a && **o != b) {
                    for side in [a, b] {
                        sim.partition(host(side), host(*other));
                        self.pending.push((
                            now + Duration::from_millis(until),
                            Heal::Repair(side, *other),
                        ));
                    }
                }
                self.note(
                    now,
                    format!("split {{n{a}, n{b}}} from the rest for {until}ms"),
                );
            }
            _ => return self.crash(sim, now, view),
        }
        None
    }

    fn crash(&mut self, sim: &mut Sim<'_>, now: Duration, view: &View) -> Option<Down> {
        // At most one node down at a time, so the cluster keeps a majority.
        if !self.down.is_empty() {
            return None;
        }
        let victim = match (self.rng.random_range(0..2), view.leader) {
            (0, Some(l)) => l,
            _ => any(&mut self.rng, &view.hosts),
        };
        // Short, straddling the election timeout (300–600 ms), long enough
        // to need a snapshot, or (when the cluster can afford it) for good.
        let downtime = match self.rng.random_range(0..8) {
            0..=1 => self.rng.random_range(50..=250),
            2..=3 => self.rng.random_range(250..=700),
            4 if can_lose(view, victim) => return Some(self.lose(sim, now, victim)),
            _ => self.rng.random_range(2500..=5000),
        };
        sim.crash(host(victim));
        self.down.insert(victim, now);
        self.pending
            .push((now + Duration::from_millis(downtime), Heal::Bounce(victim)));
        self.note(now, format!("crash n{victim} for {downtime}ms"));
        Some(Down::Crashed(victim))
    }

    /// Crashes `victim` never to return (its disk is gone).
    pub fn lose(&mut self, sim: &mut Sim<'_>, now: Duration, victim: u64) -> Down {
        if self.forget(victim) {
            self.note(now, format!("n{victim} (down) is lost for good"));
        } else {
            sim.crash(host(victim));
            self.note(now, format!("lose n{victim} for good"));
        }
        Down::Lost(victim)
    }

    /// Stops tracking `id` (retired): it is not restarted. Returns whether
    /// it was down.
    pub fn forget(&mut self, id: u64) -> bool {
        self.pending
            .retain(|(_, h)| !matches!(h, Heal::Bounce(b) if *b == id));
        self.down.remove(&id).is_some()
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

    /// Ends every fault that heals, now, among `hosts` (every host started;
    /// the liveness phase starts). Lost nodes stay lost.
    pub fn heal_all(&mut self, sim: &mut Sim<'_>, now: Duration, hosts: &[u64]) {
        let pending: Vec<_> = self.pending.drain(..).collect();
        for (_, heal) in pending {
            self.apply(sim, now, heal);
        }
        for a in hosts {
            for b in hosts {
                if a != b {
                    sim.repair(host(*a), host(*b));
                    sim.release(host(*a), host(*b));
                }
            }
        }
        sim.set_fail_rate(0.0);
        self.note(now, "heal everything".into());
    }
}

/// Whether losing `victim` for good leaves a healed cluster able to commit:
/// the membership is settled (no change half done, none requested), and
/// the voters still alive without it are a majority.
pub fn can_lose(view: &View, victim: u64) -> bool {
    let alive = view
        .voters
        .iter()
        .filter(|v| **v != victim && view.hosts.contains(v))
        .count();
    view.settled && view.voters.contains(&victim) && alive * 2 > view.voters.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(voters: &[u64], hosts: &[u64]) -> View {
        View {
            hosts: hosts.to_vec(),
            leader: Some(voters[0]),
            voters: voters.iter().copied().collect(),
            learners: Default::default(),
            settled: true,
        }
    }

    #[test]
    fn a_node_is_lost_only_when_a_majority_stays_alive() {
        assert!(can_lose(&view(&[1, 2, 3], &[1, 2, 3]), 3));
        // One voter already lost: losing another leaves one of three.
        assert!(!can_lose(&view(&[1, 2, 3], &[1, 2]), 2));
        assert!(!can_lose(&view(&[1, 2], &[1, 2]), 2));
        assert!(can_lose(&view(&[1, 2, 3, 4, 5], &[1, 2, 3, 4]), 4));
        // Not a voter, or a change in flight: no.
        assert!(!can_lose(&view(&[1, 2, 3], &[1, 2, 3, 4]), 4));
        let mut busy = view(&[1, 2, 3], &[1, 2, 3]);
        busy.settled = false;
        assert!(!can_lose(&busy, 3));
    }
}
