//! `/v1/segments`, plus what flags and segments share: optimistic versions,
//! committing a change under the request's idempotency key, list cursors,
//! version history and rollback.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use vexil_flags::Segment;
use vexil_raft::query::{self, Versioned};
use vexil_raft::{Change, Op, Role};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller};
use super::flags::{ReadQuery, page_limit};
use super::{AppState, consistency_headers};
use crate::openapi::params::{IdempotencyKey, IfMatch};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/segments", post(create).get(list))
        .route(
            "/v1/segments/{key}",
            get(get_one).put(replace).delete(remove),
        )
        .merge(versions_routes("/v1/segments", Versioned::Segment))
}

/// The version a write expects: `If-Match: "3"` wins over the body's.
pub fn expected_version(headers: &HeaderMap, body_version: u64) -> ApiResult<Option<u64>> {
    if let Some(v) = headers.get(header::IF_MATCH) {
        let raw = v.to_str().unwrap_or_default().trim();
        let raw = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
        return raw.parse().map(Some).map_err(|_| {
            ApiError::bad_request("If-Match", format!("{raw:?} is not a version number"))
        });
    }
    Ok((body_version > 0).then_some(body_version))
}

/// Commits `op` for `caller` under the request's `Idempotency-Key`
/// (`extract::request_id`): a retry gets the first answer, and the key reused for
/// another change is refused with 422 `idempotency_key_reused`.
pub(super) async fn commit(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    op: Op,
) -> ApiResult<(Change, u64)> {
    state.write(caller, headers, op).await
}

/// The key a list of flags or segments continues after. A page's
/// `next_cursor` is its last key, which has a version 1 in the history
/// forever (histories are never pruned, and a deleted key keeps its own):
/// a cursor that names no key that ever existed was not handed out by this
/// API, and is refused rather than read as a position. Plain keys, rather
/// than an encoding, keep the cursors of the previous release valid.
/// Checked after the read barrier, on the state the page is read from.
pub(super) fn after_key(
    state: &AppState,
    kind: Versioned,
    cursor: Option<&str>,
) -> ApiResult<Option<String>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let engine = state.raft.engine();
    let issued = vexil_flags::validate_key("cursor", cursor).is_none()
        && query::version(engine.as_ref(), kind, cursor, 1)?.is_some();
    if issued {
        Ok(Some(cursor.to_owned()))
    } else {
        Err(not_a_cursor(cursor))
    }
}

/// 400 for a `cursor` the API did not hand out.
pub(super) fn not_a_cursor(cursor: &str) -> ApiError {
    ApiError::bad_request(
        "cursor",
        format!("{cursor:?} is not a cursor from this API: pass a page's `next_cursor` as it is"),
    )
}

fn segment_response(status: StatusCode, s: &Segment, used_by: Vec<String>) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", s.version))
        .unwrap_or(HeaderValue::from_static("\"0\""));
    let mut body = serde_json::to_value(s).unwrap_or_default();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("used_by".into(), json!(used_by));
    }
    (status, [(header::ETAG, etag)], Json(body)).into_response()
}

fn changed_segment(change: Change) -> ApiResult<Segment> {
    match change {
        Change::Segment { after: Some(s), .. } => Ok(*s),
        other => Err(ApiError::internal(format!("unexpected change {other:?}"))),
    }
}

/// Accepts a segment body that may carry the read-only `used_by` field.
fn strip_used_by(mut v: serde_json::Value) -> ApiResult<Segment> {
    if let Some(o) = v.as_object_mut() {
        o.remove("used_by");
    }
    let bytes = serde_json::to_vec(&v).map_err(|e| ApiError::internal(e.to_string()))?;
    super::extract::parse_json(&bytes)
}

/// Rejects what the state machine would reject, and what only new input
/// must meet (the documented limits).
fn precheck(state: &AppState, s: &Segment) -> ApiResult<()> {
    let errors = vexil_flags::validate_segment_input(s, &state.raft.shared().read().flags);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("segment", errors))
    }
}

fn used_by(state: &AppState, key: &str) -> Vec<String> {
    state.raft.shared().read().flags.flags_using_segment(key)
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
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    caller.require(Role::Editor)?;
    let segment = strip_used_by(body)?;
    precheck(&state, &segment)?;
    let (change, _) = commit(&state, &caller, &headers, Op::CreateSegment { segment }).await?;
    let s = changed_segment(change)?;
    Ok(segment_response(StatusCode::CREATED, &s, Vec::new()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
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
    caller.require(Role::Viewer)?;
    let limit = page_limit(q.limit)?;
    state.before_read(q.consistency).await?;
    let after = after_key(&state, Versioned::Segment, q.cursor.as_deref())?;
    let needle = q.q.as_ref().map(|s| s.to_lowercase());
    let st = state.raft.shared().read();
    let mut all: Vec<&Segment> = st
        .flags
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
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "used_by".into(),
                    json!(st.flags.flags_using_segment(&s.key)),
                );
            }
            v
        })
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
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    state.before_read(q.consistency).await?;
    let (seg, applied) = {
        let st = state.raft.shared().read();
        (
            st.flags
                .get_segment(&key)
                .map(|s| Segment::clone(s.segment())),
            st.applied,
        )
    };
    let seg = seg.ok_or_else(|| ApiError::not_found(format!("segment {key:?} not found")))?;
    let resp = segment_response(StatusCode::OK, &seg, used_by(&state, &key));
    Ok((consistency_headers(q.consistency, applied), resp).into_response())
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
    Path(key): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    caller.require(Role::Editor)?;
    let segment = strip_used_by(body)?;
    if segment.key != key {
        return Err(ApiError::bad_request(
            "key",
            format!(
                "the body's key {:?} differs from the path's {key:?}",
                segment.key
            ),
        ));
    }
    let expected = expected_version(&headers, segment.version)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "version_required",
            "send the version you edited, in If-Match or the body's `version`",
        )
        .with_field("version")
    })?;
    precheck(&state, &segment)?;
    let op = Op::UpdateSegment {
        segment,
        expected_version: expected,
    };
    let (change, _) = commit(&state, &caller, &headers, op).await?;
    let s = changed_segment(change)?;
    Ok(segment_response(StatusCode::OK, &s, used_by(&state, &key)))
}

#[utoipa::path(delete, path = "/v1/segments/{key}", tag = "segments", security(("bearer" = [])),
    params(("key" = String, Path, description = "The segment's key"), IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "Deleted", body = crate::openapi::schemas::SegmentDeleted),
        (status = 404, description = "No such segment", body = ApiError),
        (status = 409, description = "A version conflict, or flags use it (`in_use`)", body = ApiError),
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
    let op = Op::DeleteSegment {
        key: key.clone(),
        expected_version: expected,
    };
    let (_, index) = commit(&state, &caller, &headers, op).await?;
    Ok(Json(json!({ "deleted": key, "index": index })).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionsQuery {
    limit: Option<usize>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    #[serde(default)]
    consistency: super::Consistency,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RollbackBody {
    version: u64,
}

/// `GET {prefix}/{key}/versions`, `GET {prefix}/{key}/versions/{v}` and
/// `POST {prefix}/{key}/rollback` for flags or segments.
pub fn versions_routes(prefix: &str, kind: Versioned) -> Router<AppState> {
    Router::new()
        .route(
            &format!("{prefix}/{{key}}/versions"),
            get(
                move |s: State<AppState>,
                      c: Caller,
                      p: Path<String>,
                      q: ApiQuery<VersionsQuery>| {
                    list_versions(kind, s, c, p, q)
                },
            ),
        )
        .route(
            &format!("{prefix}/{{key}}/versions/{{version}}"),
            get(
                move |s: State<AppState>,
                      c: Caller,
                      p: Path<(String, String)>,
                      q: ApiQuery<ReadQuery>| { one_version(kind, s, c, p, q) },
            ),
        )
        .route(
            &format!("{prefix}/{{key}}/rollback"),
            post(
                move |s: State<AppState>,
                      c: Caller,
                      p: Path<String>,
                      h: HeaderMap,
                      b: ApiJson<RollbackBody>| { rollback(kind, s, c, p, h, b) },
            ),
        )
}

fn kind_name(kind: Versioned) -> &'static str {
    match kind {
        Versioned::Flag => "flag",
        Versioned::Segment => "segment",
    }
}

async fn list_versions(
    kind: Versioned,
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<VersionsQuery>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let limit = page_limit(q.limit)?;
    let before = (q.cursor.as_deref())
        .map(|c| c.parse::<u64>().map_err(|_| not_a_cursor(c)))
        .transpose()?;
    state.before_read(q.consistency).await?;
    let page = query::versions(state.raft.engine().as_ref(), kind, &key, limit, before)?;
    if page.items.is_empty() && q.cursor.is_none() {
        return Err(ApiError::not_found(format!(
            "{} {key:?} has no versions",
            kind_name(kind)
        )));
    }
    let headers = consistency_headers(q.consistency, state.applied());
    Ok((
        headers,
        Json(json!({ "versions": page.items, "next_cursor": page.next_cursor })),
    )
        .into_response())
}

async fn one_version(
    kind: Versioned,
    State(state): State<AppState>,
    caller: Caller,
    Path((key, version)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let version: u64 = version.parse().map_err(|_| {
        ApiError::bad_request("version", format!("{version:?} is not a version number"))
    })?;
    state.before_read(q.consistency).await?;
    let entry =
        query::version(state.raft.engine().as_ref(), kind, &key, version)?.ok_or_else(|| {
            ApiError::not_found(format!(
                "{} {key:?} has no version {version}",
                kind_name(kind)
            ))
        })?;
    Ok(Json(entry).into_response())
}

async fn rollback(
    kind: Versioned,
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RollbackBody>,
) -> ApiResult<Response> {
    caller.require(Role::Editor)?;
    let op = match kind {
        Versioned::Flag => Op::RollbackFlag {
            key: key.clone(),
            version: body.version,
        },
        Versioned::Segment => Op::RollbackSegment {
            key: key.clone(),
            version: body.version,
        },
    };
    let (change, _) = commit(&state, &caller, &headers, op).await?;
    match change {
        Change::Flag { after: Some(f), .. } => Ok(super::flags::flag_response(StatusCode::OK, &f)),
        Change::Segment { after: Some(s), .. } => {
            Ok(segment_response(StatusCode::OK, &s, used_by(&state, &key)))
        }
        other => Err(ApiError::internal(format!("unexpected change {other:?}"))),
    }
}
