//! Applying a command: deterministic, openraft-free.
//!
//! [`apply_command`] reads the current state (the mirror and the engine) and
//! returns a [`WriteBatch`] holding the change, its version, its audit entry
//! and its idempotency record, plus the [`Effect`]s to make on the mirror once
//! the batch is written. Either all of it is committed or none of it.

mod audit;
mod cluster;
mod copy;
mod env_config;
mod promote;
mod purge;
mod stored;
mod tokens;
mod versioned;

use chrono::{DateTime, TimeZone, Utc};
use vexil_storage::{Cf, Engine, StorageError, WriteBatch};

use crate::command::{Change, Command, Op, Rejection, Response, SYSTEM_ACTOR};
use crate::keys;
use crate::records::TokenRecord;
use crate::state::State;
use crate::version;

/// How many log entries a request id is remembered for, at least, for
/// idempotency: ids are kept by generation (`index / DEDUPE_WINDOW`), a
/// lookup reads the current generation and the one before, so a retry is
/// recognised for at least this many entries and at most twice as many.
pub const DEDUPE_WINDOW: u64 = 100_000;

/// A change to make on the mirror after the batch is written.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// In the environment `project/environment`.
    UpsertFlag(String, vexil_flags::Flag),
    /// A flag compiled once for several environments (the blanks a new
    /// unscoped flag derives, which are alike).
    UpsertCompiled(String, vexil_flags::CompiledFlag),
    /// The environment and the key.
    RemoveFlag(String, String),
    UpsertSegment(String, vexil_flags::Segment),
    RemoveSegment(String, String),
    UpsertDefinition(vexil_flags::FlagDefinition),
    /// By `project/key`.
    RemoveDefinition(String),
    UpsertToken(TokenRecord),
    RemoveToken(String),
    LastAt(i64),
    /// Every idempotency record below this generation is deleted.
    RequestsPrunedBelow(u64),
    /// The idempotency records in the layout before generations are deleted.
    LegacyRequestsGone,
    /// The cluster's feature level was raised.
    ClusterLevel(u32),
    UpsertProject(vexil_flags::Project),
    RemoveProject(String),
    UpsertEnvironment(vexil_flags::Environment),
    /// By `project/environment`.
    RemoveEnvironment(String),
}

impl Effect {
    /// Whether this publishes an event on the feed of the routes without a
    /// project (`default`/`production`).
    pub(crate) fn changes_legacy_feed(&self) -> bool {
        match self {
            Effect::UpsertFlag(env, _)
            | Effect::UpsertCompiled(env, _)
            | Effect::RemoveFlag(env, _)
            | Effect::UpsertSegment(env, _)
            | Effect::RemoveSegment(env, _) => env == keys::LEGACY_ENV,
            _ => false,
        }
    }
}

/// The outcome of applying one command.
#[derive(Debug)]
pub(crate) struct Applied {
    pub batch: WriteBatch,
    pub response: Response,
    pub effects: Vec<Effect>,
}

/// Everything one apply needs, and what it accumulates.
pub(crate) struct Ctx<'a> {
    pub engine: &'a dyn Engine,
    pub state: &'a State,
    pub index: u64,
    pub cmd: &'a Command,
    /// `cmd.at`, clamped so audit time never goes backwards.
    pub at: DateTime<Utc>,
    pub batch: WriteBatch,
    pub effects: Vec<Effect>,
    /// Set while a command writes several versions that its own audit
    /// entries describe (a project with its environments, a promotion):
    /// the versions then write none of their own.
    pub quiet_audit: bool,
}

/// Applies `cmd`, committed at log `index`, against the current state.
pub(crate) fn apply_command(
    engine: &dyn Engine,
    state: &State,
    index: u64,
    cmd: &Command,
) -> Result<Applied, StorageError> {
    let fingerprint = fingerprint(cmd);
    if let Some((mut response, stored)) = remembered(engine, state, index, &cmd.request_id)? {
        response.duplicate = true;
        // Only an answer stored with a fingerprint can say: one written by
        // the previous release has none, and is the answer as before.
        response.key_reused = matches!(
            (&stored, &fingerprint),
            (Some(stored), Some(now)) if stored != now
        );
        return Ok(Applied {
            batch: WriteBatch::new(),
            response,
            effects: Vec::new(),
        });
    }
    let at = clamp_time(cmd.at, state.last_at_ms);
    let mut ctx = Ctx {
        engine,
        state,
        index,
        cmd,
        at,
        batch: WriteBatch::new(),
        effects: vec![Effect::LastAt(at.timestamp_millis())],
        quiet_audit: false,
    };
    let result = match authorize(state, cmd) {
        Ok(()) => dispatch(&mut ctx)?,
        Err(rejection) => Err(rejection),
    };
    let response = Response {
        index,
        duplicate: false,
        key_reused: false,
        result,
    };
    let mut ctx = if response.result.is_ok() {
        ctx
    } else {
        // A rejected command changes nothing but its idempotency record.
        Ctx {
            batch: WriteBatch::new(),
            effects: Vec::new(),
            ..ctx
        }
    };
    // `ctx.at` is persisted by the state machine, in the `applied` record,
    // from the `LastAt` effect.
    remember_request(&mut ctx, &response, fingerprint.as_deref())?;
    Ok(Applied {
        batch: ctx.batch,
        response,
        effects: ctx.effects,
    })
}

fn dispatch(ctx: &mut Ctx<'_>) -> Result<Result<Change, Rejection>, StorageError> {
    let changed = dispatch_op(ctx)?;
    let op = &ctx.cmd.op;
    if let (Ok(change), true) = (&changed, op.is_legacy_flag_change()) {
        // From level 4 on, `default`'s definitions and other environments
        // follow: all or nothing, in this entry.
        if let Err(r) = env_config::follow_legacy(ctx, op, change)? {
            return Ok(Err(r));
        }
    }
    Ok(changed)
}

fn dispatch_op(ctx: &mut Ctx<'_>) -> Result<Result<Change, Rejection>, StorageError> {
    use versioned::{ENVIRONMENTS, FLAGS, PROJECTS, SEGMENTS};
    let op = &ctx.cmd.op;
    match op {
        Op::CreateFlag { flag } => versioned::create(ctx, &FLAGS, flag.clone()),
        Op::UpdateFlag {
            flag,
            expected_version,
        } => versioned::update(ctx, &FLAGS, flag.clone(), *expected_version),
        Op::ToggleFlag { key, enabled } => versioned::toggle(ctx, &FLAGS, key, *enabled),
        Op::DeleteFlag {
            key,
            expected_version,
        } => versioned::delete(ctx, &FLAGS, key, *expected_version),
        Op::RollbackFlag { key, version } => versioned::rollback(ctx, &FLAGS, key, *version),
        Op::CreateSegment { segment } => versioned::create(ctx, &SEGMENTS, segment.clone()),
        Op::UpdateSegment {
            segment,
            expected_version,
        } => versioned::update(ctx, &SEGMENTS, segment.clone(), *expected_version),
        Op::DeleteSegment {
            key,
            expected_version,
        } => versioned::delete(ctx, &SEGMENTS, key, *expected_version),
        Op::RollbackSegment { key, version } => versioned::rollback(ctx, &SEGMENTS, key, *version),
        Op::CreateToken {
            name,
            role,
            secret_hash,
        } => tokens::create(ctx, name, *role, secret_hash, None),
        Op::CreateScopedToken {
            name,
            role,
            secret_hash,
            scope,
        } => tokens::create(ctx, name, *role, secret_hash, Some(scope)),
        Op::DeleteToken { name } => tokens::delete(ctx, name),
        Op::SetClusterLevel { level } => {
            let from = ctx.state.level();
            let set = cluster::set_level(ctx, *level)?;
            env_config::on_level(ctx, from, *level)?;
            Ok(set)
        }
        Op::AuditCluster { change } => cluster::audit(ctx, change),
        Op::CreateProject {
            project,
            environments,
        } => versioned::create_project(ctx, project.clone(), environments),
        Op::UpdateProject {
            project,
            expected_version,
        } => versioned::update(ctx, &PROJECTS, project.clone(), *expected_version),
        Op::DeleteProject {
            key,
            expected_version,
        } => versioned::delete_project(ctx, key, *expected_version),
        Op::RollbackProject { key, version } => {
            // From level 6 a restored project gets back the flag
            // definitions its deletion took (`purge::restore_definitions`).
            let restoring = ctx.state.level() >= version::ENV_COPY
                && !ctx.state.projects.contains_key(key.as_str());
            let restored = versioned::rollback(ctx, &PROJECTS, key, *version)?;
            if restored.is_ok() && restoring {
                purge::restore_definitions(ctx, key)?;
            }
            Ok(restored)
        }
        Op::PurgeProject {
            key,
            expected_version,
        } => purge::purge_project(ctx, key, *expected_version),
        Op::CreateEnvironment { environment } => {
            let made = versioned::create(ctx, &ENVIRONMENTS, environment.clone())?;
            if made.is_ok() && ctx.state.level() >= version::ENV_CONFIG {
                // A new environment starts with every flag of its project,
                // disabled.
                let id = environment.id();
                ctx.quiet_audit = true;
                let filled = env_config::fill(ctx, &environment.project, &[id]);
                ctx.quiet_audit = false;
                filled?;
            }
            Ok(made)
        }
        Op::CreateEnvironmentFrom { environment, from } => {
            copy::create_environment_from(ctx, environment, from)
        }
        Op::UpdateEnvironment {
            environment,
            expected_version,
        } => versioned::update(ctx, &ENVIRONMENTS, environment.clone(), *expected_version),
        Op::DeleteEnvironment {
            project,
            key,
            expected_version,
        } => {
            let id = vexil_flags::scope::env_id(project, key);
            versioned::delete(ctx, &ENVIRONMENTS, &id, *expected_version)
        }
        Op::PurgeEnvironment {
            project,
            key,
            expected_version,
        } => purge::purge_environment(ctx, project, key, *expected_version),
        Op::RollbackEnvironment {
            project,
            key,
            version,
        } => {
            let id = vexil_flags::scope::env_id(project, key);
            let deleted_by = purge::deleted_by::<versioned::Environments>(ctx, &id)?;
            let restored = versioned::rollback(ctx, &ENVIRONMENTS, &id, *version)?;
            if restored.is_ok() && ctx.state.level() >= version::ENV_CONFIG {
                // What a purge took comes back; the flags it lacks start
                // disabled and blank, as in a new environment.
                purge::restore_environment(ctx, project, &id, deleted_by)?;
            }
            Ok(restored)
        }
        Op::CreateProjectFlag { project, flag } => {
            env_config::create_project_flag(ctx, project, flag)
        }
        Op::UpdateFlagDefinition {
            definition,
            expected_version,
        } => env_config::update_definition(ctx, definition, *expected_version),
        Op::DeleteProjectFlag {
            project,
            key,
            expected_version,
        } => env_config::delete_project_flag(ctx, project, key, *expected_version),
        Op::RollbackFlagDefinition {
            project,
            key,
            version,
        } => env_config::rollback_definition(ctx, project, key, *version),
        Op::UpdateFlagIn {
            project,
            environment,
            flag,
            expected_version,
        } => env_config::update_in(ctx, project, environment, flag, *expected_version),
        Op::ToggleFlagIn {
            project,
            environment,
            key,
            enabled,
        } => env_config::toggle_in(ctx, project, environment, key, *enabled),
        Op::RollbackFlagIn {
            project,
            environment,
            key,
            version,
        } => env_config::rollback_in(ctx, project, environment, key, *version),
        Op::CreateSegmentIn { .. }
        | Op::UpdateSegmentIn { .. }
        | Op::DeleteSegmentIn { .. }
        | Op::RollbackSegmentIn { .. } => env_config::segment_in(ctx, op),
        Op::Promote {
            project,
            from,
            to,
            flags,
        } => promote::promote(ctx, project, from, to, flags),
        Op::RollbackPromotion { project, id } => promote::rollback(ctx, project, *id),
    }
}

/// The actor must still hold a token with the role the change needs, so a
/// revoked token stops working cluster-wide the moment its revocation applies.
fn authorize(state: &State, cmd: &Command) -> Result<(), Rejection> {
    if cmd.actor == SYSTEM_ACTOR {
        return Ok(());
    }
    let needs = cmd.op.required_role();
    match state.tokens.get(&cmd.actor) {
        Some(token) if token.role.allows(needs) => Ok(()),
        _ => Err(Rejection::Forbidden {
            actor: cmd.actor.clone(),
            needs,
        }),
    }
}

pub(crate) fn generation(index: u64) -> u64 {
    index / DEDUPE_WINDOW
}

/// What a stored answer is compared with when its request id comes again:
/// a hash (XXH3-128, hex) of the change asked for, as its JSON in the log.
/// Only ids a client chose (`key:`, from `Idempotency-Key`) get one; the
/// API's random ids are never sent twice, and Vexil's own are fixed.
///
/// Computed here, from the command, rather than sent in it: every node of
/// this release computes the same one from the same entry, a forwarded
/// command cannot carry a wrong one, and no field is added to `Command`.
/// A node of the previous release stores none and compares none; a
/// duplicate writes nothing on either, so the two never diverge. (A
/// later release that encodes the same op differently would see a retry
/// of an older write as a reused key; such a change must keep this hash.)
fn fingerprint(cmd: &Command) -> Option<String> {
    if !cmd.request_id.starts_with("key:") {
        return None;
    }
    let op = serde_json::to_vec(&cmd.op).ok()?;
    Some(format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&op)))
}

/// The answer kept for `id`, and its fingerprint, if a write with that id
/// was applied within the window before `index`.
fn remembered(
    engine: &dyn Engine,
    state: &State,
    index: u64,
    id: &str,
) -> Result<Option<(Response, Option<String>)>, StorageError> {
    let now = generation(index);
    for g in [Some(now), now.checked_sub(1)].into_iter().flatten() {
        if let Some(bytes) = engine.get(Cf::Meta, &keys::request_in(g, id))? {
            return stored::from_stored_with_fingerprint(engine, &bytes).map(Some);
        }
    }
    if state.legacy_requests_until.is_none() {
        return Ok(None);
    }
    // The layout before generations: the same window, from the answer's
    // own index, so that what counts does not depend on when the old
    // records are deleted.
    match engine.get(Cf::Meta, &keys::request(id))? {
        Some(bytes) => {
            let response = stored::from_stored(engine, &bytes)?;
            let recent = index.saturating_sub(response.index) < DEDUPE_WINDOW;
            Ok(recent.then_some((response, None)))
        }
        None => Ok(None),
    }
}

/// The answer kept for request `id` in the layout by generation, on a
/// replica that has applied up to `applied` (the two generations a write
/// at `applied + 1` would read).
pub(crate) fn kept_answer(
    engine: &dyn Engine,
    applied: u64,
    id: &str,
) -> Result<Option<Response>, StorageError> {
    let now = generation(applied.saturating_add(1));
    for g in [Some(now), now.checked_sub(1)].into_iter().flatten() {
        if let Some(bytes) = engine.get(Cf::Meta, &keys::request_in(g, id))? {
            return stored::from_stored_with_fingerprint(engine, &bytes).map(|(r, _)| Some(r));
        }
    }
    Ok(None)
}

/// Stores the response (and the request's fingerprint) under the request
/// id, in the current generation.
/// Entering a generation drops the ones before the previous with one range
/// delete: two range deletes per `DEDUPE_WINDOW` entries, instead of an
/// index key per write and two deletes per id when it ages out.
fn remember_request(
    ctx: &mut Ctx<'_>,
    response: &Response,
    fingerprint: Option<&str>,
) -> Result<(), StorageError> {
    let now = generation(ctx.index);
    ctx.batch.put(
        Cf::Meta,
        keys::request_in(now, &ctx.cmd.request_id),
        stored::to_stored_with_fingerprint(
            response,
            fingerprint,
            ctx.cmd.op.environment().is_some(),
        )?,
    );
    let keep_from = now.saturating_sub(1);
    if ctx.state.requests_pruned_below < keep_from {
        ctx.batch.delete_range(
            Cf::Meta,
            keys::request_in(0, ""),
            keys::request_in(keep_from, ""),
        );
        ctx.effects.push(Effect::RequestsPrunedBelow(keep_from));
    }
    if let Some(until) = ctx.state.legacy_requests_until
        && ctx.index.saturating_sub(until) >= DEDUPE_WINDOW
    {
        for prefix in [keys::META_REQUEST, keys::META_REQUEST_INDEX] {
            ctx.batch.delete_range(Cf::Meta, [prefix], [prefix + 1]);
        }
        ctx.effects.push(Effect::LegacyRequestsGone);
    }
    Ok(())
}

fn clamp_time(at: DateTime<Utc>, last_ms: i64) -> DateTime<Utc> {
    if at.timestamp_millis() >= last_ms {
        at
    } else {
        Utc.timestamp_millis_opt(last_ms).single().unwrap_or(at)
    }
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(value).map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// `value` as JSON text, to embed in a record without a [`serde_json::Value`].
pub(crate) fn raw<T: serde::Serialize>(
    value: &T,
) -> Result<Box<serde_json::value::RawValue>, StorageError> {
    serde_json::value::to_raw_value(value).map_err(|e| StorageError::Corrupt(e.to_string()))
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// Makes a written batch's effects visible: updates the mirror and publishes
/// feed events, all under the write lock.
pub(crate) fn commit_effects(shared: &crate::state::Shared, index: u64, effects: Vec<Effect>) {
    use vexil_flags::wire::Change as Feed;
    let mut state = shared.write();
    for effect in effects {
        match effect {
            Effect::UpsertFlag(env, flag) => {
                let key = flag.key.clone();
                let set = state.set_mut(&env);
                set.upsert_flag(flag);
                let f = set.get_flag(&key).map(|f| f.flag().clone());
                if let Some(f) = f {
                    shared.publish(&mut state, &env, index, Feed::FlagUpsert { flag: f });
                }
            }
            Effect::UpsertCompiled(env, compiled) => {
                let flag = compiled.flag().clone();
                state.set_mut(&env).insert_compiled_flag(compiled);
                shared.publish(&mut state, &env, index, Feed::FlagUpsert { flag });
            }
            Effect::RemoveFlag(env, key) => {
                state.set_mut(&env).remove_flag(&key);
                shared.publish(&mut state, &env, index, Feed::FlagDelete { key });
            }
            Effect::UpsertSegment(env, segment) => {
                let key = segment.key.clone();
                let set = state.set_mut(&env);
                set.upsert_segment(segment);
                let s = set.get_segment(&key).map(|s| s.segment().clone());
                if let Some(s) = s {
                    shared.publish(&mut state, &env, index, Feed::SegmentUpsert { segment: s });
                }
            }
            Effect::RemoveSegment(env, key) => {
                state.set_mut(&env).remove_segment(&key);
                shared.publish(&mut state, &env, index, Feed::SegmentDelete { key });
            }
            Effect::UpsertDefinition(d) => {
                state.definitions.insert(d.id(), d);
            }
            Effect::RemoveDefinition(id) => {
                state.definitions.remove(&id);
            }
            Effect::UpsertToken(token) => {
                state
                    .token_hashes
                    .insert(token.digest().to_owned(), token.name.clone());
                state.tokens.insert(token.name.clone(), token);
            }
            Effect::RemoveToken(name) => {
                if let Some(t) = state.tokens.remove(&name) {
                    state.token_hashes.remove(t.digest());
                }
            }
            Effect::LastAt(ms) => state.last_at_ms = state.last_at_ms.max(ms),
            Effect::RequestsPrunedBelow(g) => {
                state.requests_pruned_below = state.requests_pruned_below.max(g);
            }
            Effect::LegacyRequestsGone => state.legacy_requests_until = None,
            Effect::ClusterLevel(level) => state.cluster_level = state.cluster_level.max(level),
            Effect::UpsertProject(p) => {
                state.projects.insert(p.key.clone(), p);
            }
            Effect::RemoveProject(key) => {
                state.projects.remove(&key);
            }
            Effect::UpsertEnvironment(e) => {
                state.environments.insert(e.id(), e);
            }
            Effect::RemoveEnvironment(id) => {
                state.environments.remove(&id);
                state.scoped.remove(&id);
            }
        }
    }
    state.applied = state.applied.max(index);
}

#[cfg(test)]
mod tests {
    use vexil_storage::{Durability, MemEngine};

    use super::*;

    fn command(id: &str) -> Command {
        Command {
            request_id: id.into(),
            actor: SYSTEM_ACTOR.into(),
            at: Utc::now(),
            needs_level: None,
            op: Op::DeleteToken {
                name: "absent".into(),
            },
        }
    }

    /// Applies the command with request id `id` at `index`, as the state
    /// machine does, and returns whether it was a duplicate.
    fn apply_at(engine: &MemEngine, state: &mut State, index: u64, id: &str) -> bool {
        let applied = apply_command(engine, state, index, &command(id)).expect("apply");
        engine
            .write(applied.batch, Durability::Sync)
            .expect("write");
        for effect in applied.effects {
            match effect {
                Effect::RequestsPrunedBelow(g) => {
                    state.requests_pruned_below = state.requests_pruned_below.max(g);
                }
                Effect::LegacyRequestsGone => state.legacy_requests_until = None,
                _ => {}
            }
        }
        applied.response.duplicate
    }

    fn kept(engine: &MemEngine, generation: u64, id: &str) -> bool {
        engine
            .get(Cf::Meta, &keys::request_in(generation, id))
            .expect("get")
            .is_some()
    }

    #[test]
    fn a_reused_key_is_told_from_a_retry_by_the_fingerprint_when_both_have_one() {
        let engine = MemEngine::new();
        let state = State::default();
        let cmd = |id: &str, name: &str| Command {
            request_id: id.into(),
            actor: SYSTEM_ACTOR.into(),
            at: Utc::now(),
            needs_level: None,
            op: Op::DeleteToken { name: name.into() },
        };
        let apply = |cmd: &Command, index: u64| {
            let applied = apply_command(&engine, &state, index, cmd).expect("apply");
            let wrote = !applied.batch.is_empty();
            engine
                .write(applied.batch, Durability::Sync)
                .expect("write");
            (applied.response, wrote)
        };
        let (first, wrote) = apply(&cmd("key:k:scope", "absent"), 1);
        assert!(wrote && !first.duplicate && !first.key_reused);
        let (retry, wrote) = apply(&cmd("key:k:scope", "absent"), 2);
        assert!(!wrote && retry.duplicate && !retry.key_reused);
        let (reused, wrote) = apply(&cmd("key:k:scope", "another"), 3);
        assert!(!wrote && reused.duplicate && reused.key_reused);
        // Still the first answer: what the previous release answers.
        assert_eq!((reused.index, &reused.result), (first.index, &first.result));

        // An answer the previous release stored has no fingerprint: the
        // stored answer, as before.
        let mut b = WriteBatch::new();
        let old = Response {
            index: 4,
            ..first.clone()
        };
        let bytes = stored::to_stored(&old).expect("encode");
        b.put(Cf::Meta, keys::request_in(0, "key:old:scope"), bytes);
        engine.write(b, Durability::Sync).expect("write");
        let (answer, _) = apply(&cmd("key:old:scope", "another"), 5);
        assert!(answer.duplicate && !answer.key_reused);

        // Ids the API generates are never sent twice: no fingerprint kept.
        apply(&cmd("req:0123", "absent"), 6);
        let kept = engine
            .get(Cf::Meta, &keys::request_in(0, "req:0123"))
            .expect("get")
            .expect("kept");
        assert!(!String::from_utf8_lossy(&kept).contains("fingerprint"));
        let kept = engine
            .get(Cf::Meta, &keys::request_in(0, "key:k:scope"))
            .expect("get")
            .expect("kept");
        assert!(String::from_utf8_lossy(&kept).contains("\"fingerprint\":\""));
    }

    #[test]
    fn request_ids_are_remembered_for_the_window_and_dropped_by_generation() {
        const W: u64 = DEDUPE_WINDOW;
        let engine = MemEngine::new();
        let mut state = State::default();
        assert!(!apply_at(&engine, &mut state, 5, "early"));
        assert!(!apply_at(&engine, &mut state, W - 1, "late"));
        assert!(kept(&engine, 0, "early") && kept(&engine, 0, "late"));

        // A retry within the window is recognised, across the generation
        // boundary too.
        assert!(apply_at(&engine, &mut state, W + 2, "early"));
        assert!(apply_at(&engine, &mut state, 2 * W - 2, "late"));
        assert_eq!(state.requests_pruned_below, 0, "nothing dropped yet");

        // Entering generation 2 drops generation 0 with one range delete;
        // generation 1 stays.
        assert!(!apply_at(&engine, &mut state, 2 * W, "g1"));
        assert!(!kept(&engine, 0, "early") && !kept(&engine, 0, "late"));
        assert_eq!(state.requests_pruned_below, 1);
        assert!(kept(&engine, 2, "g1"));
        // "late" was last written at 2W - 2 only as a duplicate, which
        // stores nothing: past generation 0, it is a new request.
        assert!(!apply_at(&engine, &mut state, 2 * W + 1, "late"));

        // After a restart the bound is unknown: the drop is repeated (a
        // no-op) and what is kept is unchanged.
        state.requests_pruned_below = 0;
        assert!(!apply_at(&engine, &mut state, 2 * W + 3, "after-restart"));
        assert_eq!(state.requests_pruned_below, 1);
        assert!(apply_at(&engine, &mut state, 2 * W + 4, "g1"));
    }

    #[test]
    fn request_ids_in_the_layout_before_generations_count_until_they_age_out() {
        const W: u64 = DEDUPE_WINDOW;
        let engine = MemEngine::new();
        // A store written before generations: `r` + id and `i` + index.
        let old = 1_000;
        let mut b = WriteBatch::new();
        for (index, id) in [(old - 1, "older"), (old, "old")] {
            let response = Response {
                index,
                duplicate: false,
                key_reused: false,
                result: Err(Rejection::NotFound {
                    kind: "token".into(),
                    key: "absent".into(),
                }),
            };
            b.put(
                Cf::Meta,
                keys::request(id),
                stored::to_stored(&response).expect("encode"),
            );
            b.put(Cf::Meta, keys::request_index(index), id.as_bytes().to_vec());
        }
        engine.write(b, Durability::Sync).expect("write");
        let mut state = crate::loader::load_state(&engine).expect("load");
        assert_eq!(state.legacy_requests_until, Some(old));

        // Inside the window, counted from each answer's own index.
        assert!(apply_at(&engine, &mut state, old + 10, "old"));
        assert!(!apply_at(&engine, &mut state, old - 1 + W, "older"));
        assert!(apply_at(&engine, &mut state, old - 1 + W, "old"));
        assert!(state.legacy_requests_until.is_some());

        // Once the newest is out of the window, all of them go.
        assert!(!apply_at(&engine, &mut state, old + W, "old"));
        assert_eq!(state.legacy_requests_until, None);
        for key in [keys::request("old"), keys::request_index(old)] {
            assert!(engine.get(Cf::Meta, &key).expect("get").is_none());
        }
        assert_eq!(
            crate::loader::load_state(&engine)
                .expect("load")
                .legacy_requests_until,
            None
        );
    }

    /// The level is raised once, persisted, survives a reload (a store
    /// without it reads as level 1), and membership changes are audited
    /// with their actor.
    #[test]
    fn t21_the_cluster_level_is_raised_once_and_cluster_changes_are_audited() {
        use crate::command::ClusterChange;
        let engine = MemEngine::new();
        assert_eq!(crate::loader::load_state(&engine).unwrap().level(), 1);
        let shared = crate::state::Shared::new(State::default(), Default::default());
        let apply = |index: u64, actor: &str, op: Op| {
            let cmd = Command {
                request_id: format!("req:{index}"),
                actor: actor.into(),
                at: Utc::now(),
                needs_level: None,
                op,
            };
            let applied = {
                let state = shared.read();
                apply_command(&engine, &state, index, &cmd).expect("apply")
            };
            engine
                .write(applied.batch, Durability::Sync)
                .expect("write");
            commit_effects(&shared, index, applied.effects);
            applied.response
        };
        apply(1, SYSTEM_ACTOR, Op::SetClusterLevel { level: 2 });
        assert_eq!(shared.read().level(), 2);
        // Raced or retried: nothing more.
        apply(2, SYSTEM_ACTOR, Op::SetClusterLevel { level: 2 });
        assert_eq!(crate::loader::load_state(&engine).unwrap().level(), 2);
        let audit = |id: u64| -> crate::records::AuditEntry {
            decode(
                &engine
                    .get(Cf::Audit, &keys::audit_entry(id))
                    .unwrap()
                    .unwrap(),
            )
            .unwrap()
        };
        assert!(
            engine
                .get(Cf::Audit, &keys::audit_entry(1))
                .unwrap()
                .is_none()
        );

        // An admin token may audit a change; an editor may not.
        apply(
            3,
            SYSTEM_ACTOR,
            Op::CreateToken {
                name: "ops".into(),
                role: crate::records::Role::Admin,
                secret_hash: "h".into(),
            },
        );
        let change = ClusterChange::MemberRemove { id: 3 };
        let answer = apply(
            4,
            "ops",
            Op::AuditCluster {
                change: change.clone(),
            },
        );
        assert!(answer.result.is_ok(), "{answer:?}");
        let entry = audit(4);
        assert_eq!(
            (
                entry.actor.as_str(),
                entry.action.as_str(),
                entry.target.as_str()
            ),
            ("ops", "cluster.member_remove", "node:3")
        );
        let refused = apply(5, "nobody", Op::AuditCluster { change });
        assert!(matches!(refused.result, Err(Rejection::Forbidden { .. })));
    }
}
