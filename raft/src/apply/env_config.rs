//! Flags configured per environment (cluster level 4): a flag's definition
//! is shared by its project's environments, and each environment holds a
//! configuration of its own (see `vexil_flags::definition`).
//!
//! Every command here writes several versioned records (the definition,
//! one configuration per environment) under **one** audit entry, as a
//! project does with its environments: an audit entry's id is its log
//! index. The unscoped flag commands keep working on `default`'s
//! `production`; from level 4 on they also keep `default`'s definitions
//! and its other environments in step ([`follow_legacy`]).

use std::collections::BTreeMap;

use vexil_flags::definition::definition_id;
use vexil_flags::scope::{DEFAULT_PROJECT, env_id};
use vexil_flags::{Environment, FieldError, Flag, FlagDefinition, Segment};
use vexil_storage::{Cf, StorageError};

use super::audit::{self, AuditDraft};
use super::versioned::{
    self, DEFINITIONS, Definitions, Flags, Kind, Outcome, Segments, commit, invalid, last_version,
    not_found, set_of,
};
use super::{Ctx, Effect, decode, raw};
use crate::command::{Change, Op, ProjectFlag, Rejection};
use crate::keys;
use crate::records::{VersionEntry, target};

/// Runs `f` with the versions it writes left out of the audit log: the
/// caller writes the one audit entry.
fn quietly<T>(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
    let was = ctx.quiet_audit;
    ctx.quiet_audit = true;
    let out = f(ctx);
    ctx.quiet_audit = was;
    out
}

/// The id of environment `env` of `project`, if both exist.
pub(super) fn environment(ctx: &Ctx<'_>, project: &str, env: &str) -> Result<String, Rejection> {
    let id = env_id(project, env);
    if id == keys::LEGACY_ENV || ctx.state.environments.contains_key(&id) {
        return Ok(id);
    }
    if !ctx.state.projects.contains_key(project) {
        return Err(Rejection::NotFound {
            kind: "project".into(),
            key: project.into(),
        });
    }
    Err(Rejection::NotFound {
        kind: "environment".into(),
        key: id,
    })
}

/// The ids of `project`'s environments, in display order.
fn environments(ctx: &Ctx<'_>, project: &str) -> Vec<String> {
    let mut ids: Vec<String> = ctx
        .state
        .environments_of(project)
        .into_iter()
        .map(Environment::id)
        .collect();
    if project == DEFAULT_PROJECT && !ids.iter().any(|id| id == keys::LEGACY_ENV) {
        ids.push(keys::LEGACY_ENV.to_owned());
    }
    ids
}

fn env_key(id: &str) -> &str {
    id.rsplit_once('/').map_or(id, |(_, e)| e)
}

/// Prefixes each error's message with the environment it is about.
fn in_environment(env: &str, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|mut e| {
            e.message = format!("in environment {}: {}", env_key(env), e.message);
            e
        })
        .collect()
}

/// Writes `flag` as the next version of its configuration in `env`.
pub(super) fn put_config(
    ctx: &mut Ctx<'_>,
    env: &str,
    mut flag: Flag,
    action: &str,
) -> Result<Result<Flag, Rejection>, StorageError> {
    let kind = Flags {
        env,
        keep_definition: true,
    };
    let id = kind.id(&flag);
    let before = kind.current(ctx.state, &id);
    let version = last_version::<Flags>(ctx, &id)? + 1;
    let created = before.as_ref().and_then(|b| b.created_at).unwrap_or(ctx.at);
    kind.stamp(&mut flag, version, created, ctx.at, &ctx.cmd.actor);
    let after = flag.clone();
    match quietly(ctx, |ctx| {
        commit(ctx, &kind, &id, action, before, Some(flag), version)
    })? {
        Ok(_) => Ok(Ok(after)),
        Err(r) => Ok(Err(r)),
    }
}

/// Writes `def` as the next version of its definition.
fn put_definition(
    ctx: &mut Ctx<'_>,
    mut def: FlagDefinition,
    action: &str,
) -> Result<FlagDefinition, StorageError> {
    let id = def.id();
    let before = DEFINITIONS.current(ctx.state, &id);
    let version = last_version::<Definitions>(ctx, &id)? + 1;
    let created = before.as_ref().and_then(|b| b.created_at).unwrap_or(ctx.at);
    DEFINITIONS.stamp(&mut def, version, created, ctx.at, &ctx.cmd.actor);
    let after = def.clone();
    quietly(ctx, |ctx| {
        commit(ctx, &DEFINITIONS, &id, action, before, Some(def), version)
    })?
    .ok();
    Ok(after)
}

/// The configuration of `key` in `env` that was current before it was
/// deleted, if its history has one.
fn last_config(ctx: &Ctx<'_>, env: &str, key: &str) -> Result<Option<Flag>, StorageError> {
    let id = keys::in_env(env, key);
    let last = last_version::<Flags>(ctx, &id)?;
    for version in (1..=last).rev().take(2) {
        let Some(raw) = ctx.engine.get(
            Cf::History,
            &keys::scoped_u64(keys::HISTORY_FLAG, &id, version),
        )?
        else {
            continue;
        };
        let entry: VersionEntry = decode(&raw)?;
        if let Some(state) = entry.state {
            return serde_json::from_value(state)
                .map(Some)
                .map_err(|e| StorageError::Corrupt(e.to_string()));
        }
    }
    Ok(None)
}

fn audit_flag(
    ctx: &mut Ctx<'_>,
    action: &str,
    project: &str,
    key: &str,
    version: u64,
    before: Option<&ProjectFlag>,
    after: Option<&ProjectFlag>,
) -> Result<(), StorageError> {
    audit::record(
        ctx,
        AuditDraft {
            action: action.into(),
            target: target("flag", &definition_id(project, key)),
            version: Some(version),
            before: before.map(raw).transpose()?,
            after: after.map(raw).transpose()?,
        },
    )
}

/// The flag `key` of `project` as it is now: its definition and every
/// environment's configuration.
fn project_flag(ctx: &Ctx<'_>, project: &str, key: &str) -> Option<ProjectFlag> {
    let definition = ctx
        .state
        .definitions
        .get(&definition_id(project, key))?
        .clone();
    let environments = environments(ctx, project)
        .into_iter()
        .filter_map(|env| {
            let flag = set_of(ctx.state, &env).get_flag(key)?;
            Some((env_key(&env).to_owned(), Flag::clone(flag.flag())))
        })
        .collect();
    Some(ProjectFlag {
        definition,
        environments,
    })
}

pub(super) fn create_project_flag(ctx: &mut Ctx<'_>, project: &str, flag: &Flag) -> Outcome {
    if !ctx.state.projects.contains_key(project) {
        return Ok(Err(not_found::<Projects>(project)));
    }
    let id = definition_id(project, &flag.key);
    let exists = ctx.state.definitions.contains_key(&id)
        || (project == DEFAULT_PROJECT && ctx.state.flags.get_flag(&flag.key).is_some());
    if exists {
        return Ok(Err(Rejection::AlreadyExists {
            kind: "flag".into(),
            key: id,
        }));
    }
    let envs = environments(ctx, project);
    for env in &envs {
        let errors = vexil_flags::validate_flag(flag, set_of(ctx.state, env));
        if !errors.is_empty() {
            return Ok(Err(invalid::<Flags>(in_environment(env, errors))));
        }
    }
    let def = put_definition(ctx, FlagDefinition::of(project, flag), "create")?;
    let mut configs = BTreeMap::new();
    for env in &envs {
        match put_config(ctx, env, def.flag_with(flag), "create")? {
            Ok(f) => configs.insert(env_key(env).to_owned(), f),
            Err(r) => return Ok(Err(r)),
        };
    }
    let made = ProjectFlag {
        definition: def,
        environments: configs,
    };
    let version = made.definition.version;
    audit_flag(
        ctx,
        "flag.create",
        project,
        &flag.key,
        version,
        None,
        Some(&made),
    )?;
    Ok(Ok(Change::ProjectFlag {
        before: None,
        after: Some(Box::new(made)),
    }))
}

/// Writes `def`'s fields into every environment's configuration of its
/// flag except `skip`'s, each as a new version.
fn rewrite_configs(
    ctx: &mut Ctx<'_>,
    def: &FlagDefinition,
    skip: Option<&str>,
) -> Result<Result<(), Rejection>, StorageError> {
    for env in environments(ctx, &def.project) {
        if Some(env.as_str()) == skip {
            continue;
        }
        let Some(current) = set_of(ctx.state, &env).get_flag(&def.key) else {
            continue;
        };
        let flag = def.flag_with(current.flag());
        let errors = vexil_flags::validate_flag(&flag, set_of(ctx.state, &env));
        if !errors.is_empty() {
            return Ok(Err(invalid::<Flags>(in_environment(&env, errors))));
        }
        if let Err(r) = put_config(ctx, &env, flag, "update")? {
            return Ok(Err(r));
        }
    }
    Ok(Ok(()))
}

pub(super) fn update_definition(ctx: &mut Ctx<'_>, def: &FlagDefinition, expected: u64) -> Outcome {
    let id = def.id();
    let Some(current) = ctx.state.definitions.get(&id).cloned() else {
        return Ok(Err(not_found::<Flags>(&id)));
    };
    if current.version != expected {
        return Ok(Err(Rejection::Conflict {
            kind: "flag".into(),
            key: id,
            expected,
            actual: current.version,
        }));
    }
    let mut next = def.clone();
    if next.salt.is_empty() {
        next.salt.clone_from(&current.salt);
    }
    if let Err(r) = rewrite_configs(ctx, &next, None)? {
        return Ok(Err(r));
    }
    let after = put_definition(ctx, next, "update")?;
    audit::record(
        ctx,
        AuditDraft {
            action: "flag.definition_update".into(),
            target: target("flag", &id),
            version: Some(after.version),
            before: Some(raw(&current)?),
            after: Some(raw(&after)?),
        },
    )?;
    Ok(Ok(Change::Definition {
        before: Some(Box::new(current)),
        after: Some(Box::new(after)),
    }))
}

/// Deletes `key` from every environment of `project` but `skip`, and its
/// definition; refused while a flag of any environment requires it.
fn delete_everywhere(
    ctx: &mut Ctx<'_>,
    project: &str,
    key: &str,
    skip: Option<&str>,
) -> Result<Result<(), Rejection>, StorageError> {
    let envs = environments(ctx, project);
    let mut by = Vec::new();
    for env in &envs {
        for user in set_of(ctx.state, env).flags_requiring(key) {
            by.push(format!("{}/{user}", env_key(env)));
        }
    }
    if !by.is_empty() {
        return Ok(Err(Rejection::InUse {
            kind: "flag".into(),
            key: definition_id(project, key),
            by,
        }));
    }
    for env in &envs {
        if Some(env.as_str()) == skip {
            continue;
        }
        let kind = Flags {
            env,
            keep_definition: true,
        };
        let id = keys::in_env(env, key);
        let Some(current) = kind.current(ctx.state, &id) else {
            continue;
        };
        let version = current.version + 1;
        if let Err(r) = quietly(ctx, |ctx| {
            commit(ctx, &kind, &id, "delete", Some(current), None, version)
        })? {
            return Ok(Err(r));
        }
    }
    let id = definition_id(project, key);
    if let Some(def) = DEFINITIONS.current(ctx.state, &id) {
        let version = def.version + 1;
        if let Err(r) = quietly(ctx, |ctx| {
            commit(ctx, &DEFINITIONS, &id, "delete", Some(def), None, version)
        })? {
            return Ok(Err(r));
        }
    }
    Ok(Ok(()))
}

pub(super) fn delete_project_flag(
    ctx: &mut Ctx<'_>,
    project: &str,
    key: &str,
    expected: Option<u64>,
) -> Outcome {
    let id = definition_id(project, key);
    let Some(before) = project_flag(ctx, project, key) else {
        return Ok(Err(not_found::<Flags>(&id)));
    };
    let actual = before.definition.version;
    if let Some(expected) = expected.filter(|e| *e != actual) {
        return Ok(Err(Rejection::Conflict {
            kind: "flag".into(),
            key: id,
            expected,
            actual,
        }));
    }
    if let Err(r) = delete_everywhere(ctx, project, key, None)? {
        return Ok(Err(r));
    }
    audit_flag(
        ctx,
        "flag.delete",
        project,
        key,
        actual + 1,
        Some(&before),
        None,
    )?;
    Ok(Ok(Change::ProjectFlag {
        before: Some(Box::new(before)),
        after: None,
    }))
}

/// Gives every environment of `def`'s project but `skip` a configuration
/// of its flag: the last one it had (a restore), else a blank one made
/// from `template`.
fn restore_configs(
    ctx: &mut Ctx<'_>,
    def: &FlagDefinition,
    template: &Flag,
    skip: Option<&str>,
    revive: bool,
) -> Result<Result<(), Rejection>, StorageError> {
    for env in environments(ctx, &def.project) {
        if Some(env.as_str()) == skip {
            continue;
        }
        if set_of(ctx.state, &env).get_flag(&def.key).is_some() {
            continue;
        }
        let last = if revive {
            last_config(ctx, &env, &def.key)?
        } else {
            None
        };
        let flag = match last {
            Some(old) => {
                let flag = def.flag_with(&old);
                // What it referenced may be gone: then it starts blank.
                if vexil_flags::validate_flag(&flag, set_of(ctx.state, &env)).is_empty() {
                    flag
                } else {
                    def.blank(&old)
                }
            }
            None => def.blank(template),
        };
        let action = "restore";
        if let Err(r) = put_config(ctx, &env, flag, action)? {
            return Ok(Err(r));
        }
    }
    Ok(Ok(()))
}

pub(super) fn rollback_definition(
    ctx: &mut Ctx<'_>,
    project: &str,
    key: &str,
    version: u64,
) -> Outcome {
    let id = definition_id(project, key);
    if !ctx.state.projects.contains_key(project) {
        return Ok(Err(not_found::<Projects>(project)));
    }
    let before = project_flag(ctx, project, key);
    let rolled = quietly(ctx, |ctx| {
        versioned::rollback(ctx, &DEFINITIONS, &id, version)
    })?;
    let def = match rolled {
        Ok(Change::Definition { after: Some(d), .. }) => *d,
        Ok(_) => return Ok(Err(not_found::<Flags>(&id))),
        Err(r) => return Ok(Err(r)),
    };
    if let Err(r) = rewrite_configs(ctx, &def, None)? {
        return Ok(Err(r));
    }
    let template = def.new_flag();
    if let Err(r) = restore_configs(ctx, &def, &template, None, true)? {
        return Ok(Err(r));
    }
    let after = ProjectFlag {
        definition: def.clone(),
        environments: BTreeMap::new(),
    };
    let action = if before.is_some() {
        "flag.rollback"
    } else {
        "flag.restore"
    };
    audit::record(
        ctx,
        AuditDraft {
            action: action.into(),
            target: target("flag", &id),
            version: Some(def.version),
            before: before.as_ref().map(|b| raw(&b.definition)).transpose()?,
            after: Some(raw(&after.definition)?),
        },
    )?;
    Ok(Ok(Change::Definition {
        before: before.map(|b| Box::new(b.definition)),
        after: Some(Box::new(def)),
    }))
}

pub(super) fn update_in(
    ctx: &mut Ctx<'_>,
    project: &str,
    env: &str,
    flag: &Flag,
    expected: u64,
) -> Outcome {
    let env = match environment(ctx, project, env) {
        Ok(id) => id,
        Err(r) => return Ok(Err(r)),
    };
    let mut flag = flag.clone();
    if let Some(def) = ctx
        .state
        .definitions
        .get(&definition_id(project, &flag.key))
    {
        if flag.salt.is_empty() {
            flag.salt.clone_from(&def.salt);
        }
        let errors = vexil_flags::definition::check_config_only(def, &flag);
        if !errors.is_empty() {
            return Ok(Err(invalid::<Flags>(errors)));
        }
    }
    versioned::update(
        ctx,
        &Flags {
            env: &env,
            keep_definition: true,
        },
        flag,
        expected,
    )
}

pub(super) fn toggle_in(
    ctx: &mut Ctx<'_>,
    project: &str,
    env: &str,
    key: &str,
    enabled: bool,
) -> Outcome {
    match environment(ctx, project, env) {
        Ok(env) => versioned::toggle(
            ctx,
            &Flags {
                env: &env,
                keep_definition: true,
            },
            key,
            enabled,
        ),
        Err(r) => Ok(Err(r)),
    }
}

pub(super) fn rollback_in(
    ctx: &mut Ctx<'_>,
    project: &str,
    env: &str,
    key: &str,
    version: u64,
) -> Outcome {
    let env = match environment(ctx, project, env) {
        Ok(id) => id,
        Err(r) => return Ok(Err(r)),
    };
    let kind = Flags {
        env: &env,
        keep_definition: true,
    };
    let id = keys::in_env(&env, key);
    if kind.current(ctx.state, &id).is_none() {
        // A deleted flag is restored whole, from its definition.
        return Ok(Err(not_found::<Flags>(&id)));
    }
    versioned::rollback(ctx, &kind, &id, version)
}

/// A segment command of one environment.
pub(super) fn segment_in(ctx: &mut Ctx<'_>, op: &Op) -> Outcome {
    let Some((project, env)) = op.environment() else {
        return Ok(Ok(Change::Internal));
    };
    let env = match environment(ctx, project, env) {
        Ok(id) => id,
        Err(r) => return Ok(Err(r)),
    };
    let kind = Segments { env: &env };
    match op {
        Op::CreateSegmentIn { segment, .. } => versioned::create(ctx, &kind, segment.clone()),
        Op::UpdateSegmentIn {
            segment,
            expected_version,
            ..
        } => versioned::update(ctx, &kind, Segment::clone(segment), *expected_version),
        Op::DeleteSegmentIn {
            key,
            expected_version,
            ..
        } => versioned::delete(ctx, &kind, &keys::in_env(&env, key), *expected_version),
        Op::RollbackSegmentIn { key, version, .. } => {
            versioned::rollback(ctx, &kind, &keys::in_env(&env, key), *version)
        }
        _ => Ok(Ok(Change::Internal)),
    }
}

/// From level 4 on, what an unscoped flag command (on `default`'s
/// `production`) also does, in the same entry and under its audit entry:
/// a new flag gets a definition and a disabled configuration in
/// `default`'s other environments; a change to definition fields goes to
/// the definition and every other environment's copy; a deletion removes
/// the flag everywhere; a restore restores it everywhere.
pub(super) fn follow_legacy(
    ctx: &mut Ctx<'_>,
    op: &Op,
    change: &Change,
) -> Result<Result<(), Rejection>, StorageError> {
    if ctx.state.level() < crate::version::ENV_CONFIG {
        return Ok(Ok(()));
    }
    let legacy = Some(keys::LEGACY_ENV);
    match (op, change) {
        (Op::DeleteFlag { key, .. }, _) => delete_everywhere(ctx, DEFAULT_PROJECT, key, legacy),
        (
            Op::CreateFlag { .. } | Op::UpdateFlag { .. } | Op::RollbackFlag { .. },
            Change::Flag { after: Some(f), .. },
        ) => {
            let id = definition_id(DEFAULT_PROJECT, &f.key);
            let mut def = FlagDefinition::of(DEFAULT_PROJECT, f);
            match ctx.state.definitions.get(&id) {
                Some(current) => {
                    if current.differs_from(f).is_none() {
                        return Ok(Ok(()));
                    }
                    def.created_at = current.created_at;
                    let def = put_definition(ctx, def, "update")?;
                    rewrite_configs(ctx, &def, legacy)
                }
                None => {
                    // A new flag starts blank and disabled elsewhere; a
                    // restored one gets each environment's last
                    // configuration back.
                    if matches!(op, Op::CreateFlag { .. }) && derive_new(ctx, f)? {
                        return Ok(Ok(()));
                    }
                    let revive = matches!(op, Op::RollbackFlag { .. });
                    let def = put_definition(ctx, def, "create")?;
                    restore_configs(ctx, &def, f, legacy, revive)
                }
            }
        }
        _ => Ok(Ok(())),
    }
}

/// From level 7, a new key's definition and blank configurations in
/// `default`'s other environments go to the mirror only, derived from its
/// production version 1 (`crate::derived`). Returns whether it did.
///
/// Only for a key production has no history of (`f` is its version 1).
/// Such a key has none anywhere in `default`: production is never deleted,
/// and every path that gives `default` a definition or a configuration
/// (a flag created through either route, an environment filled, copied or
/// restored, a promotion) gives production one too, or copies a flag that
/// production holds. So no history is read here, and the loader derives
/// the same records by the same rule (`derived::derive_all`).
fn derive_new(ctx: &mut Ctx<'_>, f: &Flag) -> Result<bool, StorageError> {
    if ctx.state.level() < crate::version::DERIVED_BLANKS || f.version != 1 {
        return Ok(false);
    }
    let mut others = environments(ctx, DEFAULT_PROJECT);
    others.retain(|env| env != keys::LEGACY_ENV);
    // By the rule above none holds the key. Checked all the same (a lookup
    // per environment): were the rule ever broken, the records are written,
    // not derived over what is there.
    if others
        .iter()
        .any(|env| set_of(ctx.state, env).get_flag(&f.key).is_some())
    {
        return Ok(false);
    }
    let def = crate::derived::definition(f, ctx.at, &ctx.cmd.actor);
    let blank = crate::derived::blank(&def, f, ctx.at, &ctx.cmd.actor);
    // The blanks are alike: compiled once, shared by every environment.
    let blank = vexil_flags::CompiledFlag::new(std::sync::Arc::new(blank));
    ctx.effects.push(Effect::UpsertDefinition(def));
    ctx.effects.extend(
        others
            .into_iter()
            .map(|env| Effect::UpsertCompiled(env, blank.clone())),
    );
    Ok(true)
}

/// Gives every flag of `project` a definition and a configuration in each
/// of `envs` (ids), blank and disabled where it has none: what raising the
/// level does for `default`, and what a new environment starts with. The
/// flags are those of any environment of the project, `envs` included, and
/// those with a definition.
pub(super) fn fill(
    ctx: &mut Ctx<'_>,
    project: &str,
    envs: &[String],
) -> Result<usize, StorageError> {
    fill_except(ctx, project, envs, &std::collections::BTreeSet::new())
}

/// [`fill`], leaving out the flags in `except` (written by the same
/// command: the state it reads is the one before the command).
pub(super) fn fill_except(
    ctx: &mut Ctx<'_>,
    project: &str,
    envs: &[String],
    except: &std::collections::BTreeSet<String>,
) -> Result<usize, StorageError> {
    let mut sources: Vec<String> = environments(ctx, project);
    for env in envs {
        if !sources.contains(env) {
            sources.push(env.clone());
        }
    }
    // Every flag of the project, with the configuration it was found in.
    let mut flags: BTreeMap<String, Flag> = BTreeMap::new();
    for env in &sources {
        for f in set_of(ctx.state, env).flags() {
            flags
                .entry(f.key().to_owned())
                .or_insert_with(|| Flag::clone(f.flag()));
        }
    }
    // A flag with a definition but no configuration in any environment (a
    // project whose last environment was deleted) still gets one.
    for def in ctx.state.definitions_of(project) {
        flags
            .entry(def.key.clone())
            .or_insert_with(|| def.new_flag());
    }
    let mut written = 0;
    for (key, template) in &flags {
        if except.contains(key) {
            continue;
        }
        let def = match ctx.state.definitions.get(&definition_id(project, key)) {
            Some(d) => d.clone(),
            None => {
                written += 1;
                put_definition(ctx, FlagDefinition::of(project, template), "create")?
            }
        };
        for env in envs {
            if set_of(ctx.state, env).get_flag(key).is_none() {
                written += 1;
                if put_config(ctx, env, def.blank(template), "create")?.is_err() {
                    continue;
                }
            }
        }
    }
    Ok(written)
}

/// Raising the cluster to level 4 gives `default`'s flags their
/// definitions and a configuration in its other environments, under one
/// audit entry (`project.configure`) when there was anything to do.
pub(super) fn on_level(ctx: &mut Ctx<'_>, from: u32, to: u32) -> Result<(), StorageError> {
    if from >= crate::version::ENV_CONFIG || to < crate::version::ENV_CONFIG {
        return Ok(());
    }
    let envs = environments(ctx, DEFAULT_PROJECT);
    let written = fill(ctx, DEFAULT_PROJECT, &envs)?;
    if written > 0 {
        audit::record(
            ctx,
            AuditDraft {
                action: "project.configure".into(),
                target: target("project", DEFAULT_PROJECT),
                version: None,
                before: None,
                after: Some(raw(&serde_json::json!({
                    "reason": "cluster level 4: flags are configured per environment",
                    "environments": envs,
                    "records": written,
                }))?),
            },
        )?;
    }
    Ok(())
}

use versioned::Projects;

#[cfg(test)]
pub(super) mod tests {
    use chrono::Utc;
    use vexil_storage::{Durability, Engine, MemEngine};

    use super::super::{apply_command, commit_effects};
    use crate::command::{Command, Op, Response, SYSTEM_ACTOR};
    use crate::state::{FeedConfig, Shared, State};

    pub(in crate::apply) fn flag(key: &str) -> Flag {
        serde_json::from_value(serde_json::json!({
            "key": key, "kind": "boolean",
            "variations": [{"value": true}, {"value": false}],
            "off_variation": 1, "fallthrough": {"variation": 0}, "enabled": true,
        }))
        .expect("flag")
    }

    use super::*;

    pub(in crate::apply) fn run(
        engine: &MemEngine,
        shared: &Shared,
        index: u64,
        op: Op,
    ) -> Response {
        let cmd = Command {
            request_id: format!("r{index}"),
            actor: SYSTEM_ACTOR.into(),
            at: Utc::now(),
            needs_level: None,
            op,
        };
        let applied = {
            let st = shared.read();
            apply_command(engine, &st, index, &cmd).expect("apply")
        };
        engine
            .write(applied.batch, Durability::Sync)
            .expect("write");
        commit_effects(shared, index, applied.effects);
        applied.response
    }

    pub(in crate::apply) fn has(shared: &Shared, env: &str, key: &str) -> Option<Flag> {
        let st = shared.read();
        st.set(env)?.get_flag(key).map(|f| Flag::clone(f.flag()))
    }

    /// Every flag of `env` in the mirror, as JSON, by key.
    fn flags_of(st: &State, env: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
        st.set(env)
            .map(|s| {
                s.flags()
                    .map(|f| {
                        let flag: &Flag = f.flag();
                        (
                            f.key().to_owned(),
                            serde_json::to_value(flag).expect("json"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the loader rebuilds from `engine` is what the mirror holds.
    fn assert_reloads_alike(engine: &MemEngine, shared: &Shared) {
        let loaded = crate::loader::load_state(engine).expect("load");
        let st = shared.read();
        assert_eq!(loaded.definitions, st.definitions);
        for env in ["default/development", "default/staging", keys::LEGACY_ENV] {
            assert_eq!(flags_of(&loaded, env), flags_of(&st, env), "{env}");
        }
    }

    fn history(engine: &MemEngine, prefix: u8, id: &str, version: u64) -> Option<VersionEntry> {
        engine
            .get(Cf::History, &keys::scoped_u64(prefix, id, version))
            .expect("read")
            .map(|raw| decode(&raw).expect("entry"))
    }

    /// Level 7: a new unscoped flag stores its production configuration
    /// only; its definition and its blanks elsewhere are derived, read back
    /// alike after a restart, and stored at their first change.
    #[test]
    fn a_new_unscoped_flag_stores_production_only_and_derives_the_rest() {
        let engine = MemEngine::new();
        let shared = Shared::new(State::default(), FeedConfig::default());
        run(&engine, &shared, 1, Op::SetClusterLevel { level: 3 });
        let made = run(
            &engine,
            &shared,
            2,
            Op::CreateProject {
                project: vexil_flags::scope::default_project(),
                environments: vexil_flags::scope::default_environments(DEFAULT_PROJECT),
            },
        );
        assert!(made.result.is_ok(), "{made:?}");
        run(
            &engine,
            &shared,
            3,
            Op::SetClusterLevel {
                level: crate::version::DERIVED_BLANKS,
            },
        );
        let r = run(&engine, &shared, 4, Op::CreateFlag { flag: flag("a") });
        assert!(r.result.is_ok(), "{r:?}");

        // In the mirror as before: a definition and disabled blanks at v1.
        let def = shared.read().definitions.get("default/a").cloned();
        let def = def.expect("a definition");
        assert_eq!(def.version, 1);
        for env in ["default/development", "default/staging"] {
            let f = has(&shared, env, "a").expect(env);
            assert!(
                !f.enabled && f.version == 1 && f.off_variation == 1,
                "{f:?}"
            );
        }
        // Stored: production only.
        let stored = |cf: Cf, key: &[u8]| engine.get(cf, key).expect("read").is_some();
        assert!(stored(Cf::Flags, b"a"));
        assert!(!stored(Cf::Flags, b"default/staging/a"));
        assert!(!stored(
            Cf::Meta,
            &keys::meta_record(keys::META_DEFINITION, "default/a")
        ));
        assert!(history(&engine, keys::HISTORY_FLAG, "default/staging/a", 1).is_none());
        assert_reloads_alike(&engine, &shared);

        // Version 1 reads as writing it would have recorded it.
        let derived = {
            let st = shared.read();
            crate::derived::first_version(&engine, &st, keys::HISTORY_FLAG, "default/staging/a")
                .expect("read")
                .expect("a derived version 1")
        };
        assert_eq!((derived.version, derived.index), (1, 4));
        assert_eq!(derived.action, "flag.restore");
        let page = crate::query::versions(
            &engine,
            &shared,
            crate::query::Versioned::Definition,
            "default/a",
            10,
            None,
        )
        .expect("versions");
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].action, "flag_definition.create");

        // The first change stores version 1 before version 2.
        let r = run(
            &engine,
            &shared,
            5,
            Op::ToggleFlagIn {
                project: DEFAULT_PROJECT.into(),
                environment: "staging".into(),
                key: "a".into(),
                enabled: true,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        // Its retry answers staging's record (production has no version 2).
        let retry = Command {
            request_id: "r5".into(),
            actor: SYSTEM_ACTOR.into(),
            at: Utc::now(),
            needs_level: None,
            op: Op::ToggleFlagIn {
                project: DEFAULT_PROJECT.into(),
                environment: "staging".into(),
                key: "a".into(),
                enabled: true,
            },
        };
        let again = {
            let st = shared.read();
            apply_command(&engine, &st, 6, &retry).expect("retry")
        };
        assert!(again.response.duplicate && again.batch.is_empty());
        match &again.response.result {
            Ok(Change::Flag {
                before: Some(b),
                after: Some(a),
            }) => assert!(
                (b.version, a.version, a.enabled) == (1, 2, true),
                "{b:?} {a:?}"
            ),
            other => panic!("not staging's answer: {other:?}"),
        }
        let first = history(&engine, keys::HISTORY_FLAG, "default/staging/a", 1);
        assert_eq!(first.as_ref(), Some(&derived));
        assert_eq!(has(&shared, "default/staging", "a").expect("a").version, 2);
        assert_reloads_alike(&engine, &shared);

        // A rollback to the derived version 1 of development reads it.
        let r = run(
            &engine,
            &shared,
            6,
            Op::RollbackFlagIn {
                project: DEFAULT_PROJECT.into(),
                environment: "development".into(),
                key: "a".into(),
                version: 1,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        let dev = has(&shared, "default/development", "a").expect("dev");
        assert!(dev.version == 2 && !dev.enabled, "{dev:?}");

        // A rename writes the definition's version 2 over its derived 1.
        let mut renamed = flag("a");
        renamed.name = "A".into();
        let r = run(
            &engine,
            &shared,
            7,
            Op::UpdateFlag {
                flag: renamed,
                expected_version: 1,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        let def_first = history(&engine, keys::HISTORY_DEFINITION, "default/a", 1);
        assert_eq!(def_first.expect("stored").index, 4);
        assert_eq!(shared.read().definitions["default/a"].version, 2);
        assert_reloads_alike(&engine, &shared);

        // A key with a history is written whole, as before level 7.
        run(
            &engine,
            &shared,
            8,
            Op::DeleteFlag {
                key: "a".into(),
                expected_version: None,
            },
        );
        let r = run(&engine, &shared, 9, Op::CreateFlag { flag: flag("a") });
        assert!(r.result.is_ok(), "{r:?}");
        assert!(stored(
            Cf::Meta,
            &keys::meta_record(keys::META_DEFINITION, "default/a")
        ));
        assert!(stored(Cf::Flags, b"default/staging/a"));
        assert_reloads_alike(&engine, &shared);
    }

    /// A cluster of the previous release (level 3, project `default`, its
    /// flags in `production` only) raised to level 4.
    #[test]
    fn raising_the_level_to_4_configures_default_in_every_environment() {
        let engine = MemEngine::new();
        let shared = Shared::new(State::default(), FeedConfig::default());
        run(&engine, &shared, 1, Op::SetClusterLevel { level: 3 });
        run(&engine, &shared, 2, Op::CreateFlag { flag: flag("a") });
        let envs = vexil_flags::scope::default_environments(DEFAULT_PROJECT);
        let made = run(
            &engine,
            &shared,
            3,
            Op::CreateProject {
                project: vexil_flags::scope::default_project(),
                environments: envs,
            },
        );
        assert!(made.result.is_ok(), "{made:?}");
        assert!(has(&shared, "default/staging", "a").is_none(), "level 3");
        // At level 3 an unscoped write touches production only.
        let mut renamed = flag("a");
        renamed.name = "A".into();
        let r = run(
            &engine,
            &shared,
            4,
            Op::UpdateFlag {
                flag: renamed.clone(),
                expected_version: 1,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        assert!(shared.read().definitions.is_empty());

        run(&engine, &shared, 5, Op::SetClusterLevel { level: 4 });
        for env in ["default/development", "default/staging"] {
            let f = has(&shared, env, "a").expect(env);
            assert!(
                !f.enabled && f.name == "A" && f.version == 1,
                "{env}: {f:?}"
            );
        }
        let prod = has(&shared, keys::LEGACY_ENV, "a").expect("production");
        assert!(prod.enabled && prod.version == 2, "production is as it was");
        assert!(shared.read().definitions.contains_key("default/a"));
        let audit = engine
            .get(Cf::Audit, &keys::audit_entry(5))
            .expect("read")
            .expect("the level's fill is audited");
        assert!(String::from_utf8_lossy(&audit).contains("project.configure"));

        // From now on an unscoped rename reaches every environment, and
        // an unscoped delete removes it everywhere.
        renamed.name = "Ay".into();
        let r = run(
            &engine,
            &shared,
            6,
            Op::UpdateFlag {
                flag: renamed,
                expected_version: 2,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        assert_eq!(has(&shared, "default/staging", "a").expect("a").name, "Ay");
        assert_eq!(has(&shared, "default/staging", "a").expect("a").version, 2);
        let r = run(
            &engine,
            &shared,
            7,
            Op::DeleteFlag {
                key: "a".into(),
                expected_version: None,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        assert!(has(&shared, "default/staging", "a").is_none());
        assert!(shared.read().definitions.is_empty());

        // And the mirror rebuilt from the store is the same.
        let loaded = crate::loader::load_state(&engine).expect("load");
        let held = |st: &State| -> Vec<(String, usize)> {
            st.scoped
                .iter()
                .map(|(env, set)| (env.clone(), set.flags().count()))
                .filter(|(_, n)| *n > 0)
                .collect()
        };
        assert_eq!(held(&loaded), held(&shared.read()));
        assert_eq!(loaded.definitions, shared.read().definitions);
    }

    /// A command that writes in one environment leaves the others alone,
    /// and a rejected part rejects the whole command.
    #[test]
    fn a_failing_environment_rejects_the_whole_command() {
        let engine = MemEngine::new();
        let shared = Shared::new(State::default(), FeedConfig::default());
        run(&engine, &shared, 1, Op::SetClusterLevel { level: 4 });
        let project = vexil_flags::Project {
            key: "web".into(),
            ..vexil_flags::scope::default_project()
        };
        run(
            &engine,
            &shared,
            2,
            Op::CreateProject {
                environments: vexil_flags::scope::default_environments("web"),
                project,
            },
        );
        let mut f = flag("p");
        f.prerequisites = vec![vexil_flags::Prerequisite {
            flag: "missing".into(),
            variation: 0,
        }];
        let r = run(
            &engine,
            &shared,
            3,
            Op::CreateProjectFlag {
                project: "web".into(),
                flag: f,
            },
        );
        assert!(matches!(r.result, Err(Rejection::Invalid { .. })), "{r:?}");
        assert!(shared.read().definitions.is_empty());
        for env in ["web/development", "web/staging", "web/production"] {
            assert!(has(&shared, env, "p").is_none(), "{env}");
        }
    }

    /// An environment restored after its project got flags holds them, as
    /// a new one does; so does the first environment of a project whose
    /// flags have definitions only.
    #[test]
    fn a_restored_or_first_environment_holds_the_projects_flags() {
        let engine = MemEngine::new();
        let shared = Shared::new(State::default(), FeedConfig::default());
        run(&engine, &shared, 1, Op::SetClusterLevel { level: 4 });
        let project = |key: &str| vexil_flags::Project {
            key: key.into(),
            ..vexil_flags::scope::default_project()
        };
        let env = |project: &str, key: &str| vexil_flags::Environment {
            key: key.into(),
            ..vexil_flags::scope::default_environments(project)[0].clone()
        };
        let r = run(
            &engine,
            &shared,
            2,
            Op::CreateProject {
                environments: vec![env("web", "dev"), env("web", "prod")],
                project: project("web"),
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        let r = run(
            &engine,
            &shared,
            3,
            Op::DeleteEnvironment {
                project: "web".into(),
                key: "dev".into(),
                expected_version: Some(1),
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        let r = run(
            &engine,
            &shared,
            4,
            Op::CreateProjectFlag {
                project: "web".into(),
                flag: flag("x"),
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        assert!(has(&shared, "web/dev", "x").is_none());
        let r = run(
            &engine,
            &shared,
            5,
            Op::RollbackEnvironment {
                project: "web".into(),
                key: "dev".into(),
                version: 1,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        let restored = has(&shared, "web/dev", "x").expect("x in the restored environment");
        assert!(!restored.enabled && restored.rules.is_empty());

        // A project with no environment: the flag is a definition only.
        run(
            &engine,
            &shared,
            6,
            Op::CreateProject {
                environments: vec![],
                project: project("api"),
            },
        );
        let r = run(
            &engine,
            &shared,
            7,
            Op::CreateProjectFlag {
                project: "api".into(),
                flag: flag("y"),
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        assert!(shared.read().definitions.contains_key("api/y"));
        let r = run(
            &engine,
            &shared,
            8,
            Op::CreateEnvironment {
                environment: env("api", "prod"),
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        assert!(has(&shared, "api/prod", "y").is_some());
    }

    /// A scoped token is a level-4 command; its scope is checked again
    /// where it applies, and only an admin of every project counts as the
    /// last admin.
    #[test]
    fn a_scoped_token_is_level_4_and_checked_where_it_applies() {
        use crate::records::Role;
        use vexil_flags::scope::ProjectGrant;
        let grant = |p: &str, envs: Option<Vec<&str>>| ProjectGrant {
            project: p.into(),
            environments: envs.map(|e| e.into_iter().map(String::from).collect()),
        };
        let scoped = |name: &str, role: Role, scope: Vec<ProjectGrant>| Op::CreateScopedToken {
            name: name.into(),
            role,
            secret_hash: format!("hash-{name}"),
            scope,
        };
        assert_eq!(
            scoped("a", Role::Viewer, vec![grant("web", None)]).min_level(),
            crate::version::ENV_CONFIG
        );
        let purge = Op::PurgeEnvironment {
            project: "web".into(),
            key: "staging".into(),
            expected_version: None,
        };
        assert_eq!(purge.min_level(), crate::version::ENV_CONFIG);
        assert_eq!(purge.required_role(), Role::Admin);
        let engine = MemEngine::new();
        let shared = Shared::new(State::default(), FeedConfig::default());
        run(&engine, &shared, 1, Op::SetClusterLevel { level: 4 });
        // An sdk token names one environment.
        let r = run(
            &engine,
            &shared,
            2,
            scoped("s", Role::Sdk, vec![grant("web", None)]),
        );
        assert!(matches!(r.result, Err(Rejection::Invalid { .. })), "{r:?}");
        let r = run(
            &engine,
            &shared,
            3,
            scoped("s", Role::Sdk, vec![grant("web", Some(vec!["staging"]))]),
        );
        assert!(r.result.is_ok(), "{r:?}");
        let stored = shared.read().tokens.get("s").cloned().expect("stored");
        assert_eq!(
            stored.scope,
            Some(vec![grant("web", Some(vec!["staging"]))])
        );
        // A release before scopes cannot authenticate it (no digest has
        // the prefix); this one finds it by its digest.
        assert_eq!(stored.hash, "scoped:hash-s");
        assert_eq!(
            shared
                .read()
                .token_by_hash("hash-s")
                .map(|t| t.name.clone()),
            Some("s".into())
        );
        // The only admin of every project stays; a scoped one may go.
        run(
            &engine,
            &shared,
            4,
            Op::CreateToken {
                name: "root".into(),
                role: Role::Admin,
                secret_hash: "hash-root".into(),
            },
        );
        run(
            &engine,
            &shared,
            5,
            scoped("wa", Role::Admin, vec![grant("web", None)]),
        );
        let r = run(
            &engine,
            &shared,
            6,
            Op::DeleteToken {
                name: "root".into(),
            },
        );
        assert!(matches!(r.result, Err(Rejection::LastAdmin)), "{r:?}");
        let r = run(&engine, &shared, 7, Op::DeleteToken { name: "wa".into() });
        assert!(r.result.is_ok(), "{r:?}");
    }

    /// An environment that holds flags and segments goes only when the
    /// request confirms it, and a rollback of the environment brings back
    /// what it held, with flags made since blank.
    #[test]
    fn a_purged_environment_comes_back_whole() {
        let engine = MemEngine::new();
        let shared = Shared::new(State::default(), FeedConfig::default());
        run(&engine, &shared, 1, Op::SetClusterLevel { level: 4 });
        let project = vexil_flags::Project {
            key: "web".into(),
            ..vexil_flags::scope::default_project()
        };
        run(
            &engine,
            &shared,
            2,
            Op::CreateProject {
                environments: vexil_flags::scope::default_environments("web"),
                project,
            },
        );
        let r = run(
            &engine,
            &shared,
            3,
            Op::CreateProjectFlag {
                project: "web".into(),
                flag: flag("x"),
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        let segment: Segment =
            serde_json::from_value(serde_json::json!({"key": "beta", "included": ["u1"]}))
                .expect("segment");
        let r = run(
            &engine,
            &shared,
            4,
            Op::CreateSegmentIn {
                project: "web".into(),
                environment: "staging".into(),
                segment,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        let mut configured = has(&shared, "web/staging", "x").expect("x");
        configured.rules = serde_json::from_value(serde_json::json!([{"id": "r1",
            "clauses": [{"attribute": "key", "operator": "segment_match", "values": ["beta"]}],
            "serve": {"variation": 1}}]))
        .expect("rules");
        let r = run(
            &engine,
            &shared,
            5,
            Op::UpdateFlagIn {
                project: "web".into(),
                environment: "staging".into(),
                expected_version: configured.version,
                flag: configured,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        let delete = |confirm: bool| {
            let (project, key, expected_version) = ("web".into(), "staging".into(), None);
            if confirm {
                Op::PurgeEnvironment {
                    project,
                    key,
                    expected_version,
                }
            } else {
                Op::DeleteEnvironment {
                    project,
                    key,
                    expected_version,
                }
            }
        };
        let r = run(&engine, &shared, 6, delete(false));
        assert!(matches!(r.result, Err(Rejection::InUse { .. })), "{r:?}");
        let r = run(&engine, &shared, 7, delete(true));
        assert!(r.result.is_ok(), "{r:?}");
        {
            let st = shared.read();
            assert!(!st.environments.contains_key("web/staging"));
            assert!(st.set("web/staging").is_none_or(|s| s.is_empty()));
            // The other environments and the definition stay.
            assert!(st.definitions.contains_key("web/x"));
        }
        assert!(has(&shared, "web/production", "x").is_some());
        // `default`/`production` never goes.
        let r = run(
            &engine,
            &shared,
            8,
            Op::PurgeEnvironment {
                project: DEFAULT_PROJECT.into(),
                key: "production".into(),
                expected_version: None,
            },
        );
        assert!(r.result.is_err(), "{r:?}");
        // A flag made while it was gone.
        run(
            &engine,
            &shared,
            9,
            Op::CreateProjectFlag {
                project: "web".into(),
                flag: flag("y"),
            },
        );
        let r = run(
            &engine,
            &shared,
            10,
            Op::RollbackEnvironment {
                project: "web".into(),
                key: "staging".into(),
                version: 1,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        let x = has(&shared, "web/staging", "x").expect("x is back");
        assert_eq!(x.rules.len(), 1, "with its rule");
        assert!(
            shared
                .read()
                .set("web/staging")
                .and_then(|s| s.get_segment("beta"))
                .is_some(),
            "and the segment the rule uses"
        );
        let y = has(&shared, "web/staging", "y").expect("y, made since");
        assert!(!y.enabled && y.rules.is_empty());
    }
}
