//! What every versioned resource (flags, segments, projects, environments)
//! shares over HTTP: reading one, replacing it under `If-Match`, deleting
//! it, its version history and rollback, list cursors and page limits.
//!
//! A resource says only what differs ([`Resource`]): its id from the
//! path, how a body becomes a record, which command each write is, and how
//! a record is answered. The state machine's side is one generic
//! implementation too (`raft/src/apply/versioned.rs`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;
use vexil_flags::scope::Need;
use vexil_raft::query::{self, Versioned};
use vexil_raft::{Change, Op, Role};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller};
use super::{AppState, Consistency, consistency_headers};

/// A route's path parameters, in order (`{key}`, or `{project}` then `{key}`).
pub type Params = Vec<(String, String)>;

/// What differs between versioned resources.
pub trait Resource: Send + Sync + 'static {
    type T: Serialize + Send + 'static;
    const KIND: Versioned;
    /// `flag`, `segment`, …: in messages.
    const NAME: &'static str;
    /// The role a write needs (reads need `viewer`).
    const WRITE_ROLE: Role;
    /// The record's id (as its history and audit target name it) from the
    /// path's parameters.
    fn id(path: &Params) -> ApiResult<String>;
    /// What the route needs of a token's scope (`path` is empty on create
    /// routes without a key): `default`/`production` unless overridden.
    fn need(_path: &Params) -> ApiResult<Need> {
        Ok(Need::legacy())
    }
    /// What reading it needs: [`Resource::need`] unless overridden.
    fn read_need(path: &Params) -> ApiResult<Need> {
        Self::need(path)
    }
    /// The current record, from this node's mirror.
    fn current(state: &AppState, id: &str) -> Option<Self::T>;
    fn version(t: &Self::T) -> u64;
    /// A request body as a record: checks that its key matches the path's
    /// and fills in what the path says. `path` is empty on create routes
    /// without a key.
    fn parse(body: &RawValue, path: &Params) -> ApiResult<Self::T>;
    /// Rejects, before it costs a log entry, what the state machine would
    /// reject and what only new input must meet.
    fn precheck(state: &AppState, t: &Self::T) -> ApiResult<()>;
    fn create_op(t: Self::T) -> Op;
    fn update_op(t: Self::T, expected_version: u64) -> Op;
    fn delete_op(id: &str, expected_version: Option<u64>) -> Op;
    fn rollback_op(id: &str, version: u64) -> Op;
    /// The record a committed change left; `path` is the write's (an
    /// environment's records take their environment from it).
    fn changed(change: Change, path: &Params) -> Option<Self::T>;
    /// The record as the API answers it (`ETag` is its version).
    fn body(state: &AppState, t: &Self::T) -> serde_json::Value;
    /// [`Resource::body`] as JSON text: a record answered as it is
    /// serialises once, without a [`serde_json::Value`] in between (every
    /// write answers one).
    fn body_text(state: &AppState, t: &Self::T) -> Option<Box<serde_json::value::RawValue>> {
        serde_json::value::to_raw_value(&Self::body(state, t)).ok()
    }
    /// Where a created record is read.
    fn location(t: &Self::T) -> String;
}

/// The path parameter `name`.
pub fn param<'a>(path: &'a Params, name: &str) -> ApiResult<&'a str> {
    path.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| ApiError::internal(format!("the route has no {{{name}}}")))
}

/// `record` with its version as `ETag`.
pub fn respond<R: Resource>(state: &AppState, status: StatusCode, t: &R::T) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", R::version(t)))
        .unwrap_or(HeaderValue::from_static("\"0\""));
    match R::body_text(state, t) {
        Some(body) => (status, [(header::ETAG, etag)], Json(body)).into_response(),
        None => ApiError::internal(format!("a {} did not serialise", R::NAME)).into_response(),
    }
}

fn changed<R: Resource>(change: Change, path: &Params) -> ApiResult<R::T> {
    // No `Debug` of the change here: it would format the whole record on
    // every write to say something only a bug could make true.
    R::changed(change, path)
        .ok_or_else(|| ApiError::internal(format!("the write answered no {}", R::NAME)))
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

/// 428 for a replace that names no version.
fn version_required() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_REQUIRED,
        "version_required",
        "send the version you edited, in If-Match or the body's `version`",
    )
    .with_field("version")
}

/// 400 when a body's key is not its path's.
pub fn key_mismatch(field: &str, body: &str, path: &str) -> ApiError {
    ApiError::bad_request(
        field,
        format!("the body's {field} {body:?} differs from the path's {path:?}"),
    )
}

/// A page's size: 100 unless asked, 1 to 1000.
pub fn page_limit(limit: Option<usize>) -> ApiResult<usize> {
    match limit.unwrap_or(100) {
        0 => Err(ApiError::bad_request("limit", "must be at least 1")),
        n if n > 1000 => Err(ApiError::bad_request("limit", "must be at most 1000")),
        n => Ok(n),
    }
}

/// The key a list continues after. A page's `next_cursor` is its last
/// key, which has a version 1 forever (histories are never pruned, and a
/// deleted key keeps its own; a derived record's is read from production's,
/// `vexil_raft::derived`): a cursor that names no key
/// that ever existed was not handed out by this API, and is refused rather
/// than read as a position. Plain keys, rather than an encoding, keep the
/// cursors of the previous release valid. `scope` turns the cursor into
/// the history's id (an environment's `project/` before it). Checked after
/// the read barrier, on the state the page is read from.
pub fn after_key(
    state: &AppState,
    kind: Versioned,
    scope: &str,
    cursor: Option<&str>,
) -> ApiResult<Option<String>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let engine = state.raft.engine();
    let id = format!("{scope}{cursor}");
    let issued = vexil_flags::validate_key("cursor", cursor).is_none()
        && query::version(engine.as_ref(), state.raft.shared(), kind, &id, 1)?.is_some();
    if issued {
        Ok(Some(cursor.to_owned()))
    } else {
        Err(not_a_cursor(cursor))
    }
}

/// 400 for a `cursor` the API did not hand out.
pub fn not_a_cursor(cursor: &str) -> ApiError {
    ApiError::bad_request(
        "cursor",
        format!("{cursor:?} is not a cursor from this API: pass a page's `next_cursor` as it is"),
    )
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    #[serde(default)]
    pub consistency: Consistency,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionsQuery {
    limit: Option<usize>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    #[serde(default)]
    consistency: Consistency,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RollbackBody {
    version: u64,
}

/// `POST` a new record.
pub async fn create<R: Resource>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &Params,
    body: &RawValue,
) -> ApiResult<Response> {
    create_with::<R>(state, caller, headers, path, body, R::create_op).await
}

/// [`create`] with another command than `R::create_op` (an environment
/// made as a copy of another).
pub async fn create_with<R: Resource>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &Params,
    body: &RawValue,
    op: impl FnOnce(R::T) -> Op,
) -> ApiResult<Response> {
    caller.require_in(R::WRITE_ROLE, &R::need(path)?)?;
    let t = R::parse(body, path)?;
    R::precheck(state, &t)?;
    let (change, _) = state.write(caller, headers, op(t)).await?;
    let t = changed::<R>(change, path)?;
    let mut resp = respond::<R>(state, StatusCode::CREATED, &t);
    if let Ok(loc) = HeaderValue::from_str(&R::location(&t)) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

/// `GET` one record.
pub async fn get_one<R: Resource>(
    state: &AppState,
    caller: &Caller,
    path: &Params,
    q: ReadQuery,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &R::read_need(path)?)?;
    let id = R::id(path)?;
    state.before_read(q.consistency).await?;
    let applied = state.applied();
    let t = R::current(state, &id)
        .ok_or_else(|| ApiError::not_found(format!("{} {id:?} not found", R::NAME)))?;
    let resp = respond::<R>(state, StatusCode::OK, &t);
    Ok((consistency_headers(q.consistency, applied), resp).into_response())
}

/// `PUT`: replaces the record at the version the client edited.
pub async fn replace<R: Resource>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &Params,
    body: &RawValue,
) -> ApiResult<Response> {
    caller.require_in(R::WRITE_ROLE, &R::need(path)?)?;
    let t = R::parse(body, path)?;
    let expected = expected_version(headers, R::version(&t))?.ok_or_else(version_required)?;
    R::precheck(state, &t)?;
    let (change, _) = state
        .write(caller, headers, R::update_op(t, expected))
        .await?;
    Ok(respond::<R>(
        state,
        StatusCode::OK,
        &changed::<R>(change, path)?,
    ))
}

/// `DELETE`, optionally at a version (`If-Match`). Answers the deleted
/// record's id (an environment's is `project/environment`), the version the deletion is (a rollback restores it) and
/// the log index.
pub async fn remove<R: Resource>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &Params,
) -> ApiResult<Response> {
    remove_with::<R>(state, caller, headers, path, R::delete_op).await
}

/// [`remove`] with the command `op` makes of the id and expected version.
pub async fn remove_with<R: Resource>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    path: &Params,
    op: impl FnOnce(&str, Option<u64>) -> Op,
) -> ApiResult<Response> {
    caller.require_in(R::WRITE_ROLE, &R::need(path)?)?;
    let id = R::id(path)?;
    let expected = expected_version(headers, 0)?;
    let (change, index) = state.write(caller, headers, op(&id, expected)).await?;
    let version = before_version(&change).map_or(0, |v| v + 1);
    Ok(Json(json!({ "deleted": id, "version": version, "index": index })).into_response())
}

fn before_version(change: &Change) -> Option<u64> {
    match change {
        Change::Flag { before, .. } => before.as_ref().map(|b| b.version),
        Change::Segment { before, .. } => before.as_ref().map(|b| b.version),
        Change::Project { before, .. } => before.as_ref().map(|b| b.version),
        Change::Environment { before, .. } => before.as_ref().map(|b| b.version),
        Change::Definition { before, .. } => before.as_ref().map(|b| b.version),
        Change::ProjectFlag { before, .. } => before.as_ref().map(|b| b.definition.version),
        Change::Token { .. } | Change::Promotion { .. } | Change::Internal => None,
    }
}

/// `GET {prefix}/versions`, `GET {prefix}/versions/{version}` and
/// `POST {prefix}/rollback`, where `prefix` is the record's route
/// (`/v1/flags/{key}`).
pub fn versions_routes<R: Resource>(prefix: &str) -> Router<AppState> {
    Router::new()
        .route(&format!("{prefix}/versions"), get(list_versions::<R>))
        .route(
            &format!("{prefix}/versions/{{version}}"),
            get(one_version::<R>),
        )
        .route(&format!("{prefix}/rollback"), post(rollback::<R>))
}

async fn list_versions<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<VersionsQuery>,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &R::read_need(&path)?)?;
    let id = R::id(&path)?;
    let limit = page_limit(q.limit)?;
    let before = (q.cursor.as_deref())
        .map(|c| c.parse::<u64>().map_err(|_| not_a_cursor(c)))
        .transpose()?;
    state.before_read(q.consistency).await?;
    let page = query::versions(
        state.raft.engine().as_ref(),
        state.raft.shared(),
        R::KIND,
        &id,
        limit,
        before,
    )?;
    if page.items.is_empty() && q.cursor.is_none() {
        return Err(ApiError::not_found(format!(
            "{} {id:?} has no versions",
            R::NAME
        )));
    }
    let headers = consistency_headers(q.consistency, state.applied());
    Ok((
        headers,
        Json(json!({ "versions": page.items, "next_cursor": page.next_cursor })),
    )
        .into_response())
}

async fn one_version<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &R::read_need(&path)?)?;
    let version = param(&path, "version")?;
    let id = R::id(&path)?;
    let version: u64 = version.parse().map_err(|_| {
        ApiError::bad_request("version", format!("{version:?} is not a version number"))
    })?;
    state.before_read(q.consistency).await?;
    let entry = query::version(
        state.raft.engine().as_ref(),
        state.raft.shared(),
        R::KIND,
        &id,
        version,
    )?
    .ok_or_else(|| ApiError::not_found(format!("{} {id:?} has no version {version}", R::NAME)))?;
    Ok(Json(entry).into_response())
}

async fn rollback<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RollbackBody>,
) -> ApiResult<Response> {
    caller.require_in(R::WRITE_ROLE, &R::need(&path)?)?;
    let id = R::id(&path)?;
    let op = R::rollback_op(&id, body.version);
    let (change, _) = state.write(&caller, &headers, op).await?;
    Ok(respond::<R>(
        &state,
        StatusCode::OK,
        &changed::<R>(change, &path)?,
    ))
}
