//! `GET /metrics`: the node's Prometheus metrics (OpenMetrics text).
//!
//! What is measured, and where:
//! - HTTP: request latency by method, route template and status
//!   ([`layer::track`], one middleware around every API route; methods map
//!   to a fixed set and unknown routes to `unmatched`, so no request can add
//!   a label value of its choosing); refused admin writes by cause
//!   (the `error` code of the JSON error body).
//! - Writes: end-to-end latency of admin writes (the same middleware) and
//!   the time `RaftNode::write` takes (commit on a quorum and apply).
//! - SDK-reported evaluations by flag and variation (`POST /v1/sdk/metrics`).
//! - Raft, the change feed and server-side evaluations by flag and reason
//!   (`POST /v1/evaluate`, OFREP), read at scrape time ([`collector`]).
//!
//! The endpoint needs no token: Prometheus scrapers usually carry none, and
//! nothing here names a user, a context or a secret (flag keys and route
//! templates only). Operators who do not want it public firewall the API
//! port or scrape through a proxy (see docs/OPERATIONS.md).

mod collector;
pub mod layer;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::AppState;

/// The content type of OpenMetrics text, which Prometheus reads.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds, 0.5 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    /// GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS or `other`
    /// ([`layer::method_label`]): never the raw method.
    method: &'static str,
    /// The matched route template (`/v1/flags/{key}`), never the raw path.
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SdkEvalLabels {
    flag: String,
    /// A variation index, or `error`.
    result: String,
    project: String,
    environment: String,
}

/// Every metric of one node.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http: Family<HttpLabels, Histogram>,
    api_writes: Histogram,
    refused: Family<CauseLabels, Counter>,
    raft_writes: Family<OutcomeLabels, Histogram>,
    sdk_evaluations: Family<SdkEvalLabels, Counter>,
    /// The label sets of `sdk_evaluations` made per environment
    /// (`project/environment`), so a deleted environment's can be removed.
    sdk_series: std::sync::Mutex<
        std::collections::BTreeMap<String, std::collections::HashSet<SdkEvalLabels>>,
    >,
}

impl Metrics {
    /// Registers every family; `raft` metrics are read from the node on scrape.
    pub fn new(
        raft: vexil_raft::RaftNode,
        feed: std::sync::Arc<crate::api::stream::FeedStats>,
        usage: std::sync::Arc<crate::usage::Usage>,
        env_usage: std::sync::Arc<crate::usage::EnvUsage>,
    ) -> Self {
        let mut registry = Registry::with_prefix("vexil");
        let http = Family::<HttpLabels, Histogram>::new_with_constructor(histogram as fn() -> _);
        let api_writes = histogram();
        let refused = Family::<CauseLabels, Counter>::default();
        let raft_writes =
            Family::<OutcomeLabels, Histogram>::new_with_constructor(histogram as fn() -> _);
        let sdk_evaluations = Family::<SdkEvalLabels, Counter>::default();
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template and status (time to the response head)",
            http.clone(),
        );
        registry.register(
            "api_write_duration_seconds",
            "End-to-end latency of admin writes that succeeded (validation, forwarding, quorum fsync, apply)",
            api_writes.clone(),
        );
        registry.register(
            "writes_refused",
            "Admin writes refused, by cause (the error code of the response)",
            refused.clone(),
        );
        registry.register(
            "raft_write_duration_seconds",
            "Time RaftNode::write took: commit on a quorum and apply, forwarding included",
            raft_writes.clone(),
        );
        registry.register(
            "sdk_evaluations",
            "Evaluations reported by SDKs (POST /v1/sdk/metrics) by flag, variation and environment",
            sdk_evaluations.clone(),
        );
        registry.register(
            "auth_failures",
            "Failed authentications by port (api, peer) and credential (missing, wrong)",
            crate::net::guard::AUTH_FAILURES.clone(),
        );
        registry.register_collector(Box::new(collector::NodeCollector {
            raft,
            feed,
            usage,
            env_usage,
        }));
        Metrics {
            registry,
            http,
            api_writes,
            refused,
            raft_writes,
            sdk_evaluations,
            sdk_series: std::sync::Mutex::default(),
        }
    }

    /// Records one `RaftNode::write`.
    pub fn raft_write(&self, took: Duration, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.raft_writes
            .get_or_create(&OutcomeLabels { outcome })
            .observe(took.as_secs_f64());
    }

    /// Counts what an SDK reported about environment `env`
    /// (`project/environment`), like `Usage` does: known flags, and
    /// their variations that exist (`variations` gives a flag's number of
    /// variations, `None` for an unknown flag). A made-up variation index
    /// would otherwise be a new label, and the series would grow with every
    /// report.
    /// `exists` says which environments still exist: the series of every
    /// other one are removed first, so deleting environments does not grow
    /// the series without bound.
    pub fn sdk_report(
        &self,
        env: &str,
        report: &crate::usage::MetricsReport,
        variations: impl Fn(&str) -> Option<usize>,
        exists: impl Fn(&str) -> bool,
    ) {
        let mut series = self.sdk_series.lock().unwrap_or_else(|p| p.into_inner());
        series.retain(|e, labels| {
            let keep = exists(e);
            if !keep {
                for l in labels.iter() {
                    self.sdk_evaluations.remove(l);
                }
            }
            keep
        });
        let made = series.entry(env.to_owned()).or_default();
        let (project, environment) = vexil_flags::scope::split_env_id(env).unwrap_or(("", ""));
        for (flag, counts) in &report.flags {
            let Some(n) = variations(flag) else { continue };
            let mut add = |result: String, count: u64| {
                let labels = SdkEvalLabels {
                    flag: flag.clone(),
                    result,
                    project: project.to_owned(),
                    environment: environment.to_owned(),
                };
                self.sdk_evaluations.get_or_create(&labels).inc_by(count);
                made.insert(labels);
            };
            for (variation, count) in counts.variations.range(..n) {
                add(variation.to_string(), *count);
            }
            if counts.errors > 0 {
                add("error".into(), counts.errors);
            }
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 << 10);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// `GET /metrics` (no token: see the module docs).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text)", content_type = "application/openmetrics-text", body = String)),
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not encode metrics",
        )
            .into_response(),
    }
}
