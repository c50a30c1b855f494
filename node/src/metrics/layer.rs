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

/// The `method` label: one of a fixed set, so made-up methods (which anyone
/// can send, without a token) cannot grow the metrics without bound.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The `route` label: the matched route template (`/v1/flags/{key}`), never
/// the raw path; every request no route matched is `unmatched`.
pub fn route_label(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned())
}

/// Times a request and counts its outcome.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = route_label(&req);
    let method = req.method().clone();
    let write = is_admin_write(&method, &route);
    let start = Instant::now();
    let resp = next.run(req).await;
    let took = start.elapsed().as_secs_f64();
    let status = resp.status();
    let m: &Metrics = &state.metrics;
    m.http
        .get_or_create(&HttpLabels {
            method: method_label(&method),
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

    #[test]
    fn made_up_methods_share_one_label() {
        for m in ["FOO", "get", "PROPFIND", "CONNECT", "TRACE", "X1234567890"] {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            assert_eq!(method_label(&m), "other", "{m}");
        }
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
