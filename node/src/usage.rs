//! Evaluation metrics: how often each flag served each variation.
//!
//! SDKs report counts (`POST /v1/sdk/metrics`) and server-side evaluations
//! add theirs. What is kept, per node, in memory:
//! - per-minute counts with a per-variation breakdown, for the last 60 minutes;
//! - per-hour totals, for the last 7 days;
//! - each flag's last evaluation time, since the node started.
//!
//! A node restart loses its counts (the UI says "since <start time>"). Counts
//! are exact for what reached this node; `GET /v1/metrics/evaluations`
//! sums every node's counts. Reports naming unknown flags or variations are
//! counted as ignored, never silently dropped: the response says how many.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use vexil_flags::FlagSet;

use crate::api::error::ApiError;

const MINUTES: usize = 60;
const HOURS: usize = 24 * 7;

/// Counts for one flag in one report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagCounts {
    /// Variation index → evaluations that served it.
    #[serde(default)]
    pub variations: BTreeMap<usize, u64>,
    /// Evaluations that ended in an error (and served the caller's default).
    #[serde(default)]
    pub errors: u64,
}

/// An SDK's report of evaluations since its last flush.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsReport {
    /// Flag key → counts.
    pub flags: BTreeMap<String, FlagCounts>,
}

/// What a report added.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Accepted {
    pub counted: u64,
    /// Counts for flags or variations that do not exist.
    pub ignored: u64,
}

/// One bucket: flag → counts.
type Bucket = HashMap<String, FlagCounts>;

#[derive(Debug, Default)]
struct Inner {
    /// (minute start, counts), oldest first.
    minutes: VecDeque<(DateTime<Utc>, Bucket)>,
    /// (hour start, flag → total), oldest first.
    hours: VecDeque<(DateTime<Utc>, HashMap<String, u64>)>,
    last_seen: HashMap<String, DateTime<Utc>>,
}

/// The per-node store.
pub struct Usage {
    inner: Mutex<Inner>,
    /// When counting began on this node.
    pub since: DateTime<Utc>,
    clock: vexil_raft::api::Clock,
}

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Usage")
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

fn floor(t: DateTime<Utc>, unit: ChronoDuration) -> DateTime<Utc> {
    t.duration_trunc(unit).unwrap_or(t)
}

impl Usage {
    pub fn new(clock: vexil_raft::api::Clock) -> Self {
        Usage {
            inner: Mutex::new(Inner::default()),
            since: clock(),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a report, checked against the current flags.
    pub fn add(&self, report: &MetricsReport, flags: &FlagSet) -> Accepted {
        let now = (self.clock)();
        let minute = floor(now, ChronoDuration::minutes(1));
        let hour = floor(now, ChronoDuration::hours(1));
        let mut acc = Accepted {
            counted: 0,
            ignored: 0,
        };
        let mut inner = self.lock();
        if inner.minutes.back().is_none_or(|(m, _)| *m != minute) {
            inner.minutes.push_back((minute, Bucket::new()));
            while inner.minutes.len() > MINUTES {
                inner.minutes.pop_front();
            }
        }
        if inner.hours.back().is_none_or(|(h, _)| *h != hour) {
            inner.hours.push_back((hour, HashMap::new()));
            while inner.hours.len() > HOURS {
                inner.hours.pop_front();
            }
        }
        for (key, counts) in &report.flags {
            let total = counts.variations.values().sum::<u64>() + counts.errors;
            let Some(flag) = flags.get_flag(key) else {
                acc.ignored += total;
                continue;
            };
            let n = flag.flag().variations.len();
            let mut kept = FlagCounts {
                variations: BTreeMap::new(),
                errors: counts.errors,
            };
            for (v, c) in &counts.variations {
                if *v < n {
                    kept.variations.insert(*v, *c);
                } else {
                    acc.ignored += c;
                }
            }
            let kept_total = kept.variations.values().sum::<u64>() + kept.errors;
            if kept_total == 0 {
                continue;
            }
            acc.counted += kept_total;
            if let Some((_, bucket)) = inner.minutes.back_mut() {
                let slot = bucket.entry(key.clone()).or_default();
                for (v, c) in &kept.variations {
                    *slot.variations.entry(*v).or_default() += c;
                }
                slot.errors += kept.errors;
            }
            if let Some((_, bucket)) = inner.hours.back_mut() {
                *bucket.entry(key.clone()).or_default() += kept_total;
            }
            inner.last_seen.insert(key.clone(), now);
        }
        acc
    }

    /// Per-minute counts of the last `minutes` minutes, oldest first.
    pub fn series(&self, flag: Option<&str>, minutes: usize) -> Vec<MinuteCounts> {
        let inner = self.lock();
        let skip = inner.minutes.len().saturating_sub(minutes);
        inner
            .minutes
            .iter()
            .skip(skip)
            .map(|(at, bucket)| MinuteCounts {
                at: *at,
                flags: bucket
                    .iter()
                    .filter(|(k, _)| flag.is_none_or(|f| f == k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })
            .collect()
    }

    /// Total evaluations per flag over the last `hours` hours.
    pub fn totals(&self, hours: usize) -> BTreeMap<String, u64> {
        let inner = self.lock();
        let skip = inner.hours.len().saturating_sub(hours);
        let mut out = BTreeMap::new();
        for (_, bucket) in inner.hours.iter().skip(skip) {
            for (k, v) in bucket {
                *out.entry(k.clone()).or_default() += v;
            }
        }
        out
    }

    /// Each flag's last evaluation seen by this node.
    pub fn last_seen(&self) -> BTreeMap<String, DateTime<Utc>> {
        self.lock()
            .last_seen
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// One minute of counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MinuteCounts {
    pub at: DateTime<Utc>,
    pub flags: BTreeMap<String, FlagCounts>,
}

impl crate::api::AppState {
    /// Checks and records an SDK report.
    pub fn record_usage(&self, report: &MetricsReport) -> Result<Accepted, ApiError> {
        if report.flags.len() > 10_000 {
            return Err(ApiError::bad_request(
                "flags",
                "a report may name at most 10000 flags",
            ));
        }
        let state = self.raft.shared().read();
        let accepted = self.usage.add(report, &state.flags);
        self.metrics
            .sdk_report(report, |k| state.flags.get_flag(k).is_some());
        Ok(accepted)
    }
}
