//! Vexil's Rust SDK: evaluate flags in-process from a local copy.
//!
//! The client streams every change from any node of a cluster, keeps the
//! last known good state on disk, fails over between nodes, and answers
//! `bool_value` and friends from memory: evaluation never waits on the
//! network. It uses `vexil-flags` for the model and the evaluator, and knows
//! nothing of Raft or storage.
