//! Seeded fault-injection runs. Each test function runs a band of seeds so
//! nextest can run bands in parallel; together they cover seeds 0..200.
//! A failure names the seed and the command that replays it.

use vexil_chaos_tests::{Options, run};

fn band(start: u64, count: u64) {
    for seed in start..start + count {
        let report = run(&Options::new(seed));
        assert!(
            report.violations.is_empty(),
            "seed {seed} broke an invariant:\n  - {}\nreplay: {}\nfaults:\n{}",
            report
                .violations
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n  - "),
            report.replay(),
            report.faults.join("\n")
        );
        assert!(
            report.acked_writes > 20,
            "seed {seed}: the workload barely ran ({} acked writes)",
            report.acked_writes
        );
    }
}

#[test]
fn t10_seeds_000_049() {
    band(0, 50);
}

#[test]
fn t11_seeds_050_099() {
    band(50, 50);
}

#[test]
fn t12_seeds_100_149() {
    band(100, 50);
}

#[test]
fn t13_seeds_150_199() {
    band(150, 50);
}

/// A five-node cluster, which also sees minority/majority splits.
#[test]
fn t14_five_nodes_seeds_1000_1009() {
    for seed in 1000..1010 {
        let mut opts = Options::new(seed);
        opts.nodes = 5;
        let report = run(&opts);
        assert!(
            report.violations.is_empty(),
            "seed {seed} (5 nodes): {:?}\nreplay: {}",
            report.violations,
            report.replay()
        );
    }
}
