//! Request extractors: JSON bodies and query strings whose errors name the
//! field, the caller's identity from `Authorization: Bearer <token>`, and
//! the request id a write carries (from `Idempotency-Key`). A failed
//! authentication is reported to the listener's `net::guard::AuthGuard`
//! (counted, logged, and backed off per source address).

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use vexil_flags::scope::{Need, ProjectGrant, scope_allows, single_environment};
use vexil_raft::Role;

use super::AppState;
use super::error::ApiError;
use crate::net::ClientAddr;
use crate::net::guard::{AuthGuard, Failure};
use crate::secrets::Miss;

/// A JSON body. Malformed JSON, a wrong type and an unknown field all give
/// 400 naming the field; a body over the limit gives 413.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default();
            if !ct.starts_with("application/json") && !ct.contains("+json") {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!("expected application/json, got {ct}"),
                ));
            }
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::payload_too_large()
                } else {
                    ApiError::bad_request("body", e.body_text())
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserializes `bytes`, reporting the failing field as a JSON path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        let field = field_of(&path, &message).unwrap_or_else(|| "body".to_owned());
        let code = if inner.is_syntax() || inner.is_eof() {
            "malformed_json"
        } else {
            "bad_request"
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, message).with_field(field)
    })
}

/// The field an error is about, from serde_path_to_error's `path` (`.`
/// for the top level) and serde's message, or `None` for the whole input.
/// The path ends at an unknown field already, but stops at the struct that
/// misses a field; a path segment it could not name (`?`, inside an enum's
/// tag) is dropped rather than shown.
fn field_of(path: &str, message: &str) -> Option<String> {
    let path = path
        .split('.')
        .filter(|s| !s.is_empty() && *s != "?")
        .collect::<Vec<_>>()
        .join(".");
    let named = |prefix: &str| {
        let rest = message.strip_prefix(prefix)?;
        rest.split('`').next()
    };
    match (named("unknown field `"), named("missing field `")) {
        (Some(name), _) if path.is_empty() => Some(name.to_owned()),
        (_, Some(name)) if path.is_empty() => Some(name.to_owned()),
        (_, Some(name)) => Some(format!("{path}.{name}")),
        _ if path.is_empty() => None,
        _ => Some(path),
    }
}

/// The authenticated caller: its token's name (the audit actor) and role.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    /// The token's stored hash: a token revoked and created again under
    /// the same name is another token.
    pub token_hash: String,
    /// The projects and environments the token reaches; `None`: all.
    pub scope: Option<Vec<ProjectGrant>>,
}

impl Caller {
    /// 403 unless this caller's role allows `needs` and its scope reaches
    /// every project: the cluster-wide routes (tokens, members, backups,
    /// the audit log, creating a project).
    pub fn require(&self, needs: Role) -> Result<(), ApiError> {
        self.require_in(needs, &Need::All)
    }

    /// 403 unless this caller's role allows `needs`, whatever its scope:
    /// routes that show nothing of a project (`/v1/me`, cluster status).
    pub fn require_role(&self, needs: Role) -> Result<(), ApiError> {
        if self.role.allows(needs) {
            Ok(())
        } else {
            Err(ApiError::forbidden(needs))
        }
    }

    /// Whether this caller's scope reaches `need` (lists filter by it).
    pub fn reaches(&self, need: &Need) -> bool {
        scope_allows(self.scope.as_deref(), need)
    }

    /// 403 unless this caller's role allows `needs` and its scope reaches
    /// `need` (the role is checked first, so a 403 names the role when
    /// both are missing).
    pub fn require_in(&self, needs: Role, need: &Need) -> Result<(), ApiError> {
        self.require_role(needs)?;
        if scope_allows(self.scope.as_deref(), need) {
            Ok(())
        } else {
            Err(ApiError::out_of_scope(need))
        }
    }

    /// The environment the routes without a scope serve this caller: an
    /// `sdk` token bound to one environment selects it; every other token
    /// gets `default`/`production`, as before scopes.
    pub fn served(&self) -> Need {
        served(self.role, self.scope.as_deref())
    }

    /// 403 unless the caller may read (`needs`) the environment that the
    /// unscoped evaluation routes serve it; that environment's id.
    pub fn served_env(&self, needs: Role) -> Result<String, ApiError> {
        let need = self.served();
        self.require_in(needs, &need)?;
        match need {
            Need::Env(p, e) => Ok(vexil_flags::scope::env_id(&p, &e)),
            _ => Ok(vexil_raft::keys::LEGACY_ENV.to_owned()),
        }
    }
}

/// The environment the unscoped evaluation routes (`/v1/evaluate`,
/// `/v1/stream`, `/v1/sdk/flags`, OFREP) serve a token of `role` and
/// `scope`: an `sdk` token's one environment, else `default`/`production`.
pub fn served(role: Role, scope: Option<&[ProjectGrant]>) -> Need {
    match single_environment(scope) {
        Some((p, e)) if role == Role::Sdk => Need::Env(p.into(), e.into()),
        _ => Need::legacy(),
    }
}

/// 503 for a secret whose verification found no free turn
/// ([`Miss::Busy`]): not a failed authentication, so not counted against
/// the caller's address.
pub fn busy() -> ApiError {
    ApiError::unavailable(
        "auth_busy",
        "too many token verifications are running on this node: retry in a second",
    )
}

/// Reports a failed authentication to the listener's guard (metric, log
/// line, per-address back-off). The serve loop (`net::http`) sets the
/// guard; it is absent when a test calls the router directly.
pub fn report_failure(parts: &Parts, why: Failure) {
    if let Some(guard) = parts.extensions.get::<Arc<AuthGuard>>() {
        let ip = parts.extensions.get::<ClientAddr>().and_then(|a| a.0);
        guard.failed(ip, why);
    }
}

/// The bearer token of a request, from `Authorization` (or `X-API-Key`,
/// which OpenFeature clients use).
pub fn bearer(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim());
    }
    parts.headers.get("x-api-key").and_then(|v| v.to_str().ok())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let failed = |why: Failure| report_failure(parts, why);
        let Some(token) = bearer(parts) else {
            failed(Failure::Missing);
            return Err(ApiError::unauthorized(
                "send a token as `Authorization: Bearer <token>`",
            ));
        };
        state.authenticate(token).map_err(|miss| match miss {
            Miss::Unknown => {
                failed(Failure::Wrong);
                ApiError::unauthorized("unknown or revoked token")
            }
            Miss::Busy => busy(),
        })
    }
}

/// A query string. Unknown or malformed parameters give 400 naming them.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // axum's `Query` decodes through serde_path_to_error, which knows
        // the parameter a value failed in (serde_urlencoded's own message,
        // e.g. "invalid digit found in string", does not name it).
        use std::error::Error as _;
        type Tracked = serde_path_to_error::Error<serde_urlencoded::de::Error>;
        let rejection = match axum::extract::Query::<T>::try_from_uri(&parts.uri) {
            Ok(axum::extract::Query(t)) => return Ok(ApiQuery(t)),
            Err(rejection) => rejection,
        };
        let tracked = match &rejection {
            axum::extract::rejection::QueryRejection::FailedToDeserializeQueryString(e) => e
                .source()
                .and_then(|e| e.source())
                .and_then(|e| e.downcast_ref::<Tracked>()),
            _ => None,
        };
        let Some(tracked) = tracked else {
            return Err(ApiError::bad_request("query", rejection.body_text()));
        };
        let message = tracked.inner().to_string();
        let path = tracked.path().to_string();
        Err(match field_of(&path, &message) {
            Some(field) => {
                let message = format!("bad query parameter `{field}`: {message}");
                ApiError::bad_request(field, message)
            }
            None => ApiError::bad_request("query", format!("bad query string: {message}")),
        })
    }
}

/// The request id of a write: the client's `Idempotency-Key` scoped to the
/// caller, `key:<Idempotency-Key>:<16 hex digits>` (the start of the
/// SHA-256 of the token's name, so two tokens never share a key), or a
/// fresh random `req:<32 hex digits>`.
///
/// The id does not depend on the request's body: the state machine keeps,
/// beside each keyed answer, a fingerprint of the change it answered
/// (`raft/src/apply/mod.rs`), so that a retry gets the first answer and
/// the same key sent with another change is refused (422
/// `idempotency_key_reused`, as Stripe and the IETF draft
/// `draft-ietf-httpapi-idempotency-key-header` do).
pub fn request_id(headers: &HeaderMap, actor: &str) -> Result<String, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(format!("req:{:032x}", rand::random::<u128>()));
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::bad_request("Idempotency-Key", "must be visible ASCII"))?;
    if v.is_empty() || v.len() > 200 {
        return Err(ApiError::bad_request(
            "Idempotency-Key",
            "must be 1 to 200 characters",
        ));
    }
    use sha2::Digest;
    let scope = hex::encode(&sha2::Sha256::digest(actor.as_bytes())[..8]);
    Ok(format!("key:{v}:{scope}"))
}
