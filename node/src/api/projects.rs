//! `/v1/projects` and `/v1/projects/{project}/environments`: create, list,
//! get, replace, delete, versions and rollback, through the one versioned
//! implementation (`versioned.rs`). Admin writes, viewer reads.
//!
//! A project's answer carries its environments, in display order; a body
//! may send them back (they are read-only there: environments change
//! through their own routes). `POST /v1/projects` takes the first
//! environments in `environments` (development, staging and production
//! when absent), created in the same entry as the project.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use vexil_flags::limits::{MAX_ENVIRONMENTS, MAX_PROJECTS};
use vexil_flags::scope::{DEFAULT_PROJECT, Need, default_environments, env_id, split_env_id};
use vexil_flags::{Environment, Project};
use vexil_raft::query::Versioned;
use vexil_raft::{Change, Op, Role};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller};
use super::versioned::{
    self, Params, ReadQuery, Resource, after_key, key_mismatch, page_limit, param, versions_routes,
};
use super::{AppState, Consistency, consistency_headers};
use crate::openapi::params::{IdempotencyKey, IfMatch};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/projects", post(create_project).get(list_projects))
        .route(
            "/v1/projects/{key}",
            get(get_project).put(replace_project).delete(remove_project),
        )
        .merge(versions_routes::<Projects>("/v1/projects/{key}"))
        .route(
            "/v1/projects/{project}/environments",
            post(create_env).get(list_envs),
        )
        .route(
            "/v1/projects/{project}/environments/{key}",
            get(get_env).put(replace_env).delete(remove_env),
        )
        .merge(versions_routes::<Environments>(
            "/v1/projects/{project}/environments/{key}",
        ))
}

/// Parses `body` as `T` after dropping the read-only `field`.
fn parse_without<T: serde::de::DeserializeOwned>(
    body: &RawValue,
    field: &str,
) -> ApiResult<(T, Option<serde_json::Value>)> {
    let mut body: serde_json::Value = super::extract::parse_json(body.get().as_bytes())?;
    let dropped = body.as_object_mut().and_then(|o| o.remove(field));
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((super::extract::parse_json(&bytes)?, dropped))
}

/// 400 `state_full`: a documented count limit is reached.
fn full(field: &str, message: String) -> ApiError {
    ApiError::invalid(
        "project",
        vec![vexil_flags::FieldError::new(
            field,
            vexil_flags::validate::code::STATE_FULL,
            message,
        )],
    )
}

fn invalid_or_ok(kind: &str, errors: Vec<vexil_flags::FieldError>) -> ApiResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(kind, errors))
    }
}

#[derive(Debug)]
pub struct Projects;

impl Resource for Projects {
    type T = Project;
    const KIND: Versioned = Versioned::Project;
    const NAME: &'static str = "project";
    const WRITE_ROLE: Role = Role::Admin;
    fn id(path: &Params) -> ApiResult<String> {
        param(path, "key").map(str::to_owned)
    }
    fn need(path: &Params) -> ApiResult<Need> {
        Ok(Need::Project(param(path, "key")?.to_owned()))
    }
    fn read_need(path: &Params) -> ApiResult<Need> {
        Ok(Need::InProject(param(path, "key")?.to_owned()))
    }
    fn current(state: &AppState, key: &str) -> Option<Project> {
        state.raft.shared().read().projects.get(key).cloned()
    }
    fn version(t: &Project) -> u64 {
        t.version
    }
    fn parse(body: &RawValue, path: &Params) -> ApiResult<Project> {
        let (project, _): (Project, _) = parse_without(body, "environments")?;
        match param(path, "key") {
            Ok(key) if key != project.key => Err(key_mismatch("key", &project.key, key)),
            _ => Ok(project),
        }
    }
    fn precheck(_: &AppState, p: &Project) -> ApiResult<()> {
        invalid_or_ok("project", vexil_flags::scope::validate_project(p))
    }
    fn create_op(project: Project) -> Op {
        let environments = default_environments(&project.key);
        Op::CreateProject {
            project,
            environments,
        }
    }
    fn update_op(project: Project, expected_version: u64) -> Op {
        Op::UpdateProject {
            project,
            expected_version,
        }
    }
    fn delete_op(key: &str, expected_version: Option<u64>) -> Op {
        Op::DeleteProject {
            key: key.into(),
            expected_version,
        }
    }
    fn rollback_op(key: &str, version: u64) -> Op {
        Op::RollbackProject {
            key: key.into(),
            version,
        }
    }
    fn changed(change: Change, _: &Params) -> Option<Project> {
        match change {
            Change::Project { after: Some(p), .. } => Some(*p),
            _ => None,
        }
    }
    fn body(state: &AppState, p: &Project) -> serde_json::Value {
        let envs: Vec<Environment> = {
            let st = state.raft.shared().read();
            st.environments_of(&p.key).into_iter().cloned().collect()
        };
        let mut body = serde_json::to_value(p).unwrap_or_default();
        if let Some(o) = body.as_object_mut() {
            o.insert("environments".into(), json!(envs));
        }
        body
    }
    fn location(p: &Project) -> String {
        format!("/v1/projects/{}", p.key)
    }
}

#[derive(Debug)]
pub struct Environments;

impl Resource for Environments {
    type T = Environment;
    const KIND: Versioned = Versioned::Environment;
    const NAME: &'static str = "environment";
    const WRITE_ROLE: Role = Role::Admin;
    fn id(path: &Params) -> ApiResult<String> {
        Ok(env_id(param(path, "project")?, param(path, "key")?))
    }
    fn need(path: &Params) -> ApiResult<Need> {
        Ok(Need::Project(param(path, "project")?.to_owned()))
    }
    fn read_need(path: &Params) -> ApiResult<Need> {
        Ok(Need::Env(
            param(path, "project")?.to_owned(),
            param(path, "key")?.to_owned(),
        ))
    }
    fn current(state: &AppState, id: &str) -> Option<Environment> {
        state.raft.shared().read().environments.get(id).cloned()
    }
    fn version(t: &Environment) -> u64 {
        t.version
    }
    fn parse(body: &RawValue, path: &Params) -> ApiResult<Environment> {
        let (mut env, _): (Environment, _) = parse_without(body, "flags")?;
        let project = param(path, "project")?;
        if env.project.is_empty() {
            env.project = project.to_owned();
        } else if env.project != project {
            return Err(key_mismatch("project", &env.project, project));
        }
        match param(path, "key") {
            Ok(key) if key != env.key => Err(key_mismatch("key", &env.key, key)),
            _ => Ok(env),
        }
    }
    fn precheck(state: &AppState, e: &Environment) -> ApiResult<()> {
        invalid_or_ok("environment", vexil_flags::scope::validate_environment(e))?;
        if state.raft.shared().read().projects.contains_key(&e.project) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!(
                "project {:?} not found",
                e.project
            )))
        }
    }
    fn create_op(environment: Environment) -> Op {
        Op::CreateEnvironment { environment }
    }
    fn update_op(environment: Environment, expected_version: u64) -> Op {
        Op::UpdateEnvironment {
            environment,
            expected_version,
        }
    }
    fn delete_op(id: &str, expected_version: Option<u64>) -> Op {
        let (project, key) = split_env_id(id).unwrap_or_default();
        Op::DeleteEnvironment {
            project: project.into(),
            key: key.into(),
            expected_version,
        }
    }
    fn rollback_op(id: &str, version: u64) -> Op {
        let (project, key) = split_env_id(id).unwrap_or_default();
        Op::RollbackEnvironment {
            project: project.into(),
            key: key.into(),
            version,
        }
    }
    fn changed(change: Change, _: &Params) -> Option<Environment> {
        match change {
            Change::Environment { after: Some(e), .. } => Some(*e),
            _ => None,
        }
    }
    fn body(_: &AppState, e: &Environment) -> serde_json::Value {
        serde_json::to_value(e).unwrap_or_default()
    }
    fn location(e: &Environment) -> String {
        format!("/v1/projects/{}/environments/{}", e.project, e.key)
    }
}

#[utoipa::path(post, path = "/v1/projects", tag = "projects", security(("bearer" = [])),
    params(IdempotencyKey),
    request_body = crate::openapi::schemas::NewProject,
    responses(
        (status = 201, description = "Created, with its environments; `ETag` is its version", body = crate::openapi::schemas::ProjectView),
        (status = 400, description = "Invalid (`validation_failed`, each problem in `errors`)", body = ApiError),
        (status = 409, description = "A project with this key exists (`already_exists`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = "Not every member runs a release with projects yet (`cluster_upgrade_pending`)", body = ApiError),
    ))]
async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let (project, envs): (Project, _) = parse_without(&body, "environments")?;
    Projects::precheck(&state, &project)?;
    if project.key == DEFAULT_PROJECT {
        // The cluster makes it (with the environment the routes without a
        // project serve); it is never deleted, so it never comes back.
        return Err(ApiError::conflict(
            "already_exists",
            "project default is created by the cluster itself",
        )
        .with_field("key"));
    }
    let count = state.raft.shared().read().projects.len();
    if count >= MAX_PROJECTS {
        return Err(full(
            "key",
            format!("there are {count} projects; at most {MAX_PROJECTS}"),
        ));
    }
    let environments = match envs {
        None => default_environments(&project.key),
        Some(v) => {
            let mut envs: Vec<Environment> = serde_json::from_value(v).map_err(|e| {
                ApiError::bad_request("environments", format!("not a list of environments: {e}"))
            })?;
            if envs.len() > MAX_ENVIRONMENTS {
                // Before anything per environment: the checks below are
                // quadratic in the list's length.
                return Err(ApiError::invalid(
                    "project",
                    vec![vexil_flags::FieldError::new(
                        "environments",
                        vexil_flags::validate::code::TOO_MANY,
                        format!("has {}; at most {MAX_ENVIRONMENTS}", envs.len()),
                    )],
                ));
            }
            let mut errors = Vec::new();
            for (i, env) in envs.iter_mut().enumerate() {
                if env.project.is_empty() {
                    env.project = project.key.clone();
                }
                let mut problems = vexil_flags::scope::validate_environment(env);
                if env.project != project.key {
                    problems.push(vexil_flags::FieldError::new(
                        "project",
                        "invalid_value",
                        format!("names project {:?}, not {:?}", env.project, project.key),
                    ));
                }
                for mut e in problems {
                    e.field = format!("environments[{i}].{}", e.field);
                    errors.push(e);
                }
            }
            for (i, env) in envs.iter().enumerate() {
                if envs[..i].iter().any(|e| e.key == env.key) {
                    errors.push(vexil_flags::FieldError::new(
                        format!("environments[{i}].key"),
                        "duplicate_environment",
                        format!("environment {:?} is listed twice", env.key),
                    ));
                }
            }
            invalid_or_ok("project", errors)?;
            envs
        }
    };
    let op = Op::CreateProject {
        project,
        environments,
    };
    let (change, _) = state.write(&caller, &headers, op).await?;
    let p = Projects::changed(change, &Params::new())
        .ok_or_else(|| ApiError::internal("a project create answered no project"))?;
    let mut resp = versioned::respond::<Projects>(&state, StatusCode::CREATED, &p);
    if let Ok(loc) = HeaderValue::from_str(&Projects::location(&p)) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    limit: Option<usize>,
    /// The previous page's `next_cursor` (its last key).
    cursor: Option<String>,
    #[serde(default)]
    consistency: Consistency,
}

#[utoipa::path(get, path = "/v1/projects", tag = "projects", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "One page of projects, by key, each with its environments", body = crate::openapi::schemas::ProjectList)))]
async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    // A token scoped to some projects lists those.
    caller.require_role(Role::Viewer)?;
    let limit = page_limit(q.limit)?;
    state.before_read(q.consistency).await?;
    let after = after_key(&state, Versioned::Project, "", q.cursor.as_deref())?;
    let (page, applied) = {
        let st = state.raft.shared().read();
        let from = after.as_deref().unwrap_or("");
        let page: Vec<Project> = st
            .projects
            .range::<str, _>((std::ops::Bound::Excluded(from), std::ops::Bound::Unbounded))
            .filter(|(key, _)| caller.reaches(&Need::InProject((*key).clone())))
            .take(limit + 1)
            .map(|(_, p)| p.clone())
            .collect();
        (page, st.applied)
    };
    let next = (page.len() > limit).then(|| page[limit - 1].key.clone());
    let items: Vec<serde_json::Value> = page
        .iter()
        .take(limit)
        .map(|p| Projects::body(&state, p))
        .collect();
    let body = json!({ "projects": items, "next_cursor": next });
    Ok((consistency_headers(q.consistency, applied), Json(body)).into_response())
}

#[utoipa::path(get, path = "/v1/projects/{key}", tag = "projects", security(("bearer" = [])),
    params(("key" = String, Path, description = "The project's key"), ReadQuery),
    responses(
        (status = 200, description = "The project and its environments; `ETag` is its version", body = crate::openapi::schemas::ProjectView),
        (status = 404, description = "No such project", body = ApiError),
    ))]
async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    versioned::get_one::<Projects>(&state, &caller, &path, q).await
}

#[utoipa::path(put, path = "/v1/projects/{key}", tag = "projects", security(("bearer" = [])),
    params(("key" = String, Path, description = "The project's key"), IfMatch, IdempotencyKey),
    request_body = Project,
    responses(
        (status = 200, description = "Replaced (its name and description; `environments` is read-only here)", body = crate::openapi::schemas::ProjectView),
        (status = 400, description = "Invalid (`validation_failed`)", body = ApiError),
        (status = 404, description = "No such project", body = ApiError),
        (status = 409, description = "The project changed since that version (`version_conflict`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 428, description = "No version in `If-Match` or the body (`version_required`)", body = ApiError),
        (status = 503, description = "Not every member runs a release with projects yet (`cluster_upgrade_pending`)", body = ApiError),
    ))]
async fn replace_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    versioned::replace::<Projects>(&state, &caller, &headers, &path, &body).await
}

/// `DELETE /v1/projects/{key}`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteProjectQuery {
    /// Delete it with every flag, segment and environment it holds, in one
    /// entry (cluster level 6). A rollback of the project restores it with
    /// its flags' definitions; a rollback of each environment then restores
    /// what that environment held. Without it, a project that holds any
    /// flag or segment is refused.
    #[serde(default)]
    confirm: bool,
}

#[utoipa::path(delete, path = "/v1/projects/{key}", tag = "projects", security(("bearer" = [])),
    params(("key" = String, Path, description = "The project's key"), DeleteProjectQuery, IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "Deleted with its environments, in one entry; a rollback restores the project", body = crate::openapi::schemas::Deleted),
        (status = 404, description = "No such project", body = ApiError),
        (status = 409, description = "A version conflict, or it holds flags or segments and `confirm` is not set (`in_use`, naming how many), or it is `default`", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = "Not every member runs a release with projects yet, or with `confirm`, one that deletes what a project holds (`cluster_upgrade_pending`)", body = ApiError),
    ))]
async fn remove_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<DeleteProjectQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if !q.confirm {
        return versioned::remove::<Projects>(&state, &caller, &headers, &path).await;
    }
    versioned::remove_with::<Projects>(&state, &caller, &headers, &path, |id, expected| {
        Op::PurgeProject {
            key: id.to_owned(),
            expected_version: expected,
        }
    })
    .await
}

#[utoipa::path(post, path = "/v1/projects/{project}/environments", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path, description = "The project's key"), IdempotencyKey),
    request_body(content = Environment, description = "The environment; add `copy_from` (an environment key of the same project) to start it as a copy of that environment's segments and flag configurations (cluster level 6)"),
    responses(
        (status = 201, description = "Created; `ETag` is its version", body = Environment),
        (status = 400, description = "Invalid (`validation_failed`), or `copy_from` names no environment of the project", body = ApiError),
        (status = 404, description = "No such project", body = ApiError),
        (status = 409, description = "An environment with this key exists in the project (`already_exists`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = "Not every member runs a release with projects yet (`cluster_upgrade_pending`)", body = ApiError),
    ))]
async fn create_env(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    let (rest, from): (serde_json::Value, _) = parse_without(&body, "copy_from")?;
    let Some(from) = from else {
        return versioned::create::<Environments>(&state, &caller, &headers, &path, &body).await;
    };
    // `copy_from`: the new environment holds a copy of that one's segments
    // and flag configurations (cluster level 6).
    caller.require_in(Environments::WRITE_ROLE, &Environments::need(&path)?)?;
    let Some(from) = from.as_str().map(str::to_owned) else {
        return Err(ApiError::bad_request(
            "copy_from",
            "must be the key of an environment of the same project",
        ));
    };
    let source = env_id(param(&path, "project")?, &from);
    if !state
        .raft
        .shared()
        .read()
        .environments
        .contains_key(&source)
    {
        return Err(ApiError::bad_request(
            "copy_from",
            format!(
                "environment {source:?} not found: copy_from names an environment of the same project"
            ),
        ));
    }
    let raw =
        RawValue::from_string(rest.to_string()).map_err(|e| ApiError::internal(e.to_string()))?;
    versioned::create_with::<Environments>(&state, &caller, &headers, &path, &raw, |environment| {
        Op::CreateEnvironmentFrom { environment, from }
    })
    .await
}

#[utoipa::path(get, path = "/v1/projects/{project}/environments", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path, description = "The project's key"), ReadQuery),
    responses(
        (status = 200, description = "The project's environments, in display order", body = crate::openapi::schemas::EnvironmentList),
        (status = 404, description = "No such project", body = ApiError),
    ))]
async fn list_envs(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    // A token scoped to some environments lists those.
    caller.require_in(Role::Viewer, &Need::InProject(project.clone()))?;
    state.before_read(q.consistency).await?;
    let (envs, applied) = {
        let st = state.raft.shared().read();
        if !st.projects.contains_key(&project) {
            return Err(ApiError::not_found(format!(
                "project {project:?} not found"
            )));
        }
        let envs: Vec<Environment> = st
            .environments_of(&project)
            .into_iter()
            .filter(|e| caller.reaches(&Need::Env(project.clone(), e.key.clone())))
            .cloned()
            .collect();
        (envs, st.applied)
    };
    let body = json!({ "environments": envs });
    Ok((consistency_headers(q.consistency, applied), Json(body)).into_response())
}

#[utoipa::path(get, path = "/v1/projects/{project}/environments/{key}", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path, description = "The environment's key"), ReadQuery),
    responses(
        (status = 200, description = "The environment; `ETag` is its version", body = Environment),
        (status = 404, description = "No such environment", body = ApiError),
    ))]
async fn get_env(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    versioned::get_one::<Environments>(&state, &caller, &path, q).await
}

#[utoipa::path(put, path = "/v1/projects/{project}/environments/{key}", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path, description = "The environment's key"), IfMatch, IdempotencyKey),
    request_body = Environment,
    responses(
        (status = 200, description = "Replaced", body = Environment),
        (status = 400, description = "Invalid (`validation_failed`)", body = ApiError),
        (status = 404, description = "No such environment", body = ApiError),
        (status = 409, description = "It changed since that version (`version_conflict`)", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 428, description = "No version in `If-Match` or the body (`version_required`)", body = ApiError),
        (status = 503, description = "Not every member runs a release with projects yet (`cluster_upgrade_pending`)", body = ApiError),
    ))]
async fn replace_env(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Box<RawValue>>,
) -> ApiResult<Response> {
    versioned::replace::<Environments>(&state, &caller, &headers, &path, &body).await
}

/// `DELETE …/environments/{key}`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteEnvQuery {
    /// Delete it with every flag configuration and segment it holds (each
    /// gets a deleting version, and a rollback of the environment restores
    /// them). Without it, an environment that holds any is refused.
    #[serde(default)]
    confirm: bool,
}

#[utoipa::path(delete, path = "/v1/projects/{project}/environments/{key}", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path), ("key" = String, Path, description = "The environment's key"), DeleteEnvQuery, IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "Deleted; a rollback restores it, with what it held", body = crate::openapi::schemas::Deleted),
        (status = 404, description = "No such environment", body = ApiError),
        (status = 409, description = "A version conflict, or it holds flags or segments and `confirm` is not set (`in_use`, naming how many), or it is `default`'s `production`", body = ApiError),
        (status = 422, description = "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)", body = ApiError),
        (status = 503, description = "Not every member runs a release with projects yet (`cluster_upgrade_pending`)", body = ApiError),
    ))]
async fn remove_env(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<Params>,
    ApiQuery(q): ApiQuery<DeleteEnvQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // Below level 4 an environment holds no flags of its own yet: a plain
    // delete (refused if it is `default`'s `production`) is all there is.
    let level = state.raft.shared().read().level();
    if !q.confirm || level < vexil_raft::version::ENV_CONFIG {
        return versioned::remove::<Environments>(&state, &caller, &headers, &path).await;
    }
    versioned::remove_with::<Environments>(&state, &caller, &headers, &path, |id, expected| {
        let (project, key) = split_env_id(id).unwrap_or((id, ""));
        Op::PurgeEnvironment {
            project: project.to_owned(),
            key: key.to_owned(),
            expected_version: expected,
        }
    })
    .await
}
