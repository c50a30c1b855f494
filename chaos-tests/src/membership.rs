//! Membership changes, as an operator makes them through the HTTP API, on
//! a seeded schedule and under the same faults as everything else.
//!
//! - add: start a fresh node with `Bootstrap::Join` and `POST
//!   /v1/cluster/members` it (learner → catch-up → voter in one call), or
//!   add again a member that stayed a learner;
//! - remove a voter (a healthy follower, the leader, or one that is
//!   crashed or lost) or a learner with `DELETE /v1/cluster/members/{id}`;
//! - move leadership with `POST /v1/cluster/leader`.
//!
//! Some crashes draw a reaction soon after (within a second): removing the
//! node that went down, or another voter. Requests go to any node; every
//! answer (200, 409, 503, no answer) is acceptable: the invariants judge
//! the outcome. A node whose removal was acknowledged is decommissioned.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use turmoil::Sim;
use vexil_node::server::Bootstrap;

use crate::api::{Api, Reply};
use crate::cluster::{Hosts, View, member, url};
use crate::history::{Micros, now};

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add(u64),
    Remove(u64),
    /// To this voter, or (`None`) to whichever the leader picks.
    Transfer(Option<u64>),
}

/// One request and, once it ended, its answer.
#[derive(Debug, Clone)]
pub struct Request {
    pub change: Change,
    /// The node asked.
    pub via: u64,
    pub sent: Micros,
    /// When it ended and how: the status (`200`; `409 <code>`, `503
    /// <code>` with the error's code), or `no answer (<why>)`.
    pub answer: Option<(Micros, String)>,
}

impl Request {
    pub fn ok(&self) -> bool {
        self.answer
            .as_ref()
            .is_some_and(|(_, a)| a.starts_with('2'))
    }

    pub fn describe(&self) -> String {
        let what = match self.change {
            Change::Add(id) => format!("add n{id}"),
            Change::Remove(id) => format!("remove n{id}"),
            Change::Transfer(Some(to)) => format!("transfer leadership to n{to}"),
            Change::Transfer(None) => "transfer leadership".into(),
        };
        let answer = match &self.answer {
            Some((at, a)) => format!("{a} at {}ms", at / 1000),
            None => "unanswered".into(),
        };
        format!(
            "{:>7}ms {what} via n{} → {answer}",
            self.sent / 1000,
            self.via
        )
    }
}

/// Every request of one run, shared with the clients that make them.
#[derive(Debug, Clone, Default)]
pub struct Requests(Arc<Mutex<Vec<Request>>>);

impl Requests {
    pub fn all(&self) -> Vec<Request> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn in_flight(&self) -> usize {
        self.all().iter().filter(|r| r.answer.is_none()).count()
    }

    fn push(&self, r: Request) -> usize {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.push(r);
        all.len() - 1
    }

    fn answer(&self, i: usize, answer: String) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = all.get_mut(i) {
            r.answer = Some((now(), answer));
        }
    }
}

/// The schedule of membership changes.
#[derive(Debug)]
pub struct Membership {
    rng: SmallRng,
    /// Draw changes on a schedule (else only forced ones are made).
    scheduled: bool,
    next_at: Duration,
    /// Changes stop being drawn here (the chaos phase ends).
    until: Duration,
    /// The next fresh node id, and the last one that may be used.
    next_id: u64,
    last_id: u64,
    /// Voters and learners together stay at most this many.
    max_members: usize,
    /// Reactions to a crash: when, and the node that went down.
    reactions: Vec<(Duration, u64)>,
    pub requests: Requests,
}

/// Fresh ids a run may use beyond its founding members.
pub const EXTRA_IDS: u64 = 4;

impl Membership {
    pub fn new(seed: u64, nodes: u64, scheduled: bool, until: Duration) -> Membership {
        Membership {
            rng: SmallRng::seed_from_u64(seed ^ 0x6d65_6d62),
            scheduled,
            next_at: Duration::from_millis(1000),
            until,
            next_id: nodes + 1,
            last_id: nodes + EXTRA_IDS,
            max_members: nodes.max(5) as usize,
            reactions: Vec::new(),
            requests: Requests::default(),
        }
    }

    /// Whether [`Membership::tick`] would do something now.
    pub fn due(&self, now: Duration) -> bool {
        self.scheduled
            && now < self.until
            && (now >= self.next_at || self.reactions.iter().any(|(at, _)| *at <= now))
    }

    /// A fault took `id` down: maybe react within a second.
    pub fn went_down(&mut self, now: Duration, id: u64) {
        if self.scheduled && self.rng.random_range(0..2) == 0 {
            let after = Duration::from_millis(self.rng.random_range(0..=1000));
            self.reactions.push((now + after, id));
        }
    }

    /// Makes the changes that are due.
    pub fn tick(&mut self, sim: &mut Sim<'_>, now: Duration, view: &View, hosts: &mut Hosts) {
        if !self.due(now) {
            return;
        }
        let (due, rest): (Vec<_>, Vec<_>) =
            self.reactions.drain(..).partition(|(at, _)| *at <= now);
        self.reactions = rest;
        for (_, id) in due {
            self.react(sim, view, id);
        }
        if now >= self.next_at {
            self.next_at = now + Duration::from_millis(self.rng.random_range(600..=1800));
            if self.rng.random_range(0..100) < 60 {
                self.draw(sim, view, hosts);
            }
        }
    }

    /// Removes the node that went down, or another voter (with the first
    /// still within the leader's ack horizon: issue 20's wedge).
    fn react(&mut self, sim: &mut Sim<'_>, view: &View, down: u64) {
        if view.voters.len() < 3 {
            return;
        }
        let target = if self.rng.random_range(0..2) == 0 {
            down
        } else {
            let others: Vec<u64> = view
                .voters
                .iter()
                .filter(|v| **v != down && Some(**v) != view.leader)
                .copied()
                .collect();
            match others.len() {
                0 => down,
                n => others[self.rng.random_range(0..n)],
            }
        };
        let via = self.via(view);
        self.send(sim, Change::Remove(target), via, Duration::ZERO);
    }

    fn draw(&mut self, sim: &mut Sim<'_>, view: &View, hosts: &mut Hosts) {
        let voters: Vec<u64> = view.voters.iter().copied().collect();
        let learners: Vec<u64> = view.learners.iter().copied().collect();
        let room = view.members().len() < self.max_members && self.next_id <= self.last_id;
        let roll = match voters.len() {
            0 => return, // nothing known yet
            1 | 2 => 0,  // too few voters: add one
            n if n >= self.max_members => 4,
            _ => self.rng.random_range(0..10),
        };
        let via = self.via(view);
        match roll {
            0..=2 if room => {
                let id = self.next_id;
                self.next_id += 1;
                hosts.start(sim, id, Bootstrap::Join);
                // The new node needs a moment to listen; the leader's probe
                // and replication retry in any case.
                let delay = Duration::from_millis(self.rng.random_range(0..=300));
                self.send(sim, Change::Add(id), via, delay);
            }
            3 if !learners.is_empty() => {
                let id = learners[self.rng.random_range(0..learners.len())];
                self.send(sim, Change::Add(id), via, Duration::ZERO);
            }
            0..=6 if voters.len() >= 3 => {
                let id = voters[self.rng.random_range(0..voters.len())];
                self.send(sim, Change::Remove(id), via, Duration::ZERO);
            }
            7 if !learners.is_empty() => {
                let id = learners[self.rng.random_range(0..learners.len())];
                self.send(sim, Change::Remove(id), via, Duration::ZERO);
            }
            _ => {
                let to = match self.rng.random_range(0..2) {
                    0 => None,
                    _ => Some(voters[self.rng.random_range(0..voters.len())]),
                };
                self.send(sim, Change::Transfer(to), via, Duration::ZERO);
            }
        }
    }

    /// A node to send a request to: any host, as an operator's script
    /// might pick (followers forward to the leader).
    fn via(&mut self, view: &View) -> u64 {
        match view.hosts.len() {
            0 => 1,
            n => view.hosts[self.rng.random_range(0..n)],
        }
    }

    /// Sends `change` to `via` from a client of its own, after `delay`.
    pub fn send(&mut self, sim: &mut Sim<'_>, change: Change, via: u64, delay: Duration) {
        let i = self.requests.push(Request {
            change,
            via,
            sent: u64::try_from((sim.elapsed() + delay).as_micros()).unwrap_or(u64::MAX),
            answer: None,
        });
        let requests = self.requests.clone();
        sim.client(format!("m{i}"), async move {
            tokio::time::sleep(delay).await;
            let answer = request(change, via).await;
            requests.answer(i, answer);
            Ok(())
        });
    }
}

/// Makes one request and says how it ended.
async fn request(change: Change, via: u64) -> String {
    // Longer than any membership call's own deadlines (a 2 s probe, 10 s to
    // catch up, 10 s to commit), so most calls end with the node's answer.
    let api = Api::new(Duration::from_secs(25));
    let base = url(via);
    let (method, path, body) = match change {
        Change::Add(id) => {
            let m = member(id);
            (
                Method::POST,
                format!("{base}/v1/cluster/members"),
                Some(json!({"id": id, "peer_addr": m.peer_addr, "client_addr": m.client_addr})),
            )
        }
        Change::Remove(id) => (
            Method::DELETE,
            format!("{base}/v1/cluster/members/{id}"),
            None,
        ),
        Change::Transfer(to) => (
            Method::POST,
            format!("{base}/v1/cluster/leader"),
            Some(match to {
                Some(to) => json!({ "to": to }),
                None => json!({}),
            }),
        ),
    };
    match api.call(method, &path, &[], body.as_ref()).await {
        Reply::Ok { status, .. } if status < 300 => status.to_string(),
        Reply::Ok { status, body, .. } => format!(
            "{status} {}",
            body.get("error").and_then(Value::as_str).unwrap_or("?")
        ),
        Reply::Unknown(why) => format!("no answer ({why})"),
    }
}
