//! What clients did and saw: the history every check reads.

use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Simulated time in microseconds since the simulation began.
pub type Micros = u64;

/// (The simulation's clock, not the host's: `turmoil::elapsed` counts from
/// when a host was added, and clients such as the liveness probe and the
/// membership requests are added mid-run.)
pub fn now() -> Micros {
    let since = turmoil::sim_elapsed().unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

/// A flag as a client observed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Obs {
    pub version: u64,
    /// Every write puts a unique description, so a value names its write.
    pub description: String,
    pub enabled: bool,
}

/// What an operation asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Kind {
    Create,
    Update,
    Toggle,
    Delete,
    Rollback(u64),
    Read,
}

impl Kind {
    pub fn is_write(&self) -> bool {
        !matches!(self, Kind::Read)
    }
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// Committed: the flag's new version (and state; `None` for a delete).
    Wrote { version: u64, state: Option<Obs> },
    /// Refused with a 4xx: nothing changed.
    Rejected(u16),
    /// A read (or a toggle that changed nothing, answered after a read
    /// barrier): the flag's state, or `None` when absent.
    Read(Option<Obs>),
    /// Timed out or 503: it may or may not have happened.
    Unknown,
}

/// One operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Op {
    pub client: String,
    pub key: String,
    pub kind: Kind,
    /// The node asked.
    pub node: u64,
    pub invoke: Micros,
    pub complete: Micros,
    pub outcome: Outcome,
}

/// Shared by every client of one run: the operations, and when the
/// liveness probe's write succeeded.
#[derive(Debug, Clone, Default)]
pub struct History(pub Arc<Mutex<Vec<Op>>>, Arc<Mutex<Option<Micros>>>);

impl History {
    pub fn push(&self, op: Op) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(op);
    }

    /// The liveness probe's write succeeded (now).
    pub fn mark_live_write(&self) {
        let mut at = self.1.lock().unwrap_or_else(|p| p.into_inner());
        at.get_or_insert(now());
    }

    /// When the liveness probe's write succeeded.
    pub fn live_write_at(&self) -> Option<Micros> {
        *self.1.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn live_write_done(&self) -> bool {
        self.live_write_at().is_some()
    }

    pub fn ops(&self) -> Vec<Op> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
