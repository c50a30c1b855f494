//! `/v1/segments`: create, list, get, replace, delete, versions, rollback.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use vexil_flags::Segment;
use vexil_raft::query::Versioned;
use vexil_raft::{Change, Op, Role};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller};
use super::versioned::{
    self, Params, ReadQuery, Resource, after_key, key_mismatch, page_limit, param, versions_routes,
};
use super::{AppState, consistency_headers};
use crate::openapi::params::{IdempotencyKey, IfMatch};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/segments", post(create).get(list))
        .route(
            "/v1/segments/{key}",
            get(get_one).put(replace).delete(remove),
        )
        .merge(versions_routes::<Segments>("/v1/segments/{key}"))
}

/// Segments of the legacy scope, at `/v1/segments`. Answers carry the
/// read-only `used_by` (the flags that use the segment), which a body may
/// send back.
#[derive(Debug)]
pub struct Segments;

impl Resource for Segments {
    type T = Segment;
    const KIND: Versioned = Versioned::Segment;
    const NAME: &'static str = "segment";
    const WRITE_ROLE: Role = Role::Editor;
    fn id(path: &Params) -> ApiResult<String> {
        param(path, "key").map(str::to_owned)
    }
    fn current(state: &AppState, key: &str) -> Option<Segment> {
        let st = state.raft.shared().read();
        st.flags
            .get_segment(key)
            .map(|s| Segment::clone(s.segment()))
    }
    fn version(t: &Segment) -> u64 {
        t.version
    }
    fn parse(body: &RawValue, path: &Params) -> ApiResult<Segment> {
        let mut body: serde_json::Value = super::extract::parse_json(body.get().as_bytes())?;
        if let Some(o) = body.as_object_mut() {
            o.remove("used_by");
        }
        let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::internal(e.to_string()))?;
        let segment: Segment = super::extract::parse_json(&bytes)?;
        match param(path, "key") {
            Ok(key) if key != segment.key => Err(key_mismatch("key", &segment.key, key)),
            _ => Ok(segment),
        }
    }
    fn precheck(state: &AppState, s: &Segment) -> ApiResult<()> {
        let errors = vexil_flags::validate_segment_input(s, &state.raft.shared().read().flags);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid("segment", errors))
        }
    }
    fn create_op(segment: Segment) -> Op {
        Op::CreateSegment { segment }
    }
    fn update_op(segment: Segment, expected_version: u64) -> Op {
        Op::UpdateSegment {
            segment,
            expected_version,
        }
    }
    fn delete_op(key: &str, expected_version: Option<u64>) -> Op {
        Op::DeleteSegment {
            key: key.into(),
            expected_version,
        }
    }
    fn rollback_op(key: &str, version: u64) -> Op {
        Op::RollbackSegment {
            key: key.into(),
            version,
        }
    }
    fn changed(change: Change, _: &Params) -> Option<Segment> {
        match change {
            Change::Segment { after: Some(s), .. } => Some(*s),
            _ => None,
        }
    }
    fn body(state: &AppState, s: &Segment) -> serde_json::Value {
        let used_by = state.raft.shared().read().flags.flags_using_segment(&s.key);
        with_used_by(s, used_by)
    }
    fn location(s: &Segment) -> String {
        format!("/v1/segments/{}", s.key)
    }
}

pub(super) fn with_used_by(s: &Segment, used_by: Vec<String>) -> serde_json::Value {
    let mut body = serde_json::to_value(s).unwrap_or_default();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("used_by".into(), json!(used_by));
    }
    body
}

#[utoipa::path(post, path = "/v1/segments", tag = "segments", security(("bearer" = [])),
    params(IdempotencyKey),
    request_body = Segment,
    responses(
        (status = 201, description = "Created", body = Segment),
        (status = 400, description = "Invalid, or over a documented limit (`validation_failed`, each problem in `errors`)", body = ApiError),
        (status = 409, description = "A segment with this key exists (`already_exists`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    versioned::create::<Segments>(&state, &caller, &headers, &Vec::new(), &body).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Substring of the key or name, case-insensitive.
    q: Option<String>,
    limit: Option<usize>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    #[serde(default)]
    consistency: super::Consistency,
}

#[utoipa::path(get, path = "/v1/segments", tag = "segments", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "One page of segments, by key", body = crate::openapi::schemas::SegmentList)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &vexil_flags::scope::Need::legacy())?;
    list_in(&state, vexil_raft::keys::LEGACY_ENV, q).await
}

/// One page of an environment's segments, by key, each with the flags that
/// use it: `/v1/segments` and
/// `/v1/projects/{project}/environments/{environment}/segments`.
pub(super) async fn list_in(state: &AppState, env: &str, q: ListQuery) -> ApiResult<Response> {
    let limit = page_limit(q.limit)?;
    state.before_read(q.consistency).await?;
    let scope = vexil_raft::keys::in_env(env, "");
    let after = after_key(state, Versioned::Segment, &scope, q.cursor.as_deref())?;
    let needle = q.q.as_ref().map(|s| s.to_lowercase());
    let st = state.raft.shared().read();
    let empty = vexil_flags::FlagSet::new();
    let set = st.set(env).unwrap_or(&empty);
    let mut all: Vec<&Segment> = set
        .segments()
        .map(|s| s.segment().as_ref())
        .filter(|s| after.as_deref().is_none_or(|c| s.key.as_str() > c))
        .filter(|s| {
            needle.as_ref().is_none_or(|n| {
                s.key.to_lowercase().contains(n) || s.name.to_lowercase().contains(n)
            })
        })
        .collect();
    all.sort_by(|a, b| a.key.cmp(&b.key));
    let page: Vec<serde_json::Value> = all
        .iter()
        .take(limit)
        .map(|s| with_used_by(s, set.flags_using_segment(&s.key)))
        .collect();
    let next = (all.len() > limit).then(|| all[limit - 1].key.clone());
    let headers = consistency_headers(q.consistency, st.applied);
    Ok((
        headers,
        Json(json!({ "segments": page, "next_cursor": next })),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/segments/{key}", tag = "segments", security(("bearer" = [])),
    params(("key" = String, Path, description = "The segment's key"), ReadQuery),
    responses(
        (status = 200, description = "The segment and the flags that use it", body = Segment),
        (status = 404, description = "No such segment", body = ApiError),
    ))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    versioned::get_one::<Segments>(&state, &caller, &path, q).await
}

#[utoipa::path(put, path = "/v1/segments/{key}", tag = "segments", security(("bearer" = [])),
    params(("key" = String, Path, description = "The segment's key"), IfMatch, IdempotencyKey),
    request_body = Segment,
    responses(
        (status = 200, description = "Replaced", body = Segment),
        (status = 400, description = "Invalid, or over a documented limit (`validation_failed`, each problem in `errors`)", body = ApiError),
        (status = 404, description = "No such segment", body = ApiError),
        (status = 409, description = "The segment changed since that version (`version_conflict`)", body = ApiError),
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
    versioned::replace::<Segments>(&state, &caller, &headers, &path, &body).await
}

#[utoipa::path(delete, path = "/v1/segments/{key}", tag = "segments", security(("bearer" = [])),
    params(("key" = String, Path, description = "The segment's key"), IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "Deleted", body = crate::openapi::schemas::Deleted),
        (status = 404, description = "No such segment", body = ApiError),
        (status = 409, description = "A version conflict, or flags use it (`in_use`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
    ))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    versioned::remove::<Segments>(&state, &caller, &headers, &path).await
}
