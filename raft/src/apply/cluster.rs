//! The cluster's feature level and the audit of membership changes.

use vexil_storage::{Cf, StorageError};

use super::audit::{self, AuditDraft};
use super::{Ctx, Effect, raw};
use crate::command::{Change, ClusterChange, Rejection};
use crate::keys;

type Outcome = Result<Result<Change, Rejection>, StorageError>;

/// Raises the level; a level at or below the current one changes nothing
/// (a retried or raced proposal). Not audited: it is Vexil's own step, like
/// a blank entry, and every new cluster takes it within a second of its
/// first election; the leader logs it, and `GET /v1/cluster` shows the level.
pub(super) fn set_level(ctx: &mut Ctx<'_>, level: u32) -> Outcome {
    if level <= ctx.state.level() {
        return Ok(Ok(Change::Internal));
    }
    ctx.batch.put(
        Cf::Meta,
        keys::META_CLUSTER_LEVEL.to_vec(),
        crate::loader::encode_level(level)?,
    );
    ctx.effects.push(Effect::ClusterLevel(level));
    Ok(Ok(Change::Internal))
}

/// An audit entry and nothing else: the change itself was committed by
/// openraft's own membership entry, or by an election.
pub(super) fn audit(ctx: &mut Ctx<'_>, change: &ClusterChange) -> Outcome {
    audit::record(
        ctx,
        AuditDraft {
            action: change.action().into(),
            target: format!("node:{}", change.node()),
            version: None,
            before: None,
            after: Some(raw(change)?),
        },
    )?;
    Ok(Ok(Change::Internal))
}
