//! Writable after healing: once every fault that heals has healed, the
//! cluster accepts a write within [`WRITABLE_WITHIN`]. No seed may end
//! wedged (issue 20: a membership change whose joint configuration can
//! never commit leaves every later write waiting forever).

use std::time::Duration;

use super::Violation;
use crate::history::Micros;

/// How long a healed cluster may take to accept a write.
///
/// The slowest legitimate path after healing, with the simulation's
/// timings (`cluster::raft_config`): crashed nodes restart and an election
/// follows (timeouts of 300–600 ms; a few rounds when votes split, ~2 s);
/// a membership change that waited for a restarted node then commits, or
/// reaches its 10 s deadline (`snapshot_timeout`), while the node catches up
/// from a snapshot (up to 10 s to install); the probe's write waits up to
/// its 3 s client timeout before it retries. That is about 25 s; 30 s leaves
/// margin, and a healthy seed stops waiting as soon as the write lands, so
/// the bound costs nothing there.
pub const WRITABLE_WITHIN: Duration = Duration::from_secs(30);

/// Checks that the probe's write, begun when the faults healed at
/// `healed`, succeeded (at `wrote`) within `bound`.
pub fn writable(healed: Duration, wrote: Option<Micros>, bound: Duration) -> Option<Violation> {
    let healed_us = u64::try_from(healed.as_micros()).unwrap_or(u64::MAX);
    let bound_us = u64::try_from(bound.as_micros()).unwrap_or(u64::MAX);
    match wrote {
        Some(at) if at.saturating_sub(healed_us) <= bound_us => None,
        Some(at) => Some(Violation(format!(
            "writable after heal: the first write was accepted {:?} after healing, over the {bound:?} bound",
            Duration::from_micros(at.saturating_sub(healed_us))
        ))),
        None => Some(Violation(format!(
            "writable after heal: no write was accepted within {bound:?} of healing (the cluster is wedged)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALED: Duration = Duration::from_secs(12);

    #[test]
    fn a_write_soon_after_healing_passes() {
        assert_eq!(writable(HEALED, Some(12_400_000), WRITABLE_WITHIN), None);
        assert_eq!(writable(HEALED, Some(42_000_000), WRITABLE_WITHIN), None);
    }

    #[test]
    fn no_write_or_a_late_one_is_caught() {
        let wedged = writable(HEALED, None, WRITABLE_WITHIN).expect("caught");
        assert!(wedged.0.contains("wedged"), "{wedged}");
        let late = writable(HEALED, Some(42_000_001), WRITABLE_WITHIN).expect("caught");
        assert!(late.0.contains("over the"), "{late}");
    }
}
