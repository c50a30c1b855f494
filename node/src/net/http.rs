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
//! Like `axum::serve`, there is no timeout on idle keep-alive connections.
//!
//! Shutdown is graceful: the listener closes, in-flight requests finish, and
//! the call returns once every connection is closed.

use std::fmt::Debug;
use std::future::Future;

use axum::Router;
use axum::serve::Listener;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

/// Serves `router` on `listener` until `stop` resolves, then drains.
pub async fn serve<L>(mut listener: L, router: Router, stop: impl Future<Output = ()>)
where
    L: Listener,
    L::Addr: Debug,
{
    // Resolving the router once matters: served per connection, axum
    // rebuilds its route tables for each (`with_state`), about 25 KiB with
    // our ~80 routes, which an SSE subscriber kept for its lifetime.
    let service = TowerToHyperService::new(router.with_state::<()>(()));
    let mut builder = http1::Builder::new();
    builder.half_close(true);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (io, remote) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let conn = builder.serve_connection(TokioIo::new(io), service.clone());
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(?remote, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
