//! `POST /v1/evaluate`: one flag's detail, or every flag's, for a context.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use vexil_flags::{Context, EvaluationDetail};
use vexil_raft::Role;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller};
use super::flags::ReadQuery;
use super::{AppState, consistency_headers};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/evaluate", post(evaluate))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Body {
    /// One flag's key; every flag when absent.
    flag: Option<String>,
    #[serde(default)]
    context: Context,
}

/// Every flag's detail: `{"flags": {key: detail}}`. Serialised straight into
/// the response rather than through a `serde_json::Value`, which cost as much
/// again as the evaluations (see docs/BENCHMARKS.md, HTTP evaluation).
#[derive(Debug, Serialize)]
struct AllFlags<'a> {
    flags: BTreeMap<&'a str, EvaluationDetail>,
}

#[utoipa::path(post, path = "/v1/evaluate", tag = "evaluation", security(("bearer" = [])),
    params(ReadQuery),
    request_body = Body,
    responses(
        (status = 200, description = "One flag's detail (with `flag`), or `{\"flags\": {key: detail}}` for every flag", body = crate::openapi::schemas::Evaluation),
        (status = 400, description = "A context value that is not a string, number, boolean or list of strings (`field` is `context.<attribute>`)", body = ApiError),
        (status = 404, description = "No such flag", body = ApiError),
    ))]
async fn evaluate(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReadQuery>,
    ApiJson(body): ApiJson<Body>,
) -> ApiResult<Response> {
    caller.require(Role::Sdk)?;
    state.before_read(q.consistency).await?;
    let st = state.raft.shared().read();
    let headers = consistency_headers(q.consistency, st.applied);
    match body.flag {
        Some(key) => {
            let Some(flag) = st.flags.get_flag(&key) else {
                return Err(
                    ApiError::not_found(format!("flag {key:?} not found")).with_field("flag")
                );
            };
            let detail = st
                .flags
                .evaluate(&key, &body.context)
                .to_owned_detail(flag.flag());
            state.usage.served([(key.as_str(), &detail)]);
            Ok((headers, Json(detail)).into_response())
        }
        None => {
            let all: BTreeMap<&str, EvaluationDetail> = st
                .flags
                .flags()
                .map(|f| {
                    (
                        f.key(),
                        st.flags
                            .evaluate(f.key(), &body.context)
                            .to_owned_detail(f.flag()),
                    )
                })
                .collect();
            state.usage.served(all.iter().map(|(k, d)| (*k, d)));
            Ok((headers, Json(AllFlags { flags: all })).into_response())
        }
    }
}
