//! Request extractors: JSON bodies whose errors name the field, and the
//! caller's identity from `Authorization: Bearer <token>`.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use vexil_raft::Role;

use super::AppState;
use super::error::ApiError;

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
        // serde_path_to_error's path already ends at an unknown field.
        let field = match unknown_field(&message) {
            Some(name) if path == "." => name.to_owned(),
            _ if path == "." => "body".to_owned(),
            _ => path,
        };
        let code = if inner.is_syntax() || inner.is_eof() {
            "malformed_json"
        } else {
            "bad_request"
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, message).with_field(field)
    })
}

/// Pulls `x` out of serde's "unknown field `x`, expected …".
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// The authenticated caller: its token's name (the audit actor) and role.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// 403 unless this caller's role allows `needs`.
    pub fn require(&self, needs: Role) -> Result<(), ApiError> {
        if self.role.allows(needs) {
            Ok(())
        } else {
            Err(ApiError::forbidden(needs))
        }
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
        let token = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized("send a token as `Authorization: Bearer <token>`")
        })?;
        state
            .authenticate(token)
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))
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
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| {
                let message = e.to_string();
                let field = unknown_field(&message)
                    .or_else(|| field_of_invalid(&message))
                    .unwrap_or("query")
                    .to_owned();
                ApiError::bad_request(field, format!("bad query string: {message}"))
            })
    }
}

/// serde_urlencoded says e.g. "invalid digit found in string" without a
/// name; serde's own messages for a missing field do name it.
fn field_of_invalid(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}
