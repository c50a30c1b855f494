//! `GET /v1/projects/{project}/compare`: where two of a project's
//! environments differ (the comparison itself is `vexil_flags::compare`).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use vexil_flags::scope::{Need, env_id};
use vexil_raft::Role;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, Caller};
use super::{AppState, Consistency, consistency_headers};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/projects/{project}/compare", get(compare))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompareQuery {
    /// The environment compared from (its key).
    from: String,
    /// The environment compared to (its key).
    to: String,
    /// Only flags with this tag.
    tag: Option<String>,
    /// Only these flags: keys separated by commas.
    flags: Option<String>,
    #[serde(default)]
    consistency: Consistency,
}

#[utoipa::path(get, path = "/v1/projects/{project}/compare", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path, description = "The project's key"), CompareQuery),
    responses(
        (status = 200, description = "The flags and segments that differ between the two environments, by key, with the fields that differ; and how many are alike", body = crate::openapi::schemas::ComparisonView),
        (status = 400, description = "`from` and `to` are the same environment", body = ApiError),
        (status = 403, description = "The token's scope does not reach both environments (`out_of_scope`)", body = ApiError),
        (status = 404, description = "No such project or environment (`field` names which)", body = ApiError),
    ))]
pub(crate) async fn compare(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<CompareQuery>,
) -> ApiResult<Response> {
    for env in [&q.from, &q.to] {
        caller.require_in(Role::Viewer, &Need::Env(project.clone(), env.clone()))?;
    }
    if q.from == q.to {
        return Err(ApiError::bad_request(
            "to",
            "compare two different environments",
        ));
    }
    state.before_read(q.consistency).await?;
    let wanted: Option<Vec<&str>> = q.flags.as_deref().map(|f| f.split(',').collect());
    let st = state.raft.shared().read();
    if !st.projects.contains_key(&project) {
        return Err(
            ApiError::not_found(format!("project {project:?} not found")).with_field("project"),
        );
    }
    let mut sets = Vec::new();
    for (field, env) in [("from", &q.from), ("to", &q.to)] {
        let id = env_id(&project, env);
        let exists = st.environments.contains_key(&id) || id == vexil_raft::keys::LEGACY_ENV;
        if !exists {
            return Err(ApiError::not_found(format!(
                "project {project:?} has no environment {env:?}"
            ))
            .with_field(field));
        }
        sets.push(st.set(&id).cloned().unwrap_or_default());
    }
    let (from, to) = (&sets[0], &sets[1]);
    let tagged = |key: &str| {
        let tags = |s: &vexil_flags::FlagSet| {
            s.get_flag(key)
                .is_some_and(|f| q.tag.as_ref().is_none_or(|t| f.flag().tags.contains(t)))
        };
        tags(from) || tags(to)
    };
    let comparison = vexil_flags::compare::compare(from, to, |key| {
        wanted.as_ref().is_none_or(|w| w.contains(&key)) && tagged(key)
    });
    let applied = st.applied;
    drop(st);
    let body = json!({
        "project": project,
        "from": q.from,
        "to": q.to,
        "flags": comparison.flags,
        "same_flags": comparison.same_flags,
        "segments": comparison.segments,
        "same_segments": comparison.same_segments,
    });
    Ok((consistency_headers(q.consistency, applied), Json(body)).into_response())
}
