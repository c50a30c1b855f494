//! Vexil's Python SDK, native half: the Rust SDK's [`vexil_sdk::Client`]
//! inside a CPython extension (`vexil._native`), so Python gets the same
//! protocol (streaming from any node, failover with backoff, polling, the
//! last-known-good cache file, metrics) and the same evaluator, bucket for
//! bucket, as Rust programs.
//!
//! This crate converts types and errors and holds no logic of its own: no
//! protocol, no evaluation rules. The pure-Python package `vexil`
//! (`python/vexil/`) adds what is idiomatic in Python on top: the context
//! manager, change listeners on a Python thread, asyncio waits, the
//! OpenFeature provider.
//!
//! # Layout
//! - `runtime`: the one tokio runtime every client's background tasks run on.
//! - `context`: Python values → [`vexil_sdk::Context`], by the rules of
//!   `sdk/conformance/README.md` ("Context conversion"); the `Context` class.
//! - `values`: JSON values → Python objects.
//! - `config`: the client's arguments → a `vexil_sdk::Builder`.
//! - `client`: `NativeClient` (the base class of `vexil.Client`): status,
//!   waits, evaluation, metrics, close.
//! - `changes`: `ChangeFeed`, the flag changes for `on_change` listeners.
//! - `detail`: `EvaluationDetail`, a typed getter's full answer.
//! - `openfeature`: one OpenFeature resolution, mapped as
//!   `vexil_flags::openfeature` says (for `vexil.openfeature.VexilProvider`).
//!
//! **Invariant:** evaluation never raises (a bad context is the
//! `INVALID_CONTEXT` error with the caller's default) and never waits on IO;
//! exceptions are for misuse: a bad setting, an argument of the wrong type.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod changes;
mod client;
mod config;
mod context;
mod detail;
mod openfeature;
mod runtime;
mod values;

use pyo3::prelude::*;

pyo3::create_exception!(
    _native,
    ConfigError,
    pyo3::exceptions::PyValueError,
    "A client setting is invalid; the message names it."
);
pyo3::create_exception!(
    _native,
    InvalidContextError,
    pyo3::exceptions::PyValueError,
    "A context Vexil cannot take (raised only when building a `Context`)."
);

/// Writes `state` (a `StateSnapshot` as JSON text) as a cache file a client
/// can start from (tools and tests seed caches this way).
#[pyfunction]
fn write_cache_file(path: std::path::PathBuf, state: &str) -> PyResult<()> {
    let snap: vexil_flags::wire::StateSnapshot = serde_json::from_str(state)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("state: {e}")))?;
    vexil_sdk::write_cache_file(&path, &snap).map_err(|e| {
        pyo3::exceptions::PyOSError::new_err(format!("cannot write {}: {e}", path.display()))
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("InvalidContextError", py.get_type::<InvalidContextError>())?;
    m.add_class::<client::NativeClient>()?;
    m.add_class::<changes::ChangeFeed>()?;
    m.add_class::<context::PyContext>()?;
    m.add_class::<detail::EvaluationDetail>()?;
    m.add_function(wrap_pyfunction!(write_cache_file, m)?)?;
    Ok(())
}
