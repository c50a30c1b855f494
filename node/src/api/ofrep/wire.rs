//! OFREP's JSON shapes: one flag's answer, and every failure as a status plus
//! `{key?, errorCode?, errorDetails}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use vexil_flags::openfeature::OfErrorCode;

use crate::api::error::ApiError;

/// One flag's answer: a success or an evaluation failure.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FlagResult {
    Success(Success),
    Failure(OfrepError),
}

/// `{key, value, variant, reason, metadata}`.
#[derive(Debug, Serialize)]
pub struct Success {
    pub key: String,
    pub value: Value,
    /// The variation's name, else its index as a string.
    pub variant: Option<String>,
    /// An OpenFeature reason (see `vexil_flags::openfeature`).
    pub reason: &'static str,
    pub metadata: Map<String, Value>,
}

/// A failure: an evaluation failure (`key` and `errorCode` set), a bulk
/// failure (`errorCode` only), or any other error (`errorDetails` only, the
/// spec's general error body: 401, 403, 413, 503).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfrepError {
    #[serde(skip)]
    pub status: StatusCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "code_str")]
    pub error_code: Option<OfErrorCode>,
    pub error_details: String,
    /// Seconds before a retry (503 only).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

fn code_str<S: serde::Serializer>(code: &Option<OfErrorCode>, s: S) -> Result<S::Ok, S::Error> {
    match code {
        Some(c) => s.serialize_str(c.as_str()),
        None => s.serialize_none(),
    }
}

impl OfrepError {
    /// A failure with an OpenFeature code; its status is the one OFREP
    /// clients expect for it (404 not found, 500 general, else 400).
    pub fn code(code: OfErrorCode, details: impl Into<String>) -> Self {
        let status = match code {
            OfErrorCode::FlagNotFound => StatusCode::NOT_FOUND,
            OfErrorCode::General => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        OfrepError {
            status,
            key: None,
            error_code: Some(code),
            error_details: details.into(),
            retry_after: None,
        }
    }

    /// The same failure, naming the flag.
    pub fn for_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }
}

/// Vexil's own errors (auth, body limit, cluster unavailable) keep their
/// status and message, in OFREP's general error shape.
impl From<ApiError> for OfrepError {
    fn from(e: ApiError) -> Self {
        OfrepError {
            status: e.status,
            key: None,
            error_code: None,
            error_details: e.message,
            retry_after: e.retry_after,
        }
    }
}

impl IntoResponse for OfrepError {
    fn into_response(self) -> Response {
        let status = self.status;
        let retry = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok());
        let mut resp = (status, Json(self)).into_response();
        if let Some(v) = retry {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use vexil_raft::Role;

    #[test]
    fn failures_serialise_in_the_spec_shapes() {
        let e = OfrepError::code(OfErrorCode::FlagNotFound, "no flag").for_key("f");
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"key": "f", "errorCode": "FLAG_NOT_FOUND", "errorDetails": "no flag"})
        );
        let bulk = OfrepError::code(OfErrorCode::InvalidContext, "bad");
        assert_eq!(bulk.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            serde_json::to_value(&bulk).unwrap(),
            json!({"errorCode": "INVALID_CONTEXT", "errorDetails": "bad"})
        );
    }

    /// Every role includes `sdk`, so no token gets 403 today; the mapping
    /// still gives the spec's 403 with a general error body.
    #[test]
    fn a_forbidden_api_error_is_a_403_general_error() {
        let e = OfrepError::from(ApiError::forbidden(Role::Sdk));
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        let body = serde_json::to_value(&e).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        assert!(body["errorDetails"].as_str().unwrap().contains("sdk"));
    }
}
