//! Deterministic simulation of Vexil clusters under faults (turmoil).
//!
//! The real node code (raft/, node/'s routers and server) runs on a
//! simulated network with in-memory stores; partitions, crashes and delays
//! are drawn from one seed, and every run's history is checked against
//! Vexil's invariants.
