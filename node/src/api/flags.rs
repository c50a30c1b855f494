//! `/v1/flags`: create, list, get, replace, toggle, delete, versions, rollback.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use vexil_flags::Flag;
use vexil_flags::scope::Need;
use vexil_raft::query::Versioned;
use vexil_raft::{Change, Op, Role};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller};
use super::versioned::{
    self, Params, ReadQuery, Resource, after_key, key_mismatch, page_limit, param, versions_routes,
};
use super::{AppState, Consistency, consistency_headers};
use crate::openapi::params::{IdempotencyKey, IfMatch};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/flags", post(create).get(list))
        .route("/v1/flags/{key}", get(get_one).put(replace).delete(remove))
        .route("/v1/flags/{key}/toggle", post(toggle))
        .merge(versions_routes::<Flags>("/v1/flags/{key}"))
}

/// Flags of the legacy scope, at `/v1/flags`.
#[derive(Debug)]
pub struct Flags;

impl Resource for Flags {
    type T = Flag;
    const KIND: Versioned = Versioned::Flag;
    const NAME: &'static str = "flag";
    const WRITE_ROLE: Role = Role::Editor;
    fn id(path: &Params) -> ApiResult<String> {
        param(path, "key").map(str::to_owned)
    }
    /// From level 4 a create, change, delete or rollback here also writes
    /// `default`'s definition and its other environments
    /// (`follow_legacy`), so it needs the whole project; reads and the
    /// toggle are `production`'s alone.
    fn need(_: &Params) -> ApiResult<Need> {
        Ok(Need::Project(vexil_flags::scope::DEFAULT_PROJECT.into()))
    }
    fn read_need(_: &Params) -> ApiResult<Need> {
        Ok(Need::legacy())
    }
    fn current(state: &AppState, key: &str) -> Option<Flag> {
        let st = state.raft.shared().read();
        st.flags.get_flag(key).map(|f| Flag::clone(f.flag()))
    }
    fn version(t: &Flag) -> u64 {
        t.version
    }
    fn parse(body: &RawValue, path: &Params) -> ApiResult<Flag> {
        let flag: Flag = super::extract::parse_json(body.get().as_bytes())?;
        match param(path, "key") {
            Ok(key) if key != flag.key => Err(key_mismatch("key", &flag.key, key)),
            _ => Ok(flag),
        }
    }
    fn precheck(state: &AppState, flag: &Flag) -> ApiResult<()> {
        let errors = vexil_flags::validate_flag_input(flag, &state.raft.shared().read().flags);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid("flag", errors))
        }
    }
    fn create_op(flag: Flag) -> Op {
        Op::CreateFlag { flag }
    }
    fn update_op(flag: Flag, expected_version: u64) -> Op {
        Op::UpdateFlag {
            flag,
            expected_version,
        }
    }
    fn delete_op(key: &str, expected_version: Option<u64>) -> Op {
        Op::DeleteFlag {
            key: key.into(),
            expected_version,
        }
    }
    fn rollback_op(key: &str, version: u64) -> Op {
        Op::RollbackFlag {
            key: key.into(),
            version,
        }
    }
    fn changed(change: Change, _: &Params) -> Option<Flag> {
        match change {
            Change::Flag { after: Some(f), .. } => Some(*f),
            _ => None,
        }
    }
    fn body(_: &AppState, flag: &Flag) -> serde_json::Value {
        serde_json::to_value(flag).unwrap_or_default()
    }
    fn body_text(_: &AppState, flag: &Flag) -> Option<Box<serde_json::value::RawValue>> {
        serde_json::value::to_raw_value(flag).ok()
    }
    fn location(flag: &Flag) -> String {
        format!("/v1/flags/{}", flag.key)
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
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    versioned::create::<Flags>(&state, &caller, &headers, &Vec::new(), &body).await
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

#[utoipa::path(get, path = "/v1/flags", tag = "flags", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "One page of flags, by key", body = crate::openapi::schemas::FlagList)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &vexil_flags::scope::Need::legacy())?;
    let limit = page_limit(q.limit)?;
    state.before_read(q.consistency).await?;
    let after = after_key(&state, Versioned::Flag, "", q.cursor.as_deref())?;
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

#[utoipa::path(get, path = "/v1/flags/{key}", tag = "flags", security(("bearer" = [])),
    params(("key" = String, Path, description = "The flag's key"), ReadQuery),
    responses(
        (status = 200, description = "The flag; `ETag` is its version", body = Flag),
        (status = 404, description = "No such flag", body = ApiError),
    ))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    versioned::get_one::<Flags>(&state, &caller, &path, q).await
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
    Path(path): Path<Params>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    versioned::replace::<Flags>(&state, &caller, &headers, &path, &body).await
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
    caller.require_in(Role::Editor, &vexil_flags::scope::Need::legacy())?;
    if let Some(flag) = unchanged_by_toggle(&state, &caller, &headers, &key, body.enabled).await? {
        let mut resp = versioned::respond::<Flags>(&state, StatusCode::OK, &flag);
        resp.headers_mut()
            .insert(UNCHANGED, HeaderValue::from_static("true"));
        return Ok(resp);
    }
    let op = Op::ToggleFlag {
        key,
        enabled: body.enabled,
    };
    let (change, _) = state.write(&caller, &headers, op).await?;
    let flag = Flags::changed(change, &Params::new())
        .ok_or_else(|| ApiError::internal("a toggle answered no flag".to_string()))?;
    Ok(versioned::respond::<Flags>(&state, StatusCode::OK, &flag))
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
        (status = 200, description = "Deleted (it can be restored by a rollback)", body = crate::openapi::schemas::Deleted),
        (status = 404, description = "No such flag", body = ApiError),
        (status = 409, description = "A version conflict, or other flags need it as a prerequisite (`in_use`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
    ))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    versioned::remove::<Flags>(&state, &caller, &headers, &path).await
}
