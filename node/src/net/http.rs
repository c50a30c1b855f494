//! The HTTP/1 server loop for the API and peer listeners.
//!
//! `axum::serve` does not let us configure hyper, so we run hyper's HTTP/1
//! server ourselves, with one setting it would not give us: **no read while
//! a response streams** (`half_close`). By default hyper keeps reading a
//! connection while it writes a response, to notice a client going away, and
//! that read allocates a second 8 KiB buffer per connection. For an SSE
//! subscriber that was a third of its memory (20.8 → 14.2 KiB per subscriber
//! in `scripts/bench.d/feed.sh`). A subscriber that went away is now noticed
//! when a write to it fails, at the latest after two keep-alive comments;
//! a request handler whose client left runs to its end instead of being
//! cancelled.
//!
//! **Nothing a client does holds a connection for good** ([`ListenerLimits`]):
//! - a connection over the per-IP or the listener's total cap is closed at
//!   accept (the two listeners count apart, so the API port can never use
//!   up the peer port's budget);
//! - headers must arrive within `header_read` of their first byte (hyper's
//!   `header_read_timeout`: slowloris);
//! - a connection with no request in flight for `idle` is closed (an idle
//!   keep-alive connection, or one that never sends a request); a request
//!   is in flight from its headers until its response body is done;
//! - a response write that makes no progress for `write_stall` closes the
//!   connection ([`WriteDeadline`]), so a client that stops reading an SSE
//!   stream lets go of it.
//!
//! Every request gets the connection's [`ClientAddr`] and the listener's
//! [`AuthGuard`] as extensions, and an address backing off after failed
//! authentication gets 429 before anything else is looked at.
//!
//! Shutdown is graceful: the listener closes, in-flight requests finish, and
//! the call returns once every connection is closed.

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::serve::Listener;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::time::Instant;
use tower::ServiceExt;

use super::ClientAddr;
use super::guard::AuthGuard;
use super::limits::{ConnCounter, ListenerLimits, RemoteIp};
use super::stall::WriteDeadline;

/// How one listener serves: its limits and its failed-authentication guard.
#[derive(Debug, Clone)]
pub struct Serving {
    pub limits: ListenerLimits,
    pub guard: Arc<AuthGuard>,
}

/// Serves `router` on `listener` until `stop` resolves, then drains.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    serving: Serving,
    stop: impl Future<Output = ()>,
) where
    L: Listener,
    L::Addr: Debug + RemoteIp,
{
    // Resolving the router once matters: served per connection, axum
    // rebuilds its route tables for each (`with_state`), about 25 KiB with
    // our ~80 routes, which an SSE subscriber kept for its lifetime.
    let router = router.with_state::<()>(());
    let limits = serving.limits;
    let mut builder = http1::Builder::new();
    builder
        .half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let counter = ConnCounter::new(&limits);
    let graceful = GracefulShutdown::new();
    let mut last_refusal_log: Option<Instant> = None;
    let mut stop = std::pin::pin!(stop);
    loop {
        let (io, remote) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let ip = remote.remote_ip();
        let slot = match counter.admit(ip) {
            Ok(slot) => slot,
            Err(cap) => {
                // Closed at once (dropping `io`); logged at most every 10 s.
                if last_refusal_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    last_refusal_log = Some(Instant::now());
                    tracing::warn!(
                        ?remote,
                        ?cap,
                        open = counter.open(),
                        ?limits,
                        "connection refused: cap reached (logged at most every 10 s)"
                    );
                }
                continue;
            }
        };
        let activity = Arc::new(Activity::new());
        let service = hyper::service::service_fn({
            let (router, guard, activity) =
                (router.clone(), serving.guard.clone(), activity.clone());
            move |req| handle(req, router.clone(), guard.clone(), activity.clone(), ip)
        });
        let io = TokioIo::new(WriteDeadline::new(io, limits.write_stall));
        let conn = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                ended = conn => if let Err(e) = ended {
                    tracing::trace!(?remote, error = %e, "connection ended with an error");
                },
                () = activity.idle_for(limits.idle) => {
                    tracing::trace!(?remote, "closing a connection idle for {:?}", limits.idle);
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One request: 429 to an address backing off, else the router, with the
/// request counted in flight until its response body is done.
async fn handle(
    mut req: Request<Incoming>,
    router: Router,
    guard: Arc<AuthGuard>,
    activity: Arc<Activity>,
    ip: Option<IpAddr>,
) -> Result<Response<Tracked>, Infallible> {
    let busy = Busy::start(activity);
    if let Some(wait) = guard.retry_after(ip) {
        let secs = wait.as_secs().max(1);
        let mut resp = Response::new(Body::from(format!(
            "too many failed authentications from this address: retry in {secs} s\n"
        )));
        *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(resp.map(|body| Tracked { body, _busy: busy }));
    }
    req.extensions_mut().insert(ClientAddr(ip));
    req.extensions_mut().insert(guard);
    let resp = match router.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    Ok(resp.map(|body| Tracked { body, _busy: busy }))
}

/// Whether a connection has a request in flight, and since when it has had none.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    /// When the last request ended (or the connection was accepted).
    since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            since: Mutex::new(Instant::now()),
        }
    }

    fn since(&self) -> Instant {
        *self.since.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves once no request has been in flight for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let busy = self.in_flight.load(Ordering::Acquire) > 0;
            let next = if busy {
                Instant::now() + limit
            } else {
                self.since() + limit
            };
            tokio::time::sleep_until(next).await;
            if self.in_flight.load(Ordering::Acquire) == 0 && self.since().elapsed() >= limit {
                return;
            }
        }
    }
}

/// A request in flight; dropped with its response body.
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.since.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until it is done.
#[derive(Debug)]
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
