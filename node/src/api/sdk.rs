//! Endpoints for SDKs: the full state for polling clients, and evaluation
//! metrics. Both serve this node's own state, like the stream.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use vexil_raft::Role;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, Caller};
use crate::usage::MetricsReport;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sdk/flags", get(flags))
        .route("/v1/sdk/metrics", post(metrics))
}

/// Whether `If-None-Match` names `etag` (or is `*`).
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

#[utoipa::path(get, path = "/v1/sdk/flags", tag = "sdk", security(("bearer" = [])),
    params(crate::openapi::params::IfNoneMatch),
    responses(
        (status = 200, description = "Every flag and segment; `ETag` is the applied index", body = vexil_flags::wire::StateSnapshot),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
    ))]
async fn flags(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // `default`/`production`, or the one environment of an sdk token.
    let env = caller.served_env(Role::Sdk)?;
    let applied = state.applied();
    let etag = format!("\"{applied}\"");
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| ApiError::internal(e.to_string()))?;
    let cluster_id = state.raft.cluster_id();
    let same = super::stream::same_cluster(&headers, &cluster_id);
    if same && not_modified(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    let mut snapshot = state.raft.shared().read().snapshot_of(&env);
    snapshot.cluster_id = cluster_id;
    let etag = HeaderValue::from_str(&format!("\"{}\"", snapshot.id)).unwrap_or(etag_value);
    Ok(([(header::ETAG, etag)], Json(snapshot)).into_response())
}

#[utoipa::path(post, path = "/v1/sdk/metrics", tag = "sdk", security(("bearer" = [])),
    request_body = MetricsReport,
    responses((status = 202, description = "Counted", body = crate::openapi::schemas::SdkMetricsAccepted)))]
async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(report): ApiJson<MetricsReport>,
) -> ApiResult<Response> {
    // Counted in the environment the token is served.
    let env = caller.served_env(Role::Sdk)?;
    let accepted = state.record_usage_in(&env, &report)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": accepted }))).into_response())
}
