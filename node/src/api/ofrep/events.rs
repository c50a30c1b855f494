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
//! ticket: `hex(token name).expiry.mac`, where `expiry` is in Unix seconds,
//! [`TICKET_LIFETIME`] after the bulk answer that handed it out, and `mac`
//! is the first 128 bits of HMAC-SHA256 over the name, the token's hash and
//! the expiry, keyed with a key derived from the cluster secret
//! ([`TicketKey`]). Every node can check it; a backup, which holds token
//! hashes but never the cluster secret, cannot forge one, and a ticket that
//! leaked from a URL in a log opens nothing once it expires. Once open, a
//! stream lives as long as its token: revoking the token ends it at its next
//! event. A client whose ticket expired re-fetches the bulk evaluation for a
//! new one. An `Authorization` or `X-API-Key` header works too.

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
use tokio::sync::broadcast::{self, error::TryRecvError};
use vexil_raft::state::{FeedEvent, Shared, Start, State as Mirror};

use super::wire::OfrepError;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::{ApiQuery, bearer, busy, report_failure};
use crate::net::guard::Failure;
use crate::secrets::Miss;

/// Seconds of client inactivity after which OFREP clients close the stream.
pub const INACTIVITY_DELAY_SEC: u64 = 120;
/// Hex characters of the MAC kept in a ticket (128 bits).
const MAC_HEX: usize = 32;

/// How long a ticket opens a stream: long enough for a client to connect
/// and reconnect through a short outage, short enough that one copied
/// from a log is stale.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The key tickets are signed with (see [`crate::secrets`]).
pub type TicketKey = crate::secrets::DerivedKey;

/// The label of the ticket key.
pub const TICKET_KEY_LABEL: &str = "vexil ofrep event ticket key v1";

/// The `eventStreams` entry of a bulk response for the token `name`, whose
/// answer reflected changes up to `since`, at `now` (Unix seconds). The
/// endpoint has no origin, so clients connect to the origin they evaluated
/// against.
pub fn event_stream(
    st: &Mirror,
    key: &TicketKey,
    name: &str,
    since: u64,
    now: i64,
) -> Option<serde_json::Value> {
    let token = st.tokens.get(name)?;
    let expires = now.saturating_add(TICKET_LIFETIME.as_secs() as i64);
    let uri = format!(
        "/ofrep/v1/events?ticket={}&since={since}",
        ticket(key, name, &token.hash, expires)
    );
    Some(json!({
        "type": "sse",
        "endpoint": {"requestUri": uri},
        "inactivityDelaySec": INACTIVITY_DELAY_SEC,
    }))
}

fn mac(key: &TicketKey, name: &str, token_hash: &str, expires: i64) -> String {
    let mac = key.mac(format!("vexil-ofrep-events\n{name}\n{token_hash}\n{expires}").as_bytes());
    let mut hex = hex::encode(mac);
    hex.truncate(MAC_HEX);
    hex
}

fn ticket(key: &TicketKey, name: &str, token_hash: &str, expires: i64) -> String {
    format!(
        "{}.{expires}.{}",
        hex::encode(name),
        mac(key, name, token_hash, expires)
    )
}

/// Why a ticket opens nothing.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    /// Malformed, forged, or for a token that no longer exists.
    Invalid,
    Expired,
    /// A bearer secret whose verification found no free turn.
    Busy,
}

/// The token (name, hash) a ticket stands for, if it is genuine, unexpired
/// at `now` (Unix seconds) and its token still exists.
fn verify(
    st: &Mirror,
    key: &TicketKey,
    ticket_str: &str,
    now: i64,
) -> Result<(String, String), Refused> {
    let mut parts = ticket_str.split('.');
    let (Some(name_hex), Some(expires), Some(given), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refused::Invalid);
    };
    let name = hex::decode(name_hex)
        .ok()
        .and_then(|n| String::from_utf8(n).ok())
        .ok_or(Refused::Invalid)?;
    let expires: i64 = expires.parse().map_err(|_| Refused::Invalid)?;
    let token = st.tokens.get(&name).ok_or(Refused::Invalid)?;
    let expected = mac(key, &name, &token.hash, expires);
    let genuine: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes()).into();
    if !genuine {
        return Err(Refused::Invalid);
    }
    if now >= expires {
        return Err(Refused::Expired);
    }
    Ok((name, token.hash.clone()))
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
    /// The environment whose feed this is.
    env: String,
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
    let now = (state.raft.config().clock)().timestamp();
    let token = match (bearer(&parts), &q.ticket) {
        (Some(secret), _) => state
            .token_hasher
            .find(&shared, secret, |t| (t.name.clone(), t.hash.clone()))
            .map_err(|miss| match miss {
                Miss::Unknown => Refused::Invalid,
                Miss::Busy => Refused::Busy,
            }),
        (None, Some(t)) => verify(&shared.read(), &state.ticket_key, t, now),
        (None, None) => Err(Refused::Invalid),
    };
    // A wrong credential counts against the address, as on every route
    // (`extract::Caller`); an expired ticket is not an attack.
    match (&token, bearer(&parts), &q.ticket) {
        (Err(Refused::Invalid), None, None) => report_failure(&parts, Failure::Missing),
        (Err(Refused::Invalid), _, _) => report_failure(&parts, Failure::Wrong),
        _ => {}
    }
    let token = token.map_err(|why| match why {
        Refused::Busy => busy(),
        Refused::Expired => ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "ticket_expired",
            "this events ticket expired: fetch the bulk evaluation again for a new eventStreams URL",
        ),
        Refused::Invalid => {
            ApiError::unauthorized("send the eventStreams URL's ticket, or a token as a bearer")
        }
    })?;
    let from = (parts
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok()))
    .and_then(|v| v.trim().parse::<u64>().ok())
    .or(q.since);
    // The feed of the environment the token is served (an sdk token's
    // one environment, else `default`/`production`).
    let env = {
        let st = shared.read();
        let t = st.tokens.get(&token.0).ok_or_else(|| {
            ApiError::unauthorized("send the eventStreams URL's ticket, or a token as a bearer")
        })?;
        let need = crate::api::extract::served(t.role, t.scope.as_deref());
        if !vexil_flags::scope::scope_allows(t.scope.as_deref(), &need) {
            return Err(ApiError::out_of_scope(&need).into());
        }
        match need {
            vexil_flags::scope::Need::Env(p, e) => vexil_flags::scope::env_id(&p, &e),
            _ => vexil_raft::keys::LEGACY_ENV.to_owned(),
        }
    };
    let last = shared.last_change_of(&env);
    let sub = shared.subscribe_env(&env, Some(last));
    let now = match sub.start {
        Start::Resume(evs) => evs.last().map_or(last, |e| e.id),
        Start::Snapshot(_) => shared.last_change_of(&env),
    };
    let feed = Feed {
        shared,
        env,
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
            Ok(FeedEvent::Reset) | Err(TryRecvError::Lagged(_)) => {
                self.shared.last_change_of(&self.env)
            }
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
    use chrono::Utc;
    use vexil_raft::{Role, TokenRecord};

    use super::*;

    fn mirror_with(name: &str, hash: &str) -> Mirror {
        let mut st = Mirror::default();
        st.tokens.insert(
            name.into(),
            TokenRecord {
                name: name.into(),
                role: Role::Sdk,
                hash: hash.into(),
                created_at: Utc::now(),
                created_by: "admin".into(),
                scope: None,
            },
        );
        st
    }

    #[test]
    fn t21_a_ticket_opens_until_it_expires_and_only_with_the_cluster_key() {
        let key = TicketKey::derive("cluster-secret-0123456789", TICKET_KEY_LABEL);
        let st = mirror_with("web", "abc");
        let now = 1_700_000_000;
        let t = ticket(&key, "web", "abc", now + 900);
        assert_eq!(
            verify(&st, &key, &t, now),
            Ok(("web".to_owned(), "abc".to_owned()))
        );
        assert_eq!(verify(&st, &key, &t, now + 900), Err(Refused::Expired));
        // The expiry is inside the MAC: moving it forward breaks the ticket.
        let moved = t.replace(&format!(".{}.", now + 900), &format!(".{}.", now + 9000));
        assert_eq!(verify(&st, &key, &moved, now), Err(Refused::Invalid));
        // Someone with the token hashes (a backup) but not the cluster
        // secret cannot make one.
        let other = TicketKey::derive("another-secret-0123456789", TICKET_KEY_LABEL);
        let forged = ticket(&other, "web", "abc", now + 900);
        assert_eq!(verify(&st, &key, &forged, now), Err(Refused::Invalid));
        // A token re-created under the same name does not inherit tickets.
        let recreated = mirror_with("web", "def");
        assert_eq!(verify(&recreated, &key, &t, now), Err(Refused::Invalid));
        // The first release's two-part tickets open nothing.
        let old = format!("{}.{}", hex::encode("web"), "0".repeat(32));
        assert_eq!(verify(&st, &key, &old, now), Err(Refused::Invalid));
    }
}
