//! Evaluation counts, flushed to `POST /v1/sdk/metrics` every interval.
//! A failed flush keeps its counts for the next one, so counts are delayed,
//! never dropped (up to [`MAX_FLAGS`] distinct flags).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::Serialize;

/// Distinct flags counted between flushes; beyond this, new keys are
/// counted in `overflow` (the server sees them as a total).
pub(crate) const MAX_FLAGS: usize = 10_000;

#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct FlagCounts {
    pub variations: BTreeMap<usize, u64>,
    pub errors: u64,
}

/// The body of a metrics report.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    pub flags: BTreeMap<String, FlagCounts>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    counts: Mutex<HashMap<String, FlagCounts>>,
    /// Evaluations not counted per flag because the map was full.
    overflow: std::sync::atomic::AtomicU64,
}

impl Counters {
    /// Counts one evaluation; `None` is an error (the default was served).
    pub(crate) fn count(&self, key: &str, variation: Option<usize>) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if !counts.contains_key(key) {
            if counts.len() >= MAX_FLAGS {
                self.overflow
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            counts.insert(key.to_owned(), FlagCounts::default());
        }
        let Some(slot) = counts.get_mut(key) else {
            return;
        };
        match variation {
            Some(v) => *slot.variations.entry(v).or_default() += 1,
            None => slot.errors += 1,
        }
    }

    /// Takes everything counted so far.
    pub(crate) fn take(&self) -> Report {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        Report {
            flags: std::mem::take(&mut *counts).into_iter().collect(),
        }
    }

    /// Puts back a report that could not be sent.
    pub(crate) fn restore(&self, report: Report) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for (key, c) in report.flags {
            let slot = counts.entry(key).or_default();
            for (v, n) in c.variations {
                *slot.variations.entry(v).or_default() += n;
            }
            slot.errors += c.errors;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_survive_a_failed_flush() {
        let c = Counters::default();
        c.count("a", Some(0));
        c.count("a", Some(0));
        c.count("a", None);
        let r = c.take();
        assert_eq!(r.flags["a"].variations[&0], 2);
        assert!(c.take().flags.is_empty());
        c.restore(r);
        c.count("a", Some(1));
        let r = c.take();
        assert_eq!(
            (
                r.flags["a"].variations[&0],
                r.flags["a"].variations[&1],
                r.flags["a"].errors
            ),
            (2, 1, 1)
        );
    }
}
