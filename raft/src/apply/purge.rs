//! Deleting an environment that still holds flags and segments, once the
//! request confirms it (`DELETE …/environments/{key}?confirm=true`, cluster
//! level 4), and bringing it back whole.
//!
//! A purge writes a deleting version of every configuration and segment of
//! the environment, then of the environment, in one Raft entry under one
//! audit entry (`environment.delete`, with what it held). Each deleting
//! version carries that entry's log index, so restoring the environment
//! (`RollbackEnvironment`) finds exactly what the purge took: the records
//! whose newest version is a deletion made by the same entry as the
//! environment's. They come back with the definitions their project has
//! now; a flag whose definition is gone stays gone, and one that no longer
//! validates there (its variations changed) comes back blank. Flags made
//! since start blank and disabled, as in a new environment.
//!
//! A project is purged the same way (`DELETE /v1/projects/{key}?confirm=true`,
//! level 6): every environment as above, every flag definition, then the
//! project, in one entry under one audit entry (`project.delete`, with the
//! counts). Rolling the project back restores it with the definitions that
//! entry deleted ([`restore_definitions`]); each environment is then
//! restored by its own rollback, which finds what the same entry took from
//! it, as a plain project deletion's environments are.

use std::collections::{BTreeMap, BTreeSet};

use vexil_flags::definition::definition_id;
use vexil_flags::scope::{DEFAULT_PROJECT, LEGACY_ENVIRONMENT, env_id};
use vexil_flags::{Environment, Flag, FlagDefinition, FlagSet, Project, Segment};
use vexil_storage::engine::{Scan, prefix_end};
use vexil_storage::{Cf, StorageError};

use super::audit::{self, AuditDraft};
use super::env_config::{fill_except, put_config};
use super::versioned::{
    DEFINITIONS, Definitions, ENVIRONMENTS, Environments, Flags, Kind, Outcome, PROJECTS, Projects,
    Segments, commit, last_version, not_found, set_of,
};
use super::{Ctx, decode, raw};
use crate::command::{Change, Rejection};
use crate::keys;
use crate::records::{VersionEntry, target};

/// Deletes environment `key` of `project` with everything it holds.
pub(super) fn purge_environment(
    ctx: &mut Ctx<'_>,
    project: &str,
    key: &str,
    expected: Option<u64>,
) -> Outcome {
    let id = env_id(project, key);
    let Some(current) = ENVIRONMENTS.current(ctx.state, &id) else {
        return Ok(Err(not_found::<Environments>(&id)));
    };
    if let Some(expected) = expected.filter(|e| *e != current.version) {
        return Ok(Err(Rejection::Conflict {
            kind: Environments::NAME.into(),
            key: id,
            expected,
            actual: current.version,
        }));
    }
    if id == keys::LEGACY_ENV {
        // The routes without a project serve it: it never goes.
        return Ok(Err(serves_legacy(
            Environments::NAME,
            &id,
            LEGACY_ENVIRONMENT,
        )));
    }
    let (flags, segments) = held(ctx, &id);
    let was = ctx.quiet_audit;
    ctx.quiet_audit = true;
    let purged = purge_quietly(ctx, &id, current.clone(), &flags, &segments);
    ctx.quiet_audit = was;
    let purged = purged?;
    if purged.is_ok() {
        let mut before =
            serde_json::to_value(&current).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        if let Some(o) = before.as_object_mut() {
            o.insert("flags".into(), flags.len().into());
            o.insert("segments".into(), segments.len().into());
        }
        audit::record(
            ctx,
            AuditDraft {
                action: "environment.delete".into(),
                target: target(Environments::NAME, &id),
                version: Some(current.version + 1),
                before: Some(raw(&before)?),
                after: None,
            },
        )?;
    }
    Ok(purged)
}

fn purge_quietly(
    ctx: &mut Ctx<'_>,
    id: &str,
    env: Environment,
    flags: &[Flag],
    segments: &[Segment],
) -> Outcome {
    let kind = Flags {
        env: id,
        keep_definition: true,
    };
    for f in flags {
        let record = kind.id(f);
        let version = f.version + 1;
        if let Err(r) = commit(
            ctx,
            &kind,
            &record,
            "delete",
            Some(f.clone()),
            None,
            version,
        )? {
            return Ok(Err(r));
        }
    }
    let kind = Segments { env: id };
    for s in segments {
        let record = kind.id(s);
        let version = s.version + 1;
        if let Err(r) = commit(
            ctx,
            &kind,
            &record,
            "delete",
            Some(s.clone()),
            None,
            version,
        )? {
            return Ok(Err(r));
        }
    }
    let version = env.version + 1;
    commit(ctx, &ENVIRONMENTS, id, "delete", Some(env), None, version)
}

/// Deletes project `key` with its environments, what they hold, and its
/// flag definitions (level 6).
pub(super) fn purge_project(ctx: &mut Ctx<'_>, key: &str, expected: Option<u64>) -> Outcome {
    let Some(current) = PROJECTS.current(ctx.state, key) else {
        return Ok(Err(not_found::<Projects>(key)));
    };
    if let Some(expected) = expected.filter(|e| *e != current.version) {
        return Ok(Err(Rejection::Conflict {
            kind: Projects::NAME.into(),
            key: key.into(),
            expected,
            actual: current.version,
        }));
    }
    if key == DEFAULT_PROJECT {
        return Ok(Err(serves_legacy(
            Projects::NAME,
            key,
            &format!("its {LEGACY_ENVIRONMENT}"),
        )));
    }
    let envs: Vec<Environment> = ctx
        .state
        .environments_of(key)
        .into_iter()
        .cloned()
        .collect();
    let definitions: Vec<FlagDefinition> =
        ctx.state.definitions_of(key).into_iter().cloned().collect();
    let was = ctx.quiet_audit;
    ctx.quiet_audit = true;
    let purged = purge_project_quietly(ctx, &current, &envs, &definitions);
    ctx.quiet_audit = was;
    let (flags, segments) = match purged? {
        Ok(counts) => counts,
        Err(r) => return Ok(Err(r)),
    };
    let mut before =
        serde_json::to_value(&current).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    if let Some(o) = before.as_object_mut() {
        o.insert(
            "environments".into(),
            serde_json::to_value(&envs).map_err(|e| StorageError::Corrupt(e.to_string()))?,
        );
        o.insert("flags".into(), definitions.len().into());
        o.insert("configurations".into(), flags.into());
        o.insert("segments".into(), segments.into());
    }
    audit::record(
        ctx,
        AuditDraft {
            action: "project.delete".into(),
            target: target(Projects::NAME, key),
            version: Some(current.version + 1),
            before: Some(raw(&before)?),
            after: None,
        },
    )?;
    Ok(Ok(Change::Project {
        before: Some(Box::new(current)),
        after: None,
    }))
}

/// The writes of [`purge_project`]; the number of configurations and
/// segments deleted.
fn purge_project_quietly(
    ctx: &mut Ctx<'_>,
    project: &Project,
    envs: &[Environment],
    definitions: &[FlagDefinition],
) -> Result<Result<(usize, usize), Rejection>, StorageError> {
    let (mut flags, mut segments) = (0, 0);
    for env in envs {
        let id = env.id();
        let (held, segs) = held(ctx, &id);
        flags += held.len();
        segments += segs.len();
        if let Err(r) = purge_quietly(ctx, &id, env.clone(), &held, &segs)? {
            return Ok(Err(r));
        }
    }
    for def in definitions {
        let id = def.id();
        if let Err(r) = commit(
            ctx,
            &DEFINITIONS,
            &id,
            "delete",
            Some(def.clone()),
            None,
            def.version + 1,
        )? {
            return Ok(Err(r));
        }
    }
    // Not `versioned::delete`: it refuses a project that holds flags, and
    // the state it reads is the one before this command.
    let version = project.version + 1;
    if let Err(r) = commit(
        ctx,
        &PROJECTS,
        &project.key,
        "delete",
        Some(project.clone()),
        None,
        version,
    )? {
        return Ok(Err(r));
    }
    Ok(Ok((flags, segments)))
}

/// In the entry that restores project `key` (level 6): the flag
/// definitions the entry that deleted it took, each as a new version, so
/// its environments' rollbacks find their flags' definitions.
pub(super) fn restore_definitions(ctx: &mut Ctx<'_>, key: &str) -> Result<usize, StorageError> {
    let Some(index) = deleted_by::<Projects>(ctx, key)? else {
        return Ok(0);
    };
    let taken = taken_by(ctx, keys::HISTORY_DEFINITION, key, index)?;
    let was = ctx.quiet_audit;
    ctx.quiet_audit = true;
    let restored = (|| {
        let mut n = 0;
        for old in taken {
            let mut def: FlagDefinition =
                serde_json::from_value(old).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            let id = def.id();
            let version = last_version::<Definitions>(ctx, &id)? + 1;
            let created = def.created_at.unwrap_or(ctx.at);
            DEFINITIONS.stamp(&mut def, version, created, ctx.at, &ctx.cmd.actor);
            commit(ctx, &DEFINITIONS, &id, "restore", None, Some(def), version)?.ok();
            n += 1;
        }
        Ok(n)
    })();
    ctx.quiet_audit = was;
    restored
}

/// Every flag configuration and segment environment `id` holds (in the
/// state before the command).
pub(super) fn held(ctx: &Ctx<'_>, id: &str) -> (Vec<Flag>, Vec<Segment>) {
    let set = set_of(ctx.state, id);
    let flags = set.flags().map(|f| Flag::clone(f.flag())).collect();
    let segments = set
        .segments()
        .map(|s| Segment::clone(s.segment()))
        .collect();
    (flags, segments)
}

/// The refusal to delete `default` or its `production`, which the routes
/// without a project serve (`what`). The words are stored as the answer on
/// every node, so an environment's stay the previous release's.
fn serves_legacy(kind: &str, key: &str, what: &str) -> Rejection {
    Rejection::InUse {
        kind: kind.into(),
        key: key.into(),
        by: vec![format!(
            "the routes without a project (/v1/flags, /v1/segments, evaluation, the stream, OFREP) serve {what}"
        )],
    }
}

/// The log index of the entry that deleted record `id` of kind `K` (an
/// environment, a project), when its newest version is a deletion (read
/// before it is restored).
pub(super) fn deleted_by<K: Kind>(ctx: &Ctx<'_>, id: &str) -> Result<Option<u64>, StorageError> {
    let last = last_version::<K>(ctx, id)?;
    let Some(raw) = ctx
        .engine
        .get(Cf::History, &keys::scoped_u64(K::HISTORY, id, last))?
    else {
        return Ok(None);
    };
    let entry: VersionEntry = decode(&raw)?;
    Ok(entry.state.is_none().then_some(entry.index))
}

/// The records under `prefix` (a history prefix and `project/env/`) whose
/// newest version is a deletion made by entry `index`: each one's last
/// state before it, by key.
fn taken_by(
    ctx: &Ctx<'_>,
    history: u8,
    env: &str,
    index: u64,
) -> Result<Vec<serde_json::Value>, StorageError> {
    // `history` + `project/env/`: every record of the environment (a
    // history key is the record's, a NUL, then the version).
    let mut start = vec![history];
    start.extend_from_slice(format!("{env}/").as_bytes());
    let end = prefix_end(&start);
    let rows = ctx.engine.scan(
        Cf::History,
        Scan {
            start: &start,
            end: Some(&end),
            reverse: false,
            limit: usize::MAX,
        },
    )?;
    // (record, newest entry, the state before it), in key order.
    let mut newest: BTreeMap<Vec<u8>, (VersionEntry, Option<serde_json::Value>)> = BTreeMap::new();
    for (k, v) in rows {
        let Some(record) = k.len().checked_sub(8).map(|n| k[..n].to_vec()) else {
            continue;
        };
        let entry: VersionEntry = decode(&v)?;
        let prior = newest.remove(&record).and_then(|(e, _)| e.state);
        newest.insert(record, (entry, prior));
    }
    Ok(newest
        .into_values()
        .filter(|(e, _)| e.state.is_none() && e.index == index)
        .filter_map(|(_, prior)| prior)
        .collect())
}

/// Brings back what the purge of environment `id` (entry `index`) took,
/// then gives it a blank configuration of every other flag of its project.
/// Called in the entry that restores the environment.
pub(super) fn restore_environment(
    ctx: &mut Ctx<'_>,
    project: &str,
    id: &str,
    index: Option<u64>,
) -> Result<(), StorageError> {
    let was = ctx.quiet_audit;
    ctx.quiet_audit = true;
    let restored = restore_quietly(ctx, project, id, index);
    ctx.quiet_audit = was;
    restored
}

fn restore_quietly(
    ctx: &mut Ctx<'_>,
    project: &str,
    id: &str,
    index: Option<u64>,
) -> Result<(), StorageError> {
    let (segments, flags) = match index {
        Some(index) => (
            taken_by(ctx, keys::HISTORY_SEGMENT, id, index)?,
            taken_by(ctx, keys::HISTORY_FLAG, id, index)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let corrupt = |e: serde_json::Error| StorageError::Corrupt(e.to_string());
    let segments: Vec<Segment> = segments
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(corrupt)?;
    // Each flag with the definition its project has now; one whose
    // definition is gone stays gone.
    let flags: Vec<(Flag, Flag)> = flags
        .into_iter()
        .map(serde_json::from_value::<Flag>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(corrupt)?
        .into_iter()
        .filter_map(|old| {
            let def = ctx
                .state
                .definitions
                .get(&definition_id(project, &old.key))?;
            Some((def.flag_with(&old), def.blank(&old)))
        })
        .collect();
    // Checked together: the state the command reads is the one before it.
    let together = FlagSet::from_parts(
        flags.iter().map(|(f, _)| f.clone()).collect(),
        segments.clone(),
    );
    let kind = Segments { env: id };
    for mut s in segments {
        let record = kind.id(&s);
        let version = last_version::<Segments>(ctx, &record)? + 1;
        let created = s.created_at.unwrap_or(ctx.at);
        kind.stamp(&mut s, version, created, ctx.at, &ctx.cmd.actor);
        commit(ctx, &kind, &record, "restore", None, Some(s), version)?.ok();
    }
    let mut done = BTreeSet::new();
    for (flag, blank) in flags {
        let flag = if vexil_flags::validate_flag(&flag, &together).is_empty() {
            flag
        } else {
            blank
        };
        done.insert(flag.key.clone());
        put_config(ctx, id, flag, "restore")?.ok();
    }
    fill_except(ctx, project, &[id.to_owned()], &done)?;
    Ok(())
}
