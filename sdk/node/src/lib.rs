//! `@vexil/sdk`'s native addon: the Rust SDK's [`vexil_sdk::Client`] behind
//! napi-rs, so Node.js programs stream, fail over, cache and evaluate with
//! the same code as Rust ones.
//!
//! This crate only converts: JavaScript values in, JavaScript values out. It
//! holds no protocol and no evaluation logic of its own, and the JavaScript
//! layer (`index.js`) holds the idiomatic API (options checking, an
//! `EventEmitter`, promises, "evaluation never throws").
//!
//! # Layout
//! - [`client`]: `NativeClient`, one `vexil_sdk::Client` and its evaluation,
//!   status, events and metrics.
//! - [`context`]: a JavaScript context (sent as JSON by `index.js`) as a
//!   Vexil [`vexil_sdk::Context`], decoded by the core's own rules.
//! - [`detail`]: evaluation results and statuses as JavaScript objects.
//! - [`openfeature`]: resolution for the JavaScript `VexilProvider`, through
//!   the Rust SDK's OpenFeature provider (one reason mapping for every SDK).
//! - [`fast`]: `boolValue` as a plain Node-API callback, the one hot path
//!   that skips napi-rs's per-call wrappers (and the only `unsafe` code).
//!
//! The client's background tasks run on one tokio runtime owned by this
//! addon ([`runtime`]), started on first use; JavaScript never waits on it
//! except through callbacks.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use napi::bindgen_prelude::Result;
use napi_derive::napi;

pub mod client;
pub mod context;
pub mod detail;
pub mod fast;
pub mod openfeature;

/// The runtime every client's background tasks (streaming, polling, cache
/// writes, metrics) run on: two worker threads, whatever the number of
/// clients, so a Node process gains a fixed number of threads.
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("vexil-sdk")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| napi::Error::from_reason(format!("cannot start the SDK's runtime: {e}")))
}

/// Writes `state` (a change-feed snapshot as JSON: `{"id": …, "flags": […],
/// "segments": […]}`) to `path` as an SDK cache file: how tools and tests
/// seed a client that starts with every node down.
#[napi(js_name = "writeCacheFile")]
pub fn write_cache_file(path: String, state_json: String) -> Result<()> {
    let state: vexil_flags::wire::StateSnapshot = serde_json::from_str(&state_json)
        .map_err(|e| napi::Error::new(napi::Status::InvalidArg, format!("invalid state: {e}")))?;
    vexil_sdk::write_cache_file(std::path::Path::new(&path), &state)
        .map_err(|e| napi::Error::from_reason(format!("cannot write {path}: {e}")))
}

/// The Vexil context a JavaScript context becomes, as `{key, attributes}`
/// (tests check the mapping with it); an error for a context Vexil cannot
/// take. `context` is what `encodeContext` in `context.js` made.
#[napi(js_name = "decodeContext")]
pub fn decode_context(context: String) -> Result<serde_json::Value> {
    let ctx = context::decode(&context)
        .map_err(|e| napi::Error::new(napi::Status::InvalidArg, format!("INVALID_CONTEXT: {e}")))?;
    let attributes: serde_json::Map<String, serde_json::Value> = ctx
        .attributes
        .iter()
        .map(|(name, v)| (name.to_owned(), serde_json::to_value(v).unwrap_or_default()))
        .collect();
    Ok(serde_json::json!({"key": ctx.key, "attributes": attributes}))
}
