//! Flags and segments per environment (cluster level 4).
//!
//! - `/v1/projects/{project}/flags`: a project's flags, each with every
//!   environment's state side by side; `POST` creates a flag in every
//!   environment of the project at once.
//! - `/v1/projects/{project}/flags/{key}`: the flag's definition (shared
//!   by every environment) with each environment's configuration; `PUT`
//!   changes the definition (`If-Match` is the definition's version),
//!   `DELETE` deletes the flag everywhere; `versions` and `rollback` are the
//!   definition's (a rollback of a deleted flag restores it whole).
//! - `/v1/projects/{project}/environments/{environment}/flags/{key}`: one
//!   environment's configuration, with its own version, `toggle`,
//!   `versions` and `rollback`. A definition field sent here is refused.
//! - `/v1/projects/{project}/environments/{environment}/segments/…`:
//!   segments, which belong to one environment.
//! - `…/environments/{environment}/evaluate` and `…/stream`: evaluation
//!   and the change feed of exactly that environment.
//!
//! `default`'s `production` is also what the routes without a project
//! serve, so `/v1/flags/x` and
//! `/v1/projects/default/environments/production/flags/x` are one record.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use vexil_flags::definition::definition_id;
use vexil_flags::scope::Need;
use vexil_flags::scope::env_id;
use vexil_flags::{Flag, FlagDefinition, Segment};
use vexil_raft::query::Versioned;
use vexil_raft::{Change, Op, Role};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller};
use super::versioned::{
    self, Params, ReadQuery, Resource, after_key, key_mismatch, page_limit, param, versions_routes,
};
use super::{AppState, Consistency, consistency_headers};

pub fn router() -> Router<AppState> {
    // Literal paths: the route test reads them from the source.
    Router::new()
        .route("/v1/projects/{project}/flags", post(create).get(list))
        .route(
            "/v1/projects/{project}/flags/{key}",
            get(get_def).put(replace_def).delete(remove_def),
        )
        .merge(versions_routes::<Definitions>(
            "/v1/projects/{project}/flags/{key}",
        ))
        .route(
            "/v1/projects/{project}/environments/{environment}/flags",
            get(list_in),
        )
        .route(
            "/v1/projects/{project}/environments/{environment}/flags/{key}",
            get(get_config).put(replace_config),
        )
        .route(
            "/v1/projects/{project}/environments/{environment}/flags/{key}/toggle",
            post(toggle),
        )
        .merge(versions_routes::<EnvFlags>(
            "/v1/projects/{project}/environments/{environment}/flags/{key}",
        ))
        .route(
            "/v1/projects/{project}/environments/{environment}/segments",
            post(create_segment).get(list_segments),
        )
        .route(
            "/v1/projects/{project}/environments/{environment}/segments/{key}",
            get(get_segment).put(replace_segment).delete(remove_segment),
        )
        .merge(versions_routes::<EnvSegments>(
            "/v1/projects/{project}/environments/{environment}/segments/{key}",
        ))
        .route(
            "/v1/projects/{project}/environments/{environment}/evaluate",
            post(evaluate),
        )
        .route(
            "/v1/projects/{project}/environments/{environment}/stream",
            get(stream),
        )
}

/// The environment the path names, as `project/environment`, if it exists
/// (404 naming it otherwise).
pub fn env_of(state: &AppState, path: &Params) -> ApiResult<String> {
    let project = param(path, "project")?;
    let env = param(path, "environment")?;
    let id = env_id(project, env);
    let st = state.raft.shared().read();
    if st.environments.contains_key(&id) || id == vexil_raft::keys::LEGACY_ENV {
        return Ok(id);
    }
    if !st.projects.contains_key(project) {
        return Err(
            ApiError::not_found(format!("project {project:?} not found")).with_field("project"),
        );
    }
    Err(
        ApiError::not_found(format!("project {project:?} has no environment {env:?}"))
            .with_field("environment"),
    )
}

fn project_of(state: &AppState, path: &Params) -> ApiResult<String> {
    let project = param(path, "project")?;
    if state.raft.shared().read().projects.contains_key(project) {
        Ok(project.to_owned())
    } else {
        Err(ApiError::not_found(format!("project {project:?} not found")).with_field("project"))
    }
}

/// A record of one environment: what a scoped route reads and writes.
#[derive(Debug, Clone, Serialize)]
pub struct InEnv<T> {
    /// `project/environment`.
    #[serde(skip)]
    pub env: String,
    #[serde(flatten)]
    pub item: T,
}

/// What a route of one environment needs of a token's scope.
fn env_need(path: &Params) -> ApiResult<Need> {
    Ok(Need::Env(
        param(path, "project")?.to_owned(),
        param(path, "environment")?.to_owned(),
    ))
}

/// The environment id a scoped route's path names.
fn path_env(path: &Params) -> Option<String> {
    Some(env_id(
        param(path, "project").ok()?,
        param(path, "environment").ok()?,
    ))
}

fn split(env: &str) -> (String, String) {
    let (p, e) = vexil_flags::scope::split_env_id(env).unwrap_or((env, ""));
    (p.to_owned(), e.to_owned())
}

/// One environment's configuration of a flag.
#[derive(Debug)]
pub struct EnvFlags;

impl Resource for EnvFlags {
    type T = InEnv<Flag>;
    const KIND: Versioned = Versioned::Flag;
    const NAME: &'static str = "flag";
    const WRITE_ROLE: Role = Role::Editor;
    fn id(path: &Params) -> ApiResult<String> {
        let project = param(path, "project")?;
        let env = param(path, "environment")?;
        let key = param(path, "key")?;
        Ok(vexil_raft::keys::in_env(&env_id(project, env), key))
    }
    fn need(path: &Params) -> ApiResult<Need> {
        env_need(path)
    }
    fn current(state: &AppState, id: &str) -> Option<InEnv<Flag>> {
        let (env, key) = vexil_raft::keys::split_record(id);
        let st = state.raft.shared().read();
        let flag = st.set(env)?.get_flag(key)?;
        Some(InEnv {
            env: env.to_owned(),
            item: Flag::clone(flag.flag()),
        })
    }
    fn version(t: &InEnv<Flag>) -> u64 {
        t.item.version
    }
    fn parse(body: &RawValue, path: &Params) -> ApiResult<InEnv<Flag>> {
        let flag: Flag = super::extract::parse_json(body.get().as_bytes())?;
        let key = param(path, "key")?;
        if key != flag.key {
            return Err(key_mismatch("key", &flag.key, key));
        }
        let env = env_id(param(path, "project")?, param(path, "environment")?);
        Ok(InEnv { env, item: flag })
    }
    fn precheck(state: &AppState, t: &InEnv<Flag>) -> ApiResult<()> {
        let st = state.raft.shared().read();
        let Some(set) = st.set(&t.env) else {
            return Err(ApiError::not_found(format!(
                "environment {:?} not found",
                t.env
            )));
        };
        let errors = vexil_flags::validate_flag_input(&t.item, set);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid("flag", errors))
        }
    }
    fn create_op(t: InEnv<Flag>) -> Op {
        // Flags are created in every environment at once
        // (`POST /v1/projects/{project}/flags`); no route creates one here.
        let (project, _) = split(&t.env);
        Op::CreateProjectFlag {
            project,
            flag: t.item,
        }
    }
    fn update_op(t: InEnv<Flag>, expected_version: u64) -> Op {
        let (project, environment) = split(&t.env);
        Op::UpdateFlagIn {
            project,
            environment,
            flag: t.item,
            expected_version,
        }
    }
    fn delete_op(id: &str, expected_version: Option<u64>) -> Op {
        // A flag is deleted from every environment at once.
        let (env, key) = vexil_raft::keys::split_record(id);
        let (project, _) = split(env);
        Op::DeleteProjectFlag {
            project,
            key: key.into(),
            expected_version,
        }
    }
    fn rollback_op(id: &str, version: u64) -> Op {
        let (env, key) = vexil_raft::keys::split_record(id);
        let (project, environment) = split(env);
        Op::RollbackFlagIn {
            project,
            environment,
            key: key.into(),
            version,
        }
    }
    fn changed(change: Change, path: &Params) -> Option<InEnv<Flag>> {
        match change {
            Change::Flag { after: Some(f), .. } => Some(InEnv {
                env: path_env(path)?,
                item: *f,
            }),
            _ => None,
        }
    }
    fn body(_: &AppState, t: &InEnv<Flag>) -> serde_json::Value {
        serde_json::to_value(&t.item).unwrap_or_default()
    }
    fn body_text(_: &AppState, t: &InEnv<Flag>) -> Option<Box<serde_json::value::RawValue>> {
        serde_json::value::to_raw_value(&t.item).ok()
    }
    fn location(t: &InEnv<Flag>) -> String {
        let (p, e) = split(&t.env);
        format!("/v1/projects/{p}/environments/{e}/flags/{}", t.item.key)
    }
}

/// Segments of one environment.
#[derive(Debug)]
pub struct EnvSegments;

impl Resource for EnvSegments {
    type T = InEnv<Segment>;
    const KIND: Versioned = Versioned::Segment;
    const NAME: &'static str = "segment";
    const WRITE_ROLE: Role = Role::Editor;
    fn id(path: &Params) -> ApiResult<String> {
        EnvFlags::id(path)
    }
    fn need(path: &Params) -> ApiResult<Need> {
        env_need(path)
    }
    fn current(state: &AppState, id: &str) -> Option<InEnv<Segment>> {
        let (env, key) = vexil_raft::keys::split_record(id);
        let st = state.raft.shared().read();
        let s = st.set(env)?.get_segment(key)?;
        Some(InEnv {
            env: env.to_owned(),
            item: Segment::clone(s.segment()),
        })
    }
    fn version(t: &InEnv<Segment>) -> u64 {
        t.item.version
    }
    fn parse(body: &RawValue, path: &Params) -> ApiResult<InEnv<Segment>> {
        let env = env_id(param(path, "project")?, param(path, "environment")?);
        let item = <super::segments::Segments as Resource>::parse(body, path)?;
        Ok(InEnv { env, item })
    }
    fn precheck(state: &AppState, t: &InEnv<Segment>) -> ApiResult<()> {
        let st = state.raft.shared().read();
        let Some(set) = st.set(&t.env) else {
            return Ok(()); // an environment without flags yet
        };
        let errors = vexil_flags::validate_segment_input(&t.item, set);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid("segment", errors))
        }
    }
    fn create_op(t: InEnv<Segment>) -> Op {
        let (project, environment) = split(&t.env);
        Op::CreateSegmentIn {
            project,
            environment,
            segment: t.item,
        }
    }
    fn update_op(t: InEnv<Segment>, expected_version: u64) -> Op {
        let (project, environment) = split(&t.env);
        Op::UpdateSegmentIn {
            project,
            environment,
            segment: t.item,
            expected_version,
        }
    }
    fn delete_op(id: &str, expected_version: Option<u64>) -> Op {
        let (env, key) = vexil_raft::keys::split_record(id);
        let (project, environment) = split(env);
        Op::DeleteSegmentIn {
            project,
            environment,
            key: key.into(),
            expected_version,
        }
    }
    fn rollback_op(id: &str, version: u64) -> Op {
        let (env, key) = vexil_raft::keys::split_record(id);
        let (project, environment) = split(env);
        Op::RollbackSegmentIn {
            project,
            environment,
            key: key.into(),
            version,
        }
    }
    fn changed(change: Change, path: &Params) -> Option<InEnv<Segment>> {
        match change {
            Change::Segment { after: Some(s), .. } => Some(InEnv {
                env: path_env(path)?,
                item: *s,
            }),
            _ => None,
        }
    }
    fn body(state: &AppState, t: &InEnv<Segment>) -> serde_json::Value {
        let st = state.raft.shared().read();
        let used_by = st
            .set(&t.env)
            .map_or_else(Vec::new, |s| s.flags_using_segment(&t.item.key));
        super::segments::with_used_by(&t.item, used_by)
    }
    fn location(t: &InEnv<Segment>) -> String {
        let (p, e) = split(&t.env);
        format!("/v1/projects/{p}/environments/{e}/segments/{}", t.item.key)
    }
}

/// A flag's definition, answered with every environment's configuration.
#[derive(Debug)]
pub struct Definitions;

/// `{definition…, "environments": {env: configuration}}`.
fn with_environments(state: &AppState, def: &FlagDefinition) -> serde_json::Value {
    let mut body = serde_json::to_value(def).unwrap_or_default();
    let st = state.raft.shared().read();
    let mut envs = serde_json::Map::new();
    for env in st.environments_of(&def.project) {
        if let Some(f) = st.set(&env.id()).and_then(|s| s.get_flag(&def.key)) {
            envs.insert(
                env.key.clone(),
                serde_json::to_value(f.flag().as_ref()).unwrap_or_default(),
            );
        }
    }
    if let Some(o) = body.as_object_mut() {
        o.insert("environments".into(), serde_json::Value::Object(envs));
    }
    body
}

impl Resource for Definitions {
    type T = FlagDefinition;
    const KIND: Versioned = Versioned::Definition;
    const NAME: &'static str = "flag";
    const WRITE_ROLE: Role = Role::Editor;
    fn id(path: &Params) -> ApiResult<String> {
        Ok(definition_id(param(path, "project")?, param(path, "key")?))
    }
    /// A definition is every environment's: changing or reading it (with
    /// every environment's configuration) needs the whole project.
    fn need(path: &Params) -> ApiResult<Need> {
        Ok(Need::Project(param(path, "project")?.to_owned()))
    }
    fn current(state: &AppState, id: &str) -> Option<FlagDefinition> {
        state.raft.shared().read().definitions.get(id).cloned()
    }
    fn version(t: &FlagDefinition) -> u64 {
        t.version
    }
    fn parse(body: &RawValue, path: &Params) -> ApiResult<FlagDefinition> {
        let mut v: serde_json::Value = super::extract::parse_json(body.get().as_bytes())?;
        // Sent back as read: the environments are not part of it.
        if let Some(o) = v.as_object_mut() {
            o.remove("environments");
        }
        let bytes = serde_json::to_vec(&v).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut def: FlagDefinition = super::extract::parse_json(&bytes)?;
        let project = param(path, "project")?;
        if def.project.is_empty() {
            def.project = project.to_owned();
        } else if def.project != project {
            return Err(key_mismatch("project", &def.project, project));
        }
        let key = param(path, "key")?;
        if key != def.key {
            return Err(key_mismatch("key", &def.key, key));
        }
        Ok(def)
    }
    fn precheck(_: &AppState, def: &FlagDefinition) -> ApiResult<()> {
        // Checked as a flag: key, tags, kind against the variations.
        let errors = vexil_flags::validate_flag(&def.new_flag(), &vexil_flags::FlagSet::new());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid("flag", errors))
        }
    }
    fn create_op(def: FlagDefinition) -> Op {
        let flag = def.new_flag();
        Op::CreateProjectFlag {
            project: def.project,
            flag,
        }
    }
    fn update_op(definition: FlagDefinition, expected_version: u64) -> Op {
        Op::UpdateFlagDefinition {
            definition,
            expected_version,
        }
    }
    fn delete_op(id: &str, expected_version: Option<u64>) -> Op {
        let (project, key) = id.split_once('/').unwrap_or((id, ""));
        Op::DeleteProjectFlag {
            project: project.into(),
            key: key.into(),
            expected_version,
        }
    }
    fn rollback_op(id: &str, version: u64) -> Op {
        let (project, key) = id.split_once('/').unwrap_or((id, ""));
        Op::RollbackFlagDefinition {
            project: project.into(),
            key: key.into(),
            version,
        }
    }
    fn changed(change: Change, _: &Params) -> Option<FlagDefinition> {
        match change {
            Change::Definition { after: Some(d), .. } => Some(*d),
            Change::ProjectFlag { after: Some(f), .. } => Some(f.definition),
            _ => None,
        }
    }
    fn body(state: &AppState, def: &FlagDefinition) -> serde_json::Value {
        with_environments(state, def)
    }
    fn location(def: &FlagDefinition) -> String {
        format!("/v1/projects/{}/flags/{}", def.project, def.key)
    }
}

/// `POST /v1/projects/{project}/flags`: a flag (definition and
/// configuration) made in every environment of the project. It is
/// disabled in each unless the body's `enabled` is true.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(path): Path<Params>,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    caller.require_in(
        Role::Editor,
        &Need::Project(param(&path, "project")?.to_owned()),
    )?;
    let project = project_of(&state, &path)?;
    let flag: Flag = super::extract::parse_json(body.get().as_bytes())?;
    let errors = vexil_flags::validate_flag_input(&flag, &vexil_flags::FlagSet::new());
    // References (segments, prerequisites) are checked per environment by
    // the state machine; sizes and shape here.
    let errors: Vec<_> = errors
        .into_iter()
        .filter(|e| {
            e.code != vexil_flags::validate::code::UNKNOWN_SEGMENT
                && e.code != vexil_flags::validate::code::UNKNOWN_FLAG
        })
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::invalid("flag", errors));
    }
    let op = Op::CreateProjectFlag { project, flag };
    let (change, _) = state.write(&caller, &headers, op).await?;
    let def = Definitions::changed(change, &path)
        .ok_or_else(|| ApiError::internal("the write answered no flag"))?;
    let mut resp = versioned::respond::<Definitions>(&state, StatusCode::CREATED, &def);
    if let Ok(loc) = HeaderValue::from_str(&Definitions::location(&def)) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only flags with this tag.
    tag: Option<String>,
    /// Substring of the key or name, case-insensitive.
    q: Option<String>,
    limit: Option<usize>,
    /// The previous page's `next_cursor` (its last key).
    cursor: Option<String>,
    /// Only flags on (`true`) or off (`false`) in this environment; only
    /// for one environment's list.
    enabled: Option<bool>,
    #[serde(default)]
    consistency: Consistency,
}

/// One flag of a project's list: its definition's summary and each
/// environment's state.
#[derive(Debug, Serialize)]
struct Row {
    key: String,
    name: String,
    kind: vexil_flags::FlagKind,
    tags: Vec<String>,
    version: u64,
    environments: BTreeMap<String, EnvState>,
}

#[derive(Debug, Serialize)]
struct EnvState {
    enabled: bool,
    version: u64,
    rules: usize,
    targets: usize,
}

/// `GET /v1/projects/{project}/flags`: one page, by key, with every
/// environment's state side by side.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    // A token scoped to some environments sees those side by side.
    caller.require_in(
        Role::Viewer,
        &Need::InProject(param(&path, "project")?.to_owned()),
    )?;
    let project = project_of(&state, &path)?;
    if q.enabled.is_some() {
        return Err(ApiError::bad_request(
            "enabled",
            "a flag is on or off per environment: filter one environment's list, \
             GET /v1/projects/{project}/environments/{environment}/flags?enabled=",
        ));
    }
    let limit = page_limit(q.limit)?;
    state.before_read(q.consistency).await?;
    let after = after_key(
        &state,
        Versioned::Definition,
        &format!("{project}/"),
        q.cursor.as_deref(),
    )?;
    let needle = q.q.as_ref().map(|s| s.to_lowercase());
    let st = state.raft.shared().read();
    let envs: Vec<(String, String)> = st
        .environments_of(&project)
        .into_iter()
        .filter(|e| caller.reaches(&Need::Env(project.clone(), e.key.clone())))
        .map(|e| (e.key.clone(), e.id()))
        .collect();
    let mut rows = Vec::new();
    let mut more = false;
    for def in st.definitions_of(&project) {
        if after.as_deref().is_some_and(|a| def.key.as_str() <= a) {
            continue;
        }
        let hit = q.tag.as_ref().is_none_or(|t| def.tags.contains(t))
            && needle.as_ref().is_none_or(|n| {
                def.key.to_lowercase().contains(n) || def.name.to_lowercase().contains(n)
            });
        if !hit {
            continue;
        }
        if rows.len() == limit {
            more = true;
            break;
        }
        let environments = envs
            .iter()
            .filter_map(|(key, id)| {
                let f = st.set(id)?.get_flag(&def.key)?;
                let f = f.flag();
                Some((
                    key.clone(),
                    EnvState {
                        enabled: f.enabled,
                        version: f.version,
                        rules: f.rules.len(),
                        targets: f.targets.iter().map(|t| t.values.len()).sum(),
                    },
                ))
            })
            .collect();
        rows.push(Row {
            key: def.key.clone(),
            name: def.name.clone(),
            kind: def.kind,
            tags: def.tags.clone(),
            version: def.version,
            environments,
        });
    }
    let next = if more {
        rows.last().map(|r| r.key.clone())
    } else {
        None
    };
    let env_keys: Vec<&str> = envs.iter().map(|(k, _)| k.as_str()).collect();
    let body = json!({ "environments": env_keys, "flags": rows, "next_cursor": next });
    let applied = st.applied;
    drop(st);
    Ok((consistency_headers(q.consistency, applied), Json(body)).into_response())
}

async fn get_def(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    caller.require_in(
        Role::Viewer,
        &Need::Project(param(&path, "project")?.to_owned()),
    )?;
    project_of(&state, &path)?;
    versioned::get_one::<Definitions>(&state, &caller, &path, q).await
}

async fn replace_def(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    caller.require_in(
        Role::Editor,
        &Need::Project(param(&path, "project")?.to_owned()),
    )?;
    project_of(&state, &path)?;
    versioned::replace::<Definitions>(&state, &caller, &headers, &path, &body).await
}

async fn remove_def(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require_in(
        Role::Editor,
        &Need::Project(param(&path, "project")?.to_owned()),
    )?;
    project_of(&state, &path)?;
    versioned::remove::<Definitions>(&state, &caller, &headers, &path).await
}

/// `GET …/environments/{environment}/flags`: one environment's flags, by key.
async fn list_in(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &env_need(&path)?)?;
    let env = env_of(&state, &path)?;
    let limit = page_limit(q.limit)?;
    state.before_read(q.consistency).await?;
    let scope = vexil_raft::keys::in_env(&env, "");
    let after = after_key(&state, Versioned::Flag, &scope, q.cursor.as_deref())?;
    let needle = q.q.as_ref().map(|s| s.to_lowercase());
    let st = state.raft.shared().read();
    let mut flags: Vec<&Flag> = st
        .set(&env)
        .map(|s| s.flags().map(|f| f.flag().as_ref()).collect())
        .unwrap_or_default();
    flags.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    let mut out = Vec::new();
    let mut more = false;
    for f in flags {
        if after.as_deref().is_some_and(|a| f.key.as_str() <= a) {
            continue;
        }
        let hit = q.tag.as_ref().is_none_or(|t| f.tags.contains(t))
            && q.enabled.is_none_or(|e| f.enabled == e)
            && needle.as_ref().is_none_or(|n| {
                f.key.to_lowercase().contains(n) || f.name.to_lowercase().contains(n)
            });
        if !hit {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        out.push(f.clone());
    }
    let next = if more {
        out.last().map(|f| f.key.clone())
    } else {
        None
    };
    let applied = st.applied;
    drop(st);
    let body = json!({ "flags": out, "next_cursor": next });
    Ok((consistency_headers(q.consistency, applied), Json(body)).into_response())
}

async fn get_config(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &env_need(&path)?)?;
    env_of(&state, &path)?;
    versioned::get_one::<EnvFlags>(&state, &caller, &path, q).await
}

async fn replace_config(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    caller.require_in(Role::Editor, &env_need(&path)?)?;
    env_of(&state, &path)?;
    versioned::replace::<EnvFlags>(&state, &caller, &headers, &path, &body).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ToggleBody {
    enabled: bool,
}

async fn toggle(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ToggleBody>,
) -> ApiResult<Response> {
    caller.require_in(Role::Editor, &env_need(&path)?)?;
    let env = env_of(&state, &path)?;
    let (project, environment) = split(&env);
    let op = Op::ToggleFlagIn {
        project,
        environment,
        key: param(&path, "key")?.to_owned(),
        enabled: body.enabled,
    };
    let (change, _) = state.write(&caller, &headers, op).await?;
    let flag = EnvFlags::changed(change, &path)
        .ok_or_else(|| ApiError::internal("a toggle answered no flag"))?;
    Ok(versioned::respond::<EnvFlags>(
        &state,
        StatusCode::OK,
        &flag,
    ))
}

async fn create_segment(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(path): Path<Params>,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    caller.require_in(Role::Editor, &env_need(&path)?)?;
    env_of(&state, &path)?;
    versioned::create::<EnvSegments>(&state, &caller, &headers, &path, &body).await
}

async fn list_segments(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<super::segments::ListQuery>,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &env_need(&path)?)?;
    let env = env_of(&state, &path)?;
    super::segments::list_in(&state, &env, q).await
}

async fn get_segment(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &env_need(&path)?)?;
    env_of(&state, &path)?;
    versioned::get_one::<EnvSegments>(&state, &caller, &path, q).await
}

async fn replace_segment(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    caller.require_in(Role::Editor, &env_need(&path)?)?;
    env_of(&state, &path)?;
    versioned::replace::<EnvSegments>(&state, &caller, &headers, &path, &body).await
}

async fn remove_segment(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require_in(Role::Editor, &env_need(&path)?)?;
    env_of(&state, &path)?;
    versioned::remove::<EnvSegments>(&state, &caller, &headers, &path).await
}

async fn evaluate(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<ReadQuery>,
    ApiJson(body): ApiJson<super::evaluate::Body>,
) -> ApiResult<Response> {
    caller.require_in(Role::Sdk, &env_need(&path)?)?;
    let env = env_of(&state, &path)?;
    super::evaluate::evaluate_in(&state, &caller, &env, q, body).await
}

async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    parts: Parts,
) -> ApiResult<Response> {
    caller.require_in(Role::Sdk, &env_need(&path)?)?;
    let env = env_of(&state, &path)?;
    super::stream::stream_in(state, caller, parts, env).await
}
