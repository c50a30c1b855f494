//! The checkers are not vacuous: with a known bug switched on (linearizable
//! reads served from a replica's own state, with no read barrier), the
//! linearizability check catches it.

use vexil_chaos_tests::{Options, run};

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
