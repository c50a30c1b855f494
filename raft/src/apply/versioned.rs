//! Create, update, delete and roll back flags, segments, projects and
//! environments: all are versioned records with a full history, so one
//! generic path serves them all.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vexil_flags::definition::definition_id;
use vexil_flags::scope::{DEFAULT_PROJECT, LEGACY_ENVIRONMENT, split_env_id};
use vexil_flags::{Environment, FieldError, Flag, FlagDefinition, FlagSet, Project, Segment};
use vexil_storage::engine::Scan;
use vexil_storage::{Cf, StorageError};

use super::audit::{self, AuditDraft};
use super::{Ctx, Effect, decode, encode, raw};
use crate::command::{Change, Rejection};
use crate::keys;
use crate::records::{VersionEntry, VersionEntryOut, target};
use crate::state::State;

pub(super) type Outcome = Result<Result<Change, Rejection>, StorageError>;

/// What differs between the kinds of versioned record.
pub(super) trait Kind {
    type T: Clone + Serialize + DeserializeOwned;
    const NAME: &'static str;
    const HISTORY: u8;
    /// The record's name in its history, audit target and responses.
    fn id(&self, t: &Self::T) -> String;
    /// Where the current record of `id` is kept.
    fn record(&self, id: &str) -> (Cf, Vec<u8>);
    fn version(&self, t: &Self::T) -> u64;
    fn created_at(&self, t: &Self::T) -> Option<DateTime<Utc>>;
    /// Sets the server-owned metadata of a new version.
    fn stamp(
        &self,
        t: &mut Self::T,
        version: u64,
        created: DateTime<Utc>,
        at: DateTime<Utc>,
        actor: &str,
    );
    fn current(&self, state: &State, key: &str) -> Option<Self::T>;
    fn validate(&self, t: &Self::T, state: &State) -> Vec<FieldError>;
    /// A version from the history as a rollback commits it.
    fn restored(&self, _state: &State, t: Self::T) -> Self::T {
        t
    }
    /// Keys of flags that would break if this record were deleted.
    fn users(&self, state: &State, key: &str) -> Vec<String>;
    fn upsert(&self, t: Self::T) -> Effect;
    /// [`Kind::upsert`] of `t`, whose JSON the write has just encoded.
    fn upsert_encoded(&self, t: Self::T, _json: &serde_json::value::RawValue) -> Effect {
        self.upsert(t)
    }
    fn remove(&self, key: String) -> Effect;
    fn change(&self, before: Option<Self::T>, after: Option<Self::T>) -> Change;
}

/// Flags of one environment: `env` is its id (`project/environment`).
/// The legacy scope's records keep their first-release keys.
pub(super) struct Flags<'a> {
    pub env: &'a str,
    /// A rollback keeps the shared definition (every route but the
    /// unscoped `/v1/flags/{key}/rollback`, which restores the whole flag
    /// and then brings the definition in step).
    pub keep_definition: bool,
}
/// Segments of one environment.
pub(super) struct Segments<'a> {
    pub env: &'a str,
}
pub(super) struct Definitions;
pub(super) struct Projects;
pub(super) struct Environments;
pub(super) const FLAGS: Flags<'static> = Flags {
    env: keys::LEGACY_ENV,
    keep_definition: false,
};
pub(super) const SEGMENTS: Segments<'static> = Segments {
    env: keys::LEGACY_ENV,
};
pub(super) const DEFINITIONS: Definitions = Definitions;
pub(super) const PROJECTS: Projects = Projects;
pub(super) const ENVIRONMENTS: Environments = Environments;

/// The key of record `id` if it is a record of environment `env`: an id
/// of another environment (a key with `/` sent in a path as `%2F`) is
/// none of this environment's records.
fn key_in<'i>(env: &str, id: &'i str) -> Option<&'i str> {
    let (of, key) = keys::split_record(id);
    (of == env).then_some(key)
}

/// The flags and segments of environment `env` (empty when it has none).
pub(super) fn set_of<'s>(state: &'s State, env: &str) -> &'s FlagSet {
    static EMPTY: std::sync::OnceLock<FlagSet> = std::sync::OnceLock::new();
    state
        .set(env)
        .unwrap_or_else(|| EMPTY.get_or_init(FlagSet::new))
}

impl Kind for Flags<'_> {
    type T = Flag;
    const NAME: &'static str = "flag";
    const HISTORY: u8 = keys::HISTORY_FLAG;
    fn id(&self, t: &Flag) -> String {
        keys::in_env(self.env, &t.key)
    }
    fn record(&self, id: &str) -> (Cf, Vec<u8>) {
        (Cf::Flags, id.as_bytes().to_vec())
    }
    fn version(&self, t: &Flag) -> u64 {
        t.version
    }
    fn created_at(&self, t: &Flag) -> Option<DateTime<Utc>> {
        t.created_at
    }
    fn stamp(
        &self,
        t: &mut Flag,
        version: u64,
        created: DateTime<Utc>,
        at: DateTime<Utc>,
        actor: &str,
    ) {
        t.version = version;
        t.created_at = Some(created);
        t.updated_at = Some(at);
        t.updated_by = Some(actor.to_owned());
        if t.salt.is_empty() {
            // Documented default: a flag's salt is its key.
            t.salt = t.key.clone();
        }
    }
    fn current(&self, state: &State, id: &str) -> Option<Flag> {
        set_of(state, self.env)
            .get_flag(key_in(self.env, id)?)
            .map(|f| Flag::clone(f.flag()))
    }
    fn validate(&self, t: &Flag, state: &State) -> Vec<FieldError> {
        vexil_flags::validate_flag(t, set_of(state, self.env))
    }
    fn users(&self, state: &State, id: &str) -> Vec<String> {
        key_in(self.env, id).map_or_else(Vec::new, |k| set_of(state, self.env).flags_requiring(k))
    }
    fn restored(&self, state: &State, mut t: Flag) -> Flag {
        // A configuration's rollback keeps the definition every
        // environment shares.
        if self.keep_definition
            && let Some((project, _)) = split_env_id(self.env)
            && let Some(def) = state.definitions.get(&definition_id(project, &t.key))
        {
            def.apply_to(&mut t);
        }
        t
    }
    fn upsert(&self, t: Flag) -> Effect {
        Effect::UpsertFlag(self.env.to_owned(), t)
    }
    fn upsert_encoded(&self, t: Flag, json: &serde_json::value::RawValue) -> Effect {
        // Compiled here, with the length the state limits count taken from
        // the record's JSON instead of encoding the flag once more.
        let compiled = vexil_flags::CompiledFlag::with_json_len(Arc::new(t), json.get().len());
        Effect::UpsertCompiled(self.env.to_owned(), compiled)
    }
    fn remove(&self, id: String) -> Effect {
        Effect::RemoveFlag(self.env.to_owned(), keys::key_of(&id).to_owned())
    }
    fn change(&self, before: Option<Flag>, after: Option<Flag>) -> Change {
        Change::Flag {
            before: before.map(Box::new),
            after: after.map(Box::new),
        }
    }
}

impl Kind for Segments<'_> {
    type T = Segment;
    const NAME: &'static str = "segment";
    const HISTORY: u8 = keys::HISTORY_SEGMENT;
    fn id(&self, t: &Segment) -> String {
        keys::in_env(self.env, &t.key)
    }
    fn record(&self, id: &str) -> (Cf, Vec<u8>) {
        (Cf::Segments, id.as_bytes().to_vec())
    }
    fn version(&self, t: &Segment) -> u64 {
        t.version
    }
    fn created_at(&self, t: &Segment) -> Option<DateTime<Utc>> {
        t.created_at
    }
    fn stamp(
        &self,
        t: &mut Segment,
        version: u64,
        created: DateTime<Utc>,
        at: DateTime<Utc>,
        actor: &str,
    ) {
        t.version = version;
        t.created_at = Some(created);
        t.updated_at = Some(at);
        t.updated_by = Some(actor.to_owned());
    }
    fn current(&self, state: &State, id: &str) -> Option<Segment> {
        set_of(state, self.env)
            .get_segment(key_in(self.env, id)?)
            .map(|s| Segment::clone(s.segment()))
    }
    fn validate(&self, t: &Segment, state: &State) -> Vec<FieldError> {
        vexil_flags::validate_segment(t, set_of(state, self.env))
    }
    fn users(&self, state: &State, id: &str) -> Vec<String> {
        key_in(self.env, id)
            .map_or_else(Vec::new, |k| set_of(state, self.env).flags_using_segment(k))
    }
    fn upsert(&self, t: Segment) -> Effect {
        Effect::UpsertSegment(self.env.to_owned(), t)
    }
    fn remove(&self, id: String) -> Effect {
        Effect::RemoveSegment(self.env.to_owned(), keys::key_of(&id).to_owned())
    }
    fn change(&self, before: Option<Segment>, after: Option<Segment>) -> Change {
        Change::Segment {
            before: before.map(Box::new),
            after: after.map(Box::new),
        }
    }
}

impl Kind for Definitions {
    type T = FlagDefinition;
    const NAME: &'static str = "flag_definition";
    const HISTORY: u8 = keys::HISTORY_DEFINITION;
    fn id(&self, t: &FlagDefinition) -> String {
        t.id()
    }
    fn record(&self, id: &str) -> (Cf, Vec<u8>) {
        (Cf::Meta, keys::meta_record(keys::META_DEFINITION, id))
    }
    fn version(&self, t: &FlagDefinition) -> u64 {
        t.version
    }
    fn created_at(&self, t: &FlagDefinition) -> Option<DateTime<Utc>> {
        t.created_at
    }
    fn stamp(
        &self,
        t: &mut FlagDefinition,
        version: u64,
        created: DateTime<Utc>,
        at: DateTime<Utc>,
        actor: &str,
    ) {
        t.version = version;
        t.created_at = Some(created);
        t.updated_at = Some(at);
        t.updated_by = Some(actor.to_owned());
        if t.salt.is_empty() {
            t.salt = t.key.clone();
        }
    }
    fn current(&self, state: &State, id: &str) -> Option<FlagDefinition> {
        state.definitions.get(id).cloned()
    }
    fn validate(&self, _t: &FlagDefinition, _state: &State) -> Vec<FieldError> {
        // Checked as part of each environment's flag (`validate_flag`).
        Vec::new()
    }
    fn users(&self, _state: &State, _id: &str) -> Vec<String> {
        Vec::new()
    }
    fn upsert(&self, t: FlagDefinition) -> Effect {
        Effect::UpsertDefinition(t)
    }
    fn remove(&self, id: String) -> Effect {
        Effect::RemoveDefinition(id)
    }
    fn change(&self, before: Option<FlagDefinition>, after: Option<FlagDefinition>) -> Change {
        Change::Definition {
            before: before.map(Box::new),
            after: after.map(Box::new),
        }
    }
}

/// What a scope holds, as `InUse`'s `by`: "12 flags", "3 segments in
/// staging". The legacy scope (`default`/`production`) also serves the
/// routes that name no scope, so it is never deleted, even empty.
fn held(state: &State, project: &str, env: Option<&str>) -> Vec<String> {
    let legacy = project == DEFAULT_PROJECT && env.is_none_or(|e| e == LEGACY_ENVIRONMENT);
    if state.level() < crate::version::ENV_CONFIG {
        // The previous release's answer, word for word: it is stored as
        // the request's answer on every node, old and new alike.
        return held_before_level_4(state, legacy);
    }
    let mut by = Vec::new();
    if legacy {
        by.push(
            "the routes without a project (/v1/flags, /v1/segments, evaluation, the stream, OFREP)"
                .to_owned(),
        );
    }
    let mut ids: Vec<String> = match env {
        Some(e) => vec![vexil_flags::scope::env_id(project, e)],
        None => state
            .environments_of(project)
            .into_iter()
            .map(Environment::id)
            .collect(),
    };
    if legacy && !ids.iter().any(|id| id == keys::LEGACY_ENV) {
        ids.push(keys::LEGACY_ENV.to_owned());
    }
    for id in ids {
        let Some(set) = state.set(&id) else { continue };
        let name = vexil_flags::scope::split_env_id(&id).map_or("", |(_, e)| e);
        let flags = set.flags().count();
        let segments = set.segments().count();
        if flags > 0 {
            by.push(format!("{flags} flags in {name}"));
        }
        if segments > 0 {
            by.push(format!("{segments} segments in {name}"));
        }
    }
    by
}

fn held_before_level_4(state: &State, legacy: bool) -> Vec<String> {
    if !legacy {
        return Vec::new();
    }
    let flags = state.flags.flags().count();
    let segments = state.flags.segments().count();
    let mut by = vec![
        "the routes without a project (/v1/flags, /v1/segments, evaluation, the stream, OFREP)"
            .to_owned(),
    ];
    if flags > 0 {
        by.push(format!("{flags} flags"));
    }
    if segments > 0 {
        by.push(format!("{segments} segments"));
    }
    by
}

impl Kind for Projects {
    type T = Project;
    const NAME: &'static str = "project";
    const HISTORY: u8 = keys::HISTORY_PROJECT;
    fn id(&self, t: &Project) -> String {
        t.key.clone()
    }
    fn record(&self, id: &str) -> (Cf, Vec<u8>) {
        (Cf::Meta, keys::meta_record(keys::META_PROJECT, id))
    }
    fn version(&self, t: &Project) -> u64 {
        t.version
    }
    fn created_at(&self, t: &Project) -> Option<DateTime<Utc>> {
        t.created_at
    }
    fn stamp(
        &self,
        t: &mut Project,
        version: u64,
        created: DateTime<Utc>,
        at: DateTime<Utc>,
        actor: &str,
    ) {
        t.version = version;
        t.created_at = Some(created);
        t.updated_at = Some(at);
        t.updated_by = Some(actor.to_owned());
    }
    fn current(&self, state: &State, key: &str) -> Option<Project> {
        state.projects.get(key).cloned()
    }
    fn validate(&self, t: &Project, _state: &State) -> Vec<FieldError> {
        vexil_flags::scope::validate_project(t)
    }
    fn users(&self, state: &State, key: &str) -> Vec<String> {
        held(state, key, None)
    }
    fn upsert(&self, t: Project) -> Effect {
        Effect::UpsertProject(t)
    }
    fn remove(&self, key: String) -> Effect {
        Effect::RemoveProject(key)
    }
    fn change(&self, before: Option<Project>, after: Option<Project>) -> Change {
        Change::Project {
            before: before.map(Box::new),
            after: after.map(Box::new),
        }
    }
}

impl Kind for Environments {
    type T = Environment;
    const NAME: &'static str = "environment";
    const HISTORY: u8 = keys::HISTORY_ENVIRONMENT;
    fn id(&self, t: &Environment) -> String {
        t.id()
    }
    fn record(&self, id: &str) -> (Cf, Vec<u8>) {
        (Cf::Meta, keys::meta_record(keys::META_ENVIRONMENT, id))
    }
    fn version(&self, t: &Environment) -> u64 {
        t.version
    }
    fn created_at(&self, t: &Environment) -> Option<DateTime<Utc>> {
        t.created_at
    }
    fn stamp(
        &self,
        t: &mut Environment,
        version: u64,
        created: DateTime<Utc>,
        at: DateTime<Utc>,
        actor: &str,
    ) {
        t.version = version;
        t.created_at = Some(created);
        t.updated_at = Some(at);
        t.updated_by = Some(actor.to_owned());
    }
    fn current(&self, state: &State, id: &str) -> Option<Environment> {
        state.environments.get(id).cloned()
    }
    fn validate(&self, t: &Environment, state: &State) -> Vec<FieldError> {
        let mut errors = vexil_flags::scope::validate_environment(t);
        if errors.is_empty() && !state.projects.contains_key(&t.project) {
            errors.push(FieldError::new(
                "project",
                "unknown_project",
                format!("there is no project {:?}", t.project),
            ));
        }
        errors
    }
    fn users(&self, state: &State, id: &str) -> Vec<String> {
        match vexil_flags::scope::split_env_id(id) {
            Some((project, env)) => held(state, project, Some(env)),
            None => Vec::new(),
        }
    }
    fn upsert(&self, t: Environment) -> Effect {
        Effect::UpsertEnvironment(t)
    }
    fn remove(&self, id: String) -> Effect {
        Effect::RemoveEnvironment(id)
    }
    fn change(&self, before: Option<Environment>, after: Option<Environment>) -> Change {
        Change::Environment {
            before: before.map(Box::new),
            after: after.map(Box::new),
        }
    }
}

/// A project as its audit entry shows it: with its environments.
fn with_envs(
    project: &Project,
    envs: &[Environment],
) -> Result<Box<serde_json::value::RawValue>, StorageError> {
    let mut v = serde_json::to_value(project).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        let envs = serde_json::to_value(envs).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        o.insert("environments".into(), envs);
    }
    raw(&v)
}

/// Creates a project and its first environments, each a version of its
/// own, under one audit entry (`project.create`, the environments in it).
pub(super) fn create_project(
    ctx: &mut Ctx<'_>,
    project: Project,
    environments: &[Environment],
) -> Outcome {
    let key = project.key.clone();
    ctx.quiet_audit = true;
    let made = create_project_quietly(ctx, project, environments);
    ctx.quiet_audit = false;
    let made = made?;
    let Ok(Change::Project { after: Some(p), .. }) = &made else {
        return Ok(made);
    };
    if ctx.state.level() >= crate::version::ENV_CONFIG {
        // `default` made at level 4 (an upgrade from before projects):
        // its flags, until now only `production`'s, get their
        // definitions and a configuration in its other environments.
        let ids: Vec<String> = environments
            .iter()
            .map(|e| vexil_flags::scope::env_id(&key, &e.key))
            .collect();
        ctx.quiet_audit = true;
        let filled = super::env_config::fill(ctx, &key, &ids);
        ctx.quiet_audit = false;
        filled?;
    }
    let envs: Vec<Environment> = ctx
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::UpsertEnvironment(env) if env.project == key => Some(env.clone()),
            _ => None,
        })
        .collect();
    audit::record(
        ctx,
        AuditDraft {
            action: "project.create".into(),
            target: target(Projects::NAME, &key),
            version: Some(p.version),
            before: None,
            after: Some(with_envs(p, &envs)?),
        },
    )?;
    Ok(made)
}

fn create_project_quietly(
    ctx: &mut Ctx<'_>,
    project: Project,
    environments: &[Environment],
) -> Outcome {
    let key = project.key.clone();
    let made = create(ctx, &PROJECTS, project)?;
    if made.is_err() {
        return Ok(made);
    }
    for (i, env) in environments.iter().enumerate() {
        let mut env = env.clone();
        env.project = key.clone();
        // An apply sees the state before its own entry, so the project
        // this entry creates is checked here, not by `Kind::validate`.
        let mut errors = vexil_flags::scope::validate_environment(&env);
        if environments[..i].iter().any(|e| e.key == env.key) {
            errors.push(FieldError::new(
                "key",
                "duplicate_environment",
                format!("environment {:?} is listed twice", env.key),
            ));
        }
        if !errors.is_empty() {
            for e in &mut errors {
                e.field = format!("environments[{i}].{}", e.field);
            }
            return Ok(Err(invalid::<Projects>(errors)));
        }
        let id = env.id();
        let version = last_version::<Environments>(ctx, &id)? + 1;
        ENVIRONMENTS.stamp(&mut env, version, ctx.at, ctx.at, &ctx.cmd.actor);
        if let Err(r) = commit(ctx, &ENVIRONMENTS, &id, "create", None, Some(env), version)? {
            return Ok(Err(r));
        }
    }
    Ok(made)
}

/// Deletes a project and, in the same entry, its environments, under one
/// audit entry (`project.delete`, the environments in its `before`).
pub(super) fn delete_project(ctx: &mut Ctx<'_>, key: &str, expected: Option<u64>) -> Outcome {
    let envs: Vec<Environment> = ctx
        .state
        .environments_of(key)
        .into_iter()
        .cloned()
        .collect();
    ctx.quiet_audit = true;
    let deleted = delete_project_quietly(ctx, key, expected, &envs);
    ctx.quiet_audit = false;
    let deleted = deleted?;
    let Ok(Change::Project {
        before: Some(p), ..
    }) = &deleted
    else {
        return Ok(deleted);
    };
    audit::record(
        ctx,
        AuditDraft {
            action: "project.delete".into(),
            target: target(Projects::NAME, key),
            version: Some(p.version + 1),
            before: Some(with_envs(p, &envs)?),
            after: None,
        },
    )?;
    Ok(deleted)
}

fn delete_project_quietly(
    ctx: &mut Ctx<'_>,
    key: &str,
    expected: Option<u64>,
    envs: &[Environment],
) -> Outcome {
    // The project first: its checks (version, what it holds) decide.
    let deleted = delete(ctx, &PROJECTS, key, expected)?;
    if deleted.is_err() {
        return Ok(deleted);
    }
    for env in envs {
        if let Err(r) = delete(ctx, &ENVIRONMENTS, &env.id(), None)? {
            return Ok(Err(r));
        }
    }
    Ok(deleted)
}

pub(super) fn not_found<K: Kind>(key: &str) -> Rejection {
    Rejection::NotFound {
        kind: K::NAME.into(),
        key: key.into(),
    }
}

/// The newest version in the history (a deleted record keeps its history,
/// so a re-created record continues the numbering instead of restarting it).
pub(super) fn last_version<K: Kind>(ctx: &Ctx<'_>, key: &str) -> Result<u64, StorageError> {
    // Every history starts at version 1 and is never pruned, so a key
    // without version 1 has none. Creating a new key, the common case, then
    // costs a point read that a bloom filter answers, not an iterator.
    let first = keys::scoped_u64(K::HISTORY, key, 1);
    if ctx.engine.get(Cf::History, &first)?.is_none() {
        // Or a derived record's version 1, which is not stored.
        return Ok(crate::derived::current_version(ctx.state, K::HISTORY, key).unwrap_or(0));
    }
    let start = keys::scoped(K::HISTORY, key);
    let end = vexil_storage::engine::prefix_end(&start);
    let last = ctx.engine.scan(
        Cf::History,
        Scan {
            start: &start,
            end: Some(&end),
            reverse: true,
            limit: 1,
        },
    )?;
    Ok(last
        .first()
        .and_then(|(k, _)| keys::trailing_u64(k))
        .unwrap_or(0))
}

/// Writes `after` (or its deletion) as a new version, with history and audit.
pub(super) fn commit<K: Kind>(
    ctx: &mut Ctx<'_>,
    kind: &K,
    key: &str,
    action: &str,
    before: Option<K::T>,
    after: Option<K::T>,
    version: u64,
) -> Outcome {
    // Encoded once; the record, its version and its audit entry embed it.
    let after_json = after.as_ref().map(raw).transpose()?;
    if version == 2
        && crate::derived::derivable(K::HISTORY, key).is_some()
        && let Some(before) = &before
        && let Some(first) =
            crate::derived::materialize(ctx.engine, K::HISTORY, key, &raw(before)?)?
    {
        ctx.batch.put(
            Cf::History,
            keys::scoped_u64(K::HISTORY, key, 1),
            encode(&first)?,
        );
    }
    match &after_json {
        Some(json) => {
            let (cf, record) = kind.record(key);
            ctx.batch.put(cf, record, json.get().as_bytes().to_vec())
        }
        None => {
            let (cf, record) = kind.record(key);
            ctx.batch.delete(cf, record)
        }
    }
    let action = format!("{}.{action}", K::NAME);
    let entry = VersionEntryOut {
        version,
        at: ctx.at,
        actor: &ctx.cmd.actor,
        action: &action,
        index: ctx.index,
        state: after_json.as_deref(),
    };
    ctx.batch.put(
        Cf::History,
        keys::scoped_u64(K::HISTORY, key, version),
        encode(&entry)?,
    );
    ctx.effects.push(match (&after, &after_json) {
        (Some(t), Some(json)) => kind.upsert_encoded(t.clone(), json),
        (Some(t), None) => kind.upsert(t.clone()),
        (None, _) => kind.remove(key.to_owned()),
    });
    if !ctx.quiet_audit {
        audit::record(
            ctx,
            AuditDraft {
                action,
                target: target(K::NAME, key),
                version: Some(version),
                before: before.as_ref().map(raw).transpose()?,
                after: after_json,
            },
        )?;
    }
    Ok(Ok(kind.change(before, after)))
}

pub(super) fn invalid<K: Kind>(errors: Vec<FieldError>) -> Rejection {
    Rejection::Invalid {
        kind: K::NAME.into(),
        errors,
    }
}

pub(super) fn create<K: Kind>(ctx: &mut Ctx<'_>, kind: &K, mut item: K::T) -> Outcome {
    let key = kind.id(&item);
    if kind.current(ctx.state, &key).is_some() {
        return Ok(Err(Rejection::AlreadyExists {
            kind: K::NAME.into(),
            key,
        }));
    }
    let errors = kind.validate(&item, ctx.state);
    if !errors.is_empty() {
        return Ok(Err(invalid::<K>(errors)));
    }
    let version = last_version::<K>(ctx, &key)? + 1;
    kind.stamp(&mut item, version, ctx.at, ctx.at, &ctx.cmd.actor);
    commit(ctx, kind, &key, "create", None, Some(item), version)
}

pub(super) fn update<K: Kind>(
    ctx: &mut Ctx<'_>,
    kind: &K,
    mut item: K::T,
    expected: u64,
) -> Outcome {
    let key = kind.id(&item);
    let Some(current) = kind.current(ctx.state, &key) else {
        return Ok(Err(not_found::<K>(&key)));
    };
    if kind.version(&current) != expected {
        return Ok(Err(Rejection::Conflict {
            kind: K::NAME.into(),
            key,
            expected,
            actual: kind.version(&current),
        }));
    }
    let errors = kind.validate(&item, ctx.state);
    if !errors.is_empty() {
        return Ok(Err(invalid::<K>(errors)));
    }
    let version = kind.version(&current) + 1;
    let created = kind.created_at(&current).unwrap_or(ctx.at);
    kind.stamp(&mut item, version, created, ctx.at, &ctx.cmd.actor);
    commit(
        ctx,
        kind,
        &key,
        "update",
        Some(current),
        Some(item),
        version,
    )
}

/// The kill switch: flips `enabled` whatever the version.
pub(super) fn toggle(ctx: &mut Ctx<'_>, kind: &Flags<'_>, key: &str, enabled: bool) -> Outcome {
    let id = keys::in_env(kind.env, key);
    let Some(current) = kind.current(ctx.state, &id) else {
        return Ok(Err(not_found::<Flags>(&id)));
    };
    let mut item = current.clone();
    item.enabled = enabled;
    let version = current.version + 1;
    let created = current.created_at.unwrap_or(ctx.at);
    kind.stamp(&mut item, version, created, ctx.at, &ctx.cmd.actor);
    commit(ctx, kind, &id, "toggle", Some(current), Some(item), version)
}

pub(super) fn delete<K: Kind>(
    ctx: &mut Ctx<'_>,
    kind: &K,
    key: &str,
    expected: Option<u64>,
) -> Outcome {
    let Some(current) = kind.current(ctx.state, key) else {
        return Ok(Err(not_found::<K>(key)));
    };
    if let Some(expected) = expected.filter(|e| *e != kind.version(&current)) {
        return Ok(Err(Rejection::Conflict {
            kind: K::NAME.into(),
            key: key.into(),
            expected,
            actual: kind.version(&current),
        }));
    }
    let by = kind.users(ctx.state, key);
    if !by.is_empty() {
        return Ok(Err(Rejection::InUse {
            kind: K::NAME.into(),
            key: key.into(),
            by,
        }));
    }
    let version = kind.version(&current) + 1;
    commit(ctx, kind, key, "delete", Some(current), None, version)
}

/// Commits a new version equal to `version`; restores a deleted record too.
pub(super) fn rollback<K: Kind>(ctx: &mut Ctx<'_>, kind: &K, key: &str, version: u64) -> Outcome {
    let missing = || Rejection::VersionNotFound {
        kind: K::NAME.into(),
        key: key.into(),
        version,
    };
    let entry: VersionEntry = match ctx
        .engine
        .get(Cf::History, &keys::scoped_u64(K::HISTORY, key, version))?
    {
        Some(raw) => decode(&raw)?,
        None if version == 1 => {
            match crate::derived::first_version(ctx.engine, ctx.state, K::HISTORY, key)? {
                Some(entry) => entry,
                None => return Ok(Err(missing())),
            }
        }
        None => return Ok(Err(missing())),
    };
    let Some(state) = entry.state else {
        return Ok(Err(missing())); // that version is a deletion
    };
    let item: K::T =
        serde_json::from_value(state).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let mut item = kind.restored(ctx.state, item);
    let current = kind.current(ctx.state, key);
    let errors = kind.validate(&item, ctx.state);
    if !errors.is_empty() {
        return Ok(Err(invalid::<K>(errors)));
    }
    let new_version = last_version::<K>(ctx, key)? + 1;
    let created = current
        .as_ref()
        .and_then(|c| kind.created_at(c))
        .or_else(|| kind.created_at(&item))
        .unwrap_or(ctx.at);
    kind.stamp(&mut item, new_version, created, ctx.at, &ctx.cmd.actor);
    let action = if current.is_some() {
        "rollback"
    } else {
        "restore"
    };
    commit(ctx, kind, key, action, current, Some(item), new_version)
}
