//! `GET /v1/metrics/evaluations`: evaluation counts for the UI's charts and
//! its stale-flag view (see `crate::usage` for what is kept).

use axum::extract::{Path, State};
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
    Router::new()
        .route("/v1/metrics/evaluations", get(evaluations))
        .route(
            "/v1/projects/{project}/environments/{environment}/metrics/evaluations",
            get(evaluations_in),
        )
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
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
    let subscribers = state.raft.shared().subscribers();
    view(&state, &state.usage, &q, subscribers)
}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{environment}/metrics/evaluations", tag = "sdk", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), Query),
    responses(
        (status = 200, description = "This node's evaluation counts in this environment (server-side evaluations there, and reports of SDKs whose token is scoped to it)", body = crate::openapi::schemas::UsageView),
        (status = 404, description = "No such project or environment", body = ApiError),
    ))]
pub(crate) async fn evaluations_in(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<super::versioned::Params>,
    ApiQuery(q): ApiQuery<Query>,
) -> ApiResult<Response> {
    let need = vexil_flags::scope::Need::Env(
        super::versioned::param(&path, "project")?.to_owned(),
        super::versioned::param(&path, "environment")?.to_owned(),
    );
    caller.require_in(Role::Viewer, &need)?;
    let env = super::env_flags::env_of(&state, &path)?;
    let subscribers = state.raft.shared().subscribers_of(&env);
    match state.usage_in(&env) {
        Some(usage) if env == vexil_raft::keys::LEGACY_ENV => view(&state, &usage, &q, subscribers),
        // Reading makes no store: one with no counts yet shows as empty.
        _ => match state.env_usage.get(&env) {
            Some(usage) => view(&state, &usage, &q, subscribers),
            None => view(&state, &state.env_usage.empty(), &q, subscribers),
        },
    }
}

/// The counts of `usage`, and `subscribers` (open streams of the
/// environment on this node).
fn view(
    state: &AppState,
    usage: &crate::usage::Usage,
    q: &Query,
    subscribers: usize,
) -> ApiResult<Response> {
    let minutes = q.minutes.unwrap_or(60);
    if !(1..=60).contains(&minutes) {
        return Err(ApiError::bad_request("minutes", "must be between 1 and 60"));
    }
    Ok(Json(json!({
        "node": state.raft.id(),
        "since": usage.since,
        "series": usage.series(q.flag.as_deref(), minutes),
        "totals_1h": usage.totals(1),
        "totals_24h": usage.totals(24),
        "totals_7d": usage.totals(24 * 7),
        "last_seen": usage.last_seen(),
        "subscribers": subscribers,
    }))
    .into_response())
}
