//! `ChangeFeed`: the flag changes a client applies, for `on_change`
//! listeners, which `vexil.Client` calls on a Python thread (so a slow
//! listener never holds up the SDK's runtime).

use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::sync::broadcast;
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
    pub(crate) rx: Mutex<broadcast::Receiver<FlagChange>>,
}

#[pymethods]
impl ChangeFeed {
    /// The next change, waiting up to `timeout` seconds without the GIL;
    /// `None` on timeout.
    fn next(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<ChangeTuple>> {
        let secs = if timeout.is_finite() {
            timeout.clamp(0.0, 3600.0)
        } else {
            0.0
        };
        let wait = Duration::from_secs_f64(secs);
        let rt = runtime::get()?;
        Ok(py.detach(|| {
            let mut rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
            // The timer must be made inside the runtime.
            match rt.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
                Err(_) => None,
                Ok(Ok(c)) => Some(("change", Some(c.key), c.version, c.id)),
                Ok(Err(broadcast::error::RecvError::Lagged(n))) => Some(("lagged", None, None, n)),
                Ok(Err(broadcast::error::RecvError::Closed)) => Some(("closed", None, None, 0)),
            }
        }))
    }
}
