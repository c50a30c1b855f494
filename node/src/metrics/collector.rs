//! Metrics read from the node when Prometheus scrapes: Raft's status, its
//! snapshot counters and apply latency, the change feed, and server-side
//! evaluations (counted by [`Usage`], which an every-flag evaluation updates
//! with one lock instead of one Prometheus lookup per flag).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use vexil_raft::RaftNode;
use vexil_raft::counters::RaftCounters;

use crate::api::stream::FeedStats;
use crate::usage::{EnvUsage, REASONS, Usage};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EvalLabels {
    flag: String,
    reason: &'static str,
    project: String,
    environment: String,
}

/// Reads the node at scrape time.
#[derive(Debug)]
pub(super) struct NodeCollector {
    pub raft: RaftNode,
    pub feed: Arc<FeedStats>,
    pub usage: Arc<Usage>,
    pub env_usage: Arc<EnvUsage>,
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(v).encode(m)
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(v).encode(m)
}

/// An index as a gauge; `-1` when there is none yet.
fn index(v: Option<u64>) -> i64 {
    v.map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX))
}

impl Collector for NodeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let s = self.raft.status();
        let is_leader = s.leader == Some(s.id);
        let term = i64::try_from(s.term).unwrap_or(i64::MAX);
        gauge(&mut e, "raft_term", "Current Raft term", term)?;
        gauge(
            &mut e,
            "raft_is_leader",
            "1 if this node is the leader",
            i64::from(is_leader),
        )?;
        gauge(
            &mut e,
            "raft_leader_id",
            "The leader's node id as this node knows it (0: none)",
            index(s.leader).max(0),
        )?;
        gauge(
            &mut e,
            "raft_voters",
            "Voters in the current membership",
            i64::try_from(s.voters.len()).unwrap_or(0),
        )?;
        let indexes = [
            ("raft_last_log_index", "Last log index", s.last_log_index),
            (
                "raft_commit_index",
                "Commit index (-1: none)",
                s.commit_index,
            ),
            (
                "raft_applied_index",
                "Applied index (-1: none)",
                s.applied_index,
            ),
            (
                "raft_snapshot_index",
                "Index of the latest snapshot (-1: none)",
                s.snapshot_index,
            ),
            (
                "raft_purged_index",
                "Log purged up to this index (-1: none)",
                s.purged_index,
            ),
        ];
        for (name, help, v) in indexes {
            gauge(&mut e, name, help, index(v))?;
        }
        let shared = self.raft.shared();
        let c = &shared.counters;
        counter(
            &mut e,
            "raft_snapshots_built",
            "Snapshots this node built",
            RaftCounters::get(&c.snapshots_built),
        )?;
        counter(
            &mut e,
            "raft_snapshots_installed",
            "Snapshots this node installed from a leader",
            RaftCounters::get(&c.snapshots_installed),
        )?;
        let apply = c.apply.snapshot();
        let m = e.encode_descriptor(
            "raft_apply_duration_seconds",
            "Time to apply one committed entry to the state machine",
            None,
            MetricType::Histogram,
        )?;
        // The encoder sums the counts it is given into Prometheus'
        // cumulative buckets, so it is given each bucket's own count.
        let mut m = m;
        m.encode_histogram::<NoLabelSet>(
            apply.sum_seconds,
            apply.bucketed(),
            &apply.per_bucket(),
            None,
        )?;
        gauge(
            &mut e,
            "sse_subscribers",
            "Live change-feed (SSE) subscribers on this node",
            i64::try_from(shared.subscribers()).unwrap_or(i64::MAX),
        )?;
        counter(
            &mut e,
            "sse_dropped_slow_consumers",
            "SSE subscribers dropped for falling behind",
            self.feed.dropped.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "sse_refused_over_cap",
            "/v1/stream requests refused (429) by the per-token or per-IP subscriber cap",
            self.feed.refused.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "sse_ended_revoked",
            "/v1/stream subscribers ended because their token was revoked",
            self.feed.revoked.load(Ordering::Relaxed),
        )?;
        let mut m = e.encode_descriptor(
            "evaluations",
            "Server-side evaluations (POST /v1/evaluate, OFREP) by flag, reason and environment",
            None,
            MetricType::Counter,
        )?;
        // `default`'s `production` first, then every other environment
        // that still exists and has counted something on this node.
        let mut envs = vec![(vexil_raft::keys::LEGACY_ENV.to_owned(), self.usage.clone())];
        {
            let st = shared.read();
            envs.extend(
                self.env_usage
                    .all()
                    .into_iter()
                    .filter(|(env, _)| st.environments.contains_key(env)),
            );
        }
        for (env, usage) in envs {
            let (project, environment) = vexil_flags::scope::split_env_id(&env).unwrap_or(("", ""));
            for (flag, reason, n) in usage.served_totals() {
                let labels = EvalLabels {
                    flag,
                    reason: REASONS[reason],
                    project: project.to_owned(),
                    environment: environment.to_owned(),
                };
                ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
