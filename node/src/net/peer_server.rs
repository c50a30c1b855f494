//! The peer listener: Raft RPCs and snapshot streams, behind the cluster secret.
//!
//! The secret and the target id ([`TO_HEADER`]) are checked by [`gate`],
//! a middleware that runs before any handler, so no byte of a body is read
//! for a request that fails them. Each RPC then reads its body up to a limit
//! sized to what it carries ([`body_limit`]); a snapshot streams to its blob
//! in chunks, whatever its size.

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::{Buf, BytesMut};
use futures::StreamExt;
use subtle::ConstantTimeEq;
use vexil_raft::transport::SNAPSHOT_PATH;
use vexil_raft::{RaftNode, Rpc};

use super::guard::{AuthGuard, Failure};
use super::{ClientAddr, SECRET_HEADER, TO_HEADER};

/// What the peer router needs.
#[derive(Debug, Clone)]
pub struct PeerState {
    pub raft: RaftNode,
    /// Every request must present this in [`SECRET_HEADER`].
    pub secret: Arc<str>,
    /// This node's evaluation counts, for [`USAGE_PATH`].
    pub usage: Arc<crate::usage::Usage>,
}

/// Where a member serves its evaluation counts to the others (the admin
/// UI's Monitoring page asks every member through the node it loaded from).
pub const USAGE_PATH: &str = "/vexil/usage";

/// The most a peer RPC's body may hold. Append requests batch up to
/// openraft's `max_payload_entries` (300) entries, each up to an API body
/// (1 MiB) re-encoded; a forwarded write or membership change is one
/// command; the rest are a few hundred bytes.
pub fn body_limit(rpc: Rpc) -> usize {
    match rpc {
        Rpc::Append => 256 << 20,
        Rpc::Write | Rpc::Membership => 4 << 20,
        Rpc::Vote | Rpc::TransferLeader | Rpc::ReadIndex | Rpc::Status => 64 << 10,
    }
}

/// The `/raft/*` routes.
pub fn router(state: PeerState) -> Router {
    Router::new()
        .route(SNAPSHOT_PATH, post(snapshot))
        .route("/raft/{rpc}", post(rpc))
        .route(USAGE_PATH, axum::routing::get(usage))
        .route_layer(middleware::from_fn_with_state(state.clone(), gate))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such peer route") })
        .with_state(state)
}

/// Refuses, before the body is read, a request without the cluster secret
/// (401, reported to the listener's [`AuthGuard`]) or meant for another node.
async fn gate(State(state): State<PeerState>, req: Request, next: Next) -> Response {
    if let Some(why) = credential_failure(&state, req.headers()) {
        if let Some(guard) = req.extensions().get::<Arc<AuthGuard>>() {
            let ip = req.extensions().get::<ClientAddr>().and_then(|a| a.0);
            guard.failed(ip, why);
        }
        return unauthorized();
    }
    if let Some(refused) = misdirected(&state, req.headers()) {
        return refused;
    }
    next.run(req).await
}

/// Why the request's cluster secret fails, if it does (compared in constant time).
fn credential_failure(state: &PeerState, headers: &HeaderMap) -> Option<Failure> {
    let Some(given) = headers.get(SECRET_HEADER) else {
        return Some(Failure::Missing);
    };
    let ok = bool::from(given.as_bytes().ct_eq(state.secret.as_bytes()));
    (!ok).then_some(Failure::Wrong)
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, "missing or wrong cluster secret").into_response()
}

/// A refusal when the request names another node in [`TO_HEADER`]: the
/// caller has this node's address under another id.
fn misdirected(state: &PeerState, headers: &HeaderMap) -> Option<Response> {
    let to = headers.get(TO_HEADER)?;
    let me = state.raft.id();
    match to.to_str().ok().and_then(|v| v.parse::<u64>().ok()) {
        Some(to) if to == me => None,
        Some(to) => Some(
            (
                StatusCode::MISDIRECTED_REQUEST,
                format!("this is node {me}, not node {to}: check node {to}'s peer address"),
            )
                .into_response(),
        ),
        None => Some(
            (
                StatusCode::BAD_REQUEST,
                format!("{TO_HEADER} is not a node id"),
            )
                .into_response(),
        ),
    }
}

#[derive(Debug, serde::Deserialize)]
struct UsageQuery {
    minutes: usize,
}

/// `GET /vexil/usage?minutes=`: what `GET /v1/metrics/evaluations` shows.
async fn usage(
    State(state): State<PeerState>,
    query: axum::extract::Query<UsageQuery>,
) -> Response {
    let minutes = query.minutes.clamp(1, 60);
    axum::Json(crate::api::ui_support::usage_json(
        &state.usage,
        &state.raft,
        minutes,
    ))
    .into_response()
}

async fn rpc(
    State(state): State<PeerState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(rpc) = Rpc::from_path(&format!("/raft/{name}")) else {
        return (StatusCode::NOT_FOUND, "no such peer rpc").into_response();
    };
    let limit = body_limit(rpc);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let too_large = || {
        let msg = format!("a {} body is at most {limit} bytes", rpc.path());
        (StatusCode::PAYLOAD_TOO_LARGE, msg).into_response()
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(e) => {
            let msg = format!("reading a {} body (at most {limit} bytes): {e}", rpc.path());
            return (StatusCode::PAYLOAD_TOO_LARGE, msg).into_response();
        }
    };
    match state.raft.handle_rpc(rpc, &body).await {
        Ok(reply) => ([(header::CONTENT_TYPE, "application/json")], reply).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn snapshot(State(state): State<PeerState>, body: Body) -> Response {
    match receive(&state, body).await {
        Ok(reply) => ([(header::CONTENT_TYPE, "application/json")], reply).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// Reads `[u32 len][header]` (at most 1 MiB), then writes each chunk of the
/// rest to the blob as it arrives: memory stays at one chunk.
async fn receive(state: &PeerState, body: Body) -> Result<Vec<u8>, String> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    let mut incoming = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("snapshot stream broke: {e}"))?;
        match incoming.as_mut() {
            None => {
                buf.extend_from_slice(&chunk);
                if buf.len() < 4 {
                    continue;
                }
                let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                if len > 1 << 20 {
                    return Err(format!("snapshot header of {len} bytes is too large"));
                }
                if buf.len() < 4 + len {
                    continue;
                }
                buf.advance(4);
                let header = buf.split_to(len);
                let mut inc = state
                    .raft
                    .receive_snapshot(&header)
                    .map_err(|e| e.to_string())?;
                inc.writer.write_all(&buf).map_err(|e| e.to_string())?;
                incoming = Some(inc);
            }
            Some(inc) => inc.writer.write_all(&chunk).map_err(|e| e.to_string())?,
        }
    }
    let inc = incoming.ok_or("snapshot stream ended before its header")?;
    state
        .raft
        .install_received_snapshot(inc)
        .await
        .map_err(|e| e.to_string())
}
