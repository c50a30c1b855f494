//! Token creation and revocation.

use vexil_storage::{Cf, StorageError};

use super::audit::{self, AuditDraft};
use super::{Ctx, Effect, encode, raw};
use crate::command::{Change, Rejection};
use crate::keys;
use crate::records::{Role, TokenInfo, TokenRecord, target};
use vexil_flags::scope::ProjectGrant;

type Outcome = Result<Result<Change, Rejection>, StorageError>;

pub(super) fn create(
    ctx: &mut Ctx<'_>,
    name: &str,
    role: Role,
    hash: &str,
    scope: Option<&[ProjectGrant]>,
) -> Outcome {
    let mut errors: Vec<_> = vexil_flags::validate_key("name", name)
        .into_iter()
        .collect();
    if let Some(scope) = scope {
        errors.extend(vexil_flags::scope::validate_scope(scope, role == Role::Sdk));
    }
    if !errors.is_empty() {
        return Ok(Err(Rejection::Invalid {
            kind: "token".into(),
            errors,
        }));
    }
    if ctx.state.tokens.contains_key(name) {
        return Ok(Err(Rejection::AlreadyExists {
            kind: "token".into(),
            key: name.into(),
        }));
    }
    let stored = match scope {
        Some(_) => format!("{}{hash}", crate::records::SCOPED_HASH_PREFIX),
        None => hash.to_owned(),
    };
    let record = TokenRecord {
        name: name.to_owned(),
        role,
        hash: stored,
        created_at: ctx.at,
        created_by: ctx.cmd.actor.clone(),
        scope: scope.map(<[ProjectGrant]>::to_vec),
    };
    let info = TokenInfo::from(&record);
    ctx.batch
        .put(Cf::Tokens, keys::token_name(name), encode(&record)?);
    ctx.batch
        .put(Cf::Tokens, keys::token_hash(hash), name.as_bytes().to_vec());
    audit::record(
        ctx,
        AuditDraft {
            action: "token.create".into(),
            target: target("token", name),
            version: None,
            before: None,
            after: Some(raw(&info)?),
        },
    )?;
    ctx.effects.push(Effect::UpsertToken(record));
    Ok(Ok(Change::Token {
        token: info,
        revoked: false,
    }))
}

pub(super) fn delete(ctx: &mut Ctx<'_>, name: &str) -> Outcome {
    let Some(record) = ctx.state.tokens.get(name).cloned() else {
        return Ok(Err(Rejection::NotFound {
            kind: "token".into(),
            key: name.into(),
        }));
    };
    if record.role == Role::Admin && record.scope.is_none() && ctx.state.admin_count() <= 1 {
        return Ok(Err(Rejection::LastAdmin));
    }
    let info = TokenInfo::from(&record);
    ctx.batch.delete(Cf::Tokens, keys::token_name(name));
    ctx.batch
        .delete(Cf::Tokens, keys::token_hash(record.digest()));
    audit::record(
        ctx,
        AuditDraft {
            action: "token.revoke".into(),
            target: target("token", name),
            version: None,
            before: Some(raw(&info)?),
            after: None,
        },
    )?;
    ctx.effects.push(Effect::RemoveToken(name.to_owned()));
    Ok(Ok(Change::Token {
        token: info,
        revoked: true,
    }))
}
