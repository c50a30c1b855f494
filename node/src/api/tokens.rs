//! `/v1/tokens` (admin) and `/v1/me`. A token's secret is shown once, at
//! creation; only its SHA-256 is replicated.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
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
    let op = Op::CreateToken {
        name: body.name,
        role: body.role,
        secret_hash: vexil_raft::hash_secret(&secret),
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
    responses((status = 200, description = "The caller's token name and role", body = crate::openapi::schemas::Me)))]
async fn me(caller: Caller) -> Json<serde_json::Value> {
    Json(json!({ "name": caller.name, "role": caller.role }))
}
