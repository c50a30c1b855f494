//! The public client: evaluation from memory, status, change notifications.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use vexil_flags::{Context, ErrorKind, EvaluationDetail, OwnedReason};

use crate::config::Config;
use crate::http::Http;
use crate::metrics::Counters;
use crate::store::Store;

/// Where the client stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// No state yet; still trying to reach a node for the first time.
    Initializing,
    /// Connected: the state is current (streaming, or polling on schedule).
    Ready,
    /// Serving state that may be out of date.
    Stale {
        /// When the state stopped being known-current.
        since: DateTime<Utc>,
        reason: String,
    },
    /// No state at all, and no node could be reached.
    Offline { reason: String },
}

/// A flag that changed (or was deleted: `version` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    pub key: String,
    pub version: Option<u64>,
    /// The log index of the change.
    pub id: u64,
}

/// A typed evaluation result.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation<T> {
    pub value: T,
    pub variation: Option<usize>,
    pub variation_name: Option<String>,
    pub reason: OwnedReason,
    pub in_rollout: bool,
}

/// State shared by the client and its background tasks.
#[derive(Debug)]
pub(crate) struct Inner {
    pub config: Config,
    pub store: Store,
    pub status: watch::Sender<Status>,
    pub counters: Counters,
    pub http: Http,
    /// Index into `config.urls` of the node last streamed from.
    pub current: AtomicUsize,
    /// Why the cache file was ignored, if it was.
    pub cache_warning: std::sync::Mutex<Option<String>>,
    /// Wakes the cache writer after a change.
    pub dirty: tokio::sync::Notify,
}

/// Stops the background tasks when the last `Client` clone goes away.
#[derive(Debug)]
struct Guard(watch::Sender<bool>);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// A Vexil client. Cheap to clone; every clone shares one local copy.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
    _guard: Arc<Guard>,
}

fn error_detail<T>(value: T, kind: ErrorKind) -> Evaluation<T> {
    Evaluation {
        value,
        variation: None,
        variation_name: None,
        reason: OwnedReason::Error { error_kind: kind },
        in_rollout: false,
    }
}

impl Client {
    pub fn builder<I, S>(urls: I, token: impl Into<String>) -> crate::Builder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        crate::Builder::new(urls, token)
    }

    pub(crate) fn start(config: Config) -> Client {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let http = Http::new(config.connector.clone(), &config.token);
        let inner = Arc::new(Inner {
            store: Store::new(),
            status: watch::channel(Status::Initializing).0,
            counters: Counters::default(),
            http,
            current: AtomicUsize::new(0),
            cache_warning: std::sync::Mutex::new(None),
            dirty: tokio::sync::Notify::new(),
            config,
        });
        crate::sync::load_cache(&inner);
        tokio::spawn(crate::sync::run(inner.clone(), shutdown_rx.clone()));
        tokio::spawn(crate::sync::flush_metrics(
            inner.clone(),
            shutdown_rx.clone(),
        ));
        if inner.config.cache_file.is_some() {
            tokio::spawn(crate::sync::write_cache(inner.clone(), shutdown_rx));
        }
        Client {
            inner,
            _guard: Arc::new(Guard(shutdown_tx)),
        }
    }

    /// Where the client stands now.
    pub fn status(&self) -> Status {
        self.inner.status.borrow().clone()
    }

    /// A receiver of every status change.
    pub fn status_updates(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// Waits until the client is `Ready`; on timeout, returns the status.
    pub async fn wait_until_ready(&self, timeout: Duration) -> Result<(), Status> {
        let mut rx = self.inner.status.subscribe();
        let ready = rx.wait_for(|s| *s == Status::Ready);
        match tokio::time::timeout(timeout, ready).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(self.status()),
        }
    }

    /// Why the cache file was not used, if it was not.
    pub fn cache_warning(&self) -> Option<String> {
        self.inner
            .cache_warning
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The log index the local state is at (`None` before any state).
    pub fn state_id(&self) -> Option<u64> {
        self.inner.store.id()
    }

    /// Every flag change, as it is applied locally.
    pub fn changes(&self) -> broadcast::Receiver<FlagChange> {
        self.inner.store.subscribe()
    }

    /// Changes of one flag.
    pub fn changes_of(&self, key: &str) -> impl futures::Stream<Item = FlagChange> + use<> {
        let key = key.to_owned();
        futures::stream::unfold(self.changes(), move |mut rx| {
            let key = key.clone();
            async move {
                loop {
                    match rx.recv().await {
                        Ok(c) if c.key == key => return Some((c, rx)),
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        })
    }

    fn evaluate<T>(
        &self,
        key: &str,
        ctx: &Context,
        default: T,
        extract: impl FnOnce(&Value) -> Option<T>,
    ) -> Evaluation<T> {
        let local = self.inner.store.read();
        if !local.loaded {
            self.inner.counters.count(key, None);
            return error_detail(default, ErrorKind::ClientNotReady);
        }
        let Some(flag) = local.flags.get_flag(key) else {
            self.inner.counters.count(key, None);
            return error_detail(default, ErrorKind::FlagNotFound);
        };
        let detail = local.flags.evaluate(key, ctx);
        let Some(value) = detail.value else {
            self.inner.counters.count(key, None);
            let kind = match detail.reason {
                vexil_flags::Reason::Error(k) => k,
                _ => ErrorKind::MalformedFlag,
            };
            return error_detail(default, kind);
        };
        let Some(value) = extract(value) else {
            self.inner.counters.count(key, None);
            return error_detail(default, ErrorKind::WrongType);
        };
        self.inner.counters.count(key, detail.variation);
        let owned = detail.to_owned_detail(flag.flag());
        Evaluation {
            value,
            variation: owned.variation,
            variation_name: owned.variation_name,
            reason: owned.reason,
            in_rollout: owned.in_rollout,
        }
    }

    pub fn bool_detail(&self, key: &str, ctx: &Context, default: bool) -> Evaluation<bool> {
        self.evaluate(key, ctx, default, Value::as_bool)
    }
    pub fn bool_value(&self, key: &str, ctx: &Context, default: bool) -> bool {
        let local = self.inner.store.read();
        // The hot path: no allocation, no owned detail.
        if let Some(v) = local
            .loaded
            .then(|| local.flags.evaluate(key, ctx))
            .and_then(|d| {
                let b = d.value.and_then(Value::as_bool)?;
                self.inner.counters.count(key, d.variation);
                Some(b)
            })
        {
            return v;
        }
        drop(local);
        self.bool_detail(key, ctx, default).value
    }
    pub fn string_detail(&self, key: &str, ctx: &Context, default: &str) -> Evaluation<String> {
        self.evaluate(key, ctx, default.to_owned(), |v| {
            v.as_str().map(str::to_owned)
        })
    }
    pub fn string_value(&self, key: &str, ctx: &Context, default: &str) -> String {
        self.string_detail(key, ctx, default).value
    }
    pub fn number_detail(&self, key: &str, ctx: &Context, default: f64) -> Evaluation<f64> {
        self.evaluate(key, ctx, default, Value::as_f64)
    }
    pub fn number_value(&self, key: &str, ctx: &Context, default: f64) -> f64 {
        self.number_detail(key, ctx, default).value
    }
    pub fn json_detail(&self, key: &str, ctx: &Context, default: Value) -> Evaluation<Value> {
        self.evaluate(key, ctx, default, |v| Some(v.clone()))
    }
    pub fn json_value(&self, key: &str, ctx: &Context, default: Value) -> Value {
        self.json_detail(key, ctx, default).value
    }

    /// Every flag's detail for `ctx`.
    pub fn all_flags(&self, ctx: &Context) -> BTreeMap<String, EvaluationDetail> {
        let local = self.inner.store.read();
        local
            .flags
            .flags()
            .map(|f| {
                (
                    f.key().to_owned(),
                    local.flags.evaluate(f.key(), ctx).to_owned_detail(f.flag()),
                )
            })
            .collect()
    }

    /// Every flag's version in the local copy.
    pub fn flag_versions(&self) -> BTreeMap<String, u64> {
        let local = self.inner.store.read();
        local
            .flags
            .flags()
            .map(|f| (f.key().to_owned(), f.flag().version))
            .collect()
    }

    /// Runs `f` on the local flags and segments under the store's read lock
    /// (keep it short); `None` before any state has loaded. The OpenFeature
    /// providers (this crate's and the Python and Node.js bindings') need the
    /// flag itself, not only a result.
    pub fn with_flags<R>(&self, f: impl FnOnce(&vexil_flags::FlagSet) -> R) -> Option<R> {
        let local = self.inner.store.read();
        local.loaded.then(|| f(&local.flags))
    }

    /// The node URL the client last streamed from.
    pub fn current_node(&self) -> String {
        let i = self.inner.current.load(Ordering::Relaxed);
        self.inner.config.urls.get(i).cloned().unwrap_or_default()
    }

    /// Sends the evaluation counts now (they are also sent on an interval).
    pub async fn flush_metrics(&self) -> bool {
        crate::sync::flush_once(&self.inner).await
    }
}
