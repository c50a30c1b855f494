//! `GET /ofrep/v1/events`: OFREP's change notifications (ADR-0008), served
//! from this node's own feed like `/v1/stream`.
//!
//! Each committed flag or segment change becomes one SSE `message` event,
//! `id:` its log index, data `{"type":"refetchEvaluation","etag":"\"<id>\""}`;
//! clients then re-fetch the bulk evaluation. Events that are already queued
//! when the client reads are coalesced into one (the newest), and a
//! subscriber that falls behind the node's broadcast gets one event instead
//! of being dropped, so a slow client costs nothing but its socket. A
//! comment goes out every `FeedConfig::keep_alive` (15 s by default) so
//! proxies keep idle streams open.
//!
//! **Catching up.** The bulk response's stream URL carries `since`, the
//! state it evaluated; a reconnect sends `Last-Event-ID`. If the node has
//! changed since either, the stream opens with one event at once.
//!
//! **Auth.** Browsers' `EventSource` sends no headers, so the URL carries a
//! ticket, `hex(token name).hex(HMAC-SHA256(token hash, name))[..32]`,
//! checkable by every node from the replicated token table. It lives as long
//! as its token: revoking the token ends its streams at their next event.
//! An `Authorization` or `X-API-Key` header works too.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::{self, error::TryRecvError};
use vexil_raft::state::{FeedEvent, Shared, Start, State as Mirror};

use super::wire::OfrepError;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{ApiQuery, bearer};

/// Seconds of client inactivity after which OFREP clients close the stream.
pub const INACTIVITY_DELAY_SEC: u64 = 120;
/// Hex characters of the MAC kept in a ticket (128 bits).
const MAC_HEX: usize = 32;

/// The `eventStreams` entry of a bulk response for the token `name`, whose
/// answer reflected changes up to `since`. The endpoint has no origin, so
/// clients connect to the origin they evaluated against.
pub fn event_stream(st: &Mirror, name: &str, since: u64) -> Option<serde_json::Value> {
    let token = st.tokens.get(name)?;
    let uri = format!(
        "/ofrep/v1/events?ticket={}&since={since}",
        ticket(name, &token.hash)
    );
    Some(json!({
        "type": "sse",
        "endpoint": {"requestUri": uri},
        "inactivityDelaySec": INACTIVITY_DELAY_SEC,
    }))
}

fn ticket(name: &str, token_hash: &str) -> String {
    let mac = hmac_sha256(
        token_hash.as_bytes(),
        format!("vexil-ofrep-events\n{name}").as_bytes(),
    );
    let mac = hex::encode(mac);
    format!(
        "{}.{}",
        hex::encode(name),
        mac.get(..MAC_HEX).unwrap_or(&mac)
    )
}

/// The token (name, hash) a ticket stands for, if it is genuine and live.
fn verify(st: &Mirror, ticket_str: &str) -> Option<(String, String)> {
    let (name_hex, _) = ticket_str.split_once('.')?;
    let name = String::from_utf8(hex::decode(name_hex).ok()?).ok()?;
    let token = st.tokens.get(&name)?;
    let expected = ticket(&name, &token.hash);
    let genuine: bool =
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), ticket_str.as_bytes()).into();
    genuine.then(|| (name, token.hash.clone()))
}

/// HMAC (RFC 2104) over SHA-256.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    let key_digest;
    let key = if key.len() > block.len() {
        key_digest = Sha256::digest(key);
        key_digest.as_slice()
    } else {
        key
    };
    block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    ticket: Option<String>,
    /// The change the client's last bulk answer reflected.
    since: Option<u64>,
}

/// One subscriber: where it is and who it is.
struct Feed {
    shared: Arc<Shared>,
    rx: broadcast::Receiver<FeedEvent>,
    /// The id of the last event sent (or the state the client already has).
    sent: u64,
    /// An event to send: the newest change id not yet sent.
    pending: Option<u64>,
    /// The token's (name, hash): the stream ends once it is revoked.
    token: (String, String),
}

/// `GET /ofrep/v1/events`: authenticates by header or ticket, then streams.
pub async fn events(
    State(state): State<AppState>,
    parts: Parts,
    query: Result<ApiQuery<EventsQuery>, ApiError>,
) -> Result<Response, OfrepError> {
    let ApiQuery(q) = query?;
    let shared = state.raft.shared().clone();
    let token = {
        let st = shared.read();
        match (bearer(&parts), &q.ticket) {
            (Some(secret), _) => {
                let hash = vexil_raft::hash_secret(secret);
                st.token_by_hash(&hash).map(|t| (t.name.clone(), hash))
            }
            (None, Some(t)) => verify(&st, t),
            (None, None) => None,
        }
    };
    let token = token.ok_or_else(|| {
        ApiError::unauthorized("send the eventStreams URL's ticket, or a token as a bearer")
    })?;
    let from = (parts
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok()))
    .and_then(|v| v.trim().parse::<u64>().ok())
    .or(q.since);
    let last = shared.read().last_change;
    let sub = shared.subscribe(Some(last));
    let now = match sub.start {
        Start::Resume(evs) => evs.last().map_or(last, |e| e.id),
        Start::Snapshot(_) => shared.read().last_change,
    };
    let feed = Feed {
        shared,
        rx: sub.rx,
        sent: from.unwrap_or(now),
        pending: from.filter(|f| now > *f).map(|_| now),
        token,
    };
    let hello = Event::default()
        .retry(Duration::from_secs(1))
        .comment("vexil ofrep events");
    let body = futures::stream::once(async { Ok(hello) })
        .chain(feed_stream(feed))
        .take_until(state.closed());
    let every = state.raft.config().feed.keep_alive;
    let sse = Sse::new(body).keep_alive(KeepAlive::new().interval(every).text("keep-alive"));
    Ok((
        [("x-accel-buffering", "no"), ("cache-control", "no-cache")],
        sse,
    )
        .into_response())
}

fn feed_stream(feed: Feed) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(feed, |mut f| async move {
        loop {
            if let Some(id) = f.pending.take() {
                if !f.still_authorized() {
                    return None;
                }
                f.sent = f.sent.max(id);
                return Some((Ok(refetch(id)), f));
            }
            let first = f.rx.recv().await;
            f.note(first.map_err(|e| match e {
                broadcast::error::RecvError::Lagged(n) => TryRecvError::Lagged(n),
                broadcast::error::RecvError::Closed => TryRecvError::Closed,
            }))?;
            // Coalesce whatever else is already queued into the same event.
            loop {
                match f.rx.try_recv() {
                    Err(TryRecvError::Empty) => break,
                    other => f.note(other)?,
                }
            }
        }
    })
}

impl Feed {
    /// Folds one received item into `pending`; `None` when the feed closed.
    fn note(&mut self, item: Result<FeedEvent, TryRecvError>) -> Option<()> {
        let id = match item {
            Ok(FeedEvent::Change(e)) if e.id > self.sent => e.id,
            Ok(FeedEvent::Change(_)) | Err(TryRecvError::Empty) => return Some(()),
            // The state was replaced, or we fell behind: refetch whatever is current.
            Ok(FeedEvent::Reset) | Err(TryRecvError::Lagged(_)) => self.shared.read().last_change,
            Err(TryRecvError::Closed) => return None,
        };
        self.pending = Some(self.pending.map_or(id, |p| p.max(id)));
        Some(())
    }

    fn still_authorized(&self) -> bool {
        let (name, hash) = &self.token;
        self.shared
            .read()
            .tokens
            .get(name)
            .is_some_and(|t| &t.hash == hash)
    }
}

fn refetch(id: u64) -> Event {
    let data = json!({"type": "refetchEvaluation", "etag": format!("\"{id}\"")});
    Event::default()
        .event("message")
        .id(id.to_string())
        .data(data.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    #[test]
    fn hmac_matches_the_rfc_vector() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
