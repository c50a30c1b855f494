//! Read-only endpoints the admin UI's Monitoring page needs (viewer role):
//! - `GET /v1/ui/nodes?minutes=`: every member's evaluation counts and SSE
//!   subscribers. The browser can only talk to the node that served the page
//!   (the others are other origins, and CORS is off), so this node asks each
//!   member over the peer port (`/vexil/usage`, behind the cluster secret,
//!   like every peer call) and returns the answers side by side; a member
//!   that does not answer is reported with its error rather than failing
//!   the whole view. The caller's token never leaves this node.
//! - `GET /v1/ui/write-latency?minutes=`: how long the writes that reached
//!   this node took, end to end (forwarding and quorum fsync included),
//!   recorded by [`WriteTimingLayer`] around every API route.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures::future::{BoxFuture, join_all};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vexil_raft::{MemberView, Role};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, Caller};
use crate::net::dial::{DialConnector, TcpDialer};

/// How long one member may take to answer `/v1/ui/nodes`.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest metrics answer accepted from a member.
const MEMBER_BODY_LIMIT: usize = 8 << 20;
/// Write samples kept per node (the oldest are dropped first).
const SAMPLES: usize = 4096;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/ui/nodes", get(nodes))
        .route("/v1/ui/write-latency", get(write_latency))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MinutesQuery {
    /// Length of the per-minute series (1–60).
    minutes: Option<usize>,
}

fn minutes(q: &MinutesQuery) -> ApiResult<usize> {
    let minutes = q.minutes.unwrap_or(60);
    if (1..=60).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(ApiError::bad_request("minutes", "must be between 1 and 60"))
    }
}

// ---- /v1/ui/nodes -------------------------------------------------------

async fn nodes(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<MinutesQuery>,
) -> ApiResult<Response> {
    caller.require_role(Role::Viewer)?;
    let minutes = minutes(&q)?;
    let view = state.raft.cluster_view().await;
    let me = state.raft.id();
    let answers = join_all(view.members.iter().map(|m| {
        let state = state.clone();
        async move {
            if m.id == me {
                Ok(usage_json(&state.usage, &state.raft, minutes))
            } else {
                member_metrics(&state, m, minutes).await
            }
        }
    }))
    .await;
    let nodes: Vec<Value> = view
        .members
        .iter()
        .zip(answers)
        .map(|(m, answer)| node_entry(m, answer))
        .collect();
    Ok(Json(json!({ "node": me, "leader": view.leader, "nodes": nodes })).into_response())
}

fn node_entry(m: &MemberView, answer: Result<Value, String>) -> Value {
    let (metrics, error) = match answer {
        Ok(v) => (v, None),
        Err(e) => (Value::Null, Some(e)),
    };
    json!({
        "id": m.id,
        "client_addr": m.client_addr,
        "is_leader": m.is_leader,
        "subscribers": metrics.get("subscribers").cloned().unwrap_or(Value::Null),
        "metrics": metrics,
        "error": error,
    })
}

/// This node's counts, in the shape of `GET /v1/metrics/evaluations`.
pub fn usage_json(
    usage: &crate::usage::Usage,
    raft: &vexil_raft::RaftNode,
    minutes: usize,
) -> Value {
    json!({
        "node": raft.id(),
        "since": usage.since,
        "series": usage.series(None, minutes),
        "totals_1h": usage.totals(1),
        "totals_24h": usage.totals(24),
        "totals_7d": usage.totals(24 * 7),
        "last_seen": usage.last_seen(),
        "subscribers": raft.shared().subscribers(),
    })
}

type HttpClient = Client<DialConnector, Empty<Bytes>>;

fn client() -> &'static HttpClient {
    static CLIENT: OnceLock<HttpClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(DialConnector(Arc::new(TcpDialer)))
    })
}

/// Another member's counts, asked over the peer port with the cluster
/// secret (a member of an older release answers 404 there).
async fn member_metrics(state: &AppState, m: &MemberView, minutes: usize) -> Result<Value, String> {
    let req = http::Request::get(format!(
        "http://{}{}?minutes={minutes}",
        m.peer_addr,
        crate::net::peer_server::USAGE_PATH
    ))
    .header(crate::net::SECRET_HEADER, &*state.peer_secret)
    .header(crate::net::TO_HEADER, m.id.to_string());
    let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
    let fetch = async {
        let resp = client().request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MEMBER_BODY_LIMIT)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status.is_success() {
            serde_json::from_slice(&body).map_err(|e| e.to_string())
        } else if status == http::StatusCode::NOT_FOUND {
            Err("this member runs an older release, which serves no counts to peers".into())
        } else {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            Err(format!("{status}: {text}"))
        }
    };
    match tokio::time::timeout(MEMBER_TIMEOUT, fetch).await {
        Ok(answer) => answer,
        Err(_) => Err(format!(
            "no answer within {}s",
            MEMBER_TIMEOUT.as_secs_f32()
        )),
    }
}

// ---- write latency -------------------------------------------------------

/// One timed write.
#[derive(Debug, Clone, Serialize)]
struct Sample {
    at: DateTime<Utc>,
    ms: f64,
    method: String,
    path: String,
    status: u16,
}

/// The most recent writes that reached this node.
#[derive(Debug, Default)]
pub struct WriteSamples(Mutex<VecDeque<Sample>>);

impl WriteSamples {
    fn record(&self, sample: Sample) {
        let mut samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    fn since(&self, since: DateTime<Utc>) -> Vec<Sample> {
        let samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        samples.iter().filter(|s| s.at >= since).cloned().collect()
    }
}

/// Whether a request is a write worth timing: a mutating method on the
/// admin API. Evaluation and SDK metric reports are reads and counters.
fn is_write(method: &Method, path: &str) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::DELETE)
        && path.starts_with("/v1/")
        && !path.starts_with("/v1/evaluate")
        && !path.starts_with("/v1/sdk/")
        && !path.starts_with("/v1/ui/")
}

/// Wraps every API route: times writes into a [`WriteSamples`] and hands the
/// same samples to `GET /v1/ui/write-latency` as a request extension.
#[derive(Debug, Clone, Default)]
pub struct WriteTimingLayer(Arc<WriteSamples>);

impl WriteTimingLayer {
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> tower::Layer<S> for WriteTimingLayer {
    type Service = WriteTiming<S>;
    fn layer(&self, inner: S) -> WriteTiming<S> {
        WriteTiming {
            inner,
            samples: self.0.clone(),
        }
    }
}

/// The service [`WriteTimingLayer`] builds.
#[derive(Debug, Clone)]
pub struct WriteTiming<S> {
    inner: S,
    samples: Arc<WriteSamples>,
}

impl<S> tower::Service<Request> for WriteTiming<S>
where
    S: tower::Service<Request, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        req.extensions_mut().insert(self.samples.clone());
        let timed = is_write(req.method(), req.uri().path())
            .then(|| (req.method().to_string(), req.uri().path().to_owned()));
        let samples = self.samples.clone();
        let start = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            if let Some((method, path)) = timed {
                samples.record(Sample {
                    at: Utc::now(),
                    ms: start.elapsed().as_secs_f64() * 1000.0,
                    method,
                    path,
                    status: resp.status().as_u16(),
                });
            }
            Ok(resp)
        })
    }
}

/// The `p`th percentile (0–100) of sorted `ms`, by nearest rank.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Count and percentiles of the successful writes among `samples`.
fn summary(samples: &[&Sample]) -> Value {
    let mut ms: Vec<f64> = samples
        .iter()
        .filter(|s| s.status < 400)
        .map(|s| s.ms)
        .collect();
    ms.sort_by(f64::total_cmp);
    json!({
        "count": ms.len(),
        "failed": samples.len() - ms.len(),
        "p50_ms": percentile(&ms, 50.0),
        "p90_ms": percentile(&ms, 90.0),
        "p99_ms": percentile(&ms, 99.0),
        "max_ms": ms.last(),
    })
}

async fn write_latency(
    State(state): State<AppState>,
    caller: Caller,
    samples: Option<Extension<Arc<WriteSamples>>>,
    ApiQuery(q): ApiQuery<MinutesQuery>,
) -> ApiResult<Response> {
    caller.require_role(Role::Viewer)?;
    let minutes = minutes(&q)?;
    let Some(Extension(samples)) = samples else {
        return Err(ApiError::internal("write timing is not installed"));
    };
    let now = Utc::now();
    let first = now
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap_or(now)
        .checked_sub_signed(TimeDelta::minutes(i64::try_from(minutes).unwrap_or(60) - 1))
        .unwrap_or(now);
    let recent = samples.since(first);
    let series: Vec<Value> = (0..minutes)
        .map(|i| {
            let start = first + TimeDelta::minutes(i64::try_from(i).unwrap_or(0));
            let end = start + TimeDelta::minutes(1);
            let bucket: Vec<&Sample> = recent
                .iter()
                .filter(|s| s.at >= start && s.at < end)
                .collect();
            let mut v = summary(&bucket);
            v["at"] = json!(start);
            v
        })
        .collect();
    let all: Vec<&Sample> = recent.iter().collect();
    let last: Vec<&Sample> = recent.iter().rev().take(20).collect();
    Ok(Json(json!({
        "node": state.raft.id(),
        "since": first,
        "overall": summary(&all),
        "series": series,
        "recent": last,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_mutations_of_the_admin_api() {
        assert!(is_write(&Method::PUT, "/v1/flags/a"));
        assert!(is_write(&Method::POST, "/v1/flags/a/toggle"));
        assert!(is_write(&Method::DELETE, "/v1/tokens/x"));
        assert!(!is_write(&Method::GET, "/v1/flags"));
        assert!(!is_write(&Method::POST, "/v1/evaluate"));
        assert!(!is_write(&Method::POST, "/v1/sdk/metrics"));
        assert!(!is_write(&Method::POST, "/"));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let ms: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&ms, 50.0), Some(50.0));
        assert_eq!(percentile(&ms, 99.0), Some(99.0));
        assert_eq!(percentile(&ms, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 50.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn the_ring_keeps_the_newest_samples() {
        let ring = WriteSamples::default();
        for i in 0..SAMPLES + 10 {
            ring.record(Sample {
                at: Utc::now(),
                ms: i as f64,
                method: "PUT".into(),
                path: "/v1/flags/a".into(),
                status: 200,
            });
        }
        let all = ring.since(DateTime::<Utc>::MIN_UTC);
        assert_eq!(all.len(), SAMPLES);
        assert_eq!(all[0].ms, 10.0);
    }
}
