//! `NativeClient`, the base class of `vexil.Client`: a `vexil_sdk::Client`
//! plus conversions. Evaluation reads the client's local copy under the GIL
//! (no IO, no waiting); waits and flushes release the GIL.

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyDict, PyString};
use serde_json::Value;
use vexil_sdk::{Client, Status};

use crate::changes::ChangeFeed;
use crate::config::Settings;
use crate::context::{self, Ctx};
use crate::detail::EvaluationDetail;
use crate::{ConfigError, runtime, values};

/// The longest a wait holds the GIL off before checking for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

#[pyclass(module = "vexil._native", subclass, frozen)]
#[derive(Debug)]
pub(crate) struct NativeClient {
    /// `None` once closed: evaluation then serves defaults.
    client: RwLock<Option<Client>>,
    /// Bounds the metrics flush `close` makes.
    connect_timeout: Duration,
}

/// The answer of one OpenFeature resolution (see `openfeature.rs`).
type Resolution = (
    Py<PyAny>,
    Option<String>,
    Option<&'static str>,
    Option<&'static str>,
    Option<String>,
    Py<PyDict>,
);

impl NativeClient {
    fn current(&self) -> Option<Client> {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs a typed getter: context conversion (`INVALID_CONTEXT`), a
    /// closed client (`CLIENT_NOT_READY`), then the Rust SDK.
    fn detail(
        &self,
        py: Python<'_>,
        context: Option<&Bound<'_, PyAny>>,
        default: &Bound<'_, PyAny>,
        eval: impl FnOnce(&Client, &vexil_sdk::Context) -> PyResult<EvaluationDetail>,
    ) -> PyResult<EvaluationDetail> {
        let none = py.None().into_bound(py);
        let ctx = match context::convert(context.unwrap_or(&none)) {
            Ok(c) => c,
            Err(m) => {
                let d = default.clone().unbind();
                return Ok(EvaluationDetail::error(d, "INVALID_CONTEXT", Some(m)));
            }
        };
        let guard = self.client.read().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(c) => eval(c, ctx.get()),
            None => Ok(EvaluationDetail::error(
                default.clone().unbind(),
                "CLIENT_NOT_READY",
                Some("the client is closed".into()),
            )),
        }
    }

    /// The value-only getters: the default on a bad context or a closed client.
    fn value<T>(
        &self,
        context: Option<&Bound<'_, PyAny>>,
        default: T,
        eval: impl FnOnce(&Client, &vexil_sdk::Context, T) -> T,
    ) -> T {
        let ctx = match context {
            None => Ctx::Owned(vexil_sdk::Context::default()),
            Some(c) => match context::convert(c) {
                Ok(c) => c,
                Err(_) => return default,
            },
        };
        let guard = self.client.read().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(c) => eval(c, ctx.get(), default),
            None => default,
        }
    }
}

#[pymethods]
impl NativeClient {
    #[new]
    #[pyo3(signature = (
        urls, sdk_token, *, cache_file = None, connect_timeout = None, read_timeout = None,
        poll_interval = None, metrics_flush_interval = None, backoff_initial = None,
        backoff_max = None, seed = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        urls: &Bound<'_, PyAny>,
        sdk_token: &Bound<'_, PyAny>,
        cache_file: Option<PathBuf>,
        connect_timeout: Option<f64>,
        read_timeout: Option<f64>,
        poll_interval: Option<f64>,
        metrics_flush_interval: Option<f64>,
        backoff_initial: Option<f64>,
        backoff_max: Option<f64>,
        seed: Option<u64>,
    ) -> PyResult<Self> {
        let settings = Settings {
            cache_file,
            connect_timeout,
            read_timeout,
            poll_interval,
            metrics_flush_interval,
            backoff_initial,
            backoff_max,
            seed,
        };
        let (builder, connect_timeout) = settings.builder(urls, sdk_token)?;
        let rt = runtime::get()?;
        let _entered = rt.enter();
        let client = builder
            .build()
            .map_err(|e| ConfigError::new_err(e.to_string()))?;
        Ok(NativeClient {
            client: RwLock::new(Some(client)),
            connect_timeout,
        })
    }

    /// `(state, reason, since)`: state is `initializing`, `ready`, `stale`,
    /// `offline` or `closed`; `since` in epoch seconds (stale only).
    fn _status(&self) -> (&'static str, Option<String>, Option<f64>) {
        let Some(c) = self.current() else {
            return ("closed", Some("the client is closed".into()), None);
        };
        match c.status() {
            Status::Initializing => ("initializing", None, None),
            Status::Ready => ("ready", None, None),
            #[allow(clippy::cast_precision_loss)]
            Status::Stale { since, reason } => (
                "stale",
                Some(reason),
                Some(since.timestamp_millis() as f64 / 1000.0),
            ),
            Status::Offline { reason } => ("offline", Some(reason), None),
        }
    }

    /// Blocks (without the GIL) until the client is ready (or, with
    /// `accept_stale`, has any state: from a node or the cache file) or
    /// `timeout` seconds pass; returns whether it got there. Ctrl-C
    /// interrupts it.
    #[pyo3(signature = (timeout, accept_stale = false))]
    fn _wait_until_ready(
        &self,
        py: Python<'_>,
        timeout: f64,
        accept_stale: bool,
    ) -> PyResult<bool> {
        if !(0.0..1e9).contains(&timeout) {
            return Err(PyValueError::new_err(format!(
                "timeout must be a number of seconds, at least 0 (got {timeout})"
            )));
        }
        let Some(client) = self.current() else {
            return Ok(false);
        };
        let rt = runtime::get()?;
        let done = move |s: &Status| {
            *s == Status::Ready || (accept_stale && matches!(s, Status::Stale { .. }))
        };
        let deadline = Instant::now() + Duration::from_secs_f64(timeout);
        loop {
            let step = deadline
                .saturating_duration_since(Instant::now())
                .min(SIGNAL_CHECK);
            let reached = py.detach(|| {
                rt.block_on(async {
                    let mut rx = client.status_updates();
                    let wait = rx.wait_for(done);
                    matches!(tokio::time::timeout(step, wait).await, Ok(Ok(_)))
                })
            });
            if reached {
                return Ok(true);
            }
            py.check_signals()?;
            if Instant::now() >= deadline {
                return Ok(false);
            }
        }
    }

    /// The node URL last streamed from (`None` once closed).
    #[getter]
    fn current_node(&self) -> Option<String> {
        self.current().map(|c| c.current_node())
    }

    /// The log index of the local state (`None` before any state).
    #[getter]
    fn state_id(&self) -> Option<u64> {
        self.current().and_then(|c| c.state_id())
    }

    /// Why the cache file was ignored, if it was (damaged, foreign, unreadable).
    #[getter]
    fn cache_warning(&self) -> Option<String> {
        self.current().and_then(|c| c.cache_warning())
    }

    #[pyo3(signature = (key, context = None, default = false))]
    fn bool_value(
        &self,
        key: PyBackedStr,
        context: Option<&Bound<'_, PyAny>>,
        default: bool,
    ) -> bool {
        self.value(context, default, |c, ctx, d| c.bool_value(&key, ctx, d))
    }

    #[pyo3(signature = (key, context = None, default = String::new()))]
    fn string_value(
        &self,
        key: PyBackedStr,
        context: Option<&Bound<'_, PyAny>>,
        default: String,
    ) -> String {
        self.value(context, default, |c, ctx, d| c.string_value(&key, ctx, &d))
    }

    #[pyo3(signature = (key, context = None, default = 0.0))]
    fn number_value(
        &self,
        key: PyBackedStr,
        context: Option<&Bound<'_, PyAny>>,
        default: f64,
    ) -> f64 {
        self.value(context, default, |c, ctx, d| c.number_value(&key, ctx, d))
    }

    #[pyo3(signature = (key, context = None, default = None))]
    fn json_value(
        &self,
        py: Python<'_>,
        key: PyBackedStr,
        context: Option<&Bound<'_, PyAny>>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let default = default.unwrap_or_else(|| py.None());
        Ok(self.json_detail(py, key, context, Some(default))?.value)
    }

    #[pyo3(signature = (key, context = None, default = false))]
    fn bool_detail(
        &self,
        py: Python<'_>,
        key: PyBackedStr,
        context: Option<&Bound<'_, PyAny>>,
        default: bool,
    ) -> PyResult<EvaluationDetail> {
        let d = pyo3::types::PyBool::new(py, default).to_owned().into_any();
        self.detail(py, context, &d, |c, ctx| {
            EvaluationDetail::from_evaluation(py, c.bool_detail(&key, ctx, default))
        })
    }

    #[pyo3(signature = (key, context = None, default = String::new()))]
    fn string_detail(
        &self,
        py: Python<'_>,
        key: PyBackedStr,
        context: Option<&Bound<'_, PyAny>>,
        default: String,
    ) -> PyResult<EvaluationDetail> {
        let d = PyString::new(py, &default).into_any();
        self.detail(py, context, &d, |c, ctx| {
            EvaluationDetail::from_evaluation(py, c.string_detail(&key, ctx, &default))
        })
    }

    #[pyo3(signature = (key, context = None, default = 0.0))]
    fn number_detail(
        &self,
        py: Python<'_>,
        key: PyBackedStr,
        context: Option<&Bound<'_, PyAny>>,
        default: f64,
    ) -> PyResult<EvaluationDetail> {
        let d = pyo3::types::PyFloat::new(py, default).into_any();
        self.detail(py, context, &d, |c, ctx| {
            EvaluationDetail::from_evaluation(py, c.number_detail(&key, ctx, default))
        })
    }

    /// Any flag's value as JSON (dict, list, str, int, float, bool, None).
    #[pyo3(signature = (key, context = None, default = None))]
    fn json_detail(
        &self,
        py: Python<'_>,
        key: PyBackedStr,
        context: Option<&Bound<'_, PyAny>>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<EvaluationDetail> {
        let default = default.unwrap_or_else(|| py.None()).into_bound(py);
        self.detail(py, context, &default, |c, ctx| {
            let e = c.json_detail(&key, ctx, Value::Null);
            // No variation: the default was served.
            let value = match e.variation {
                Some(_) => values::to_py(py, &e.value)?,
                None => default.clone().unbind(),
            };
            Ok(EvaluationDetail::new(
                value,
                e.variation,
                e.variation_name,
                e.reason,
                e.in_rollout,
            ))
        })
    }

    /// Every flag's detail for `context`, by key.
    #[pyo3(signature = (context = None))]
    fn all_flags<'py>(
        &self,
        py: Python<'py>,
        context: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let Some(client) = self.current() else {
            return Ok(out);
        };
        let none = py.None().into_bound(py);
        match context::convert(context.unwrap_or(&none)) {
            Ok(ctx) => {
                for (key, d) in client.all_flags(ctx.get()) {
                    let value = match d.variation {
                        Some(_) => values::to_py(py, &d.value)?,
                        None => py.None(),
                    };
                    let detail = EvaluationDetail::new(
                        value,
                        d.variation,
                        d.variation_name,
                        d.reason,
                        d.in_rollout,
                    );
                    out.set_item(key, detail)?;
                }
            }
            Err(m) => {
                for key in client.flag_versions().into_keys() {
                    let d = EvaluationDetail::error(py.None(), "INVALID_CONTEXT", Some(m.clone()));
                    out.set_item(key, d)?;
                }
            }
        }
        Ok(out)
    }

    /// Every flag's version in the local copy, by key.
    fn flag_versions(&self) -> std::collections::BTreeMap<String, u64> {
        self.current()
            .map(|c| c.flag_versions())
            .unwrap_or_default()
    }

    /// A feed of flag changes from now on (for `on_change` listeners).
    fn _changes(&self) -> Option<ChangeFeed> {
        self.current().map(|c| ChangeFeed::new(c.changes()))
    }

    /// Sends the evaluation counts now; whether a node took them.
    fn _flush_metrics(&self, py: Python<'_>) -> PyResult<bool> {
        let Some(client) = self.current() else {
            return Ok(false);
        };
        let rt = runtime::get()?;
        Ok(py.detach(|| rt.block_on(client.flush_metrics())))
    }

    /// Stops the background work, after one last metrics flush (bounded by
    /// the connect timeout) when a node is reachable. Idempotent.
    fn _close(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self
            .client
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(client) = taken
            && client.status() == Status::Ready
        {
            let rt = runtime::get()?;
            let bound = self.connect_timeout;
            py.detach(|| {
                rt.block_on(async { tokio::time::timeout(bound, client.flush_metrics()).await })
            })
            .ok();
        }
        Ok(())
    }

    /// One OpenFeature resolution: `(value, variant, reason, error_code,
    /// error_message, metadata)`; see `vexil.openfeature`.
    fn _resolve(
        &self,
        py: Python<'_>,
        key: PyBackedStr,
        of_type: &str,
        targeting_key: Option<String>,
        attributes: &Bound<'_, PyDict>,
    ) -> PyResult<Resolution> {
        let client = self.current();
        let r = crate::openfeature::resolve(
            py,
            client.as_ref(),
            &key,
            of_type,
            targeting_key,
            attributes,
        )?;
        Ok((
            r.value,
            r.variant,
            r.reason,
            r.error_code,
            r.error_message,
            r.metadata,
        ))
    }
}
