//! Writing audit entries and their indexes into the same batch as the change.

use serde_json::value::RawValue;
use vexil_storage::{Cf, StorageError};

use super::{Ctx, encode};
use crate::keys;
use crate::records::AuditEntryOut;

/// The parts of an audit entry that vary by change.
#[derive(Debug)]
pub(crate) struct AuditDraft {
    pub action: String,
    pub target: String,
    pub version: Option<u64>,
    pub before: Option<Box<RawValue>>,
    pub after: Option<Box<RawValue>>,
}

/// Adds the audit entry for this command (its id is the log index) and its
/// by-target, by-actor and by-action index keys.
pub(crate) fn record(ctx: &mut Ctx<'_>, draft: AuditDraft) -> Result<(), StorageError> {
    record_at(ctx, draft, 0, None)
}

/// [`record`] at place `seq` among this entry's audit entries, linked to a
/// promotion: a promotion writes one entry for itself (`seq` 0) and one
/// per flag (`seq` 1, 2, …; see [`keys::AuditPos`]).
pub(crate) fn record_at(
    ctx: &mut Ctx<'_>,
    draft: AuditDraft,
    seq: u32,
    promotion: Option<u64>,
) -> Result<(), StorageError> {
    let pos = keys::AuditPos { id: ctx.index, seq };
    let entry = AuditEntryOut {
        id: pos.id,
        at: ctx.at,
        actor: &ctx.cmd.actor,
        action: &draft.action,
        target: &draft.target,
        version: draft.version,
        before: draft.before.as_deref(),
        after: draft.after.as_deref(),
        request_id: &ctx.cmd.request_id,
        seq,
        promotion,
    };
    ctx.batch
        .put(Cf::Audit, keys::audit_at(pos), encode(&entry)?);
    for (prefix, name) in [
        (keys::AUDIT_BY_TARGET, entry.target),
        (keys::AUDIT_BY_ACTOR, entry.actor),
        (keys::AUDIT_BY_ACTION, entry.action),
    ] {
        ctx.batch
            .put(Cf::Audit, keys::audit_index(prefix, name, pos), Vec::new());
    }
    if let Some(id) = promotion {
        let name = id.to_string();
        ctx.batch.put(
            Cf::Audit,
            keys::audit_index(keys::AUDIT_BY_PROMOTION, &name, pos),
            Vec::new(),
        );
    }
    Ok(())
}
