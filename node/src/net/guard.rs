//! Failed authentication, per source address: counted in the
//! `vexil_auth_failures` metric, logged at most once a minute per address,
//! and backed off.
//!
//! **Back-off:** an address that presents a wrong credential (a bearer token
//! on the API port, the cluster secret on the peer port) more than
//! [`Backoff::failures`] times within [`Backoff::window`] gets 429 with
//! `Retry-After` for every request, before anything else is checked, until
//! the window has passed. The serve loop asks [`AuthGuard::retry_after`];
//! the bearer-token extractor (`api/extract.rs`) and the peer router report
//! failures with [`AuthGuard::failed`]. A request with no credential at all
//! is counted and logged, but does not back off: a browser or a health
//! check that sends none is not guessing.
//!
//! Failures are counted per address with `governor`'s keyed GCRA limiter
//! (a burst of `failures`, refilled over `window`), whose per-address state
//! is a few words and is pruned as it goes stale.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// `vexil_auth_failures{port, reason}`, registered by `crate::metrics`.
/// Process-wide: nodes run in one test process add up.
pub static AUTH_FAILURES: LazyLock<Family<FailureLabels, Counter>> = LazyLock::new(Family::default);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// `api` or `peer`.
    pub port: &'static str,
    /// `missing` or `wrong`.
    pub reason: &'static str,
}

/// When an address is made to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wrong credentials allowed per address within `window`; 0 turns the
    /// back-off off (failures are still counted and logged).
    pub failures: u32,
    pub window: Duration,
}

/// What went wrong with a request's credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No token, or no cluster secret.
    Missing,
    /// One that matches nothing.
    Wrong,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::Missing => "missing",
            Failure::Wrong => "wrong",
        }
    }
}

/// Addresses kept in back-off at most; beyond this, expired ones are dropped
/// first and then new ones are not recorded (they are still refused 401).
const MAX_BLOCKED: usize = 65_536;

/// Failed authentication on one listener.
#[derive(Debug)]
pub struct AuthGuard {
    /// `api` or `peer`, for the metric and the log.
    port: &'static str,
    backoff: Backoff,
    /// Wrong credentials per address; `None` when the back-off is off.
    failures: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses backing off, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    /// One log line per address per minute.
    logs: DefaultKeyedRateLimiter<IpAddr>,
    /// Failures seen, to prune the limiters' state now and then.
    seen: AtomicU64,
}

impl AuthGuard {
    pub fn new(port: &'static str, backoff: Backoff) -> Self {
        let failures = NonZeroU32::new(backoff.failures).and_then(|burst| {
            let refill = backoff.window / burst.get();
            Quota::with_period(refill).map(|q| RateLimiter::keyed(q.allow_burst(burst)))
        });
        AuthGuard {
            port,
            backoff,
            failures,
            blocked: Mutex::default(),
            logs: RateLimiter::keyed(Quota::per_minute(NonZeroU32::MIN)),
            seen: AtomicU64::new(0),
        }
    }

    /// How long `ip` must still wait, when it is backing off.
    pub fn retry_after(&self, ip: Option<IpAddr>) -> Option<Duration> {
        let ip = ip?;
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        let until = *blocked.get(&ip)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            blocked.remove(&ip);
            return None;
        }
        Some(left)
    }

    /// Records a failed authentication from `ip`.
    pub fn failed(&self, ip: Option<IpAddr>, why: Failure) {
        AUTH_FAILURES
            .get_or_create(&FailureLabels {
                port: self.port,
                reason: why.as_str(),
            })
            .inc();
        let Some(ip) = ip else { return };
        if self.logs.check_key(&ip).is_ok() {
            tracing::warn!(%ip, port = self.port, credential = why.as_str(),
                "authentication failed (logged at most once a minute per address)");
        }
        if self.seen.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.logs.retain_recent();
            if let Some(f) = &self.failures {
                f.retain_recent();
            }
        }
        let Some(failures) = &self.failures else {
            return;
        };
        if why == Failure::Missing || failures.check_key(&ip).is_ok() {
            return;
        }
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        if blocked.len() >= MAX_BLOCKED {
            blocked.retain(|_, until| *until > now);
        }
        if blocked.len() < MAX_BLOCKED && !blocked.contains_key(&ip) {
            tracing::warn!(%ip, port = self.port, seconds = self.backoff.window.as_secs(),
                "too many failed authentications: this address gets 429 for a while");
            blocked.insert(ip, now + self.backoff.window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_credentials_back_off_missing_ones_do_not() {
        let g = AuthGuard::new(
            "api",
            Backoff {
                failures: 3,
                window: Duration::from_secs(60),
            },
        );
        let ip = Some("10.0.0.9".parse().unwrap());
        for _ in 0..10 {
            g.failed(ip, Failure::Missing);
        }
        assert_eq!(g.retry_after(ip), None);
        for _ in 0..3 {
            g.failed(ip, Failure::Wrong);
        }
        assert_eq!(g.retry_after(ip), None);
        g.failed(ip, Failure::Wrong);
        let wait = g.retry_after(ip).unwrap();
        assert!(wait > Duration::from_secs(58), "{wait:?}");
        assert_eq!(g.retry_after(Some("10.0.0.8".parse().unwrap())), None);
    }

    #[test]
    fn zero_failures_turns_the_back_off_off() {
        let g = AuthGuard::new(
            "peer",
            Backoff {
                failures: 0,
                window: Duration::from_secs(60),
            },
        );
        let ip = Some("10.0.0.9".parse().unwrap());
        for _ in 0..100 {
            g.failed(ip, Failure::Wrong);
        }
        assert_eq!(g.retry_after(ip), None);
    }
}
