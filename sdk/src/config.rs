//! The SDK's builder. Every default lives in [`DEFAULTS`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::client::Client;
use crate::http::{Connector, TcpConnector};

/// Every default, in one place.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub connect_timeout: Duration,
    /// Longest silence on a stream before it counts as dead (the server
    /// sends a keep-alive every 15 s).
    pub read_timeout: Duration,
    pub metrics_flush_interval: Duration,
    pub poll_interval: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

pub const DEFAULTS: Defaults = Defaults {
    connect_timeout: Duration::from_secs(2),
    read_timeout: Duration::from_secs(40),
    metrics_flush_interval: Duration::from_secs(30),
    poll_interval: Duration::from_secs(30),
    backoff_initial: Duration::from_millis(100),
    backoff_max: Duration::from_secs(10),
};

/// A bad builder setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {message}")]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
}

/// Checked settings of a client.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URLs of the nodes (any node works).
    pub urls: Vec<String>,
    pub token: String,
    pub cache_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub metrics_flush_interval: Duration,
    pub poll_interval: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Seeds node choice and jitter; `None` draws from the OS.
    pub seed: Option<u64>,
    pub connector: Arc<dyn Connector>,
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct Builder {
    config: Config,
}

impl Builder {
    pub fn new<I, S>(urls: I, token: impl Into<String>) -> Builder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Builder {
            config: Config {
                urls: urls
                    .into_iter()
                    .map(|u| u.into().trim_end_matches('/').to_owned())
                    .collect(),
                token: token.into(),
                cache_file: None,
                connect_timeout: DEFAULTS.connect_timeout,
                read_timeout: DEFAULTS.read_timeout,
                metrics_flush_interval: DEFAULTS.metrics_flush_interval,
                poll_interval: DEFAULTS.poll_interval,
                backoff_initial: DEFAULTS.backoff_initial,
                backoff_max: DEFAULTS.backoff_max,
                seed: None,
                connector: Arc::new(TcpConnector),
            },
        }
    }

    /// Keep the last known good state in this file.
    pub fn cache_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.cache_file = Some(path.into());
        self
    }
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.config.read_timeout = d;
        self
    }
    pub fn metrics_flush_interval(mut self, d: Duration) -> Self {
        self.config.metrics_flush_interval = d;
        self
    }
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.config.poll_interval = d;
        self
    }
    /// First and longest wait between reconnection attempts.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.backoff_initial = initial;
        self.config.backoff_max = max;
        self
    }
    /// Makes node choice and jitter reproducible (tests, simulation).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }
    /// Dial through something other than TCP (the simulation's network).
    pub fn connector(mut self, connector: Arc<dyn Connector>) -> Self {
        self.config.connector = connector;
        self
    }

    fn validate(self) -> Result<Config, ConfigError> {
        let c = self.config;
        let bad = |field, message: &str| ConfigError {
            field,
            message: message.to_owned(),
        };
        if c.urls.is_empty() {
            return Err(bad("urls", "give at least one node URL"));
        }
        if let Some(u) = c.urls.iter().find(|u| !u.starts_with("http://")) {
            return Err(bad("urls", &format!("{u:?} is not an http:// URL")));
        }
        if c.token.is_empty() {
            return Err(bad("token", "an sdk token is required"));
        }
        if c.connect_timeout.is_zero() || c.read_timeout.is_zero() {
            return Err(bad("timeouts", "must be above zero"));
        }
        if c.backoff_initial.is_zero() || c.backoff_initial > c.backoff_max {
            return Err(bad("backoff", "initial must be above zero and at most max"));
        }
        if c.metrics_flush_interval.is_zero() || c.poll_interval.is_zero() {
            return Err(bad("intervals", "must be above zero"));
        }
        Ok(c)
    }

    /// Starts the client (and its background task, on the current tokio
    /// runtime). Evaluation works at once: from the cache file if there is
    /// one, else with the caller's defaults until the first state arrives.
    pub fn build(self) -> Result<Client, ConfigError> {
        Ok(Client::start(self.validate()?))
    }
}
