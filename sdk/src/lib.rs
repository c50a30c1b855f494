//! Vexil's Rust SDK: evaluate flags in-process from a local copy.
//!
//! The client streams every change from any node of a cluster, keeps the
//! last known good state on disk, fails over between nodes, and answers
//! `bool_value` and friends from memory: evaluation never waits on the
//! network. It uses `vexil-flags` for the model and the evaluator, and knows
//! nothing of Raft or storage.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use vexil_sdk::{Client, Context};
//!
//! let client = Client::builder(["http://127.0.0.1:7070"], "vxl_sdk_…")
//!     .cache_file("/var/cache/myapp/vexil.json")
//!     .build()?;
//! client.wait_until_ready(Duration::from_secs(5)).await?;
//! let ctx = Context::new("user-42").with("country", "NZ");
//! if client.bool_value("new-checkout", &ctx, false) {
//!     // …
//! }
//! # Ok(()) }
//! ```
//!
//! # Projects and environments
//! The client is the same for every environment: its token selects which.
//! An `sdk` token made with a scope of one environment
//! (`vexil tokens create app --role sdk --scope web/staging`) is served that
//! environment's flags, segments and changes by `/v1/sdk/flags`,
//! `/v1/stream` and `/v1/evaluate`; an sdk token without a scope is served
//! project `default`'s `production`, as before projects existed. Give each
//! environment's client a cache file of its own: the file holds one
//! environment's last known good state.
//!
//! # Layout
//! - [`config`]: the builder and its defaults.
//! - [`client`]: the public `Client`: evaluation, status, change notifications.
//! - `store`: the local copy; applies snapshots and changes, proves no gap.
//! - `sync`: the background task: streaming, failover, backoff, polling.
//! - `http`: a small HTTP client over a pluggable connector.
//! - `cache`: the last-known-good file, written atomically and checksummed.
//! - `metrics`: evaluation counts, flushed to `POST /v1/sdk/metrics`.
//! - `openfeature` (cargo feature `openfeature`): an OpenFeature provider
//!   over the client, evaluating locally.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cache;
pub mod client;
pub mod config;
mod http;
mod metrics;
#[cfg(feature = "openfeature")]
pub mod openfeature;
mod store;
mod sync;

pub use client::{Client, Evaluation, FlagChange, Status};
pub use config::{Builder, ConfigError};
pub use http::{Connector, TcpConnector};
#[cfg(feature = "openfeature")]
pub use openfeature::VexilProvider;

/// The stream type a [`Connector`] returns.
pub mod client_io {
    pub use crate::http::Io;
}

/// Writes a cache file in the SDK's format (tools and tests seed caches).
pub fn write_cache_file(
    path: &std::path::Path,
    state: &vexil_flags::wire::StateSnapshot,
) -> std::io::Result<()> {
    cache::store(path, state)
}
pub use vexil_flags::{Context, ErrorKind, EvaluationDetail, OwnedReason};
