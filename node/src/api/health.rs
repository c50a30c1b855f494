//! `/healthz` (the process is up) and `/readyz` (this node has a leader
//! that can commit, has applied everything it knows is committed, and holds
//! the first admin token, so a script that waited for readiness can use it).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready))
}

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = crate::openapi::schemas::Health)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "This node knows a leader and has applied what is committed", body = crate::openapi::schemas::Ready),
        (status = 503, description = "No leader (`no_leader`), a leader that cannot commit (`no_quorum`), catching up (`catching_up`), the first admin token not applied yet (`bootstrapping`), or removed from the cluster (`removed`)", body = crate::openapi::schemas::NotReady),
    ))]
async fn ready(State(state): State<AppState>) -> Response {
    let s = state.raft.status();
    let caught_up = s.applied_index >= s.commit_index;
    let body = json!({
        "id": s.id,
        "state": s.state,
        "leader": s.leader,
        "commit_index": s.commit_index,
        "applied_index": s.applied_index,
    });
    let not_ready = |error: &str, message: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "1")],
            Json(json!({ "error": error, "message": message, "status": body.clone() })),
        )
            .into_response()
    };
    if state.raft.is_removed().await {
        return not_ready(
            "removed",
            "this node was removed from the cluster; stop it, or add it again".into(),
        );
    }
    if let Some((reachable, voters)) = state.raft.leader_without_quorum() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "1")],
            Json(json!({
                "error": "no_quorum",
                "message": format!("this leader reaches {reachable} of {voters} voters and refuses writes"),
                "status": body,
            })),
        )
            .into_response();
    }
    let tokens_ready = state
        .tokens_ready
        .load(std::sync::atomic::Ordering::Acquire);
    match (s.leader, caught_up) {
        (Some(_), true) if !tokens_ready => not_ready(
            "bootstrapping",
            "the first admin token is not applied on this node yet".into(),
        ),
        (Some(_), true) => (StatusCode::OK, Json(body)).into_response(),
        (None, _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "1")],
            Json(json!({ "error": "no_leader", "message": "this node knows no leader", "status": body })),
        )
            .into_response(),
        (Some(_), false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "1")],
            Json(json!({ "error": "catching_up", "message": "this node is applying committed entries", "status": body })),
        )
            .into_response(),
    }
}
