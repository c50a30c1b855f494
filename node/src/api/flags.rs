//! `/v1/flags`: create, list, get, replace, toggle, delete, versions, rollback.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use vexil_flags::Flag;
use vexil_raft::query::Versioned;
use vexil_raft::{Change, Op, Role};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller};
use super::segments::{after_key, commit, expected_version, versions_routes};
use super::{AppState, Consistency, consistency_headers};
use crate::openapi::params::{IdempotencyKey, IfMatch};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/flags", post(create).get(list))
        .route("/v1/flags/{key}", get(get_one).put(replace).delete(remove))
        .route("/v1/flags/{key}/toggle", post(toggle))
        .merge(versions_routes("/v1/flags", Versioned::Flag))
}

/// A flag with its version as ETag.
pub fn flag_response(status: StatusCode, flag: &Flag) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", flag.version))
        .unwrap_or(HeaderValue::from_static("\"0\""));
    (status, [(header::ETAG, etag)], Json(flag)).into_response()
}

pub(super) fn changed_flag(change: Change) -> ApiResult<Flag> {
    match change {
        Change::Flag { after: Some(f), .. } => Ok(*f),
        other => Err(ApiError::internal(format!("unexpected change {other:?}"))),
    }
}

/// Rejects what the state machine would reject, before it costs a log
/// entry, and what only new input must meet (the documented limits).
fn precheck(state: &AppState, flag: &Flag) -> ApiResult<()> {
    let errors = vexil_flags::validate_flag_input(flag, &state.raft.shared().read().flags);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("flag", errors))
    }
}

#[utoipa::path(post, path = "/v1/flags", tag = "flags", security(("bearer" = [])),
    params(IdempotencyKey),
    request_body = Flag,
    responses(
        (status = 201, description = "Created; `ETag` is its version", body = Flag),
        (status = 400, description = "Invalid, or over a documented limit (`validation_failed`, each problem in `errors`)", body = ApiError),
        (status = 409, description = "A flag with this key exists (`already_exists`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(flag): ApiJson<Flag>,
) -> ApiResult<Response> {
    caller.require(Role::Editor)?;
    precheck(&state, &flag)?;
    let (change, _) = commit(&state, &caller, &headers, Op::CreateFlag { flag }).await?;
    let flag = changed_flag(change)?;
    let mut resp = flag_response(StatusCode::CREATED, &flag);
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/flags/{}", flag.key)) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

/// Query of `GET /v1/flags`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only flags with this tag.
    tag: Option<String>,
    /// Substring of the key or name, case-insensitive.
    q: Option<String>,
    /// Only flags that are on (`true`) or off (`false`).
    enabled: Option<bool>,
    limit: Option<usize>,
    /// The previous page's `next_cursor` (its last key).
    cursor: Option<String>,
    #[serde(default)]
    consistency: Consistency,
}

pub(super) fn page_limit(limit: Option<usize>) -> ApiResult<usize> {
    match limit.unwrap_or(100) {
        0 => Err(ApiError::bad_request("limit", "must be at least 1")),
        n if n > 1000 => Err(ApiError::bad_request("limit", "must be at most 1000")),
        n => Ok(n),
    }
}

#[utoipa::path(get, path = "/v1/flags", tag = "flags", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "One page of flags, by key", body = crate::openapi::schemas::FlagList)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let limit = page_limit(q.limit)?;
    state.before_read(q.consistency).await?;
    let after = after_key(&state, Versioned::Flag, q.cursor.as_deref())?;
    let needle = q.q.as_ref().map(|s| s.to_lowercase());
    let (flags, applied) = {
        let st = state.raft.shared().read();
        let mut keys: Vec<&str> = st
            .flags
            .flags()
            .map(|f| f.key())
            .filter(|k| after.as_deref().is_none_or(|c| *k > c))
            .collect();
        keys.sort_unstable();
        let mut out = Vec::new();
        // One hit past the page says whether a next page exists, so that a
        // page that ends the list exactly carries no cursor.
        let mut more = false;
        for key in keys {
            let Some(f) = st.flags.get_flag(key) else {
                continue;
            };
            let f = f.flag();
            let hit = q.tag.as_ref().is_none_or(|t| f.tags.contains(t))
                && q.enabled.is_none_or(|e| f.enabled == e)
                && needle.as_ref().is_none_or(|n| {
                    f.key.to_lowercase().contains(n) || f.name.to_lowercase().contains(n)
                });
            if hit {
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push(f.clone());
            }
        }
        let next = if more {
            out.last().map(|f| f.key.clone())
        } else {
            None
        };
        ((out, next), st.applied)
    };
    let body = json!({ "flags": flags.0, "next_cursor": flags.1 });
    Ok((consistency_headers(q.consistency, applied), Json(body)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadQuery {
    #[serde(default)]
    pub consistency: Consistency,
}

#[utoipa::path(get, path = "/v1/flags/{key}", tag = "flags", security(("bearer" = [])),
    params(("key" = String, Path, description = "The flag's key"), ReadQuery),
    responses(
        (status = 200, description = "The flag; `ETag` is its version", body = Flag),
        (status = 404, description = "No such flag", body = ApiError),
    ))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    state.before_read(q.consistency).await?;
    let (flag, applied) = {
        let st = state.raft.shared().read();
        (
            st.flags.get_flag(&key).map(|f| Flag::clone(f.flag())),
            st.applied,
        )
    };
    let flag = flag.ok_or_else(|| ApiError::not_found(format!("flag {key:?} not found")))?;
    let resp = flag_response(StatusCode::OK, &flag);
    Ok((consistency_headers(q.consistency, applied), resp).into_response())
}

#[utoipa::path(put, path = "/v1/flags/{key}", tag = "flags", security(("bearer" = [])),
    params(("key" = String, Path, description = "The flag's key"), IfMatch, IdempotencyKey),
    request_body = Flag,
    responses(
        (status = 200, description = "Replaced", body = Flag),
        (status = 400, description = "Invalid, or over a documented limit (`validation_failed`, each problem in `errors`)", body = ApiError),
        (status = 404, description = "No such flag", body = ApiError),
        (status = 409, description = "The flag changed since that version (`version_conflict`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 428, description = "No version in `If-Match` or the body (`version_required`)", body = ApiError),
    ))]
async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    ApiJson(flag): ApiJson<Flag>,
) -> ApiResult<Response> {
    caller.require(Role::Editor)?;
    if flag.key != key {
        return Err(ApiError::bad_request(
            "key",
            format!(
                "the body's key {:?} differs from the path's {key:?}",
                flag.key
            ),
        ));
    }
    let expected = expected_version(&headers, flag.version)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "version_required",
            "send the version you edited, in If-Match or the body's `version`",
        )
        .with_field("version")
    })?;
    precheck(&state, &flag)?;
    let op = Op::UpdateFlag {
        flag,
        expected_version: expected,
    };
    let (change, _) = commit(&state, &caller, &headers, op).await?;
    Ok(flag_response(StatusCode::OK, &changed_flag(change)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ToggleBody {
    enabled: bool,
}

#[utoipa::path(post, path = "/v1/flags/{key}/toggle", tag = "flags", security(("bearer" = [])),
    params(("key" = String, Path, description = "The flag's key"), IdempotencyKey),
    request_body = ToggleBody,
    responses(
        (status = 200, description = "The flag after the toggle. A flag already in that state is not written again: the answer is the flag as it is, with `X-Vexil-Unchanged: true`", body = Flag,
            headers(("X-Vexil-Unchanged" = String, description = "`true` when nothing changed"))),
        (status = 404, description = "No such flag", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
    ))]
async fn toggle(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ToggleBody>,
) -> ApiResult<Response> {
    caller.require(Role::Editor)?;
    if let Some(flag) = unchanged_by_toggle(&state, &caller, &headers, &key, body.enabled).await? {
        let mut resp = flag_response(StatusCode::OK, &flag);
        resp.headers_mut()
            .insert(UNCHANGED, HeaderValue::from_static("true"));
        return Ok(resp);
    }
    let op = Op::ToggleFlag {
        key,
        enabled: body.enabled,
    };
    let (change, _) = commit(&state, &caller, &headers, op).await?;
    Ok(flag_response(StatusCode::OK, &changed_flag(change)?))
}

/// Set on a write's answer when it changed nothing.
const UNCHANGED: &str = "x-vexil-unchanged";

/// The flag, when it is already `enabled` as asked: then the toggle is not
/// proposed, and writes no version and no audit entry.
///
/// Decided here, at the edge, against this node's state after a read
/// barrier, and not in the state machine: a node of the previous release
/// applies a toggle as a new version, so a state machine that skipped it
/// would diverge from it during a rolling upgrade. The cost is a race: a
/// toggle that crosses another write to the same flag may still commit a
/// version that changes nothing, as before. A key the state machine
/// already holds an answer for is left to it, so that a retry gets the
/// first answer and a reused key its 422.
async fn unchanged_by_toggle(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    key: &str,
    enabled: bool,
) -> ApiResult<Option<Flag>> {
    state.before_read(Consistency::Linearizable).await?;
    let (flag, applied) = {
        let st = state.raft.shared().read();
        let flag = st.flags.get_flag(key).map(|f| Flag::clone(f.flag()));
        (flag.filter(|f| f.enabled == enabled), st.applied)
    };
    let Some(flag) = flag else {
        return Ok(None);
    };
    if headers.contains_key("idempotency-key") {
        let id = super::extract::request_id(headers, &caller.name)?;
        let engine = state.raft.engine();
        if vexil_raft::query::remembers_request(engine.as_ref(), applied, &id)? {
            return Ok(None);
        }
    }
    Ok(Some(flag))
}

#[utoipa::path(delete, path = "/v1/flags/{key}", tag = "flags", security(("bearer" = [])),
    params(("key" = String, Path, description = "The flag's key"), IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "Deleted (it can be restored by a rollback)", body = crate::openapi::schemas::FlagDeleted),
        (status = 404, description = "No such flag", body = ApiError),
        (status = 409, description = "A version conflict, or other flags need it as a prerequisite (`in_use`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
    ))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require(Role::Editor)?;
    let expected = expected_version(&headers, 0)?;
    let op = Op::DeleteFlag {
        key: key.clone(),
        expected_version: expected,
    };
    let (change, index) = commit(&state, &caller, &headers, op).await?;
    let version = match change {
        Change::Flag {
            before: Some(b), ..
        } => b.version + 1,
        _ => 0,
    };
    Ok(Json(json!({ "deleted": key, "version": version, "index": index })).into_response())
}
