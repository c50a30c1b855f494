//! The peer listener: Raft RPCs and snapshot streams, behind the cluster secret.

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::{Buf, BytesMut};
use futures::StreamExt;
use subtle::ConstantTimeEq;
use vexil_raft::transport::SNAPSHOT_PATH;
use vexil_raft::{RaftNode, Rpc};

use super::{SECRET_HEADER, TO_HEADER};

/// What the peer router needs.
#[derive(Debug, Clone)]
pub struct PeerState {
    pub raft: RaftNode,
    /// Every request must present this in [`SECRET_HEADER`].
    pub secret: Arc<str>,
}

/// Append requests can batch many entries; still bound them.
const MAX_RPC_BODY: usize = 256 << 20;

/// The `/raft/*` routes.
pub fn router(state: PeerState) -> Router {
    Router::new()
        .route(SNAPSHOT_PATH, post(snapshot))
        .route("/raft/{rpc}", post(rpc))
        .layer(DefaultBodyLimit::max(MAX_RPC_BODY))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such peer route") })
        .with_state(state)
}

/// Whether the request carries the cluster secret (compared in constant time).
fn authorized(state: &PeerState, headers: &HeaderMap) -> bool {
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    bool::from(given.ct_eq(state.secret.as_bytes()))
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

async fn rpc(
    State(state): State<PeerState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    if let Some(refused) = misdirected(&state, &headers) {
        return refused;
    }
    let Some(rpc) = Rpc::from_path(&format!("/raft/{name}")) else {
        return (StatusCode::NOT_FOUND, "no such peer rpc").into_response();
    };
    match state.raft.handle_rpc(rpc, &body).await {
        Ok(reply) => ([(http::header::CONTENT_TYPE, "application/json")], reply).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn snapshot(State(state): State<PeerState>, headers: HeaderMap, body: Body) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    if let Some(refused) = misdirected(&state, &headers) {
        return refused;
    }
    match receive(&state, body).await {
        Ok(reply) => ([(http::header::CONTENT_TYPE, "application/json")], reply).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// Reads `[u32 len][header]`, then streams the rest into a blob.
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
