//! `NativeClient`: one [`vexil_sdk::Client`], as `index.js`'s `Client`
//! drives it. Every evaluation is synchronous and reads memory only; status
//! changes and flag changes reach JavaScript through a callback that never
//! keeps the process alive by itself.

use std::time::Duration;

use napi::bindgen_prelude::Result;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Error, Status};
use napi_derive::napi;
use tokio::task::AbortHandle;
use vexil_sdk::{Client, ConfigError};

use crate::context;
use crate::detail::{Detail, Event, StatusInfo};
use crate::runtime;

/// The options `index.js` has checked; every duration in milliseconds.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct NativeOptions {
    pub urls: Vec<String>,
    pub sdk_token: String,
    pub cache_file: Option<String>,
    pub connect_timeout_ms: Option<u32>,
    pub read_timeout_ms: Option<u32>,
    pub poll_interval_ms: Option<u32>,
    pub metrics_flush_interval_ms: Option<u32>,
    pub backoff_initial_ms: Option<u32>,
    pub backoff_max_ms: Option<u32>,
    pub seed: Option<u32>,
}

/// Receives status and change events; weak, so a client alone does not keep
/// Node's event loop running.
type EventSink = ThreadsafeFunction<Event, (), Event, Status, false, true>;
/// Receives the outcome of one metrics flush.
type Done = ThreadsafeFunction<bool, (), bool, Status, false>;

/// The option names of `new Client({...})`, for the Rust builder's fields.
fn option_name(field: &str) -> &str {
    match field {
        "token" => "sdkToken",
        "timeouts" => "connectTimeoutMs/readTimeoutMs",
        "backoff" => "backoffInitialMs/backoffMaxMs",
        "intervals" => "pollIntervalMs/metricsFlushIntervalMs",
        other => other,
    }
}

fn config_error(e: &ConfigError) -> Error {
    let name = option_name(e.field);
    Error::new(Status::InvalidArg, format!("invalid {name}: {}", e.message))
}

fn ms(v: Option<u32>) -> Option<Duration> {
    v.map(|ms| Duration::from_millis(u64::from(ms)))
}

#[napi]
#[derive(Debug)]
pub struct NativeClient {
    /// `None` once closed: dropping the last `Client` clone stops its tasks.
    client: Option<Client>,
    /// The forwarding tasks of `subscribe`, stopped by `close`.
    tasks: Vec<AbortHandle>,
    /// Where `fast::CLIENTS` holds this client for `boolValueFast`.
    slot: u32,
}

#[napi]
impl NativeClient {
    /// Starts a client (streaming in the background at once). Fails only on
    /// bad options, naming the option.
    #[napi(constructor)]
    pub fn new(options: NativeOptions) -> Result<NativeClient> {
        let mut b = Client::builder(options.urls, options.sdk_token);
        if let Some(path) = options.cache_file {
            b = b.cache_file(path);
        }
        if let Some(d) = ms(options.connect_timeout_ms) {
            b = b.connect_timeout(d);
        }
        if let Some(d) = ms(options.read_timeout_ms) {
            b = b.read_timeout(d);
        }
        if let Some(d) = ms(options.poll_interval_ms) {
            b = b.poll_interval(d);
        }
        if let Some(d) = ms(options.metrics_flush_interval_ms) {
            b = b.metrics_flush_interval(d);
        }
        let defaults = vexil_sdk::config::DEFAULTS;
        if options.backoff_initial_ms.is_some() || options.backoff_max_ms.is_some() {
            b = b.backoff(
                ms(options.backoff_initial_ms).unwrap_or(defaults.backoff_initial),
                ms(options.backoff_max_ms).unwrap_or(defaults.backoff_max),
            );
        }
        if let Some(seed) = options.seed {
            b = b.seed(u64::from(seed));
        }
        // `build` spawns the client's tasks on the current runtime.
        let _entered = runtime()?.enter();
        let client = b.build().map_err(|e| config_error(&e))?;
        Ok(NativeClient {
            slot: crate::fast::register(client.clone()),
            client: Some(client),
            tasks: Vec::new(),
        })
    }

    /// Forwards every status change and flag change to `sink`.
    #[napi]
    pub fn subscribe(&mut self, sink: EventSink) -> Result<()> {
        let Some(client) = &self.client else {
            return Ok(());
        };
        let rt = runtime()?;
        let sink = std::sync::Arc::new(sink);
        let mut statuses = client.status_updates();
        let status_sink = sink.clone();
        let status_task = rt.spawn(async move {
            while statuses.changed().await.is_ok() {
                let s = statuses.borrow_and_update().clone();
                status_sink.call(Event::status(s), ThreadsafeFunctionCallMode::NonBlocking);
            }
        });
        let mut changes = client.changes();
        let change_task = rt.spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match changes.recv().await {
                    Ok(c) => {
                        sink.call(Event::change(c), ThreadsafeFunctionCallMode::NonBlocking);
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                }
            }
        });
        self.tasks.push(status_task.abort_handle());
        self.tasks.push(change_task.abort_handle());
        Ok(())
    }

    /// The slot `boolValueFast` finds this client by.
    #[napi]
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Where the client stands now.
    #[napi]
    pub fn status(&self) -> StatusInfo {
        match &self.client {
            Some(c) => c.status().into(),
            None => StatusInfo {
                status: "offline".into(),
                reason: Some("the client is closed".into()),
                since: None,
            },
        }
    }

    /// Why the cache file was not used, if it was not.
    #[napi]
    pub fn cache_warning(&self) -> Option<String> {
        self.client.as_ref()?.cache_warning()
    }

    /// The node URL the client last streamed from.
    #[napi]
    pub fn current_node(&self) -> Option<String> {
        Some(self.client.as_ref()?.current_node())
    }

    /// The log index of the local state (`null` before any state).
    #[napi]
    #[allow(clippy::cast_precision_loss)]
    pub fn state_id(&self) -> Option<f64> {
        self.client.as_ref()?.state_id().map(|id| id as f64)
    }

    // Evaluation itself (`boolValue`, the details) goes through
    // `fast.rs`, past napi-rs's per-call wrappers.

    /// Every flag's detail for `context`, by flag key. With a context Vexil
    /// cannot take, every flag answers `INVALID_CONTEXT`.
    #[napi]
    pub fn all_flags(&self, context: String) -> std::collections::HashMap<String, Detail> {
        let Some(c) = &self.client else {
            return Default::default();
        };
        match context::decode(&context) {
            Ok(ctx) => c
                .all_flags(&ctx)
                .into_iter()
                .map(|(k, d)| (k, Detail::from_owned(d)))
                .collect(),
            Err(msg) => c
                .flag_versions()
                .into_keys()
                .map(|k| (k, Detail::error("INVALID_CONTEXT", Some(msg.clone()))))
                .collect(),
        }
    }

    /// Sends the evaluation counts now; `done(sent)` is called once.
    #[napi]
    pub fn flush_metrics(&self, done: Done) -> Result<()> {
        let Some(client) = self.client.clone() else {
            done.call(false, ThreadsafeFunctionCallMode::NonBlocking);
            return Ok(());
        };
        runtime()?.spawn(async move {
            let sent = client.flush_metrics().await;
            done.call(sent, ThreadsafeFunctionCallMode::NonBlocking);
        });
        Ok(())
    }

    /// Stops streaming and the event callbacks. Evaluation afterwards
    /// serves defaults (`CLIENT_NOT_READY`).
    #[napi]
    pub fn close(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if self.client.take().is_some() {
            crate::fast::unregister(self.slot);
        }
    }

    /// The client, for the OpenFeature resolution (`openfeature.rs`).
    pub(crate) fn client(&self) -> Option<&Client> {
        self.client.as_ref()
    }
}

impl Drop for NativeClient {
    fn drop(&mut self) {
        self.close();
    }
}
