//! `/v1/tokens` (admin) and `/v1/me`. A token's secret is shown once, at
//! creation; only its SHA-256 is replicated.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use vexil_flags::FieldError;
use vexil_flags::scope::{Need, ProjectGrant, env_id};
use vexil_raft::{Change, Op, Role, TokenInfo};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller};
use super::versioned::ReadQuery;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tokens", get(list).post(create))
        .route("/v1/tokens/{name}", delete(revoke))
        .route("/v1/me", get(me))
}

/// A fresh token secret: a role hint plus 256 random bits.
pub fn new_secret(role: Role) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("vxl_{}_{}", role.as_str(), hex::encode(bytes))
}

/// The label of the key that derives retried tokens' secrets.
pub const SECRET_KEY_LABEL: &str = "vexil token secret key v1";

/// The secret of a token created under a client-chosen request id
/// (`key:…`, from `Idempotency-Key`): derived from the request id, the name
/// and the role with a key only the cluster holds (`crate::secrets`), so a
/// retry after a lost response, on any node, answers the same secret. The
/// log keeps only its hash, as for a random one.
fn derived_secret(state: &AppState, request_id: &str, name: &str, role: Role) -> String {
    let message = format!("{request_id}\n{name}\n{}", role.as_str());
    format!(
        "vxl_{}_{}",
        role.as_str(),
        hex::encode(state.token_key.mac(message.as_bytes()))
    )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    role: Role,
    /// The projects (each with all its environments, or the listed ones)
    /// the token reaches; absent: every project. An `sdk` token's names one
    /// environment, which its evaluation, stream and OFREP then serve.
    #[serde(default)]
    scope: Option<Vec<ProjectGrant>>,
}

/// 400 naming the field, for a scope whose shape is wrong or that names a
/// project or environment that does not exist.
fn check_scope(state: &AppState, scope: &[ProjectGrant], role: Role) -> ApiResult<()> {
    let mut errors = vexil_flags::scope::validate_scope(scope, role == Role::Sdk);
    if errors.is_empty() {
        let st = state.raft.shared().read();
        for (i, g) in scope.iter().enumerate() {
            if !st.projects.contains_key(&g.project) {
                errors.push(FieldError::new(
                    format!("scope[{i}].project"),
                    "not_found",
                    format!("project {:?} not found", g.project),
                ));
                continue;
            }
            for (j, e) in g.environments.iter().flatten().enumerate() {
                if !st.environments.contains_key(&env_id(&g.project, e)) {
                    errors.push(FieldError::new(
                        format!("scope[{i}].environments[{j}]"),
                        "not_found",
                        format!("project {:?} has no environment {e:?}", g.project),
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("token", errors))
    }
}

#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])),
    params(crate::openapi::params::IdempotencyKey),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = crate::openapi::schemas::TokenCreated),
        (status = 409, description = "A token with this name exists", body = ApiError),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    if let Some(e) = vexil_flags::validate_key("name", &body.name) {
        return Err(ApiError::bad_request("name", e.message));
    }
    let request_id = super::extract::request_id(&headers, &caller.name)?;
    let secret = if request_id.starts_with("key:") {
        derived_secret(&state, &request_id, &body.name, body.role)
    } else {
        new_secret(body.role)
    };
    let secret_hash = vexil_raft::hash_secret(&secret);
    let op = match body.scope {
        // A command of its own: a node of an earlier release would read a
        // scope on `CreateToken` as no scope at all.
        Some(scope) => {
            check_scope(&state, &scope, body.role)?;
            Op::CreateScopedToken {
                name: body.name,
                role: body.role,
                secret_hash,
                scope,
            }
        }
        None => Op::CreateToken {
            name: body.name,
            role: body.role,
            secret_hash,
        },
    };
    let (change, _) = state.write(&caller, &headers, op).await?;
    let Change::Token { token, .. } = change else {
        return Err(ApiError::internal("unexpected change"));
    };
    let mut body = serde_json::to_value(&token).unwrap_or_default();
    if let Some(o) = body.as_object_mut() {
        o.insert("secret".into(), json!(secret));
    }
    // The secret must not stay in a cache on the way.
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])),
    params(ReadQuery),
    responses((status = 200, description = "Every token (never a secret or hash)", body = crate::openapi::schemas::TokenList)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    state.before_read(q.consistency).await?;
    let tokens: Vec<TokenInfo> = state
        .raft
        .shared()
        .read()
        .tokens
        .values()
        .map(TokenInfo::from)
        .collect();
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

#[utoipa::path(delete, path = "/v1/tokens/{name}", tag = "tokens", security(("bearer" = [])),
    params(("name" = String, Path, description = "The token's name"), crate::openapi::params::IdempotencyKey),
    responses(
        (status = 200, description = "Revoked", body = crate::openapi::schemas::TokenRevoked),
        (status = 404, description = "No such token", body = ApiError),
        (status = 409, description = "The last admin token cannot be revoked (`last_admin`)", body = ApiError),
    ))]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let (_, index) = state
        .write(&caller, &headers, Op::DeleteToken { name: name.clone() })
        .await?;
    Ok(Json(json!({ "revoked": name, "index": index })).into_response())
}

#[utoipa::path(get, path = "/v1/me", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, description = "The caller's token name and role; for a scoped token, its scope and the environment the unscoped evaluation routes serve it", body = crate::openapi::schemas::Me)))]
async fn me(caller: Caller) -> Json<serde_json::Value> {
    let mut body = json!({ "name": caller.name, "role": caller.role });
    // A token without a scope answers as before scopes existed.
    if let Some(scope) = &caller.scope {
        let served = match caller.served() {
            Need::Env(p, e) => env_id(&p, &e),
            _ => vexil_raft::keys::LEGACY_ENV.to_owned(),
        };
        body["scope"] = json!(scope);
        body["environment"] = json!(served);
    }
    Json(body)
}
