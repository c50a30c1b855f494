//! Records the state machine keeps besides flags and segments: token
//! records, versions and audit entries. Their JSON is the API's JSON.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use vexil_flags::scope::ProjectGrant;

/// What a token may do. Ordered: each role can do everything the ones
/// before it can (`sdk < viewer < editor < admin`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read the flag set, the stream and evaluation.
    Sdk,
    /// Also read flags, segments, versions, audit and cluster status.
    Viewer,
    /// Also write flags and segments.
    Editor,
    /// Also manage tokens and cluster membership.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sdk => "sdk",
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Whether a token with this role may do what `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// A token as stored: only the hash of its secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Unique; the audit log's `actor`.
    pub name: String,
    pub role: Role,
    /// Hex SHA-256 of a generated secret, or a salted argon2id hash in PHC
    /// form of a secret an operator chose ([`crate::is_salted_hash`]).
    pub hash: String,
    pub created_at: DateTime<Utc>,
    /// The actor that created it (`system` for the first admin token).
    pub created_by: String,
    /// The projects and environments it reaches; absent: all of them (and
    /// every token made before scopes, whose records have no such field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<ProjectGrant>>,
}

/// Before a scoped token's hash in its record. A release before scopes
/// reads such a record as an ordinary one (it ignores `scope`), but no
/// secret's digest starts with this: it cannot authenticate the token, so
/// a downgraded node fails closed rather than granting every project.
pub const SCOPED_HASH_PREFIX: &str = "scoped:";

impl TokenRecord {
    /// The digest a secret's hash is looked up by (`hash` without
    /// [`SCOPED_HASH_PREFIX`]).
    pub fn digest(&self) -> &str {
        self.hash
            .strip_prefix(SCOPED_HASH_PREFIX)
            .unwrap_or(&self.hash)
    }
}

/// What the API shows of a token: never the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// The projects and environments it reaches; absent: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<ProjectGrant>>,
}

impl From<&TokenRecord> for TokenInfo {
    fn from(t: &TokenRecord) -> Self {
        TokenInfo {
            name: t.name.clone(),
            role: t.role,
            created_at: t.created_at,
            created_by: t.created_by.clone(),
            scope: t.scope.clone(),
        }
    }
}

/// One committed version of a flag or segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionEntry {
    pub version: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// The audit action that made this version, e.g. `flag.update`.
    pub action: String,
    /// The Raft log index that committed it.
    pub index: u64,
    /// The full state at this version; `None` when this version is a delete.
    pub state: Option<Value>,
}

/// One audit log entry: committed in the same Raft entry as its change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// The Raft log index of the change: unique and increasing.
    pub id: u64,
    /// The leader's time when it proposed the change (never decreasing).
    pub at: DateTime<Utc>,
    /// The token name that made the change.
    pub actor: String,
    /// e.g. `flag.create`, `flag.toggle`, `segment.delete`, `token.revoke`.
    pub action: String,
    /// `flag:<key>`, `segment:<key>` or `token:<name>`.
    pub target: String,
    /// The version the change produced, for flags and segments.
    pub version: Option<u64>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The write's request id: `key:<Idempotency-Key>:<scope>` when the client
    /// sent one (scoped to the caller and the change), else `req:<random>`.
    pub request_id: String,
    /// Its place among the audit entries of one log entry: 0 for the first
    /// (left out), then 1, 2, … for the per-flag entries of a promotion.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq: u32,
    /// The promotion this entry belongs to (its id), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<u64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl AuditEntry {
    /// Where this entry is in the log ([`crate::keys::AuditPos`]).
    pub fn pos(&self) -> crate::keys::AuditPos {
        crate::keys::AuditPos {
            id: self.id,
            seq: self.seq,
        }
    }
}

/// [`VersionEntry`] as the apply path writes it: the state is JSON encoded
/// once and embedded as is, not rebuilt as a [`Value`] tree per record.
/// Decodes as a [`VersionEntry`] (`t10_written_records_decode_as_the_api_records`).
#[derive(Debug, Serialize)]
pub(crate) struct VersionEntryOut<'a> {
    pub version: u64,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub index: u64,
    pub state: Option<&'a RawValue>,
}

/// [`AuditEntry`] as the apply path writes it (see [`VersionEntryOut`]).
#[derive(Debug, Serialize)]
pub(crate) struct AuditEntryOut<'a> {
    pub id: u64,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub version: Option<u64>,
    pub before: Option<&'a RawValue>,
    pub after: Option<&'a RawValue>,
    pub request_id: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    pub seq: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<u64>,
}

/// Every audit action the state machine writes: `apply/versioned.rs`
/// writes `<kind>.<verb>`, `apply/tokens.rs` the token ones and
/// `apply/cluster.rs` the cluster ones.
pub const AUDIT_ACTIONS: [&str; 19] = [
    "flag.create",
    "flag.update",
    "flag.toggle",
    "flag.delete",
    "flag.rollback",
    "flag.restore",
    "segment.create",
    "segment.update",
    "segment.delete",
    "segment.rollback",
    "segment.restore",
    "token.create",
    "token.revoke",
    "cluster.member_add",
    "cluster.member_remove",
    "cluster.leader_transfer",
    "flag.promote",
    "promotion.apply",
    "promotion.rollback",
];

/// A promotion as applied (kept in `meta` under its id, the log index of
/// the entry that applied it): what it copied, from where to where, and
/// each target configuration's version before and after, so that it can
/// be rolled back as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Promotion {
    pub id: u64,
    pub project: String,
    /// The environment copied from (its key).
    pub from: String,
    /// The environment copied to (its key).
    pub to: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub flags: Vec<PromotedFlag>,
    /// The log index of the entry that rolled it back, once one has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<u64>,
}

/// One flag of a [`Promotion`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromotedFlag {
    pub key: String,
    /// The source configuration's version that was copied.
    pub from_version: u64,
    /// The target configuration's version it replaced.
    pub before: u64,
    /// The target configuration's version it wrote.
    pub after: u64,
}

/// Builds an audit target string.
pub fn target(kind: &str, key: &str) -> String {
    format!("{kind}:{key}")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn t10_written_records_decode_as_the_api_records() {
        let at = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        let state = serde_json::json!({"key": "a\"b", "enabled": true, "rules": [{"n": 1.5}]});
        let raw = serde_json::value::to_raw_value(&state).unwrap();
        let version = VersionEntryOut {
            version: 3,
            at,
            actor: "admin",
            action: "flag.update",
            index: 42,
            state: Some(&raw),
        };
        let decoded: VersionEntry =
            serde_json::from_slice(&serde_json::to_vec(&version).unwrap()).unwrap();
        assert_eq!(
            decoded,
            VersionEntry {
                version: 3,
                at,
                actor: "admin".into(),
                action: "flag.update".into(),
                index: 42,
                state: Some(state.clone()),
            }
        );
        let audit = AuditEntryOut {
            id: 42,
            at,
            actor: "admin",
            action: "flag.update",
            target: "flag:a",
            version: Some(3),
            before: None,
            after: Some(&raw),
            request_id: "req:1",
            seq: 2,
            promotion: Some(40),
        };
        let decoded: AuditEntry =
            serde_json::from_slice(&serde_json::to_vec(&audit).unwrap()).unwrap();
        assert_eq!(
            decoded,
            AuditEntry {
                id: 42,
                at,
                actor: "admin".into(),
                action: "flag.update".into(),
                target: "flag:a".into(),
                version: Some(3),
                before: None,
                after: Some(state),
                request_id: "req:1".into(),
                seq: 2,
                promotion: Some(40),
            }
        );
    }
}
