//! Response shapes that handlers build with `json!`, written out as types
//! so the OpenAPI document can name them. Documentation only: the test
//! `scripts/test.d/40-ops.sh` (schemathesis) checks real responses against
//! them, so a drift fails CI.

#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use utoipa::ToSchema;
use vexil_flags::{Environment, EvaluationDetail, Flag, Segment};
use vexil_raft::{AuditEntry, ClusterView, Role, TokenInfo, VersionEntry};

/// `GET /v1/flags`.
#[derive(Debug, ToSchema)]
pub struct FlagList {
    pub flags: Vec<Flag>,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// A project as the API answers it: with its environments, in display
/// order (read-only here; they change through their own routes).
#[derive(Debug, ToSchema)]
pub struct ProjectView {
    pub key: String,
    pub name: String,
    pub description: String,
    pub version: u64,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
    pub environments: Vec<Environment>,
}

/// `POST /v1/projects`: a project and, optionally, its first environments.
#[derive(Debug, ToSchema)]
pub struct NewProject {
    /// 1–128 chars of `[A-Za-z0-9._-]`; not `default`, which the cluster makes.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub key: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Development, staging and production when absent; at most 100.
    pub environments: Option<Vec<Environment>>,
}

/// `GET /v1/projects`.
#[derive(Debug, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/projects/{project}/environments`.
#[derive(Debug, ToSchema)]
pub struct EnvironmentList {
    /// In display order.
    pub environments: Vec<Environment>,
}

/// `GET /v1/segments`.
#[derive(Debug, ToSchema)]
pub struct SegmentList {
    pub segments: Vec<Segment>,
    pub next_cursor: Option<String>,
}

/// The answer to a `DELETE` of a versioned resource (a rollback restores it).
#[derive(Debug, ToSchema)]
pub struct Deleted {
    pub deleted: String,
    /// The version the delete recorded.
    pub version: u64,
    /// The Raft log index of the delete.
    pub index: u64,
}

/// `GET …/{key}/versions`.
#[derive(Debug, ToSchema)]
pub struct VersionList {
    /// Newest first.
    pub versions: Vec<VersionEntry>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/audit`.
#[derive(Debug, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; `null` when no older entry
    /// exists. With filters beyond `flag`, `segment`, `actor` or `action`,
    /// the next page may hold no match.
    pub next_cursor: Option<String>,
}

/// `POST /v1/tokens`: the token and its secret, shown this once.
#[derive(Debug, ToSchema)]
pub struct TokenCreated {
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// The projects and environments it reaches; absent: all.
    pub scope: Option<Vec<vexil_flags::scope::ProjectGrant>>,
    /// The bearer secret: store it now, it is never shown again.
    pub secret: String,
}

/// `GET /v1/tokens`.
#[derive(Debug, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// `DELETE /v1/tokens/{name}`.
#[derive(Debug, ToSchema)]
pub struct TokenRevoked {
    pub revoked: String,
    pub index: u64,
}

/// `GET /v1/me`.
#[derive(Debug, ToSchema)]
pub struct Me {
    pub name: String,
    pub role: Role,
    /// The projects and environments the token reaches; absent: all.
    pub scope: Option<Vec<vexil_flags::scope::ProjectGrant>>,
    /// For a scoped token: `project/environment` that `/v1/evaluate`,
    /// `/v1/stream`, `/v1/sdk/flags` and OFREP serve it.
    pub environment: Option<String>,
}

/// `POST /v1/cluster/members`.
#[derive(Debug, ToSchema)]
pub struct MemberAdded {
    pub added: u64,
    /// The audit entry that records the change; absent until every member
    /// runs a release with cluster level 2, or if it could not be written.
    pub audit_id: Option<u64>,
    pub cluster: ClusterView,
}

/// `DELETE /v1/cluster/members/{id}`.
#[derive(Debug, ToSchema)]
pub struct MemberRemoved {
    pub removed: u64,
    /// The audit entry that records the change; absent until every member
    /// runs a release with cluster level 2, or if it could not be written.
    pub audit_id: Option<u64>,
}

/// `POST /v1/cluster/leader`.
#[derive(Debug, ToSchema)]
pub struct LeaderMoved {
    /// The node that leads now.
    pub leader: u64,
    /// The audit entry that records the change; absent until every member
    /// runs a release with cluster level 2, or if it could not be written.
    pub audit_id: Option<u64>,
    pub cluster: ClusterView,
}

/// `POST /v1/evaluate`: one flag's detail, or every flag's.
#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum Evaluation {
    One(EvaluationDetail),
    All(EvaluationMap),
}

/// Every flag's detail by key.
#[derive(Debug, ToSchema)]
pub struct EvaluationMap {
    pub flags: BTreeMap<String, EvaluationDetail>,
}

/// `POST /v1/sdk/metrics`.
#[derive(Debug, ToSchema)]
pub struct SdkMetricsAccepted {
    pub accepted: crate::usage::Accepted,
}

/// `GET /v1/metrics/evaluations` (series and totals are free-form maps).
#[derive(Debug, ToSchema)]
pub struct UsageView {
    pub node: u64,
    pub since: DateTime<Utc>,
    pub series: Vec<Value>,
    pub totals_1h: BTreeMap<String, u64>,
    pub totals_24h: BTreeMap<String, u64>,
    pub totals_7d: BTreeMap<String, u64>,
    pub last_seen: BTreeMap<String, DateTime<Utc>>,
    pub subscribers: u64,
}

/// `GET /healthz`.
#[derive(Debug, ToSchema)]
pub struct Health {
    pub status: String,
}

/// `GET /readyz` when ready.
#[derive(Debug, ToSchema)]
pub struct Ready {
    pub id: u64,
    pub state: String,
    pub leader: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
}

/// `GET /readyz` when not ready (`no_leader`, `no_quorum`, `catching_up`,
/// `bootstrapping` or `removed`).
#[derive(Debug, ToSchema)]
pub struct NotReady {
    pub error: String,
    pub message: String,
    pub status: Ready,
}

/// An OFREP answer for one flag: a success (`value`, `reason`, …) or an
/// evaluation failure (`errorCode`, `errorDetails`).
#[derive(Debug, ToSchema)]
#[schema(as = OfrepResult)]
pub struct OfrepResult {
    pub key: Option<String>,
    pub value: Option<Value>,
    pub variant: Option<String>,
    pub reason: Option<String>,
    pub metadata: Option<BTreeMap<String, Value>>,
    #[serde(rename = "errorCode")]
    pub error_code: Option<String>,
    #[serde(rename = "errorDetails")]
    pub error_details: Option<String>,
}

/// An OFREP failure: `{key?, errorCode?, errorDetails}`.
#[derive(Debug, ToSchema)]
pub struct OfrepError {
    pub key: Option<String>,
    #[serde(rename = "errorCode")]
    pub error_code: Option<String>,
    #[serde(rename = "errorDetails")]
    pub error_details: String,
}

/// An OFREP bulk answer.
#[derive(Debug, ToSchema)]
pub struct OfrepBulk {
    pub flags: Vec<OfrepResult>,
    #[serde(rename = "eventStreams")]
    pub event_streams: Option<Vec<Value>>,
}

/// An OFREP request: `{"context": {"targetingKey": "u1", …}}`.
#[derive(Debug, ToSchema)]
pub struct OfrepRequest {
    pub context: Option<BTreeMap<String, Value>>,
}

/// `GET /v1/projects/{project}/compare`.
#[derive(Debug, ToSchema)]
pub struct ComparisonView {
    pub project: String,
    pub from: String,
    pub to: String,
    /// The flags whose configurations differ, by key.
    pub flags: Vec<vexil_flags::compare::Difference>,
    /// How many flags are configured alike.
    pub same_flags: usize,
    /// The segments that differ, by key.
    pub segments: Vec<vexil_flags::compare::Difference>,
    pub same_segments: usize,
}

/// `POST /v1/projects/{project}/promote`.
#[derive(Debug, ToSchema)]
pub struct PromotionAnswer {
    pub project: String,
    pub from: String,
    pub to: String,
    pub dry_run: bool,
    /// Whether a promotion was written (not on a dry run, nor when
    /// nothing differs).
    pub applied: bool,
    /// What changes, flag by flag, and any segment the target lacks.
    pub plan: vexil_flags::promote::Plan,
    /// Each selected flag's target version now, by key: send it back as
    /// `expected_versions`, with `source_versions`, to apply exactly what
    /// the dry run showed or nothing.
    pub expected_versions: BTreeMap<String, u64>,
    /// Each selected flag's source version now, by key.
    pub source_versions: BTreeMap<String, u64>,
    /// The promotion written.
    pub promotion: Option<vexil_raft::records::Promotion>,
}

/// `GET /v1/projects/{project}/promotions`.
#[derive(Debug, ToSchema)]
pub struct PromotionPage {
    pub promotions: Vec<vexil_raft::records::Promotion>,
    pub next_cursor: Option<String>,
}
