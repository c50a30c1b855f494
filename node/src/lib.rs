//! The `vexil` node: the HTTP API, the change feed, the admin UI, the peer
//! RPC listener, and the CLI, around one `vexil_raft::RaftNode`.
//!
//! This is the only crate that knows HTTP. It turns requests into
//! `vexil_raft` commands and reads, and errors into status codes (in
//! [`api::error`]); it never touches storage directly except to read history
//! and audit through `vexil_raft::query`.
//!
//! # Layout
//! - [`config`]: `vexil serve` options, their single `DEFAULTS`, validation.
//! - [`server`]: `run(options, listeners, shutdown)`, shared by the binary and
//!   the simulation; `serve(config)` for the binary.
//! - [`api`]: one module per API area, each returning its routes.
//! - [`net`]: dialing, the peer RPC client (our Raft transport) and server.
//! - [`usage`]: evaluation counts from SDKs and server-side evaluation.
//! - [`ui`]: the admin UI's static files, embedded and served at `/`.
//! - [`metrics`]: `GET /metrics` (Prometheus) and its HTTP middleware.
//! - [`openapi`]: `GET /v1/openapi.json`, generated from the handlers.
//! - [`schedule`]: scheduled local backups (`serve --backup-dir`).
//! - [`recovery`]: a new admin token when every admin token is lost.
//! - [`cli`]: the client commands (`vexil flags …`, `vexil backup …`),
//!   talking HTTP to any node.
//! - [`apply`]: `vexil apply`: a declarative file made true on the cluster.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod apply;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod net;
pub mod openapi;
pub mod recovery;
pub mod schedule;
pub mod secrets;
pub mod server;
pub mod ui;
pub mod usage;
