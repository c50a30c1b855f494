//! Deterministic simulation of Vexil clusters under faults (turmoil).
//!
//! The real node code (`vexil_node::server::run`, its axum routers, raft/,
//! the SDK) runs on turmoil's simulated network with in-memory stores that
//! survive simulated crashes. Partitions, crashes, delays and membership
//! changes are drawn from one seed; every run's history is checked against
//! Vexil's invariants, and a failure prints the command that replays it.
//!
//! # Layout
//! - [`net`]: turmoil's TCP as the node's listener/dialer and the SDK's connector.
//! - [`cluster`]: the simulated nodes (founding and joining), their
//!   crash-proof disks, and what the schedules see of them.
//! - [`faults`]: the seeded fault schedule.
//! - [`membership`]: the seeded membership changes, through the HTTP API.
//! - [`workload`]: writers, linearizable readers, SDK subscribers, the
//!   liveness probe.
//! - [`history`]: what clients did and saw.
//! - [`check`]: the invariants.
//! - [`scenario`]: one seeded run, end to end.

pub mod api;
pub mod check;
pub mod cluster;
pub mod faults;
pub mod history;
pub mod membership;
pub mod net;
pub mod scenario;
pub mod workload;

pub use scenario::{Forced, Options, Report, run};
