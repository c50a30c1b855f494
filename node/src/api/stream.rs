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

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc};
use vexil_flags::wire::{ChangeEvent, StateSnapshot};
use vexil_raft::Role;
use vexil_raft::state::{FeedEvent, Shared, Start};

use super::AppState;
use super::error::ApiResult;
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
}

/// What the SSE body sends. (The snapshot is boxed so that a queued item is
/// two words: every subscriber's queue is sized in items.)
#[derive(Debug)]
pub enum Item {
    Snapshot(Box<StateSnapshot>),
    Change(Arc<ChangeEvent>),
}

/// The latest change, encoded as an SSE event once and cloned for every
/// subscriber: a write fans out to thousands of streams on a node, and
/// serialising it once per stream was most of the fan-out's cost.
#[derive(Debug, Default)]
pub struct Encoded(std::sync::Mutex<Option<(Arc<ChangeEvent>, Event)>>);

impl Encoded {
    fn change(&self, c: &Arc<ChangeEvent>) -> Event {
        let mut last = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Every subscriber gets the same `Arc` from the broadcast.
        if let Some((seen, event)) = &*last
            && Arc::ptr_eq(seen, c)
        {
            return event.clone();
        }
        let event = Event::default()
            .event("change")
            .id(c.id.to_string())
            .json_data(&**c)
            .unwrap_or_else(|_| Event::default().comment("unserializable change"));
        *last = Some((c.clone(), event.clone()));
        event
    }
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
/// broadcast lapped it) or goes away.
pub fn pump(
    shared: Arc<Shared>,
    last_event_id: Option<u64>,
    cluster_id: String,
    capacity: usize,
    stats: Arc<FeedStats>,
) -> mpsc::Receiver<Item> {
    let (tx, rx) = mpsc::channel(capacity.max(2));
    let sub = shared.subscribe(last_event_id);
    let mut events = sub.rx;
    let stamped = move |mut s: StateSnapshot| {
        s.cluster_id = cluster_id.clone();
        Item::Snapshot(Box::new(s))
    };
    let first: Vec<Item> = match sub.start {
        Start::Snapshot(s) => vec![stamped(s)],
        Start::Resume(evs) => evs.into_iter().map(Item::Change).collect(),
    };
    tokio::spawn(async move {
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
                Ok(FeedEvent::Reset) => stamped(shared.read().snapshot()),
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

fn to_event(item: Item, encoded: &Encoded) -> Event {
    match item {
        Item::Snapshot(s) => Event::default()
            .event("snapshot")
            .id(s.id.to_string())
            .json_data(&s)
            .unwrap_or_else(|_| Event::default().comment("unserializable snapshot")),
        Item::Change(c) => encoded.change(&c),
    }
}

/// Turns a pumped queue into an SSE body stream.
pub fn sse_stream(
    rx: mpsc::Receiver<Item>,
    encoded: Arc<Encoded>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold((rx, encoded), |(mut rx, encoded)| async move {
        let item = rx.recv().await?;
        let event = to_event(item, &encoded);
        Some((Ok(event), (rx, encoded)))
    })
}

#[utoipa::path(get, path = "/v1/stream", tag = "sdk", security(("bearer" = [])),
    params(crate::openapi::params::LastEventId),
    responses((status = 200, description = "Server-Sent Events: `snapshot` (a StateSnapshot) then `change` events (ChangeEvent); never ends", content_type = "text/event-stream", body = String)))]
async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require(Role::Sdk)?;
    let cluster_id = state.raft.cluster_id();
    // Ids from another cluster (this one was restored from a backup) mean
    // nothing here: that client starts over from a snapshot.
    let last = last_event_id(&headers).filter(|_| same_cluster(&headers, &cluster_id));
    // A client coming from a node that is ahead of us waits (briefly) for
    // this node to catch up, rather than going back in time; an id this node
    // has not even seen committed gets a fresh snapshot at once.
    let committed = state.raft.status().commit_index.unwrap_or(0);
    if let Some(id) = last.filter(|id| *id > state.applied() && *id <= committed) {
        state.raft.wait_applied(id, CATCH_UP).await;
    }
    let rx = pump(
        state.raft.shared().clone(),
        last,
        cluster_id,
        state.feed_buffer,
        state.feed_stats.clone(),
    );
    let every = state.raft.config().feed.keep_alive;
    let sse = Sse::new(sse_stream(rx, state.encoded.clone()).take_until(state.closed()))
        .keep_alive(KeepAlive::new().interval(every).text("keep-alive"));
    Ok((
        [("x-accel-buffering", "no"), ("cache-control", "no-cache")],
        sse,
    )
        .into_response())
}
