//! Commands: what a write asks the state machine to do, and what it answers.
//!
//! A command is the payload of one Raft entry. Applying it is deterministic:
//! every node reaches the same state and the same [`Response`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vexil_flags::{Environment, FieldError, Flag, FlagDefinition, Project, Segment};

use crate::records::{Role, TokenInfo};

/// The actor name used for changes Vexil makes itself (the first admin token).
pub const SYSTEM_ACTOR: &str = "system";

/// One write, as replicated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Idempotency key: a retried write with the same id is applied once.
    pub request_id: String,
    /// The name of the token that asked; checked again when applied.
    pub actor: String,
    /// Stamped by the leader when it proposes; the audit entry's time.
    pub at: DateTime<Utc>,
    pub op: Op,
    /// The cluster level the op needs ([`Op::min_level`]), when above the
    /// first; stamped by [`crate::RaftNode::write`]. A node that cannot
    /// decode the op reads this to say which release it needs. Left out
    /// for first-level commands, so their encoding is the first release's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_level: Option<u32>,
}

/// The change a command asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    CreateFlag {
        flag: Flag,
    },
    UpdateFlag {
        flag: Flag,
        expected_version: u64,
    },
    ToggleFlag {
        key: String,
        enabled: bool,
    },
    DeleteFlag {
        key: String,
        expected_version: Option<u64>,
    },
    /// Commits a new version equal to `version`; also restores a deleted flag.
    RollbackFlag {
        key: String,
        version: u64,
    },
    CreateSegment {
        segment: Segment,
    },
    UpdateSegment {
        segment: Segment,
        expected_version: u64,
    },
    DeleteSegment {
        key: String,
        expected_version: Option<u64>,
    },
    RollbackSegment {
        key: String,
        version: u64,
    },
    CreateToken {
        name: String,
        role: Role,
        /// Hex SHA-256 of the secret; the secret itself never enters the log.
        secret_hash: String,
    },
    DeleteToken {
        name: String,
    },
    /// A token reaching only the listed projects and environments (level
    /// 4: a node of an earlier release would read it as `CreateToken` and
    /// drop the scope, so it is a command of its own).
    CreateScopedToken {
        name: String,
        role: Role,
        secret_hash: String,
        scope: Vec<vexil_flags::scope::ProjectGrant>,
    },
    /// Raises the cluster's feature level ([`crate::version`]): proposed
    /// by the leader, as `system`, once every member supports `level`.
    SetClusterLevel {
        level: u32,
    },
    /// Audits a membership or leadership change, with the actor that asked
    /// for it, once the change is committed. openraft writes membership
    /// changes as entries of its own, which carry no application data, so
    /// the audit entry is the next entry, not the same one.
    AuditCluster {
        change: ClusterChange,
    },
    /// Creates a project with its first environments, in one entry.
    CreateProject {
        project: Project,
        #[serde(default)]
        environments: Vec<Environment>,
    },
    UpdateProject {
        project: Project,
        expected_version: u64,
    },
    /// Deletes the project and its environments; refused while it holds
    /// flags or segments.
    DeleteProject {
        key: String,
        expected_version: Option<u64>,
    },
    /// Commits a new version equal to `version`; also restores a deleted
    /// project (its environments are restored one by one).
    RollbackProject {
        key: String,
        version: u64,
    },
    CreateEnvironment {
        environment: Environment,
    },
    UpdateEnvironment {
        environment: Environment,
        expected_version: u64,
    },
    /// Refused while the environment holds flags or segments.
    DeleteEnvironment {
        project: String,
        key: String,
        expected_version: Option<u64>,
    },
    /// Deletes an environment with every configuration and segment it
    /// holds (level 4: the request confirmed it). Restored whole by
    /// `RollbackEnvironment`.
    PurgeEnvironment {
        project: String,
        key: String,
        expected_version: Option<u64>,
    },
    RollbackEnvironment {
        project: String,
        key: String,
        version: u64,
    },
    // Level 4: flags configured per environment (`crate::version::ENV_CONFIG`).
    /// Creates a flag in every environment of `project`: the definition,
    /// and `flag`'s configuration in each (enabled only if `flag` is).
    CreateProjectFlag {
        project: String,
        flag: Flag,
    },
    /// Changes a definition and, in the same entry, every environment's
    /// copy of it.
    UpdateFlagDefinition {
        definition: FlagDefinition,
        expected_version: u64,
    },
    /// Deletes a flag from every environment of its project.
    DeleteProjectFlag {
        project: String,
        key: String,
        expected_version: Option<u64>,
    },
    /// Commits a new version of the definition equal to `version`; a
    /// deleted flag is restored with each environment's last configuration.
    RollbackFlagDefinition {
        project: String,
        key: String,
        version: u64,
    },
    /// Changes one environment's configuration of a flag.
    UpdateFlagIn {
        project: String,
        environment: String,
        flag: Flag,
        expected_version: u64,
    },
    ToggleFlagIn {
        project: String,
        environment: String,
        key: String,
        enabled: bool,
    },
    RollbackFlagIn {
        project: String,
        environment: String,
        key: String,
        version: u64,
    },
    CreateSegmentIn {
        project: String,
        environment: String,
        segment: Segment,
    },
    UpdateSegmentIn {
        project: String,
        environment: String,
        segment: Segment,
        expected_version: u64,
    },
    DeleteSegmentIn {
        project: String,
        environment: String,
        key: String,
        expected_version: Option<u64>,
    },
    RollbackSegmentIn {
        project: String,
        environment: String,
        key: String,
        version: u64,
    },
    // Level 5: promotion (`crate::version::PROMOTION`).
    /// Copies the configuration of `flags` from environment `from` of
    /// `project` to environment `to`, all or nothing: refused whole if any
    /// target configuration is not at its expected version, or if a
    /// promoted rule matches on a segment `to` lacks, or if a source
    /// configuration is not at its version either. Writes one audit
    /// entry for the promotion and one per flag, linked by its id (the
    /// entry's log index), and keeps a record to roll it back by.
    Promote {
        project: String,
        from: String,
        to: String,
        flags: Vec<PromoteFlag>,
    },
    /// Gives every flag promotion `id` changed the configuration it had
    /// before, all or nothing: refused if any of them changed since.
    RollbackPromotion {
        project: String,
        id: u64,
    },
    // Level 6: a new environment as a copy of another (`crate::version::ENV_COPY`).
    /// Creates `environment` holding a copy of every segment and flag
    /// configuration of environment `from` of the same project (each as the
    /// next version of its record there); a flag `from` lacks starts
    /// blank, as in a new environment. One audit entry,
    /// `environment.create`, names the source and counts what was copied.
    CreateEnvironmentFrom {
        environment: Environment,
        from: String,
    },
    /// Deletes a project with everything it holds: each environment as
    /// `PurgeEnvironment` does, every flag definition, then the project, in
    /// one entry under one audit entry. From this level on,
    /// `RollbackProject` of a deleted project also restores the definitions
    /// the deleting entry took.
    PurgeProject {
        key: String,
        expected_version: Option<u64>,
    },
}

/// One flag of a promotion, with the versions its source and target
/// configurations must be at: what the dry run showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoteFlag {
    pub key: String,
    /// The target configuration's version.
    pub expected_version: u64,
    /// The source configuration's version.
    pub source_version: u64,
}

/// A flag with every environment's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectFlag {
    pub definition: FlagDefinition,
    /// By environment key.
    pub environments: std::collections::BTreeMap<String, Flag>,
}

/// A membership or leadership change, as the audit log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClusterChange {
    /// `cluster.member_add`: the node is a voter now.
    MemberAdd {
        id: u64,
        peer_addr: String,
        client_addr: String,
    },
    /// `cluster.member_remove`.
    MemberRemove { id: u64 },
    /// `cluster.leader_transfer`: leadership moved from `from` to `to`.
    LeaderTransfer { from: Option<u64>, to: u64 },
}

impl ClusterChange {
    /// The audit action.
    pub fn action(&self) -> &'static str {
        match self {
            ClusterChange::MemberAdd { .. } => "cluster.member_add",
            ClusterChange::MemberRemove { .. } => "cluster.member_remove",
            ClusterChange::LeaderTransfer { .. } => "cluster.leader_transfer",
        }
    }

    /// The node the change is about: the audit target `node:<id>`.
    pub fn node(&self) -> u64 {
        match self {
            ClusterChange::MemberAdd { id, .. } | ClusterChange::MemberRemove { id } => *id,
            ClusterChange::LeaderTransfer { to, .. } => *to,
        }
    }
}

impl Op {
    /// The least role allowed to make this change.
    pub fn required_role(&self) -> Role {
        match self {
            Op::CreateToken { .. }
            | Op::CreateScopedToken { .. }
            | Op::PurgeEnvironment { .. }
            | Op::CreateEnvironmentFrom { .. }
            | Op::PurgeProject { .. }
            | Op::DeleteToken { .. }
            | Op::SetClusterLevel { .. }
            | Op::AuditCluster { .. } => Role::Admin,
            op if op.is_scope_change() => Role::Admin,
            _ => Role::Editor,
        }
    }

    /// A change to a project or an environment: admin only, and level 3.
    fn is_scope_change(&self) -> bool {
        matches!(
            self,
            Op::CreateProject { .. }
                | Op::UpdateProject { .. }
                | Op::DeleteProject { .. }
                | Op::RollbackProject { .. }
                | Op::CreateEnvironment { .. }
                | Op::UpdateEnvironment { .. }
                | Op::DeleteEnvironment { .. }
                | Op::RollbackEnvironment { .. }
        )
    }

    /// An unscoped flag command (on `default`'s `production`).
    pub(crate) fn is_legacy_flag_change(&self) -> bool {
        matches!(
            self,
            Op::CreateFlag { .. }
                | Op::UpdateFlag { .. }
                | Op::DeleteFlag { .. }
                | Op::RollbackFlag { .. }
        )
    }

    /// A change to a flag or segment of a named environment (level 4).
    fn is_env_config(&self) -> bool {
        matches!(
            self,
            Op::CreateProjectFlag { .. }
                | Op::UpdateFlagDefinition { .. }
                | Op::DeleteProjectFlag { .. }
                | Op::RollbackFlagDefinition { .. }
                | Op::UpdateFlagIn { .. }
                | Op::ToggleFlagIn { .. }
                | Op::RollbackFlagIn { .. }
                | Op::CreateSegmentIn { .. }
                | Op::UpdateSegmentIn { .. }
                | Op::DeleteSegmentIn { .. }
                | Op::RollbackSegmentIn { .. }
                | Op::CreateScopedToken { .. }
                | Op::PurgeEnvironment { .. }
        )
    }

    /// A promotion or its rollback (level 5).
    fn is_promotion(&self) -> bool {
        matches!(self, Op::Promote { .. } | Op::RollbackPromotion { .. })
    }

    /// The project and environment a change is confined to, if any (for
    /// tokens' scopes and the audit log's filters).
    pub fn environment(&self) -> Option<(&str, &str)> {
        match self {
            Op::UpdateFlagIn {
                project,
                environment,
                ..
            }
            | Op::ToggleFlagIn {
                project,
                environment,
                ..
            }
            | Op::RollbackFlagIn {
                project,
                environment,
                ..
            }
            | Op::CreateSegmentIn {
                project,
                environment,
                ..
            }
            | Op::UpdateSegmentIn {
                project,
                environment,
                ..
            }
            | Op::DeleteSegmentIn {
                project,
                environment,
                ..
            }
            | Op::RollbackSegmentIn {
                project,
                environment,
                ..
            } => Some((project, environment)),
            Op::Promote { project, to, .. } => Some((project, to)),
            _ => None,
        }
    }

    /// What a node does on its own, as [`SYSTEM_ACTOR`]: the first admin
    /// token, a recovered one, raising the cluster level, and creating the
    /// default project once the level allows it. A command
    /// forwarded over the peer port as `system` must be one of these; every
    /// other write carries the name of the token that asked, and the apply
    /// path checks that token's role again.
    pub fn is_node_action(&self) -> bool {
        matches!(
            self,
            Op::CreateToken {
                role: Role::Admin,
                ..
            } | Op::SetClusterLevel { .. }
        ) || matches!(self, Op::CreateProject { project, .. }
            if project.key == vexil_flags::scope::DEFAULT_PROJECT)
    }

    /// The cluster level ([`crate::version`]) this command needs: every
    /// node of the cluster must be able to decode and apply it.
    pub fn min_level(&self) -> u32 {
        match self {
            Op::SetClusterLevel { .. } | Op::AuditCluster { .. } => crate::version::CLUSTER_AUDIT,
            op if op.is_scope_change() => crate::version::PROJECTS,
            op if op.is_env_config() => crate::version::ENV_CONFIG,
            op if op.is_promotion() => crate::version::PROMOTION,
            Op::CreateEnvironmentFrom { .. } | Op::PurgeProject { .. } => crate::version::ENV_COPY,
            _ => crate::version::BASE,
        }
    }
}

/// What applying a command produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The log index of the entry that carried the command.
    pub index: u64,
    /// True when this is the stored answer to an earlier command with the
    /// same request id: nothing was applied this time.
    #[serde(default)]
    pub duplicate: bool,
    /// True when that earlier command asked for a different change (the
    /// client reused its idempotency key): nothing was applied, and the
    /// API refuses the request. `result` is still the earlier answer, and
    /// the field is left out when false, so a node of the previous release,
    /// which ignores it, answers as it always did.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub key_reused: bool,
    pub result: Result<Change, Rejection>,
}

/// A committed change, with the state before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    Flag {
        before: Option<Box<Flag>>,
        after: Option<Box<Flag>>,
    },
    Segment {
        before: Option<Box<Segment>>,
        after: Option<Box<Segment>>,
    },
    Token {
        token: TokenInfo,
        revoked: bool,
    },
    Project {
        before: Option<Box<Project>>,
        after: Option<Box<Project>>,
    },
    Environment {
        before: Option<Box<Environment>>,
        after: Option<Box<Environment>>,
    },
    /// A flag's definition, shared by its project's environments.
    Definition {
        before: Option<Box<FlagDefinition>>,
        after: Option<Box<FlagDefinition>>,
    },
    /// A flag made in every environment of its project, or deleted from
    /// all of them: its definition, and each environment's configuration
    /// by environment key.
    ProjectFlag {
        before: Option<Box<ProjectFlag>>,
        after: Option<Box<ProjectFlag>>,
    },
    /// A promotion applied or rolled back.
    Promotion {
        promotion: Box<crate::records::Promotion>,
    },
    /// A blank or membership entry: nothing the API shows.
    Internal,
}

impl Response {
    /// The answer to a blank or membership entry.
    pub fn internal(index: u64) -> Self {
        Response {
            index,
            duplicate: false,
            key_reused: false,
            result: Ok(Change::Internal),
        }
    }
}

/// Why a command changed nothing. Rejections are deterministic: every node
/// rejects the same command the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Rejection {
    #[error("{kind} {key:?} not found")]
    NotFound { kind: String, key: String },
    #[error("{kind} {key:?} already exists")]
    AlreadyExists { kind: String, key: String },
    #[error("{kind} {key:?} is at version {actual}, not {expected}")]
    Conflict {
        kind: String,
        key: String,
        expected: u64,
        actual: u64,
    },
    #[error("{kind} {key:?} is used by {by:?}")]
    InUse {
        kind: String,
        key: String,
        by: Vec<String>,
    },
    #[error("{kind} {key:?} has no version {version}")]
    VersionNotFound {
        kind: String,
        key: String,
        version: u64,
    },
    #[error("invalid {kind}: {}", summary(errors))]
    Invalid {
        kind: String,
        errors: Vec<FieldError>,
    },
    #[error("actor {actor:?} may not do this: it needs the {needs:?} role")]
    Forbidden { actor: String, needs: Role },
    #[error("the last admin token cannot be revoked")]
    LastAdmin,
}

fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} by {} ({})", self.op, self.actor, self.request_id)
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::CreateFlag { flag } => write!(f, "create flag {}", flag.key),
            Op::UpdateFlag { flag, .. } => write!(f, "update flag {}", flag.key),
            Op::ToggleFlag { key, enabled } => write!(f, "toggle flag {key} to {enabled}"),
            Op::DeleteFlag { key, .. } => write!(f, "delete flag {key}"),
            Op::RollbackFlag { key, version } => write!(f, "roll back flag {key} to v{version}"),
            Op::CreateSegment { segment } => write!(f, "create segment {}", segment.key),
            Op::UpdateSegment { segment, .. } => write!(f, "update segment {}", segment.key),
            Op::DeleteSegment { key, .. } => write!(f, "delete segment {key}"),
            Op::RollbackSegment { key, version } => {
                write!(f, "roll back segment {key} to v{version}")
            }
            Op::CreateToken { name, role, .. } => {
                write!(f, "create {} token {name}", role.as_str())
            }
            Op::CreateScopedToken {
                name, role, scope, ..
            } => write!(
                f,
                "create {} token {name} for {}",
                role.as_str(),
                vexil_flags::scope::describe_scope(Some(scope))
            ),
            Op::DeleteToken { name } => write!(f, "revoke token {name}"),
            Op::SetClusterLevel { level } => write!(f, "raise the cluster level to {level}"),
            Op::AuditCluster { change } => {
                write!(f, "audit {} of node {}", change.action(), change.node())
            }
            Op::CreateProject { project, .. } => write!(f, "create project {}", project.key),
            Op::UpdateProject { project, .. } => write!(f, "update project {}", project.key),
            Op::DeleteProject { key, .. } => write!(f, "delete project {key}"),
            Op::RollbackProject { key, version } => {
                write!(f, "roll back project {key} to v{version}")
            }
            Op::PurgeEnvironment { project, key, .. } => {
                write!(f, "delete environment {project}/{key} with all it holds")
            }
            Op::CreateEnvironment { environment: e } => {
                write!(f, "create environment {}", e.id())
            }
            Op::UpdateEnvironment { environment: e, .. } => {
                write!(f, "update environment {}", e.id())
            }
            Op::DeleteEnvironment { project, key, .. } => {
                write!(f, "delete environment {project}/{key}")
            }
            Op::RollbackEnvironment {
                project,
                key,
                version,
            } => write!(f, "roll back environment {project}/{key} to v{version}"),
            Op::CreateProjectFlag { project, flag } => {
                write!(f, "create flag {project}/{}", flag.key)
            }
            Op::UpdateFlagDefinition { definition: d, .. } => {
                write!(f, "update the definition of flag {}", d.id())
            }
            Op::DeleteProjectFlag { project, key, .. } => write!(f, "delete flag {project}/{key}"),
            Op::RollbackFlagDefinition {
                project,
                key,
                version,
            } => write!(f, "roll back flag {project}/{key} to definition v{version}"),
            Op::UpdateFlagIn {
                project,
                environment,
                flag,
                ..
            } => write!(f, "update flag {project}/{environment}/{}", flag.key),
            Op::ToggleFlagIn {
                project,
                environment,
                key,
                enabled,
            } => write!(f, "toggle flag {project}/{environment}/{key} to {enabled}"),
            Op::RollbackFlagIn {
                project,
                environment,
                key,
                version,
            } => write!(
                f,
                "roll back flag {project}/{environment}/{key} to v{version}"
            ),
            Op::CreateSegmentIn {
                project,
                environment,
                segment,
            } => write!(f, "create segment {project}/{environment}/{}", segment.key),
            Op::UpdateSegmentIn {
                project,
                environment,
                segment,
                ..
            } => write!(f, "update segment {project}/{environment}/{}", segment.key),
            Op::DeleteSegmentIn {
                project,
                environment,
                key,
                ..
            } => write!(f, "delete segment {project}/{environment}/{key}"),
            Op::RollbackSegmentIn {
                project,
                environment,
                key,
                version,
            } => write!(
                f,
                "roll back segment {project}/{environment}/{key} to v{version}"
            ),
            Op::Promote {
                project,
                from,
                to,
                flags,
            } => write!(
                f,
                "promote {} flags of {project} from {from} to {to}",
                flags.len()
            ),
            Op::RollbackPromotion { project, id } => {
                write!(f, "roll back promotion {id} of {project}")
            }
            Op::CreateEnvironmentFrom {
                environment: e,
                from,
            } => {
                write!(f, "create environment {} as a copy of {from}", e.id())
            }
            Op::PurgeProject { key, .. } => write!(f, "delete project {key} with all it holds"),
        }
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.result {
            Ok(_) => write!(f, "applied at {}", self.index),
            Err(r) => write!(f, "rejected at {}: {r}", self.index),
        }
    }
}
