//! `POST /v1/evaluate`: one flag's detail, or every flag's, for a context.
//!
//! The context is checked against its size limits first
//! ([`vexil_flags::validate_context`]), and evaluation runs on a snapshot of
//! the flag set ([`vexil_raft::Shared::flags`]): a slow evaluation never
//! holds the state lock, so writes and authentication never wait for it.

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
use super::versioned::ReadQuery;
use super::{AppState, consistency_headers};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/evaluate", post(evaluate))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Body {
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
        (status = 400, description = "A context value that is not a string, number, boolean or list of strings, or over its size limit (`field` is `context.<attribute>`)", body = ApiError),
        (status = 404, description = "No such flag", body = ApiError),
    ))]
async fn evaluate(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReadQuery>,
    ApiJson(body): ApiJson<Body>,
) -> ApiResult<Response> {
    // `default`/`production`, or the one environment of an sdk token.
    let env = caller.served_env(Role::Sdk)?;
    evaluate_in(&state, &caller, &env, q, body).await
}

/// Evaluation in environment `env` (`project/environment`), which exists.
/// Its evaluations are counted in that environment's usage.
pub(super) async fn evaluate_in(
    state: &AppState,
    caller: &Caller,
    env: &str,
    q: ReadQuery,
    body: Body,
) -> ApiResult<Response> {
    caller.require_in(Role::Sdk, &vexil_flags::scope::Need::env(env))?;
    check_context(&body.context)?;
    state.before_read(q.consistency).await?;
    let (flags, applied) = {
        let st = state.raft.shared().read();
        (st.set(env).cloned().unwrap_or_default(), st.applied)
    };
    let usage = state.usage_in(env);
    let headers = consistency_headers(q.consistency, applied);
    match body.flag {
        Some(key) => {
            let Some(flag) = flags.get_flag(&key) else {
                return Err(
                    ApiError::not_found(format!("flag {key:?} not found")).with_field("flag")
                );
            };
            let detail = flags
                .evaluate(&key, &body.context)
                .to_owned_detail(flag.flag());
            if let Some(usage) = &usage {
                usage.served([(key.as_str(), &detail)]);
            }
            Ok((headers, Json(detail)).into_response())
        }
        None => {
            let all: BTreeMap<&str, EvaluationDetail> = flags
                .flags()
                .map(|f| {
                    (
                        f.key(),
                        flags
                            .evaluate(f.key(), &body.context)
                            .to_owned_detail(f.flag()),
                    )
                })
                .collect();
            if let Some(usage) = &usage {
                usage.served(all.iter().map(|(k, d)| (*k, d)));
            }
            Ok((headers, Json(AllFlags { flags: all })).into_response())
        }
    }
}

/// 400 naming the attribute (`context.<name>`, or `context.key`) when the
/// context is over a size limit ([`vexil_flags::limits::MAX_ATTRIBUTE_BYTES`],
/// [`vexil_flags::limits::MAX_CONTEXT_BYTES`]).
fn check_context(ctx: &Context) -> Result<(), ApiError> {
    vexil_flags::validate_context(ctx).map_err(|e| {
        let field = format!("context.{}", e.field);
        ApiError::bad_request(&field, format!("{field}: {}", e.message))
    })
}
