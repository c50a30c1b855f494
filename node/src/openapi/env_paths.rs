//! Path documentation for the routes of flags and segments per
//! environment (`api::env_flags`), whose handlers share generic code.

#![allow(dead_code)]

use std::collections::BTreeMap;

use utoipa::ToSchema;
use vexil_flags::{Flag, FlagDefinition, FlagKind, Segment};
use vexil_raft::VersionEntry;

use crate::api::error::ApiError;
use crate::api::versioned::{ReadQuery, RollbackBody, VersionsQuery};
use crate::openapi::params::{IdempotencyKey, IfMatch, LastEventId};
use crate::openapi::schemas::{Deleted, Evaluation, FlagList, SegmentList, VersionList};

/// A flag of a project: its definition, and each environment's
/// configuration by environment key.
#[derive(Debug, ToSchema)]
pub struct ProjectFlagView {
    pub key: String,
    pub project: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub kind: FlagKind,
    pub variations: Vec<vexil_flags::Variation>,
    pub salt: String,
    /// The definition's version (`If-Match` of a `PUT`).
    pub version: u64,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_by: Option<String>,
    /// Each environment's configuration, by environment key.
    pub environments: BTreeMap<String, Flag>,
}

/// One environment's state of a flag, in a project's list.
#[derive(Debug, ToSchema)]
pub struct EnvState {
    pub enabled: bool,
    /// The configuration's version.
    pub version: u64,
    pub rules: u64,
    /// How many context keys are targeted.
    pub targets: u64,
}

/// A row of a project's flag list.
#[derive(Debug, ToSchema)]
pub struct ProjectFlagRow {
    pub key: String,
    pub name: String,
    pub kind: FlagKind,
    pub tags: Vec<String>,
    /// The definition's version.
    pub version: u64,
    /// By environment key.
    pub environments: BTreeMap<String, EnvState>,
}

/// `GET /v1/projects/{project}/flags`.
#[derive(Debug, ToSchema)]
pub struct ProjectFlagList {
    /// The project's environment keys, in display order.
    pub environments: Vec<String>,
    pub flags: Vec<ProjectFlagRow>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, ToSchema)]
pub struct Toggle {
    pub enabled: bool,
}

const PENDING: &str =
    "Not every member runs a release with flags per environment yet (`cluster_upgrade_pending`)";

#[utoipa::path(post, path = "/v1/projects/{project}/flags", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), IdempotencyKey),
    request_body(content = Flag, description = "The definition and the configuration every environment starts with; disabled in each unless `enabled` is true"),
    responses(
        (status = 201, description = "Created in every environment of the project; `ETag` is the definition's version", body = ProjectFlagView),
        (status = 400, description = "Invalid, in any environment (the message names it)", body = ApiError),
        (status = 404, description = "No such project", body = ApiError),
        (status = 409, description = "The project has a flag with this key (`already_exists`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = PENDING, body = ApiError),
    ))]
pub fn create() {}

#[utoipa::path(get, path = "/v1/projects/{project}/flags", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), crate::api::env_flags::ListQuery),
    responses(
        (status = 200, description = "One page of the project's flags, by key, with each environment's state side by side", body = ProjectFlagList),
        (status = 404, description = "No such project", body = ApiError),
    ))]
pub fn list() {}

#[utoipa::path(get, path = "/v1/projects/{project}/flags/{key}", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path), ReadQuery),
    responses(
        (status = 200, description = "The definition with every environment's configuration; `ETag` is the definition's version", body = ProjectFlagView),
        (status = 404, description = "No such project or flag", body = ApiError),
    ))]
pub fn get_def() {}

#[utoipa::path(put, path = "/v1/projects/{project}/flags/{key}", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path), IfMatch, IdempotencyKey),
    request_body = FlagDefinition,
    responses(
        (status = 200, description = "The definition changed in every environment, each a new version of its configuration", body = ProjectFlagView),
        (status = 400, description = "Invalid in some environment (e.g. an off variation the new variations lack)", body = ApiError),
        (status = 404, description = "No such project or flag", body = ApiError),
        (status = 409, description = "The definition changed since that version (`version_conflict`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 428, description = "No version in `If-Match` or the body (`version_required`)", body = ApiError),
        (status = 503, description = PENDING, body = ApiError),
    ))]
pub fn replace_def() {}

#[utoipa::path(delete, path = "/v1/projects/{project}/flags/{key}", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path), IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "Deleted from every environment (a rollback of the definition restores it)", body = Deleted),
        (status = 404, description = "No such project or flag", body = ApiError),
        (status = 409, description = "A version conflict, or a flag of some environment needs it as a prerequisite (`in_use`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = PENDING, body = ApiError),
    ))]
pub fn remove_def() {}

#[utoipa::path(get, path = "/v1/projects/{project}/flags/{key}/versions", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path), VersionsQuery),
    responses(
        (status = 200, description = "The definition's versions, newest first", body = VersionList),
        (status = 400, description = "A bad `limit`, or a `cursor` the API did not hand out", body = ApiError),
        (status = 404, description = "The flag never existed", body = ApiError),
    ))]
pub fn def_versions() {}

#[utoipa::path(get, path = "/v1/projects/{project}/flags/{key}/versions/{version}", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path), ("version" = u64, Path), ReadQuery),
    responses(
        (status = 200, description = "One version of the definition", body = VersionEntry),
        (status = 404, description = "No such version", body = ApiError),
    ))]
pub fn def_version() {}

#[utoipa::path(post, path = "/v1/projects/{project}/flags/{key}/rollback", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path), IdempotencyKey),
    request_body = RollbackBody,
    responses(
        (status = 200, description = "The definition as that version was, in every environment; a deleted flag is restored with each environment's last configuration", body = ProjectFlagView),
        (status = 400, description = "That version does not fit some environment's configuration", body = ApiError),
        (status = 404, description = "No such project, flag or version", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = PENDING, body = ApiError),
    ))]
pub fn def_rollback() {}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{environment}/flags", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), crate::api::env_flags::ListQuery),
    responses(
        (status = 200, description = "One page of the environment's flags (whole, with its configuration), by key", body = FlagList),
        (status = 404, description = "No such project or environment", body = ApiError),
    ))]
pub fn list_in() {}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{environment}/flags/{key}", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), ReadQuery),
    responses(
        (status = 200, description = "The flag as this environment serves it; `ETag` is its configuration's version", body = Flag),
        (status = 404, description = "No such project, environment or flag", body = ApiError),
    ))]
pub fn get_config() {}

#[utoipa::path(put, path = "/v1/projects/{project}/environments/{environment}/flags/{key}", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), IfMatch, IdempotencyKey),
    request_body(content = Flag, description = "The flag with this environment's configuration; its definition fields must be the definition's (`definition_field` otherwise)"),
    responses(
        (status = 200, description = "Replaced in this environment only", body = Flag),
        (status = 400, description = "Invalid, or a definition field changed (`definition_field`)", body = ApiError),
        (status = 404, description = "No such project, environment or flag", body = ApiError),
        (status = 409, description = "The configuration changed since that version (`version_conflict`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 428, description = "No version in `If-Match` or the body (`version_required`)", body = ApiError),
        (status = 503, description = PENDING, body = ApiError),
    ))]
pub fn replace_config() {}

#[utoipa::path(post, path = "/v1/projects/{project}/environments/{environment}/flags/{key}/toggle", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), IdempotencyKey),
    request_body = Toggle,
    responses(
        (status = 200, description = "The flag in this environment after the toggle", body = Flag),
        (status = 404, description = "No such project, environment or flag", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = PENDING, body = ApiError),
    ))]
pub fn toggle() {}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{environment}/flags/{key}/versions", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), VersionsQuery),
    responses(
        (status = 200, description = "The configuration's versions in this environment, newest first", body = VersionList),
        (status = 400, description = "A bad `limit`, or a `cursor` the API did not hand out", body = ApiError),
        (status = 404, description = "No such project or environment, or the flag never existed there", body = ApiError),
    ))]
pub fn config_versions() {}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{environment}/flags/{key}/versions/{version}", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), ("version" = u64, Path), ReadQuery),
    responses(
        (status = 200, description = "One version of the configuration", body = VersionEntry),
        (status = 404, description = "No such version", body = ApiError),
    ))]
pub fn config_version() {}

#[utoipa::path(post, path = "/v1/projects/{project}/environments/{environment}/flags/{key}/rollback", tag = "flags", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), IdempotencyKey),
    request_body = RollbackBody,
    responses(
        (status = 200, description = "The configuration as that version was (a new version), with the current definition", body = Flag),
        (status = 400, description = "That version no longer fits (a segment it used is gone)", body = ApiError),
        (status = 404, description = "No such project, environment, flag or version (a deleted flag is restored from its definition)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = PENDING, body = ApiError),
    ))]
pub fn config_rollback() {}

#[utoipa::path(post, path = "/v1/projects/{project}/environments/{environment}/segments", tag = "segments", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), IdempotencyKey),
    request_body = Segment,
    responses(
        (status = 201, description = "Created in this environment", body = Segment),
        (status = 400, description = "Invalid", body = ApiError),
        (status = 404, description = "No such project or environment", body = ApiError),
        (status = 409, description = "The environment has a segment with this key (`already_exists`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = PENDING, body = ApiError),
    ))]
pub fn create_segment() {}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{environment}/segments", tag = "segments", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), crate::api::segments::ListQuery),
    responses(
        (status = 200, description = "One page of the environment's segments, by key", body = SegmentList),
        (status = 404, description = "No such project or environment", body = ApiError),
    ))]
pub fn list_segments() {}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{environment}/segments/{key}", tag = "segments", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), ReadQuery),
    responses(
        (status = 200, description = "The segment; `ETag` is its version", body = Segment),
        (status = 404, description = "No such project, environment or segment", body = ApiError),
    ))]
pub fn get_segment() {}

#[utoipa::path(put, path = "/v1/projects/{project}/environments/{environment}/segments/{key}", tag = "segments", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), IfMatch, IdempotencyKey),
    request_body = Segment,
    responses(
        (status = 200, description = "Replaced", body = Segment),
        (status = 400, description = "Invalid", body = ApiError),
        (status = 404, description = "No such project, environment or segment", body = ApiError),
        (status = 409, description = "The segment changed since that version (`version_conflict`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 428, description = "No version in `If-Match` or the body (`version_required`)", body = ApiError),
        (status = 503, description = PENDING, body = ApiError),
    ))]
pub fn replace_segment() {}

#[utoipa::path(delete, path = "/v1/projects/{project}/environments/{environment}/segments/{key}", tag = "segments", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "Deleted (a rollback restores it)", body = Deleted),
        (status = 404, description = "No such project, environment or segment", body = ApiError),
        (status = 409, description = "A version conflict, or flags of this environment use it (`in_use`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = PENDING, body = ApiError),
    ))]
pub fn remove_segment() {}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{environment}/segments/{key}/versions", tag = "segments", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), VersionsQuery),
    responses(
        (status = 200, description = "The segment's versions, newest first", body = VersionList),
        (status = 400, description = "A bad `limit`, or a `cursor` the API did not hand out", body = ApiError),
        (status = 404, description = "The segment never existed there", body = ApiError),
    ))]
pub fn segment_versions() {}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{environment}/segments/{key}/versions/{version}", tag = "segments", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), ("version" = u64, Path), ReadQuery),
    responses(
        (status = 200, description = "One version", body = VersionEntry),
        (status = 404, description = "No such version", body = ApiError),
    ))]
pub fn segment_version() {}

#[utoipa::path(post, path = "/v1/projects/{project}/environments/{environment}/segments/{key}/rollback", tag = "segments", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("key" = String, Path), IdempotencyKey),
    request_body = RollbackBody,
    responses(
        (status = 200, description = "The segment as that version was (a new version); restores a deleted segment", body = Segment),
        (status = 404, description = "No such project, environment, segment or version", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = PENDING, body = ApiError),
    ))]
pub fn segment_rollback() {}

#[utoipa::path(post, path = "/v1/projects/{project}/environments/{environment}/evaluate", tag = "evaluation", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ReadQuery),
    request_body = crate::api::evaluate::Body,
    responses(
        (status = 200, description = "As `POST /v1/evaluate`, in this environment only", body = Evaluation),
        (status = 400, description = "A context value over its limits (`field` is `context.<attribute>`)", body = ApiError),
        (status = 404, description = "No such project, environment or flag", body = ApiError),
    ))]
pub fn evaluate() {}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{environment}/stream", tag = "sdk", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), LastEventId),
    responses(
        (status = 200, description = "As `GET /v1/stream`, for this environment only: its snapshot, then its changes", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such project or environment", body = ApiError),
        (status = 429, description = "A stream cap (`stream_cap_per_token`, `stream_cap_per_ip`)", body = ApiError),
    ))]
pub fn stream() {}
