//! The checkers are not vacuous: with a known fault switched on, each
//! catches it.
//!
//! - Linearizable reads served from a replica's own state, with no read
//!   barrier (a bug switched on in the nodes): the linearizability check.
//! - A cluster that can never commit again (every follower lost for good,
//!   whatever the membership code does): the "writable after heal" check.

use std::time::Duration;

use vexil_chaos_tests::{Forced, Options, run};

#[test]
fn t30_stale_follower_reads_are_caught() {
    let mut caught = Vec::new();
    for seed in 0..30 {
        let mut opts = Options::new(seed);
        opts.inject_stale_reads = true;
        opts.readers = 4;
        let report = run(&opts);
        if report
            .violations
            .iter()
            .any(|v| v.0.contains("real-time order") || v.0.contains("absent"))
        {
            caught.push(seed);
            if caught.len() >= 2 {
                break;
            }
        }
    }
    assert!(caught.len() >= 2, "stale reads went unnoticed in 30 seeds");
}

#[test]
fn t31_a_cluster_wedged_for_good_is_caught() {
    for seed in [1, 2] {
        let mut opts = Options::new(seed);
        opts.forced = Some((Duration::from_secs(4), Forced::LoseFollowers));
        let report = run(&opts);
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.0.starts_with("writable after heal")),
            "seed {seed}: a cluster with no quorum left passed: {:?}\nfaults:\n{}",
            report.violations,
            report.faults.join("\n")
        );
    }
}
