//! The admin and SDK HTTP API. Each area is a module returning its routes;
//! [`router`] puts them together with the JSON 404/405/413 behaviour.

pub mod audit;
pub mod backup;
pub mod cluster;
pub mod compare;
pub mod env_flags;
pub mod error;
pub mod evaluate;
pub mod extract;
pub mod flags;
pub mod health;
pub mod ofrep;
pub mod projects;
pub mod promote;
pub mod sdk;
pub mod segments;
pub mod stream;
pub mod tokens;
pub mod ui_support;
pub mod usage_api;
pub mod versioned;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use vexil_raft::{Change, Command, Op, RaftNode, SYSTEM_ACTOR};

use error::{ApiError, ApiResult};
use extract::Caller;

/// Request bodies above this get 413.
pub const BODY_LIMIT: usize = 1 << 20;

/// A body declared over [`BODY_LIMIT`] is read and thrown away, up to this
/// size and for up to [`DRAIN_TIME`], before the node answers 413.
const DRAIN_LIMIT: u64 = 16 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers 413 to a body declared (`Content-Length`) over the limit, after
/// reading it. Answering without reading, then closing the connection as
/// HTTP/1 must, leaves the body unread in the node's socket, and the kernel
/// then resets the connection; the reset can reach the client before it
/// has read the 413, which it then never sees ("connection reset" instead
/// of a JSON error). Bodies without a length still meet `DefaultBodyLimit`.
async fn refuse_oversized(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(len) = declared.filter(|n| *n > BODY_LIMIT as u64) else {
        return next.run(req).await;
    };
    if len <= DRAIN_LIMIT {
        use futures::StreamExt;
        let mut body = req.into_body().into_data_stream();
        let drain = async { while let Some(Ok(_)) = body.next().await {} };
        let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    }
    let mut response = ApiError::payload_too_large().into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    response
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<AppInner>);

#[derive(Debug)]
pub struct AppInner {
    pub raft: RaftNode,
    /// Checked for free space before each write; `None` in the simulation.
    pub data_dir: Option<PathBuf>,
    /// Writes are refused below this much free space, so the store never
    /// hits ENOSPC in the middle of a Raft append.
    pub min_free_bytes: u64,
    /// Events a stream subscriber may have queued before it is dropped.
    pub feed_buffer: usize,
    pub feed_stats: Arc<stream::FeedStats>,
    /// The latest change and snapshot as SSE bytes, encoded once and
    /// shared by every subscriber.
    pub encoded: Arc<stream::Encoded>,
    /// Open `/v1/stream`s: caps per token and IP, ends on revocation.
    pub subscribers: Arc<stream::Subscribers>,
    /// Evaluation counts from SDKs and server-side evaluation.
    pub usage: Arc<crate::usage::Usage>,
    /// Evaluation counts of the other environments.
    pub env_usage: Arc<crate::usage::EnvUsage>,
    /// Prometheus metrics (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Test-only fault injection (never set by the binary): proves that the
    /// simulation's checkers catch the bugs they claim to.
    pub faults: Faults,
    /// Set when the node shuts down: long-lived responses (the SSE feeds)
    /// end, so a graceful shutdown never waits on a subscriber.
    closing: tokio::sync::watch::Sender<bool>,
    /// Whether this node holds a token to authenticate with: set once the
    /// first admin token is applied here (or was already). `/readyz` waits
    /// for it, so that a script that waits for readiness can use the token.
    pub tokens_ready: std::sync::atomic::AtomicBool,
    /// Signs OFREP event-stream tickets (derived from the cluster secret).
    pub ticket_key: ofrep::events::TicketKey,
    /// Derives the secret of a token created with an `Idempotency-Key`.
    pub token_key: crate::secrets::DerivedKey,
    /// The cluster secret, to ask other members over the peer port.
    pub peer_secret: Arc<str>,
    /// Finds tokens by secret, salted hashes included.
    pub token_hasher: crate::secrets::TokenHasher,
}

/// Deliberate bugs a test can switch on at run time.
#[derive(Debug, Default)]
pub struct Faults {
    /// Serve "linearizable" reads from this replica without a read barrier.
    pub stale_reads: std::sync::atomic::AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// `?consistency=` on reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    /// Confirm with the leader's quorum first (read index). The default.
    #[default]
    Linearizable,
    /// Serve this replica's state as it is, possibly stale.
    Local,
}

/// The headers that tell a client how fresh a read is.
pub fn consistency_headers(mode: Consistency, applied: u64) -> [(&'static str, HeaderValue); 2] {
    let name = match mode {
        Consistency::Linearizable => "linearizable",
        Consistency::Local => "local",
    };
    [
        ("x-vexil-consistency", HeaderValue::from_static(name)),
        (
            "x-vexil-applied-index",
            HeaderValue::from_str(&applied.to_string()).unwrap_or(HeaderValue::from_static("0")),
        ),
    ]
}

impl AppState {
    pub fn new(
        raft: RaftNode,
        data_dir: Option<PathBuf>,
        min_free_bytes: u64,
        cluster_secret: &str,
    ) -> Self {
        let usage = Arc::new(crate::usage::Usage::new(raft.config().clock.clone()));
        let env_usage = Arc::new(crate::usage::EnvUsage::new(raft.config().clock.clone()));
        let feed_buffer = raft.config().feed.per_subscriber;
        let feed_stats = Arc::new(stream::FeedStats::default());
        let metrics = Arc::new(crate::metrics::Metrics::new(
            raft.clone(),
            feed_stats.clone(),
            usage.clone(),
            env_usage.clone(),
        ));
        AppState(Arc::new(AppInner {
            raft,
            data_dir,
            min_free_bytes,
            feed_buffer,
            feed_stats,
            encoded: Arc::default(),
            subscribers: Arc::default(),
            env_usage,
            usage,
            metrics,
            faults: Faults::default(),
            closing: tokio::sync::watch::Sender::new(false),
            tokens_ready: std::sync::atomic::AtomicBool::new(false),
            ticket_key: ofrep::events::TicketKey::derive(
                cluster_secret,
                ofrep::events::TICKET_KEY_LABEL,
            ),
            token_key: crate::secrets::DerivedKey::derive(cluster_secret, tokens::SECRET_KEY_LABEL),
            peer_secret: cluster_secret.into(),
            token_hasher: crate::secrets::TokenHasher::default(),
        }))
    }

    /// Ends every open stream; called once when the node begins to stop.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves when the node begins to stop.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|closing| *closing).await;
        }
    }

    /// The caller behind a token secret, or why there is none.
    pub fn authenticate(&self, secret: &str) -> Result<Caller, crate::secrets::Miss> {
        self.token_hasher
            .find(self.raft.shared(), secret, |t| Caller {
                name: t.name.clone(),
                role: t.role,
                token_hash: t.hash.clone(),
                scope: t.scope.clone(),
            })
    }

    /// Waits until this node may serve a read in `mode`.
    pub async fn before_read(&self, mode: Consistency) -> ApiResult<()> {
        let injected = self
            .faults
            .stale_reads
            .load(std::sync::atomic::Ordering::Relaxed);
        if mode == Consistency::Linearizable && !injected {
            self.raft.read_barrier().await?;
        }
        Ok(())
    }

    /// This replica's applied index.
    pub fn applied(&self) -> u64 {
        self.raft.shared().read().applied
    }

    fn check_free_space(&self) -> ApiResult<()> {
        let Some(dir) = &self.data_dir else {
            return Ok(());
        };
        match fs4::available_space(dir) {
            Ok(free) if free < self.min_free_bytes => Err(ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "no_space",
                format!(
                    "refusing writes: the data directory has {} MiB free, below the {} MiB minimum",
                    free >> 20,
                    self.min_free_bytes >> 20
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Commits `op` on behalf of `caller`; the `Idempotency-Key` header, when
    /// present, makes a retried request apply at most once, and the same key
    /// sent with another change is refused (422, see [`extract::request_id`]).
    pub async fn write(
        &self,
        caller: &Caller,
        headers: &HeaderMap,
        op: Op,
    ) -> ApiResult<(Change, u64)> {
        self.check_free_space()?;
        let request_id = extract::request_id(headers, &caller.name)?;
        self.commit(&caller.name, request_id, op).await
    }

    /// Commits `op` as `actor` under `request_id`.
    pub async fn commit(
        &self,
        actor: &str,
        request_id: String,
        op: Op,
    ) -> ApiResult<(Change, u64)> {
        let cmd = Command {
            request_id,
            actor: actor.to_owned(),
            at: (self.raft.config().clock)(),
            op,
            needs_level: None, // stamped by `RaftNode::write`
        };
        let started = std::time::Instant::now();
        let resp = self.raft.write(cmd).await;
        self.metrics.raft_write(started.elapsed(), resp.is_ok());
        let resp = resp?;
        if resp.key_reused {
            return Err(ApiError::idempotency_key_reused());
        }
        let change = resp.result?;
        Ok((change, resp.index))
    }

    /// Commits `op` as Vexil itself (the first admin token).
    pub async fn commit_as_system(&self, request_id: &str, op: Op) -> ApiResult<(Change, u64)> {
        self.commit(SYSTEM_ACTOR, request_id.to_owned(), op).await
    }
}

/// Every answer is what its `Content-Type` says: browsers must not guess
/// (a JSON error echoing input must never be read as HTML).
async fn no_sniff(mut r: Response) -> Response {
    r.headers_mut()
        .entry(axum::http::header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    r
}

async fn not_found() -> Response {
    ApiError::not_found("no such route").into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
    .into_response()
}

/// Every API route, with JSON errors for unknown routes and methods.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(flags::router())
        .merge(segments::router())
        .merge(projects::router())
        .merge(env_flags::router())
        .merge(compare::router())
        .merge(promote::router())
        .merge(audit::router())
        .merge(tokens::router())
        .merge(cluster::router())
        .merge(evaluate::router())
        .merge(backup::router())
        .merge(stream::router())
        .merge(sdk::router())
        .merge(usage_api::router())
        .merge(ofrep::router())
        .merge(ui_support::router())
        .merge(crate::metrics::router())
        .merge(crate::openapi::router())
        .merge(crate::ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(no_sniff))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(refuse_oversized))
        .layer(ui_support::WriteTimingLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::layer::track,
        ))
        .with_state(state)
}
