//! `ChangeFeed`: the flag changes a client applies, for `on_change`
//! listeners, which `vexil.Client` calls on a Python thread (so a slow
//! listener never holds up the SDK's runtime).
//!
//! `close` ends a waiting `next` at once. `vexil.Client` closes its feed in
//! `close()` and at interpreter exit: a thread still waiting here (without
//! the GIL) when the interpreter finalises would be ended by CPython with a
//! forced unwind through Rust frames, which aborts the process.

use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::sync::{broadcast, watch};
use vexil_sdk::FlagChange;

use crate::runtime;

/// What a change feed yields: `("change", key, version, id)`,
/// `("lagged", None, None, missed)` or `("closed", None, None, 0)`.
type ChangeTuple = (&'static str, Option<String>, Option<u64>, u64);

/// Flag changes as the client applies them (a broadcast receiver).
#[pyclass(module = "vexil._native", frozen)]
#[derive(Debug)]
pub(crate) struct ChangeFeed {
    /// Behind a mutex: a receiver is read by one thread at a time.
    rx: Mutex<broadcast::Receiver<FlagChange>>,
    /// Set by `close`.
    closed: watch::Sender<bool>,
}

impl ChangeFeed {
    pub(crate) fn new(rx: broadcast::Receiver<FlagChange>) -> Self {
        ChangeFeed {
            rx: Mutex::new(rx),
            closed: watch::channel(false).0,
        }
    }
}

#[pymethods]
impl ChangeFeed {
    /// The next change, waiting up to `timeout` seconds without the GIL;
    /// `None` on timeout, `("closed", …)` once closed.
    fn next(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<ChangeTuple>> {
        let secs = if timeout.is_finite() {
            timeout.clamp(0.0, 3600.0)
        } else {
            0.0
        };
        let wait = Duration::from_secs_f64(secs);
        let rt = runtime::get()?;
        let mut stop = self.closed.subscribe();
        Ok(py.detach(|| {
            let mut rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
            // The timer must be made inside the runtime.
            let got = rt.block_on(async {
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|c| *c) => None,
                    r = tokio::time::timeout(wait, rx.recv()) => Some(r),
                }
            });
            match got {
                None | Some(Ok(Err(broadcast::error::RecvError::Closed))) => {
                    Some(("closed", None, None, 0))
                }
                Some(Err(_)) => None,
                Some(Ok(Ok(c))) => Some(("change", Some(c.key), c.version, c.id)),
                Some(Ok(Err(broadcast::error::RecvError::Lagged(n)))) => {
                    Some(("lagged", None, None, n))
                }
            }
        }))
    }

    /// Ends a waiting `next` now, and every later one. Idempotent.
    fn close(&self) {
        self.closed.send_replace(true);
    }
}
