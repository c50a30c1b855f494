//! `GET /v1/stream`: the change feed as Server-Sent Events, from this node's
//! own applied state (followers never ask the leader).
//!
//! The first event is `snapshot` (every flag and segment, `id:` the applied
//! index). Then one `change` event per committed change, `id:` its log index.
//! A reconnect with `Last-Event-ID` resumes from the feed's ring buffer, or
//! gets a fresh snapshot when the id is too old or unknown. A comment goes
//! out every 15 s so proxies keep idle streams open.
//!
//! Each subscriber has a bounded queue. A [`pump`] task moves events from the
//! node's broadcast into it; a subscriber whose queue is full, or who fell
//! behind the broadcast, is dropped (it reconnects and resumes), so one slow
//! client never grows the node's memory.
//!
//! **What a subscriber costs.** Events are encoded once per node and shared
//! (see [`sse`]): the snapshot's body goes out in [`CHUNK`]s that point into
//! one shared encoding, so a subscriber that stops reading holds a reference
//! and a few small frames, whatever the state's size. Closing the socket of
//! a subscriber that accepts nothing is the HTTP server loop's job (its
//! write-progress timeout); until then it costs no more than that.
//!
//! **Who may hold one.** Streams are capped per token and per source IP on
//! each node (429 beyond, naming the cap), and a stream ends within
//! [`subscribers::CHECK_EVERY`] of its token's revocation being applied on
//! the node that serves it (see [`subscribers`]).

mod sse;
pub mod subscribers;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc};
use vexil_flags::wire::{ChangeEvent, StateSnapshot};
use vexil_raft::state::{FeedEvent, Shared, Start};

pub use sse::{CHUNK, Encoded, SnapshotBody, SnapshotFrames};
pub use subscribers::{Refused, Subscribers};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::Caller;

/// The default keep-alive interval (the node's is `FeedConfig::keep_alive`).
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a reconnect from a newer node waits for this node to catch up.
const CATCH_UP: Duration = Duration::from_secs(5);

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/stream", get(stream))
}

/// Counters for the feed, shown in `/metrics`.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Subscribers dropped for falling behind.
    pub dropped: AtomicU64,
    /// Streams refused by a subscriber cap (429).
    pub refused: AtomicU64,
    /// Streams ended because their token was revoked.
    pub revoked: AtomicU64,
}

/// What the SSE body sends. (Boxed or `Arc`ed so that a queued item is two
/// words: every subscriber's queue is sized in items.)
#[derive(Debug)]
pub enum Item {
    /// A snapshot, already encoded: its body is shared (see [`sse`]).
    Snapshot(Box<SnapshotFrames>),
    Change(Arc<ChangeEvent>),
}

fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The header in which a client names the cluster its state came from.
pub const CLUSTER_HEADER: &str = "x-vexil-cluster-id";

/// Whether the client's state (if it says) is from this cluster. A client
/// that does not say, or a node that does not know yet, counts as the same.
pub fn same_cluster(headers: &HeaderMap, ours: &str) -> bool {
    match headers.get(CLUSTER_HEADER).and_then(|v| v.to_str().ok()) {
        Some(theirs) if !theirs.is_empty() && !ours.is_empty() => theirs == ours,
        _ => true,
    }
}

/// Moves one subscription's events into a queue of `capacity`. The queue
/// closes when the subscriber falls behind (its queue is full, or the
/// broadcast lapped it) or goes away. Snapshots are encoded here, through
/// the node's shared [`Encoded`], so a queued snapshot is a reference to
/// shared bytes, not a copy of the state.
pub fn pump(
    shared: Arc<Shared>,
    env: String,
    last_event_id: Option<u64>,
    cluster_id: String,
    capacity: usize,
    stats: Arc<FeedStats>,
    encoded: Arc<Encoded>,
) -> mpsc::Receiver<Item> {
    let (tx, rx) = mpsc::channel(capacity.max(2));
    let sub = shared.subscribe_env(&env, last_event_id);
    let mut events = sub.rx;
    let start = sub.start;
    tokio::spawn(async move {
        let snapshot = |mut s: StateSnapshot| {
            s.cluster_id = cluster_id.clone();
            Item::Snapshot(Box::new(encoded.snapshot(&s)))
        };
        let first: Vec<Item> = match start {
            Start::Snapshot(s) => vec![snapshot(s)],
            Start::Resume(evs) => evs.into_iter().map(Item::Change).collect(),
        };
        for item in first {
            if tx.send(item).await.is_err() {
                return;
            }
        }
        loop {
            // A subscriber that went away ends its pump at once, not at the
            // next change, so it stops counting as a subscriber.
            let received = tokio::select! {
                r = events.recv() => r,
                () = tx.closed() => return,
            };
            let item = match received {
                Ok(FeedEvent::Change(e)) => Item::Change(e),
                // The state was replaced wholesale: start this client over.
                Ok(FeedEvent::Reset) => {
                    let s = shared.read().snapshot_of(&env);
                    snapshot(s)
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            match tx.try_send(item) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    });
    rx
}

/// Turns a pumped queue into the bytes of an SSE body: each event as one
/// frame, except a snapshot, whose shared body goes out in [`CHUNK`]s
/// pulled one at a time. A comment goes out after `keep_alive` without an
/// event, so proxies keep idle streams open. `hold` (the stream's
/// [`subscribers::Slot`]) lives as long as the body.
pub fn sse_stream<H: Send + 'static>(
    rx: mpsc::Receiver<Item>,
    encoded: Arc<Encoded>,
    keep_alive: Duration,
    hold: H,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    struct Body<H> {
        _hold: H,
        rx: mpsc::Receiver<Item>,
        encoded: Arc<Encoded>,
        /// The snapshot being sent, frame by frame.
        snapshot: Option<Box<SnapshotFrames>>,
        keep_alive: Duration,
    }
    let body = Body {
        _hold: hold,
        rx,
        encoded,
        snapshot: None,
        keep_alive,
    };
    futures::stream::unfold(body, |mut b| async move {
        loop {
            if let Some(frames) = &mut b.snapshot {
                if let Some(frame) = frames.next() {
                    return Some((Ok(frame), b));
                }
                b.snapshot = None;
            }
            match tokio::time::timeout(b.keep_alive, b.rx.recv()).await {
                Err(_) => return Some((Ok(Bytes::from_static(sse::KEEP_ALIVE)), b)),
                Ok(None) => return None,
                Ok(Some(Item::Change(c))) => {
                    let frame = b.encoded.change(&c);
                    return Some((Ok(frame), b));
                }
                Ok(Some(Item::Snapshot(frames))) => b.snapshot = Some(frames),
            }
        }
    })
}

/// 429 naming the cap that refused a stream, or 401 for a token revoked
/// meanwhile.
fn refused(why: Refused) -> ApiError {
    match why {
        Refused::Token(cap) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "stream_cap_per_token",
            format!(
                "this token already holds {cap} open streams on this node, the cap \
                 (--stream-max-per-token); close one or use another token"
            ),
        ),
        Refused::Ip(cap) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "stream_cap_per_ip",
            format!(
                "this address already holds {cap} open streams on this node, the cap \
                 (--stream-max-per-ip)"
            ),
        ),
        Refused::Revoked => ApiError::unauthorized("unknown or revoked token"),
    }
}

#[utoipa::path(get, path = "/v1/stream", tag = "sdk", security(("bearer" = [])),
    params(crate::openapi::params::LastEventId),
    responses(
        (status = 200, description = "Server-Sent Events: `snapshot` (a StateSnapshot) then `change` events (ChangeEvent); ends when the token is revoked or the node stops", content_type = "text/event-stream", body = String),
        (status = 429, description = "The token (`stream_cap_per_token`) or the source address (`stream_cap_per_ip`) holds as many open streams on this node as it may", body = ApiError),
    ))]
async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    parts: Parts,
) -> ApiResult<Response> {
    // `default`/`production`, or the one environment of an sdk token.
    let env = caller.served_env(subscribers::STREAM_ROLE)?;
    stream_in(state, caller, parts, env).await
}

/// The change feed of environment `env` (`project/environment`), which
/// exists: its snapshot and changes only.
pub(super) async fn stream_in(
    state: AppState,
    caller: Caller,
    parts: Parts,
    env: String,
) -> ApiResult<Response> {
    caller.require_in(
        subscribers::STREAM_ROLE,
        &vexil_flags::scope::Need::env(&env),
    )?;
    let headers = &parts.headers;
    let shared = state.raft.shared().clone();
    // The token is its secret's hash: one revoked and created again under
    // the same name is another token.
    let hash = caller.token_hash.clone();
    let ip = parts
        .extensions
        .get::<crate::net::ClientAddr>()
        .and_then(|a| a.0);
    let slot = state
        .subscribers
        .admit(&shared, hash, ip)
        .inspect_err(|_| {
            state.feed_stats.refused.fetch_add(1, Ordering::Relaxed);
        })
        .map_err(refused)?;
    let cluster_id = state.raft.cluster_id();
    // Ids from another cluster (this one was restored from a backup) mean
    // nothing here: that client starts over from a snapshot.
    let last = last_event_id(headers).filter(|_| same_cluster(headers, &cluster_id));
    // A client coming from a node that is ahead of us waits (briefly) for
    // this node to catch up, rather than going back in time; an id this node
    // has not even seen committed gets a fresh snapshot at once.
    let committed = state.raft.status().commit_index.unwrap_or(0);
    if let Some(id) = last.filter(|id| *id > state.applied() && *id <= committed) {
        state.raft.wait_applied(id, CATCH_UP).await;
    }
    let rx = pump(
        shared,
        env,
        last,
        cluster_id,
        state.feed_buffer,
        state.feed_stats.clone(),
        state.encoded.clone(),
    );
    let every = state.raft.config().feed.keep_alive;
    let stats = state.feed_stats.clone();
    let revoked = slot.revoked();
    let revoked = async move {
        revoked.await;
        stats.revoked.fetch_add(1, Ordering::Relaxed);
    };
    let body = sse_stream(rx, state.encoded.clone(), every, slot)
        .take_until(state.closed())
        .take_until(revoked);
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
