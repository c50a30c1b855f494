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
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use vexil_flags::{EvaluationDetail, FlagSet, OwnedReason};

use crate::api::error::ApiError;

const MINUTES: usize = 60;
const HOURS: usize = 24 * 7;

/// The most one count in one report may claim: a million evaluations a
/// second for eleven days. It bounds what one report adds; the running
/// totals also saturate rather than wrap.
pub const MAX_REPORT_COUNT: u64 = 1_000_000_000_000;

/// Counts for one flag in one report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagCounts {
    /// Variation index → evaluations that served it (each at most
    /// 1,000,000,000,000).
    #[serde(default)]
    pub variations: BTreeMap<usize, u64>,
    /// Evaluations that ended in an error (and served the caller's default).
    #[serde(default)]
    #[schema(maximum = 1_000_000_000_000_u64)]
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

/// The reasons a server-side evaluation is counted under, in
/// `vexil_evaluations_total{flag,reason,project,environment}`.
pub const REASONS: [&str; 6] = [
    "OFF",
    "TARGET_MATCH",
    "RULE_MATCH",
    "PREREQUISITE_FAILED",
    "FALLTHROUGH",
    "ERROR",
];

fn reason_index(r: &OwnedReason) -> usize {
    match r {
        OwnedReason::Off => 0,
        OwnedReason::TargetMatch => 1,
        OwnedReason::RuleMatch { .. } => 2,
        OwnedReason::PrerequisiteFailed { .. } => 3,
        OwnedReason::Fallthrough => 4,
        OwnedReason::Error { .. } => 5,
    }
}

/// One flag's counts since the last flush, and its server-side evaluations
/// by reason since the node started.
///
/// Counting goes here first: one map lookup per flag, no allocation once the
/// flag has been seen. An every-flag `POST /v1/evaluate` counts every flag
/// on every request, so this is on its hot path (docs/BENCHMARKS.md).
#[derive(Debug, Default)]
struct Tally {
    /// Variation index → evaluations since the last flush.
    variations: Vec<u64>,
    errors: u64,
    /// The last evaluation since the last flush; `None`: nothing to flush.
    last: Option<DateTime<Utc>>,
    /// Server-side evaluations by [`REASONS`] index, never reset.
    reasons: [u64; REASONS.len()],
}

impl Tally {
    fn count(&mut self, variation: Option<usize>, n: u64, now: DateTime<Utc>) {
        match variation {
            Some(v) => {
                if self.variations.len() <= v {
                    self.variations.resize(v + 1, 0);
                }
                self.variations[v] = self.variations[v].saturating_add(n);
            }
            None => self.errors = self.errors.saturating_add(n),
        }
        self.last = Some(now);
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// The minute the tallies' counts belong to.
    open: Option<DateTime<Utc>>,
    tallies: HashMap<String, Tally>,
    /// (minute start, counts), oldest first.
    minutes: VecDeque<(DateTime<Utc>, Bucket)>,
    /// (hour start, flag → total), oldest first.
    hours: VecDeque<(DateTime<Utc>, HashMap<String, u64>)>,
    last_seen: HashMap<String, DateTime<Utc>>,
}

impl Inner {
    /// Makes `now`'s minute the open one, flushing the counts of an older one.
    fn open(&mut self, now: DateTime<Utc>) {
        let minute = floor(now, ChronoDuration::minutes(1));
        if self.open != Some(minute) {
            self.flush();
            self.open = Some(minute);
        }
    }

    /// Updates the tally of `key`, created on first use (no allocation after).
    fn tally(&mut self, key: &str, update: impl FnOnce(&mut Tally)) {
        match self.tallies.get_mut(key) {
            Some(t) => update(t),
            None => {
                let mut t = Tally::default();
                update(&mut t);
                self.tallies.insert(key.to_owned(), t);
            }
        }
    }

    /// Moves the tallies' counts into the open minute's and hour's buckets.
    fn flush(&mut self) {
        let Some(minute) = self.open else { return };
        let hour = floor(minute, ChronoDuration::hours(1));
        if self.minutes.back().is_none_or(|(m, _)| *m != minute) {
            self.minutes.push_back((minute, Bucket::new()));
            while self.minutes.len() > MINUTES {
                self.minutes.pop_front();
            }
        }
        if self.hours.back().is_none_or(|(h, _)| *h != hour) {
            self.hours.push_back((hour, HashMap::new()));
            while self.hours.len() > HOURS {
                self.hours.pop_front();
            }
        }
        let (Some((_, mins)), Some((_, hrs))) = (self.minutes.back_mut(), self.hours.back_mut())
        else {
            return;
        };
        for (key, t) in &mut self.tallies {
            let Some(last) = t.last.take() else { continue };
            let slot = mins.entry(key.clone()).or_default();
            let mut total = t.errors;
            for (v, c) in t.variations.iter_mut().enumerate() {
                if *c > 0 {
                    let sum = slot.variations.entry(v).or_default();
                    *sum = sum.saturating_add(*c);
                    total = total.saturating_add(*c);
                    *c = 0;
                }
            }
            slot.errors = slot.errors.saturating_add(t.errors);
            t.errors = 0;
            let hour = hrs.entry(key.clone()).or_default();
            *hour = hour.saturating_add(total);
            self.last_seen.insert(key.clone(), last);
        }
    }
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
        let since = clock();
        Usage::starting(clock, since)
    }

    /// A store whose counting began at `since`.
    pub fn starting(clock: vexil_raft::api::Clock, since: DateTime<Utc>) -> Self {
        Usage {
            inner: Mutex::new(Inner::default()),
            since,
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store, with every count so far in the minute and hour buckets.
    fn flushed(&self) -> std::sync::MutexGuard<'_, Inner> {
        let mut inner = self.lock();
        inner.flush();
        inner
    }

    /// Adds an SDK's report, checked against the current flags.
    pub fn add(&self, report: &MetricsReport, flags: &FlagSet) -> Accepted {
        let now = (self.clock)();
        let mut acc = Accepted {
            counted: 0,
            ignored: 0,
        };
        let mut inner = self.lock();
        inner.open(now);
        for (key, counts) in &report.flags {
            let Some(flag) = flags.get_flag(key) else {
                let all = counts
                    .variations
                    .values()
                    .fold(counts.errors, |a, c| a.saturating_add(*c));
                acc.ignored = acc.ignored.saturating_add(all);
                continue;
            };
            let n = flag.flag().variations.len();
            let mut kept = counts.errors;
            for (v, c) in &counts.variations {
                if *v < n {
                    kept = kept.saturating_add(*c);
                } else {
                    acc.ignored = acc.ignored.saturating_add(*c);
                }
            }
            if kept == 0 {
                continue;
            }
            acc.counted = acc.counted.saturating_add(kept);
            inner.tally(key, |t| {
                for (v, c) in counts.variations.iter().filter(|(v, _)| **v < n) {
                    t.count(Some(*v), *c, now);
                }
                t.count(None, counts.errors, now);
            });
        }
        acc
    }

    /// Counts server-side evaluations: `(flag key, detail served)`, each for
    /// a flag that exists. One lock for the lot.
    pub fn served<'a>(&self, details: impl IntoIterator<Item = (&'a str, &'a EvaluationDetail)>) {
        let now = (self.clock)();
        let mut inner = self.lock();
        inner.open(now);
        for (key, d) in details {
            let reason = reason_index(&d.reason);
            let variation = d.variation.filter(|_| reason != ERROR);
            inner.tally(key, |t| {
                t.reasons[reason] += 1;
                t.count(variation, 1, now);
            });
        }
    }

    /// Server-side evaluations since the node started, by flag and reason
    /// (an index into [`REASONS`]), for Prometheus. Nonzero counts only.
    pub fn served_totals(&self) -> Vec<(String, usize, u64)> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .tallies
            .iter()
            .flat_map(|(k, t)| {
                t.reasons
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(r, n)| (k.clone(), r, *n))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Per-minute counts of the last `minutes` minutes, oldest first.
    pub fn series(&self, flag: Option<&str>, minutes: usize) -> Vec<MinuteCounts> {
        let inner = self.flushed();
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
        let inner = self.flushed();
        let skip = inner.hours.len().saturating_sub(hours);
        let mut out = BTreeMap::new();
        for (_, bucket) in inner.hours.iter().skip(skip) {
            for (k, v) in bucket {
                let sum: &mut u64 = out.entry(k.clone()).or_default();
                *sum = sum.saturating_add(*v);
            }
        }
        out
    }

    /// Each flag's last evaluation seen by this node.
    pub fn last_seen(&self) -> BTreeMap<String, DateTime<Utc>> {
        self.flushed()
            .last_seen
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// The evaluation counts of every environment but `default`/`production`
/// (whose counts are `AppState::usage`, as before projects), one [`Usage`]
/// each, made on first use: an evaluation or SDK report there. Only
/// environments that exist are counted ([`AppState::usage_in`]), and making
/// one drops those of environments deleted since, so there are never more
/// than the limits allow. Counting began when the node started, for all.
///
/// [`AppState::usage_in`]: crate::api::AppState::usage_in
pub struct EnvUsage {
    by_env: Mutex<BTreeMap<String, Arc<Usage>>>,
    clock: vexil_raft::api::Clock,
    since: DateTime<Utc>,
}

impl std::fmt::Debug for EnvUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvUsage").finish_non_exhaustive()
    }
}

impl EnvUsage {
    pub fn new(clock: vexil_raft::api::Clock) -> Self {
        let since = clock();
        EnvUsage {
            by_env: Mutex::new(BTreeMap::new()),
            clock,
            since,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Usage>>> {
        self.by_env.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Environment `env`'s counts, if any were made.
    pub fn get(&self, env: &str) -> Option<Arc<Usage>> {
        self.lock().get(env).cloned()
    }

    /// Environment `env`'s counts (`project/environment`), made if new;
    /// making them drops those of every environment `exists` denies.
    pub fn of(&self, env: &str, exists: impl Fn(&str) -> bool) -> Arc<Usage> {
        let mut map = self.lock();
        if let Some(u) = map.get(env) {
            return u.clone();
        }
        map.retain(|e, _| exists(e));
        let made = Arc::new(Usage::starting(self.clock.clone(), self.since));
        map.insert(env.to_owned(), made.clone());
        made
    }

    /// Every environment's counts made so far (`project/environment`), by
    /// id; an environment deleted since may still be among them.
    pub fn all(&self) -> Vec<(String, Arc<Usage>)> {
        self.lock()
            .iter()
            .map(|(env, u)| (env.clone(), u.clone()))
            .collect()
    }

    /// An empty store, for an environment with no counts yet.
    pub fn empty(&self) -> Usage {
        Usage::starting(self.clock.clone(), self.since)
    }
}

/// The index of `ERROR` in [`REASONS`].
const ERROR: usize = 5;

/// One minute of counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MinuteCounts {
    pub at: DateTime<Utc>,
    pub flags: BTreeMap<String, FlagCounts>,
}

impl crate::api::AppState {
    /// Where evaluations in environment `env` are counted; `None` when it
    /// does not exist (a token scoped to an environment since deleted).
    pub fn usage_in(&self, env: &str) -> Option<Arc<Usage>> {
        if env == vexil_raft::keys::LEGACY_ENV {
            return Some(self.usage.clone());
        }
        let st = self.raft.shared().read();
        if !st.environments.contains_key(env) {
            return None;
        }
        Some(self.env_usage.of(env, |e| st.environments.contains_key(e)))
    }

    /// Checks and records an SDK report.
    pub fn record_usage(&self, report: &MetricsReport) -> Result<Accepted, ApiError> {
        self.record_usage_in(vexil_raft::keys::LEGACY_ENV, report)
    }

    /// Checks and records an SDK report about environment `env`'s flags
    /// (and counts them in Prometheus, labelled with the environment).
    pub fn record_usage_in(&self, env: &str, report: &MetricsReport) -> Result<Accepted, ApiError> {
        if report.flags.len() > 10_000 {
            return Err(ApiError::bad_request(
                "flags",
                "a report may name at most 10000 flags",
            ));
        }
        for (key, counts) in &report.flags {
            let too_big = std::iter::once((String::from("errors"), counts.errors))
                .chain(
                    counts
                        .variations
                        .iter()
                        .map(|(v, c)| (format!("variations.{v}"), *c)),
                )
                .find(|(_, c)| *c > MAX_REPORT_COUNT);
            if let Some((field, count)) = too_big {
                return Err(ApiError::bad_request(
                    format!("flags.{key}.{field}"),
                    format!("{count} is more than the {MAX_REPORT_COUNT} one report may count"),
                ));
            }
        }
        let state = self.raft.shared().read();
        let exists =
            |e: &str| e == vexil_raft::keys::LEGACY_ENV || state.environments.contains_key(e);
        if env != vexil_raft::keys::LEGACY_ENV {
            if !exists(env) {
                // Gone: nothing to count it in.
                drop(state);
                return Ok(self.env_usage.empty().add(report, &FlagSet::new()));
            }
            let set = state.set(env).cloned().unwrap_or_default();
            self.metrics.sdk_report(
                env,
                report,
                |k| set.get_flag(k).map(|f| f.flag().variations.len()),
                exists,
            );
            drop(state);
            return Ok(match self.usage_in(env) {
                Some(usage) => usage.add(report, &set),
                None => self.env_usage.empty().add(report, &FlagSet::new()),
            });
        }
        let accepted = self.usage.add(report, &state.flags);
        self.metrics.sdk_report(
            env,
            report,
            |k| state.flags.get_flag(k).map(|f| f.flag().variations.len()),
            exists,
        );
        Ok(accepted)
    }
}

#[cfg(test)]
mod tests {
    // A panic is a test failure.
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use chrono::TimeZone;
    use serde_json::json;
    use vexil_flags::{Context, Flag};

    use super::*;

    /// A store whose clock the test moves.
    fn usage() -> (Usage, Arc<Mutex<DateTime<Utc>>>) {
        let at = Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 5).unwrap(),
        ));
        let read = at.clone();
        let clock: vexil_raft::api::Clock = Arc::new(move || *read.lock().unwrap());
        (Usage::new(clock), at)
    }

    fn flags() -> FlagSet {
        let flag: Flag = serde_json::from_value(json!({
            "key": "f", "kind": "boolean", "enabled": true, "off_variation": 1,
            "variations": [{"value": true}, {"value": false}],
            "fallthrough": {"variation": 0},
        }))
        .unwrap();
        FlagSet::from_parts(vec![flag], vec![])
    }

    fn served(u: &Usage, set: &FlagSet, key: &str) {
        let d = set.evaluate(key, &Context::default());
        let detail = match set.get_flag(key) {
            Some(f) => d.to_owned_detail(f.flag()),
            None => EvaluationDetail {
                key: None,
                value: serde_json::Value::Null,
                variation: None,
                variation_name: None,
                reason: OwnedReason::Error {
                    error_kind: vexil_flags::ErrorKind::FlagNotFound,
                },
                in_rollout: false,
            },
        };
        u.served([(key, &detail)]);
    }

    #[test]
    fn counts_land_in_their_minute_whether_read_before_or_after() {
        let (u, at) = usage();
        let set = flags();
        served(&u, &set, "f");
        // A read mid-minute, then more in the same minute: one bucket.
        assert_eq!(u.totals(1)["f"], 1);
        served(&u, &set, "f");
        served(&u, &set, "f");
        *at.lock().unwrap() += ChronoDuration::minutes(1);
        served(&u, &set, "f");
        let series = u.series(Some("f"), 60);
        let per_minute: Vec<_> = series
            .iter()
            .map(|m| {
                (
                    m.at.format("%H:%M").to_string(),
                    m.flags["f"].variations[&0],
                )
            })
            .collect();
        assert_eq!(
            per_minute,
            [("10:00".to_owned(), 3), ("10:01".to_owned(), 1)]
        );
        assert_eq!(u.totals(1)["f"], 4);
        assert_eq!(u.last_seen()["f"], *at.lock().unwrap());
    }

    #[test]
    fn sdk_reports_and_server_evaluations_add_up_and_unknowns_are_ignored() {
        let (u, _) = usage();
        let set = flags();
        let report: MetricsReport = serde_json::from_value(json!({"flags": {
            "f": {"variations": {"0": 5, "1": 2, "7": 3}, "errors": 1},
            "gone": {"variations": {"0": 4}},
        }}))
        .unwrap();
        let acc = u.add(&report, &set);
        assert_eq!(
            acc,
            Accepted {
                counted: 8,
                ignored: 7
            }
        );
        served(&u, &set, "f");
        let minute = &u.series(None, 1)[0].flags;
        assert_eq!(minute["f"].variations, BTreeMap::from([(0, 6), (1, 2)]));
        assert_eq!(minute["f"].errors, 1);
        assert!(!minute.contains_key("gone"));
        // Prometheus counts server-side evaluations only, by reason.
        assert_eq!(u.served_totals(), [("f".to_owned(), 4, 1)]);
    }

    #[test]
    fn an_evaluation_that_failed_counts_as_an_error() {
        let (u, _) = usage();
        let set = flags();
        served(&u, &set, "missing");
        let minute = &u.series(None, 1)[0].flags;
        assert_eq!(minute["missing"].errors, 1);
        assert!(minute["missing"].variations.is_empty());
        assert_eq!(u.served_totals(), [("missing".to_owned(), ERROR, 1)]);
    }
}
