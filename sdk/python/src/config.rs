//! `Client(...)`'s arguments → a `vexil_sdk::Builder`: Python types checked
//! with errors naming the argument (`TypeError`), values by the Rust SDK's
//! own validation (`ConfigError`, a `ValueError`); defaults are the Rust
//! SDK's `DEFAULTS`.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use vexil_sdk::{Builder, Client};

use crate::ConfigError;

/// The settings of a client, as given (durations in seconds).
#[derive(Debug, Default)]
pub(crate) struct Settings {
    pub cache_file: Option<PathBuf>,
    pub connect_timeout: Option<f64>,
    pub read_timeout: Option<f64>,
    pub poll_interval: Option<f64>,
    pub metrics_flush_interval: Option<f64>,
    pub backoff_initial: Option<f64>,
    pub backoff_max: Option<f64>,
    pub seed: Option<u64>,
}

/// A setting in seconds, as a positive duration.
fn seconds(name: &'static str, v: Option<f64>) -> PyResult<Option<Duration>> {
    match v {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(ConfigError::new_err(format!(
            "invalid {name}: {s} is not a positive number of seconds"
        ))),
    }
}

/// One URL (a `str`) or a list or tuple of them.
fn urls_of(urls: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = urls.cast::<PyString>() {
        return Ok(vec![s.to_cow()?.into_owned()]);
    }
    let bad = || {
        let ty = urls
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("urls must be a list of node URLs (str), not {ty}"))
    };
    if !(urls.is_instance_of::<PyList>() || urls.is_instance_of::<PyTuple>()) {
        return Err(bad());
    }
    urls.try_iter()?
        .map(|u| u.and_then(|u| u.extract::<String>()).map_err(|_| bad()))
        .collect()
}

impl Settings {
    /// The builder, and the connect timeout (which also bounds `close`).
    pub(crate) fn builder(
        self,
        urls: &Bound<'_, PyAny>,
        sdk_token: &Bound<'_, PyAny>,
    ) -> PyResult<(Builder, Duration)> {
        let urls = urls_of(urls)?;
        let token: String = sdk_token
            .extract()
            .map_err(|_| PyTypeError::new_err("sdk_token must be a str (an sdk token)"))?;
        let defaults = vexil_sdk::config::DEFAULTS;
        let mut b = Client::builder(urls, token);
        if let Some(path) = self.cache_file {
            b = b.cache_file(path);
        }
        let connect =
            seconds("connect_timeout", self.connect_timeout)?.unwrap_or(defaults.connect_timeout);
        b = b.connect_timeout(connect);
        if let Some(d) = seconds("read_timeout", self.read_timeout)? {
            b = b.read_timeout(d);
        }
        if let Some(d) = seconds("poll_interval", self.poll_interval)? {
            b = b.poll_interval(d);
        }
        if let Some(d) = seconds("metrics_flush_interval", self.metrics_flush_interval)? {
            b = b.metrics_flush_interval(d);
        }
        let initial =
            seconds("backoff_initial", self.backoff_initial)?.unwrap_or(defaults.backoff_initial);
        let max = seconds("backoff_max", self.backoff_max)?.unwrap_or(defaults.backoff_max);
        b = b.backoff(initial, max);
        if let Some(s) = self.seed {
            b = b.seed(s);
        }
        Ok((b, connect))
    }
}
