//! The tokio runtime that every client's background tasks (streaming,
//! polling, the cache writer, metrics) run on: two worker threads, started
//! with the first client and shared by all. Evaluation never touches it.
//!
//! A process that forks after creating a client has no runtime threads in
//! the child: create clients after forking (gunicorn's `post_fork`, not
//! `--preload`).

use std::sync::OnceLock;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The shared runtime, started on first use.
pub(crate) fn get() -> PyResult<&'static Runtime> {
    let rt = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vexil-sdk")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    rt.as_ref()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the SDK's runtime: {e}")))
}
