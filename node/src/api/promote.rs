//! Promotion over HTTP: `POST /v1/projects/{project}/promote` (a dry run,
//! or the promotion itself as one Raft entry), and a project's
//! promotions, each readable and rolled back as a whole. What a promotion
//! copies and what refuses it is `vexil_flags::promote`; applying it is
//! `Op::Promote` (cluster level 5).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use vexil_flags::promote::{self, Plan, Selection, SelectionError};
use vexil_flags::scope::{Need, env_id};
use vexil_raft::{Change, Op, PromoteFlag, Role};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller};
use super::versioned::page_limit;
use super::{AppState, Consistency, consistency_headers};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/projects/{project}/promote", post(promote))
        .route("/v1/projects/{project}/promotions", get(list))
        .route("/v1/projects/{project}/promotions/{id}", get(get_one))
        .route(
            "/v1/projects/{project}/promotions/{id}/rollback",
            post(rollback),
        )
}

/// What to promote. Name the flags with exactly one of `flags`, `tag` and
/// `all`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromoteBody {
    /// The environment copied from (its key).
    from: String,
    /// The environment copied to (its key).
    to: String,
    /// These flags, by key.
    #[serde(default)]
    flags: Option<Vec<String>>,
    /// The flags with this tag.
    #[serde(default)]
    tag: Option<String>,
    /// Every flag of the project.
    #[serde(default)]
    all: bool,
    /// Only show what would change.
    #[serde(default)]
    dry_run: bool,
    /// The version each target configuration must be at, by flag key: a
    /// dry run's `expected_versions`, sent with its `source_versions`.
    /// With them, the promotion applies what the dry run showed or
    /// nothing: it is refused (409 `plan_changed`) if a selected flag's
    /// source or target has moved since, or the selection differs from
    /// the dry run's. Without them, the versions when the request arrives.
    #[serde(default)]
    expected_versions: Option<BTreeMap<String, u64>>,
    /// The version each source configuration must be at, by flag key: a
    /// dry run's `source_versions`.
    #[serde(default)]
    source_versions: Option<BTreeMap<String, u64>>,
}

/// Each selected flag's configuration version in the target and in the
/// source, by key.
struct Versions {
    to: BTreeMap<String, u64>,
    from: BTreeMap<String, u64>,
}

impl PromoteBody {
    fn selection(&self) -> ApiResult<Selection> {
        match (&self.flags, &self.tag, self.all) {
            (Some(keys), None, false) if !keys.is_empty() => Ok(Selection::Keys(keys.clone())),
            (None, Some(tag), false) => Ok(Selection::Tag(tag.clone())),
            (None, None, true) => Ok(Selection::All),
            _ => Err(ApiError::bad_request(
                "flags",
                "name the flags to promote with exactly one of `flags` (a non-empty list), \
                 `tag` and `all: true`",
            )),
        }
    }
}

fn project_missing(project: &str) -> ApiError {
    ApiError::not_found(format!("project {project:?} not found")).with_field("project")
}

/// The plan of `body` against the current state, with each selected
/// flag's versions.
fn plan_of(state: &AppState, project: &str, body: &PromoteBody) -> ApiResult<(Plan, Versions)> {
    let selection = body.selection()?;
    let st = state.raft.shared().read();
    if !st.projects.contains_key(project) {
        return Err(project_missing(project));
    }
    let mut sets = Vec::with_capacity(2);
    for (field, env) in [("from", &body.from), ("to", &body.to)] {
        let id = env_id(project, env);
        if !st.environments.contains_key(&id) && id != vexil_raft::keys::LEGACY_ENV {
            return Err(ApiError::not_found(format!(
                "project {project:?} has no environment {env:?}"
            ))
            .with_field(field));
        }
        sets.push(st.set(&id).cloned().unwrap_or_default());
    }
    // The sets are copies: planning must not hold the lock that applying
    // entries takes.
    drop(st);
    let (from, to) = (&sets[0], &sets[1]);
    let keys = promote::select(from, to, &selection).map_err(|e| {
        let field = match e {
            SelectionError::NotInSource(_) | SelectionError::NotInTarget(_) => "flags",
        };
        ApiError::not_found(e.to_string()).with_field(field)
    })?;
    if keys.len() > promote::MAX_FLAGS {
        return Err(ApiError::bad_request(
            "flags",
            format!(
                "{} flags selected; one promotion takes at most {}",
                keys.len(),
                promote::MAX_FLAGS
            ),
        ));
    }
    let version_in = |set: &vexil_flags::FlagSet| -> BTreeMap<String, u64> {
        keys.iter()
            .filter_map(|k| Some((k.clone(), set.get_flag(k)?.flag().version)))
            .collect()
    };
    let versions = Versions {
        to: version_in(to),
        from: version_in(from),
    };
    let mut plan = promote::plan(from, to, &keys);
    promote::describe(&mut plan, from, to);
    Ok((plan, versions))
}

#[utoipa::path(post, path = "/v1/projects/{project}/promote", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path, description = "The project's key")),
    request_body = PromoteBody,
    responses(
        (status = 200, description = "A dry run: what would change, flag by flag, and the versions an apply would expect; or nothing to promote (`applied: false`)", body = crate::openapi::schemas::PromotionAnswer),
        (status = 201, description = "Promoted in one Raft entry (`promotion`)", body = crate::openapi::schemas::PromotionAnswer),
        (status = 400, description = "No selection, the same environment twice, or a promoted rule matches on a segment the target lacks (`errors` names each: `flags.<key>.rules`)", body = ApiError),
        (status = 403, description = "The token's scope lacks either environment (an editor's in the target)", body = ApiError),
        (status = 404, description = "No such project, environment or flag (`field` names which)", body = ApiError),
        (status = 409, description = "A target or source configuration is not at its expected version, or the plan changed since the dry run (`plan_changed`)", body = ApiError),
        (status = 503, description = "The cluster is not yet at level 5 (`cluster_upgrade_pending`; a dry run works from level 4)", body = ApiError),
    ))]
pub(crate) async fn promote(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PromoteBody>,
) -> ApiResult<Response> {
    // The role first, so that a 403 names it when both are missing.
    let writes = if body.dry_run {
        Role::Viewer
    } else {
        Role::Editor
    };
    caller.require_role(writes)?;
    caller.require_in(Role::Viewer, &Need::Env(project.clone(), body.from.clone()))?;
    caller.require_in(writes, &Need::Env(project.clone(), body.to.clone()))?;
    if body.from == body.to {
        return Err(ApiError::bad_request(
            "to",
            "promote to a different environment",
        ));
    }
    // A linearizable read, for the apply too: a replica behind the leader
    // would plan against configurations already promoted over, and answer
    // that nothing differs.
    state.before_read(Consistency::Linearizable).await?;
    if !body.dry_run
        && let Some(done) = kept_answer(&state, &caller, &headers, &project, &body)?
    {
        return Ok(done);
    }
    let (plan, versions) = plan_of(&state, &project, &body)?;
    let answer = |promotion: Option<serde_json::Value>, plan: &Plan| {
        json!({
            "project": project,
            "from": body.from,
            "to": body.to,
            "dry_run": body.dry_run,
            "applied": promotion.is_some(),
            "plan": plan,
            "expected_versions": versions.to,
            "source_versions": versions.from,
            "promotion": promotion,
        })
    };
    if body.dry_run {
        return Ok(Json(answer(None, &plan)).into_response());
    }
    if !plan.missing_segments.is_empty() {
        return Err(ApiError::invalid(
            "promotion",
            promote::missing_segment_errors(&plan.missing_segments, &body.to),
        ));
    }
    let flags = expected(&plan, &versions, &body)?;
    if flags.is_empty() {
        // Nothing differs: nothing to write.
        return Ok(Json(answer(None, &plan)).into_response());
    }
    let (project_key, from, to) = (project.clone(), body.from.clone(), body.to.clone());
    let op = Op::Promote {
        project: project_key,
        from,
        to,
        flags,
    };
    let (change, _) = state.write(&caller, &headers, op).await?;
    let Change::Promotion { promotion } = change else {
        return Err(ApiError::internal("a promotion answered no promotion"));
    };
    let body = answer(
        Some(serde_json::to_value(&*promotion).unwrap_or_default()),
        &plan,
    );
    Ok(created(&project, promotion.id, body))
}

fn created(project: &str, id: u64, body: serde_json::Value) -> Response {
    let location = format!("/v1/projects/{project}/promotions/{id}");
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response()
}

/// A retry of a promotion that committed (the same `Idempotency-Key`)
/// gets its first answer, though nothing differs any more: the plan is
/// made again from today's state, so it cannot go to the state machine
/// as the same command.
fn kept_answer(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    project: &str,
    body: &PromoteBody,
) -> ApiResult<Option<Response>> {
    if !headers.contains_key("idempotency-key") {
        return Ok(None);
    }
    let id = super::extract::request_id(headers, &caller.name)?;
    let engine = state.raft.engine();
    let Some(kept) = vexil_raft::query::kept_answer(engine.as_ref(), state.applied(), &id)? else {
        return Ok(None);
    };
    // Only the answer to this promotion: the key used for another change
    // (another selection, a rollback, another kind of write) is refused,
    // as the write path would.
    let promotion = match kept.result {
        Ok(Change::Promotion { promotion })
            if promotion.id == kept.index
                && promotion.project == project
                && promotion.from == body.from
                && promotion.to == body.to
                && body
                    .flags
                    .as_ref()
                    .is_none_or(|keys| promotion.flags.iter().all(|f| keys.contains(&f.key))) =>
        {
            promotion
        }
        _ => return Err(ApiError::idempotency_key_reused()),
    };
    let body = json!({
        "project": promotion.project,
        "from": promotion.from,
        "to": promotion.to,
        "dry_run": false,
        "applied": true,
        "plan": Plan::default(),
        "expected_versions": {},
        "source_versions": {},
        "promotion": *promotion,
    });
    Ok(Some(created(project, promotion.id, body)))
}

fn plan_changed(message: String) -> ApiError {
    ApiError::conflict(
        "plan_changed",
        format!("{message} since the dry run: run it again"),
    )
    .with_field("expected_versions")
}

/// The flags of the command, each with the versions its source and target
/// must be at: today's, or, when the client sends a dry run's versions,
/// those, refusing the promotion if what it would do now is not what the
/// dry run showed.
fn expected(plan: &Plan, now: &Versions, body: &PromoteBody) -> ApiResult<Vec<PromoteFlag>> {
    let (shown_to, shown_from) = match (&body.expected_versions, &body.source_versions) {
        (None, None) => {
            return Ok(plan
                .flags
                .iter()
                .map(|f| PromoteFlag {
                    key: f.key.clone(),
                    expected_version: f.to_version,
                    source_version: f.from_version,
                })
                .collect());
        }
        (Some(to), Some(from)) => (to, from),
        (_, None) => {
            return Err(ApiError::bad_request(
                "source_versions",
                "send the dry run's source_versions with its expected_versions",
            ));
        }
        (None, _) => {
            return Err(ApiError::bad_request(
                "expected_versions",
                "send the dry run's expected_versions with its source_versions",
            ));
        }
    };
    // The selection must be the dry run's, every flag of it at the
    // versions it showed (on this linearizable read): then the plan is the
    // one it showed, and the state machine checks the versions of the
    // flags that change again when it applies them.
    for (key, to_version) in &now.to {
        let from_version = now.from.get(key);
        match (shown_to.get(key), shown_from.get(key)) {
            (Some(t), Some(f)) if t == to_version && Some(f) == from_version => {}
            (Some(_), Some(_)) => {
                return Err(plan_changed(format!(
                    "flag {key:?} changed in {} or {}",
                    body.from, body.to
                )));
            }
            _ => {
                return Err(plan_changed(format!(
                    "flag {key:?} is selected and was not in the dry run"
                )));
            }
        }
    }
    for key in shown_to.keys().chain(shown_from.keys()) {
        if !now.to.contains_key(key) {
            return Err(plan_changed(format!("flag {key:?} is no longer selected")));
        }
    }
    Ok(plan
        .flags
        .iter()
        .map(|f| PromoteFlag {
            key: f.key.clone(),
            expected_version: shown_to.get(&f.key).copied().unwrap_or(f.to_version),
            source_version: shown_from.get(&f.key).copied().unwrap_or(f.from_version),
        })
        .collect())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    limit: Option<usize>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    #[serde(default)]
    consistency: Consistency,
}

#[utoipa::path(get, path = "/v1/projects/{project}/promotions", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path, description = "The project's key"), ListQuery),
    responses(
        (status = 200, description = "The project's promotions, newest first", body = crate::openapi::schemas::PromotionPage),
        (status = 404, description = "No such project", body = ApiError),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &Need::InProject(project.clone()))?;
    let limit = page_limit(q.limit)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<u64>().map_err(|_| {
                ApiError::bad_request("cursor", format!("{c:?} is not a cursor from this API"))
            })
        })
        .transpose()?;
    state.before_read(q.consistency).await?;
    if !state.raft.shared().read().projects.contains_key(&project) {
        return Err(project_missing(&project));
    }
    // Only promotions between environments the token reaches count.
    let visible = |p: &vexil_raft::records::Promotion| {
        caller.reaches(&Need::Env(project.clone(), p.from.clone()))
            && caller.reaches(&Need::Env(project.clone(), p.to.clone()))
    };
    let page = vexil_raft::query::promotions(
        state.raft.engine().as_ref(),
        &project,
        limit,
        before,
        visible,
    )?;
    let headers = consistency_headers(q.consistency, state.applied());
    Ok((
        headers,
        Json(json!({ "promotions": page.items, "next_cursor": page.next_cursor })),
    )
        .into_response())
}

fn read_one(
    state: &AppState,
    project: &str,
    id: &str,
) -> ApiResult<vexil_raft::records::Promotion> {
    let missing = || {
        ApiError::not_found(format!("project {project:?} has no promotion {id:?}")).with_field("id")
    };
    let n: u64 = id.parse().map_err(|_| missing())?;
    match vexil_raft::query::promotion(state.raft.engine().as_ref(), n)? {
        Some(p) if p.project == project => Ok(p),
        _ => Err(missing()),
    }
}

#[utoipa::path(get, path = "/v1/projects/{project}/promotions/{id}", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path, description = "The project's key"),
        ("id" = u64, Path, description = "The promotion's id")),
    responses(
        (status = 200, description = "The promotion: its flags, each target's version before and after, and the entry that rolled it back if one has", body = vexil_raft::records::Promotion),
        (status = 404, description = "No such promotion in this project", body = ApiError),
    ))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require_in(Role::Viewer, &Need::InProject(project.clone()))?;
    state.before_read(Consistency::default()).await?;
    let p = read_one(&state, &project, &id)?;
    for env in [&p.from, &p.to] {
        caller.require_in(Role::Viewer, &Need::Env(project.clone(), env.clone()))?;
    }
    Ok(Json(p).into_response())
}

#[utoipa::path(post, path = "/v1/projects/{project}/promotions/{id}/rollback", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path, description = "The project's key"),
        ("id" = u64, Path, description = "The promotion's id")),
    responses(
        (status = 200, description = "Every flag the promotion changed has its earlier configuration again, as a new version, in one Raft entry", body = vexil_raft::records::Promotion),
        (status = 400, description = "Rolled back already, or an earlier configuration no longer fits (a segment it uses is gone)", body = ApiError),
        (status = 403, description = "The token cannot edit the promotion's target environment", body = ApiError),
        (status = 404, description = "No such promotion in this project", body = ApiError),
        (status = 409, description = "A flag changed since the promotion (`message` names it): roll that flag back on its own", body = ApiError),
    ))]
pub(crate) async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require_role(Role::Editor)?;
    caller.require_in(Role::Viewer, &Need::InProject(project.clone()))?;
    state.before_read(Consistency::Linearizable).await?;
    let p = read_one(&state, &project, &id)?;
    caller.require_in(Role::Viewer, &Need::Env(project.clone(), p.from.clone()))?;
    caller.require_in(Role::Editor, &Need::Env(project.clone(), p.to.clone()))?;
    let op = Op::RollbackPromotion {
        project: project.clone(),
        id: p.id,
    };
    let (change, _) = state.write(&caller, &headers, op).await?;
    let Change::Promotion { promotion } = change else {
        return Err(ApiError::internal("a rollback answered no promotion"));
    };
    Ok(Json(*promotion).into_response())
}
