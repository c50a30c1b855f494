//! `GET /v1/audit`: the append-only audit log, newest first. There is no
//! route that edits or deletes an entry.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use vexil_raft::Role;
use vexil_raft::query::{self, AuditQuery};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, Caller};
use super::versioned::page_limit;
use super::{AppState, Consistency, consistency_headers};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/audit", get(list))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Query {
    /// Entries about this flag key.
    flag: Option<String>,
    segment: Option<String>,
    token: Option<String>,
    /// Entries about this project key (its creation and deletion carry
    /// its environments).
    project: Option<String>,
    /// Entries about this environment, as `project/environment`.
    environment: Option<String>,
    actor: Option<String>,
    /// e.g. `flag.toggle`.
    action: Option<String>,
    /// Entries of this promotion (its id): the promotion's own entry, one
    /// per flag it changed, and those of its rollback.
    promotion: Option<u64>,
    /// RFC 3339; inclusive.
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    #[serde(default)]
    consistency: Consistency,
}

fn time(field: &'static str, v: &Option<String>) -> ApiResult<Option<DateTime<Utc>>> {
    v.as_ref()
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::bad_request(field, format!("{s:?} is not an RFC 3339 time: {e}"))
                })
        })
        .transpose()
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(Query),
    responses((status = 200, description = "One page of the audit log, newest first", body = crate::openapi::schemas::AuditPage)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<Query>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let targets: Vec<String> = [
        ("flag", &q.flag),
        ("segment", &q.segment),
        ("token", &q.token),
        ("project", &q.project),
        ("environment", &q.environment),
    ]
    .into_iter()
    .filter_map(|(kind, key)| key.as_ref().map(|k| vexil_raft::records::target(kind, k)))
    .collect();
    if targets.len() > 1 {
        return Err(ApiError::bad_request(
            "flag",
            "filter by at most one of flag, segment, token, project and environment",
        ));
    }
    let before = q
        .cursor
        .as_ref()
        .map(|c| {
            vexil_raft::keys::AuditPos::parse(c).ok_or_else(|| {
                ApiError::bad_request("cursor", format!("{c:?} is not a cursor from this API"))
            })
        })
        .transpose()?;
    let aq = AuditQuery {
        target: targets.into_iter().next(),
        actor: q.actor.clone(),
        action: q.action.clone(),
        promotion: q.promotion,
        since: time("since", &q.since)?,
        until: time("until", &q.until)?,
        limit: page_limit(q.limit)?,
        before,
    };
    state.before_read(q.consistency).await?;
    let page = query::audit(state.raft.engine().as_ref(), &aq)?;
    let headers = consistency_headers(q.consistency, state.applied());
    Ok((
        headers,
        Json(json!({ "entries": page.items, "next_cursor": page.next_cursor })),
    )
        .into_response())
}
