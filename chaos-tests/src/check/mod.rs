//! The invariants, each checked from the history and the nodes' stores.
//!
//! - [`linear`]: every flag's history is linearizable, and every
//!   acknowledged write survives with the value it reported.
//! - [`stores`]: no two nodes applied different entries at one index; the
//!   audit log has one entry per committed change and replays to the state.
//! - [`election`]: at most one leader per term (checked every step).
//! - [`liveness`]: once the faults heal, a write is accepted within a
//!   bound (no seed ends wedged).
//! - [`converge`]: the healed members agree and SDKs catch up.
//! - [`sdk`]: what SDK subscribers are told never goes back.

pub mod converge;
pub mod election;
pub mod linear;
pub mod liveness;
pub mod sdk;
pub mod stores;

/// A broken invariant, described for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
