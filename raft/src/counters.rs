//! Counters and latency histograms of one replica's Raft work, for the
//! node's `/metrics`. Lock-free (atomics only) so the apply path pays a few
//! relaxed increments; the node reads them when it is scraped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency buckets, from 100 µs to 10 s.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A fixed-bucket latency histogram.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Observations per bucket (not cumulative); the last slot is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// A histogram read at one moment, in Prometheus' terms.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper bound in seconds, cumulative count), ending with `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl LatencyHistogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The cumulative buckets, sum and count.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let buckets = LATENCY_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&self.buckets)
            .map(|(bound, n)| {
                running += n.load(Ordering::Relaxed);
                (bound, running)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

impl HistogramSnapshot {
    /// Each bucket's own count (not cumulative), as
    /// `prometheus_client`'s `encode_histogram` takes them: it sums them
    /// into the cumulative `_bucket` samples itself, and writes the bound
    /// `f64::MAX` as `+Inf` (`f64::INFINITY` would print as `inf`).
    pub fn per_bucket(&self) -> Vec<(f64, u64)> {
        let mut below = 0;
        self.buckets
            .iter()
            .map(|&(bound, cumulative)| {
                let own = cumulative - below;
                below = cumulative;
                let bound = if bound.is_infinite() { f64::MAX } else { bound };
                (bound, own)
            })
            .collect()
    }

    /// The observations the buckets hold: the `_count` that matches them.
    /// The separate `count` may be ahead by an observation made while the
    /// buckets were read.
    pub fn bucketed(&self) -> u64 {
        self.buckets.last().map_or(0, |b| b.1)
    }
}

/// What a replica counts about its own Raft work.
#[derive(Debug, Default)]
pub struct RaftCounters {
    /// Snapshots this node built (openraft's policy or a trigger).
    pub snapshots_built: AtomicU64,
    /// Snapshots this node installed from a leader.
    pub snapshots_installed: AtomicU64,
    /// Time to apply one committed entry to the state machine.
    pub apply: LatencyHistogram,
}

impl RaftCounters {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_at_infinity() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], (0.0001, 1));
        assert_eq!(s.buckets.last().copied(), Some((f64::INFINITY, 3)));
        assert_eq!(s.buckets[LATENCY_BUCKETS.len() - 1].1, 2);
        assert!(s.sum_seconds > 60.0);
        let own: Vec<u64> = s.per_bucket().iter().map(|b| b.1).collect();
        assert_eq!(own.iter().sum::<u64>(), 3);
        assert_eq!(own[0], 1);
        assert_eq!(own[LATENCY_BUCKETS.len()], 1);
        assert_eq!(s.per_bucket().last().map(|b| b.0), Some(f64::MAX));
        assert_eq!(s.bucketed(), 3);
    }
}
