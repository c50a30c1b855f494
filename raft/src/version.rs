//! Cluster feature levels: what a rolling upgrade may turn on, and when.
//!
//! Every release supports the levels up to [`SUPPORTED`] and says so in its
//! status ([`crate::api::NodeStatus::level`]; a node of the first release
//! says nothing, which reads as [`BASE`]). The cluster's level is replicated
//! state (`cluster_level` in the meta column family, absent meaning
//! [`BASE`]). A command that a node of an older release could not decode,
//! or would apply differently, is only proposed once the cluster's level
//! allows it ([`crate::Op::min_level`]); until then the write is refused
//! with [`crate::WriteError::ClusterLevel`], and nothing older nodes cannot
//! read ever enters the log.
//!
//! The leader raises the level ([`crate::RaftNode::raise_cluster_level`])
//! once every member, voter or learner, reports supporting it. It holds the
//! membership lock while it asks, so no member of an older release joins
//! between the question and the commit. After that, a node of an older
//! release is refused as a new member, and an old binary restarted on an
//! upgraded data directory stops at the first entry it cannot decode: a
//! downgrade is a restore from a backup taken before the upgrade. Level 7
//! adds no command, so it is the stored level itself that stops an older
//! binary: from 7 on it is stored in a form releases before it fail to
//! read at start-up (`loader::encode_level`).
//!
//! | level | release adds |
//! |---|---|
//! | 1 | everything before levels existed |
//! | 2 | audit entries for membership and leadership changes (`cluster.*` actions) |
//! | 3 | projects and environments (`Op::CreateProject` … `Op::RollbackEnvironment`); the leader creates project `default` once the level is raised |
//! | 4 | flags configured per environment (`Op::CreateProjectFlag` … `Op::RollbackSegmentIn`); raising it gives every flag of `default` a definition and a disabled configuration in its other environments, and from then on the unscoped flag commands keep them in step; tokens scoped to projects and environments (`Op::CreateScopedToken`); deleting an environment with what it holds (`Op::PurgeEnvironment`) |
//! | 5 | promotion (`Op::Promote`, `Op::RollbackPromotion`): one audit entry for the promotion and one per flag in the same log entry, at positions `id.seq` |
//! | 6 | a new environment as a copy of another (`Op::CreateEnvironmentFrom`); deleting a project with what it holds (`Op::PurgeProject`), after which `Op::RollbackProject` of a deleted project also restores the flag definitions its deletion took |
//! | 7 | a new key made by the unscoped `Op::CreateFlag` stores only its production configuration: its definition and its blank configurations elsewhere in `default` are derived from that (`crate::derived`), and stored at their first change |

/// The level a cluster of only first-release nodes is at.
pub const BASE: u32 = 1;

/// The highest level this release supports.
pub const SUPPORTED: u32 = 7;

/// The level that adds `Op::AuditCluster` and `Op::SetClusterLevel`.
pub const CLUSTER_AUDIT: u32 = 2;

/// The level that adds projects and environments.
pub const PROJECTS: u32 = 3;

/// The level that configures flags per environment: flag definitions, and
/// flags and segments in every environment (`Op::CreateProjectFlag` …
/// `Op::RollbackSegmentIn`). From this level on, the unscoped flag
/// commands also keep `default`'s definitions and other environments in
/// step, so they apply differently, and a node that applies them this way
/// must know the level: every member does once it is raised.
pub const ENV_CONFIG: u32 = 4;

/// The level that adds promotion (`Op::Promote`, `Op::RollbackPromotion`):
/// several audit entries in one log entry ([`crate::keys::AuditPos`]),
/// which a node of an earlier release would not find by their ids.
pub const PROMOTION: u32 = 5;

/// The level that creates an environment as a copy of another
/// (`Op::CreateEnvironmentFrom`) and deletes a project with what it holds
/// (`Op::PurgeProject`): commands earlier releases cannot decode. From it
/// on, restoring a project (`Op::RollbackProject`) also restores the
/// definitions its deletion took, so every node must apply it alike.
pub const ENV_COPY: u32 = 6;

/// The level from which a new flag made through the unscoped routes keeps
/// its definition and its blank configurations in `default`'s other
/// environments in the mirror only, derived from its production version 1
/// ([`crate::derived`]): a node of an earlier release would not find them
/// after a restart.
pub const DERIVED_BLANKS: u32 = 7;

/// A status without a level comes from a node of the first release.
pub(crate) fn base() -> u32 {
    BASE
}
