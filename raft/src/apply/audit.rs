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
    let id = ctx.index;
    let entry = AuditEntryOut {
        id,
        at: ctx.at,
        actor: &ctx.cmd.actor,
        action: &draft.action,
        target: &draft.target,
        version: draft.version,
        before: draft.before.as_deref(),
        after: draft.after.as_deref(),
        request_id: &ctx.cmd.request_id,
    };
    ctx.batch
        .put(Cf::Audit, keys::audit_entry(id), encode(&entry)?);
    for (prefix, name) in [
        (keys::AUDIT_BY_TARGET, entry.target),
        (keys::AUDIT_BY_ACTOR, entry.actor),
        (keys::AUDIT_BY_ACTION, entry.action),
    ] {
        ctx.batch
            .put(Cf::Audit, keys::scoped_u64(prefix, name, id), Vec::new());
    }
    Ok(())
}
