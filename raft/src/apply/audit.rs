//! Writing audit entries and their indexes into the same batch as the change.

use serde_json::Value;
use vexil_storage::{Cf, StorageError};

use super::{Ctx, encode};
use crate::keys;
use crate::records::AuditEntry;

/// The parts of an audit entry that vary by change.
#[derive(Debug)]
pub(crate) struct AuditDraft {
    pub action: String,
    pub target: String,
    pub version: Option<u64>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Adds the audit entry for this command (its id is the log index) and its
/// by-target, by-actor and by-action index keys.
pub(crate) fn record(ctx: &mut Ctx<'_>, draft: AuditDraft) -> Result<(), StorageError> {
    let entry = AuditEntry {
        id: ctx.index,
        at: ctx.at,
        actor: ctx.cmd.actor.clone(),
        action: draft.action,
        target: draft.target,
        version: draft.version,
        before: draft.before,
        after: draft.after,
        request_id: ctx.cmd.request_id.clone(),
    };
    let id = ctx.index;
    ctx.batch
        .put(Cf::Audit, keys::audit_entry(id), encode(&entry)?);
    for (prefix, name) in [
        (keys::AUDIT_BY_TARGET, &entry.target),
        (keys::AUDIT_BY_ACTOR, &entry.actor),
        (keys::AUDIT_BY_ACTION, &entry.action),
    ] {
        ctx.batch
            .put(Cf::Audit, keys::scoped_u64(prefix, name, id), Vec::new());
    }
    Ok(())
}
