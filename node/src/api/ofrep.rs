//! OpenFeature Remote Evaluation Protocol (OFREP, `open-feature/protocol`,
//! `service/openapi.yaml`) on every node, from this node's own state (like
//! the stream: no read barrier), so any OpenFeature SDK can use Vexil.
//!
//! - `POST /ofrep/v1/evaluate/flags/{key}` with `{"context": {"targetingKey": "u1", …}}`:
//!   200 `{"key", "value", "variant", "reason", "metadata": {"version", "vexilReason", "ruleId"?}}`;
//!   404 `{"key", "errorCode": "FLAG_NOT_FOUND", "errorDetails"}`;
//!   400 `{"key", "errorCode", "errorDetails"}` with `PARSE_ERROR` (a body that
//!   is not JSON, or a flag that cannot be evaluated), `INVALID_CONTEXT` or
//!   `TARGETING_KEY_MISSING`.
//! - `POST /ofrep/v1/evaluate/flags` (bulk): 200 `{"flags": [one answer or
//!   failure per flag, sorted by key], "eventStreams": [{"type": "sse",
//!   "endpoint": {"requestUri": "/ofrep/v1/events?ticket=…&since=…"},
//!   "inactivityDelaySec": 120}]}` with an `ETag`; 304 when `If-None-Match`
//!   names it; 400 `{"errorCode", "errorDetails"}` for a bad body or context.
//!   The ETag is a hash of the `flags` array, so it changes exactly when some
//!   answer for this context does (a change to the state or to the context
//!   that alters no answer keeps it). A re-fetch carrying `flagConfigEtag`
//!   from an event of a node that is ahead waits up to 2 s for this one.
//! - `GET /ofrep/v1/events`: the change notifications ([`events`]).
//!
//! **Auth:** any token (every role includes `sdk`), as `Authorization: Bearer`
//! or `X-API-Key`, checked before any byte of the body is read; none or an
//! unknown one gets 401 `{"errorDetails"}`, the
//! spec's general error body (a role too low would get 403, the same shape).
//! **CORS:** responses allow any origin and expose `ETag`, and the POST routes
//! answer preflights, so browser SDKs work (tokens are headers, not cookies).
//!
//! How contexts map is in [`context`]; how reasons, errors, variants and
//! metadata map is the table in `vexil_flags::openfeature`, the one place
//! the server and the Rust provider share.

mod context;
pub mod events;
mod wire;

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vexil_flags::openfeature::{self, OfErrorCode};
use vexil_flags::{CompiledFlag, Context, EvaluationDetail, FlagSet};
use vexil_raft::Role;

use super::error::ApiError;
use super::extract::{ApiQuery, Caller};
use super::{AppState, sdk::not_modified};
use wire::{FlagResult, OfrepError, Success};

/// How long a re-fetch waits for this node to reach the state its
/// `flagConfigEtag` names.
const CATCH_UP: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/ofrep/v1/evaluate/flags/{key}",
            post(evaluate_flag).options(preflight),
        )
        .route(
            "/ofrep/v1/evaluate/flags",
            post(evaluate_flags).options(preflight),
        )
        .route("/ofrep/v1/events", get(events::events))
        .layer(middleware::map_response(cors))
}

async fn cors(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag"),
    );
    resp
}

async fn preflight() -> Response {
    let headers = [
        (header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"),
        (
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "authorization, x-api-key, content-type, if-none-match",
        ),
        (header::ACCESS_CONTROL_MAX_AGE, "600"),
    ];
    (StatusCode::NO_CONTENT, headers).into_response()
}

/// The caller and the environment OFREP serves it (`Caller::served`).
fn authorize(caller: Result<Caller, ApiError>) -> Result<(Caller, String), OfrepError> {
    let caller = caller?;
    let env = caller.served_env(Role::Sdk)?;
    Ok((caller, env))
}

/// Reads the body (up to the API's `DefaultBodyLimit`) and parses the
/// context. Called only once the caller is authenticated: the request is
/// taken whole by the handler (`Request` comes last, after `Caller`), so no
/// byte of the body is read for a request without a valid token.
async fn parse_context(req: Request) -> Result<Context, OfrepError> {
    let bytes = Bytes::from_request(req, &())
        .await
        .map_err(|e: BytesRejection| ApiError::new(e.status(), "bad_body", e.body_text()))?;
    context::parse(&bytes).map_err(|(code, details)| OfrepError::code(code, details))
}

async fn evaluate_flag(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(key): Path<String>,
    req: Request,
) -> Result<Response, OfrepError> {
    let (_, env) = authorize(caller)?;
    let ctx = parse_context(req).await.map_err(|e| e.for_key(&key))?;
    let flags = state
        .raft
        .shared()
        .read()
        .set(&env)
        .cloned()
        .unwrap_or_default();
    let (result, detail) = evaluate(&flags, &key, &ctx);
    if let Some(usage) = state.usage_in(&env) {
        usage.served(detail.iter().map(|d| (key.as_str(), d)));
    }
    match result {
        FlagResult::Success(s) => Ok(Json(s).into_response()),
        FlagResult::Failure(e) => Err(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkQuery {
    /// The `etag` of the event that triggered this re-fetch.
    flag_config_etag: Option<String>,
}

/// The bulk answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Bulk {
    flags: Vec<FlagResult>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    event_streams: Vec<serde_json::Value>,
}

async fn evaluate_flags(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    query: Result<ApiQuery<BulkQuery>, ApiError>,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, OfrepError> {
    let (caller, env) = authorize(caller)?;
    let ApiQuery(q) = query?;
    let ctx = parse_context(req).await?;
    let wanted = q.flag_config_etag.as_deref().and_then(config_id);
    if let Some(id) = wanted.filter(|id| *id > state.applied()) {
        state.raft.wait_applied(id, CATCH_UP).await;
    }
    let bulk = {
        // Evaluated on a snapshot, without the lock (see `Shared::flags`).
        let (set, stream) = {
            let shared = state.raft.shared();
            let last = shared.last_change_of(&env);
            let st = shared.read();
            let now = (state.raft.config().clock)().timestamp();
            let stream = events::event_stream(&st, &state.ticket_key, &caller.name, last, now);
            (st.set(&env).cloned().unwrap_or_default(), stream)
        };
        let mut keys: Vec<&str> = set.flags().map(CompiledFlag::key).collect();
        keys.sort_unstable();
        let (flags, details): (Vec<_>, Vec<_>) =
            keys.iter().map(|key| evaluate(&set, key, &ctx)).unzip();
        if let Some(usage) = state.usage_in(&env) {
            let counted = keys
                .iter()
                .zip(&details)
                .filter_map(|(k, d)| Some((*k, d.as_ref()?)));
            usage.served(counted);
        }
        Bulk {
            flags,
            event_streams: stream.into_iter().collect(),
        }
    };
    let etag = etag_of(&bulk.flags)?;
    if not_modified(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok(([(header::ETAG, etag)], Json(bulk)).into_response())
}

/// `"<hex>"`: the first 128 bits of the SHA-256 of the `flags` array.
fn etag_of(flags: &[FlagResult]) -> Result<String, OfrepError> {
    let bytes = serde_json::to_vec(flags).map_err(|e| ApiError::internal(e.to_string()))?;
    let digest = Sha256::digest(&bytes);
    Ok(format!(
        "\"{}\"",
        hex::encode(digest.get(..16).unwrap_or(&digest))
    ))
}

/// The log index an event's `etag` (`"42"`) names.
fn config_id(etag: &str) -> Option<u64> {
    etag.trim_start_matches("W/").trim_matches('"').parse().ok()
}

/// One flag's OFREP answer, and the detail to count in usage (none when
/// the flag is missing or the context lacks a needed targeting key).
fn evaluate(flags: &FlagSet, key: &str, ctx: &Context) -> (FlagResult, Option<EvaluationDetail>) {
    let fail = |code: OfErrorCode, details: String| {
        FlagResult::Failure(OfrepError::code(code, details).for_key(key))
    };
    let Some(compiled) = flags.get_flag(key) else {
        return (
            fail(
                OfErrorCode::FlagNotFound,
                format!("flag {key:?} was not found"),
            ),
            None,
        );
    };
    let flag = compiled.flag();
    if ctx.key.is_empty() && openfeature::needs_targeting_key(flag, flags) {
        let details = format!("flag {key:?} targets by key: send context.targetingKey");
        return (fail(OfErrorCode::TargetingKeyMissing, details), None);
    }
    let detail = flags.evaluate(key, ctx).to_owned_detail(flag);
    let result = match openfeature::reason(&detail.reason, detail.in_rollout, flag) {
        Ok(reason) => FlagResult::Success(Success {
            key: key.to_owned(),
            value: detail.value.clone(),
            variant: detail.variation_name.clone(),
            reason: reason.as_str(),
            metadata: openfeature::metadata(&detail.reason, flag),
        }),
        Err(code) => {
            let why = compiled
                .is_malformed()
                .unwrap_or("its prerequisites form a cycle");
            fail(code, format!("flag {key:?} cannot be evaluated: {why}"))
        }
    };
    (result, Some(detail))
}
