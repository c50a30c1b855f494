//! When streams fail where polling works (a proxy that buffers SSE, say),
//! the client polls `/v1/sdk/flags`: it becomes Ready from the polled state,
//! sends the ETag it holds, and picks up a newer state on a later poll.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use vexil_sdk::{Client, Context, OwnedReason};

#[derive(Default)]
struct Fake {
    state: Mutex<Value>,
    streams: AtomicUsize,
    polls: AtomicUsize,
    not_modified: AtomicUsize,
}

fn state(id: u64, enabled: bool) -> Value {
    json!({"id": id, "segments": [], "flags": [{
        "key": "checkout", "kind": "boolean",
        "variations": [{"value": true}, {"value": false}],
        "enabled": enabled, "off_variation": 1,
        "fallthrough": {"variation": 0}, "version": id}]})
}

async fn stream(State(f): State<Arc<Fake>>) -> StatusCode {
    f.streams.fetch_add(1, Ordering::Relaxed);
    StatusCode::BAD_GATEWAY
}

async fn flags(State(f): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    f.polls.fetch_add(1, Ordering::Relaxed);
    let body = f.state.lock().unwrap().clone();
    let etag = format!("\"{}\"", body["id"]);
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.to_str().ok() == Some(etag.as_str()))
    {
        f.not_modified.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    ([(header::ETAG, etag)], Json(body)).into_response()
}

/// Waits (at most 10 s) for `cond`.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t30_polls_when_streams_fail_and_follows_changes() {
    let fake = Arc::new(Fake::default());
    *fake.state.lock().unwrap() = state(7, true);
    let app = Router::new()
        .route("/v1/stream", get(stream))
        .route("/v1/sdk/flags", get(flags))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let c = Client::builder([url], "sdk-token")
        .poll_interval(Duration::from_millis(50))
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .seed(3)
        .build()
        .unwrap();
    c.wait_until_ready(Duration::from_secs(10)).await.unwrap();
    assert_eq!(c.state_id(), Some(7));
    let ctx = Context::new("u1");
    let d = c.bool_detail("checkout", &ctx, false);
    assert!(d.value);
    assert_eq!(d.reason, OwnedReason::Fallthrough);

    // Unchanged state: the client sends its ETag and gets 304s.
    until("a 304 for the held ETag", || {
        fake.not_modified.load(Ordering::Relaxed) >= 2
    })
    .await;
    // A change is picked up by a later poll.
    *fake.state.lock().unwrap() = state(9, false);
    until("the polled change", || c.state_id() == Some(9)).await;
    let d = c.bool_detail("checkout", &ctx, true);
    assert!(!d.value, "the flag is off after the poll: {d:?}");
    assert_eq!(d.reason, OwnedReason::Off);
    // It kept trying to stream between polls.
    assert!(fake.streams.load(Ordering::Relaxed) >= 3);
}
