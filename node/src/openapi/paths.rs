//! Path documentation for routes whose handlers cannot carry it: the
//! version routes (one generic handler serves flags and segments) and the
//! routes of modules owned elsewhere (OFREP, the UI's endpoints). The route
//! test (`node/tests/t62_openapi.rs`) fails when a route lacks a path here
//! or on its handler.

#![allow(dead_code)]

use crate::api::error::ApiError;
use crate::api::versioned::{ReadQuery, RollbackBody, VersionsQuery};
use crate::openapi::params::{IdempotencyKey, IfNoneMatch};
use crate::openapi::schemas::{OfrepBulk, OfrepError, OfrepRequest, OfrepResult, VersionList};
use vexil_flags::{Environment, Flag, Segment};
use vexil_raft::VersionEntry;

#[utoipa::path(get, path = "/v1/flags/{key}/versions", tag = "flags", security(("bearer" = [])),
    params(("key" = String, Path, description = "The flag's key"), VersionsQuery),
    responses(
        (status = 200, description = "The flag's versions, newest first", body = VersionList),
        (status = 400, description = "A bad `limit`, or a `cursor` the API did not hand out", body = ApiError),
        (status = 404, description = "The key never existed", body = ApiError),
    ))]
pub fn flag_versions() {}

#[utoipa::path(get, path = "/v1/flags/{key}/versions/{version}", tag = "flags", security(("bearer" = [])),
    params(("key" = String, Path), ("version" = u64, Path), ReadQuery),
    responses(
        (status = 200, description = "One version", body = VersionEntry),
        (status = 404, description = "No such version", body = ApiError),
    ))]
pub fn flag_version() {}

#[utoipa::path(post, path = "/v1/flags/{key}/rollback", tag = "flags", security(("bearer" = [])),
    params(("key" = String, Path), IdempotencyKey),
    request_body = RollbackBody,
    responses(
        (status = 200, description = "The flag as that version was (a new version); restores a deleted flag", body = Flag),
        (status = 404, description = "No such flag or version", body = ApiError),
        (status = 409, description = "The old version conflicts with the current state", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
    ))]
pub fn flag_rollback() {}

#[utoipa::path(get, path = "/v1/segments/{key}/versions", tag = "segments", security(("bearer" = [])),
    params(("key" = String, Path, description = "The segment's key"), VersionsQuery),
    responses(
        (status = 200, description = "The segment's versions, newest first", body = VersionList),
        (status = 400, description = "A bad `limit`, or a `cursor` the API did not hand out", body = ApiError),
        (status = 404, description = "The key never existed", body = ApiError),
    ))]
pub fn segment_versions() {}

#[utoipa::path(get, path = "/v1/segments/{key}/versions/{version}", tag = "segments", security(("bearer" = [])),
    params(("key" = String, Path), ("version" = u64, Path), ReadQuery),
    responses(
        (status = 200, description = "One version", body = VersionEntry),
        (status = 404, description = "No such version", body = ApiError),
    ))]
pub fn segment_version() {}

#[utoipa::path(post, path = "/v1/segments/{key}/rollback", tag = "segments", security(("bearer" = [])),
    params(("key" = String, Path), IdempotencyKey),
    request_body = RollbackBody,
    responses(
        (status = 200, description = "The segment as that version was (a new version)", body = Segment),
        (status = 404, description = "No such segment or version", body = ApiError),
        (status = 409, description = "The old version conflicts with the current state", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
    ))]
pub fn segment_rollback() {}

#[utoipa::path(get, path = "/v1/projects/{key}/versions", tag = "projects", security(("bearer" = [])),
    params(("key" = String, Path, description = "The project's key"), VersionsQuery),
    responses(
        (status = 200, description = "The project's versions, newest first", body = VersionList),
        (status = 400, description = "A bad `limit`, or a `cursor` the API did not hand out", body = ApiError),
        (status = 404, description = "The key never existed", body = ApiError),
    ))]
pub fn project_versions() {}

#[utoipa::path(get, path = "/v1/projects/{key}/versions/{version}", tag = "projects", security(("bearer" = [])),
    params(("key" = String, Path), ("version" = u64, Path), ReadQuery),
    responses(
        (status = 200, description = "One version", body = VersionEntry),
        (status = 404, description = "No such version", body = ApiError),
    ))]
pub fn project_version() {}

#[utoipa::path(post, path = "/v1/projects/{key}/rollback", tag = "projects", security(("bearer" = [])),
    params(("key" = String, Path), IdempotencyKey),
    request_body = RollbackBody,
    responses(
        (status = 200, description = "The project as that version was (a new version); restores a deleted project (its environments are restored one by one)", body = crate::openapi::schemas::ProjectView),
        (status = 404, description = "No such project or version", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = "Not every member runs a release with projects yet (`cluster_upgrade_pending`)", body = ApiError),
    ))]
pub fn project_rollback() {}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{key}/versions", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path, description = "The environment's key"), VersionsQuery),
    responses(
        (status = 200, description = "The environment's versions, newest first", body = VersionList),
        (status = 400, description = "A bad `limit`, or a `cursor` the API did not hand out", body = ApiError),
        (status = 404, description = "The environment never existed", body = ApiError),
    ))]
pub fn env_versions() {}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{key}/versions/{version}", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path), ("version" = u64, Path), ReadQuery),
    responses(
        (status = 200, description = "One version", body = VersionEntry),
        (status = 404, description = "No such version", body = ApiError),
    ))]
pub fn env_version() {}

#[utoipa::path(post, path = "/v1/projects/{project}/environments/{key}/rollback", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path), IdempotencyKey),
    request_body = RollbackBody,
    responses(
        (status = 200, description = "The environment as that version was (a new version); restores a deleted one", body = Environment),
        (status = 400, description = "Its project no longer exists (`validation_failed`)", body = ApiError),
        (status = 404, description = "No such environment or version", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = "Not every member runs a release with projects yet (`cluster_upgrade_pending`)", body = ApiError),
    ))]
pub fn env_rollback() {}

#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags/{key}", tag = "ofrep", security(("bearer" = []), ("api_key" = [])),
    params(("key" = String, Path, description = "The flag's key")),
    request_body = OfrepRequest,
    responses(
        (status = 200, description = "The flag's value, variant and reason", body = OfrepResult),
        (status = 400, description = "`PARSE_ERROR`, `INVALID_CONTEXT` or `TARGETING_KEY_MISSING`", body = OfrepError),
        (status = 401, description = "No token, or an unknown one", body = OfrepError),
        (status = 403, description = "The token's role is too low", body = OfrepError),
        (status = 404, description = "`FLAG_NOT_FOUND`", body = OfrepError),
    ))]
pub fn ofrep_one() {}

#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags", tag = "ofrep", security(("bearer" = []), ("api_key" = [])),
    params(IfNoneMatch),
    request_body = OfrepRequest,
    responses(
        (status = 200, description = "Every flag's answer, with an `ETag`", body = OfrepBulk),
        (status = 304, description = "Unchanged since `If-None-Match`"),
        (status = 400, description = "A bad body or context", body = OfrepError),
        (status = 401, description = "No token, or an unknown one", body = OfrepError),
        (status = 403, description = "The token's role is too low", body = OfrepError),
    ))]
pub fn ofrep_all() {}

#[utoipa::path(get, path = "/ofrep/v1/events", tag = "ofrep", security(("bearer" = []), ("api_key" = [])),
    params(("ticket" = Option<String>, Query, description = "An event ticket from a bulk answer (browsers send no headers)"),
           ("since" = Option<u64>, Query, description = "The change the client's last bulk answer reflected")),
    responses(
        (status = 200, description = "Server-Sent Events: `refetchEvaluation`; never ends", content_type = "text/event-stream", body = String),
        (status = 400, description = "A bad query", body = OfrepError),
        (status = 401, description = "No token or ticket, or an unknown one", body = OfrepError),
    ))]
pub fn ofrep_events() {}

#[utoipa::path(get, path = "/v1/ui/nodes", tag = "ui", security(("bearer" = [])),
    params(("minutes" = Option<u32>, Query, minimum = 1, maximum = 60, description = "Series length")),
    responses((status = 200, description = "Every member's evaluation counts and subscribers", body = Object)))]
pub fn ui_nodes() {}

#[utoipa::path(get, path = "/v1/ui/write-latency", tag = "ui", security(("bearer" = [])),
    params(("minutes" = Option<u32>, Query, minimum = 1, maximum = 60, description = "Series length")),
    responses((status = 200, description = "Latency of the writes that reached this node", body = Object)))]
pub fn ui_write_latency() {}
