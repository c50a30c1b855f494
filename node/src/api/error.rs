//! `ApiError`: every failure the API reports, as an HTTP status plus a JSON
//! body `{error, message, field?, errors?}`. Errors from other crates are
//! converted here, at the edge, and nowhere else.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vexil_flags::FieldError;
use vexil_raft::{MembershipError, ReadError, Rejection, Role, WriteError};
use vexil_storage::StorageError;

/// An API failure.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    /// A stable machine-readable code, e.g. `validation_failed`.
    pub error: &'static str,
    pub message: String,
    /// The request field at fault, as a JSON path (`rules[0].clauses[1].values`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every validation problem, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds a client should wait before retrying (503 only).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The `error` code of an error response, left in the response's extensions
/// for the metrics middleware (refused writes by cause).
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
            field: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 413: the body is over [`super::BODY_LIMIT`], whether declared so or
    /// found so while reading.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request body is over the {} MiB limit",
                super::BODY_LIMIT >> 20
            ),
        )
    }

    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message).with_field(field)
    }

    /// 400 listing every validation problem; `field` names the first.
    pub fn invalid(kind: &str, errors: Vec<FieldError>) -> Self {
        let message = format!(
            "invalid {kind}: {}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let field = errors.first().map(|e| e.field.clone());
        ApiError {
            field,
            errors,
            ..Self::new(StatusCode::BAD_REQUEST, "validation_failed", message)
        }
    }

    /// 422: the caller used this `Idempotency-Key` before, for another
    /// change (`raft/src/apply/mod.rs` compares the two).
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request; \
             send a new key with a new request",
        )
        .with_field("Idempotency-Key")
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(needs: Role) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this needs a token with the {} role or higher",
                needs.as_str()
            ),
        )
    }

    /// 403 for a token whose scope does not reach what the route needs:
    /// the message names the scope it lacks.
    pub fn out_of_scope(need: &vexil_flags::scope::Need) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "out_of_scope",
            format!(
                "this needs a token whose scope includes {}",
                need.describe()
            ),
        )
        .with_field("scope")
    }

    pub fn conflict(error: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, error, message)
    }

    /// 503 with `Retry-After`: the cluster cannot serve this right now.
    pub fn unavailable(error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, error, message)
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let retry = self.retry_after;
        let code = ErrorCode(self.error);
        let mut resp = (status, Json(self)).into_response();
        resp.extensions_mut().insert(code);
        if let Some(v) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let message = r.to_string();
        match r {
            Rejection::NotFound { .. } | Rejection::VersionNotFound { .. } => {
                ApiError::not_found(message)
            }
            Rejection::AlreadyExists { .. } => {
                ApiError::conflict("already_exists", message).with_field("key")
            }
            Rejection::Conflict { .. } => {
                ApiError::conflict("version_conflict", message).with_field("version")
            }
            Rejection::InUse { kind, by, .. }
                if (kind == "environment" || kind == "project")
                    && !by.iter().any(|b| b.contains("without a project")) =>
            {
                let restores = if kind == "project" {
                    "from cluster level 6; a rollback of the project, then of each environment, restores it all"
                } else {
                    "a rollback of the environment restores it all"
                };
                ApiError::conflict(
                    "in_use",
                    format!(
                        "{message}: send ?confirm=true to delete it with everything it holds ({restores})"
                    ),
                )
            }
            Rejection::InUse { .. } => ApiError::conflict("in_use", message),
            Rejection::Invalid { kind, errors } => ApiError::invalid(&kind, errors),
            Rejection::Forbidden { needs, .. } => ApiError::forbidden(needs),
            Rejection::LastAdmin => ApiError::conflict("last_admin", message),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        let code = match e {
            WriteError::NoLeader | WriteError::NotLeader { .. } => "no_leader",
            WriteError::NoQuorum { .. } => "no_quorum",
            WriteError::Timeout(_) => "write_timeout",
            WriteError::Forward(_) => "leader_unreachable",
            WriteError::Stopped(_) => "stopped",
            // A rolling upgrade in progress: transient, like no leader.
            WriteError::ClusterLevel { .. } => "cluster_upgrade_pending",
        };
        ApiError::unavailable(code, e.to_string())
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        ApiError::unavailable(
            "read_unavailable",
            format!("{e}; retry, or read with ?consistency=local"),
        )
    }
}

impl From<MembershipError> for ApiError {
    fn from(e: MembershipError) -> Self {
        let message = e.to_string();
        match e {
            MembershipError::AlreadyMember(_) => ApiError::conflict("already_member", message),
            MembershipError::NotMember(_) => ApiError::not_found(message),
            MembershipError::NotVoter(_) => ApiError::conflict("not_a_voter", message),
            MembershipError::Unhealthy(_) => ApiError::conflict("unhealthy", message),
            MembershipError::NoCandidate => ApiError::conflict("no_candidate", message),
            MembershipError::WouldLoseQuorum { .. } => {
                ApiError::conflict("would_lose_quorum", message)
            }
            MembershipError::NoLeader | MembershipError::NotLeader { .. } => {
                ApiError::unavailable("no_leader", message)
            }
            MembershipError::WrongAddress { .. } => {
                ApiError::conflict("address_in_use", message).with_field("peer_addr")
            }
            MembershipError::ReleaseTooOld { .. } => {
                ApiError::conflict("member_release_too_old", message)
            }
            MembershipError::InProgress(_) => {
                ApiError::conflict("membership_change_in_progress", message)
            }
            MembershipError::Cancelled(_) => {
                ApiError::conflict("membership_change_cancelled", message)
            }
            MembershipError::NotCommitted(_) => {
                ApiError::unavailable("membership_not_committed", message)
            }
            MembershipError::CatchUp(_) | MembershipError::Failed(_) => {
                ApiError::unavailable("membership_failed", message)
            }
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NoSpace(m) => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "no_space",
                format!("the data device is full: {m}"),
            ),
            other => ApiError::internal(other.to_string()),
        }
    }
}
