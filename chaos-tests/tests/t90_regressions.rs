//! Regressions: sequences that once broke an invariant, forced exactly.

use std::time::Duration;

use vexil_chaos_tests::{Forced, Options, run};

/// Issue 20, item 1: one follower is lost for good and, in the same
/// instant, the leader is asked to remove the other (healthy) follower.
/// The quorum guard must refuse the removal (the joint configuration could
/// never commit); the cluster must stay writable. Before the fix (763b7ac)
/// every seed here ended wedged: no leader, terms climbing, writes 503.
#[test]
fn t90_removing_a_follower_while_the_other_is_lost_leaves_the_cluster_writable() {
    for seed in [1, 2, 3] {
        let mut opts = Options::new(seed);
        opts.membership = false;
        // Before the seeded faults start (1.5 s), once a leader exists.
        opts.forced = Some((Duration::from_millis(1200), Forced::LoseOneRemoveOther));
        let report = run(&opts);
        assert!(
            report.violations.is_empty(),
            "seed {seed}: {:?}\nmembership changes:\n{}\nfaults:\n{}",
            report.violations,
            report.changes.join("\n"),
            report.faults.join("\n")
        );
        assert_eq!(
            report.changes.len(),
            1,
            "seed {seed}: the forced removal was not made\nfaults:\n{}",
            report.faults.join("\n")
        );
    }
}
