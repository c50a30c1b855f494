//! `GET /v1/metrics/evaluations`: evaluation counts for the UI's charts and
//! its stale-flag view (see `crate::usage` for what is kept).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use vexil_raft::Role;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, Caller};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/metrics/evaluations", get(evaluations))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Query {
    /// One flag, or every flag.
    flag: Option<String>,
    /// Per-minute series length (1–60).
    minutes: Option<usize>,
}

#[utoipa::path(get, path = "/v1/metrics/evaluations", tag = "sdk", security(("bearer" = [])),
    params(Query),
    responses((status = 200, description = "This node's evaluation counts", body = crate::openapi::schemas::UsageView)))]
async fn evaluations(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<Query>,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &vexil_flags::scope::Need::legacy())?;
    let minutes = q.minutes.unwrap_or(60);
    if !(1..=60).contains(&minutes) {
        return Err(ApiError::bad_request("minutes", "must be between 1 and 60"));
    }
    let usage = &state.usage;
    Ok(Json(json!({
        "node": state.raft.id(),
        "since": usage.since,
        "series": usage.series(q.flag.as_deref(), minutes),
        "totals_1h": usage.totals(1),
        "totals_24h": usage.totals(24),
        "totals_7d": usage.totals(24 * 7),
        "last_seen": usage.last_seen(),
        "subscribers": state.raft.shared().subscribers(),
    }))
    .into_response())
}
