//! The HTTP middleware behind the request, write and refusal metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::{CauseLabels, HttpLabels, Metrics};
use crate::api::AppState;
use crate::api::error::ErrorCode;

/// Whether a request is an admin write: a mutation under `/v1/` that goes
/// through Raft (evaluation, SDK reports and the UI's reads are not).
pub fn is_admin_write(method: &Method, path: &str) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::DELETE)
        && path.starts_with("/v1/")
        && !path.starts_with("/v1/evaluate")
        && !path.starts_with("/v1/sdk/")
        && !path.starts_with("/v1/ui/")
}

/// Times a request and counts its outcome.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().clone();
    let write = is_admin_write(&method, &route);
    let start = Instant::now();
    let resp = next.run(req).await;
    let took = start.elapsed().as_secs_f64();
    let status = resp.status();
    let m: &Metrics = &state.metrics;
    m.http
        .get_or_create(&HttpLabels {
            method: method.as_str().to_owned(),
            route,
            status: status.as_u16(),
        })
        .observe(took);
    if write {
        if status.is_success() {
            m.api_writes.observe(took);
        } else {
            let cause = resp
                .extensions()
                .get::<ErrorCode>()
                .map_or_else(|| status.as_u16().to_string(), |c| c.0.to_owned());
            m.refused.get_or_create(&CauseLabels { cause }).inc();
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_writes_are_raft_mutations() {
        assert!(is_admin_write(&Method::PUT, "/v1/flags/{key}"));
        assert!(is_admin_write(&Method::DELETE, "/v1/tokens/{name}"));
        assert!(!is_admin_write(&Method::GET, "/v1/flags"));
        assert!(!is_admin_write(&Method::POST, "/v1/evaluate"));
        assert!(!is_admin_write(&Method::POST, "/v1/sdk/metrics"));
        assert!(!is_admin_write(&Method::POST, "/ofrep/v1/evaluate/flags"));
    }
}
