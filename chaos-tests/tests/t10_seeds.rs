//! Seeded fault-injection runs, with membership changes. Each test function
//! runs a band of seeds so nextest can run bands in parallel; together they
//! cover seeds 0..160. A failure names the seed and the command that
//! replays it.
//!
//! 160 rather than the 200 seeds run before membership changes joined the
//! workload: a seed now takes about 0.85 s instead of 0.66 s (joining nodes,
//! more clients), so the suite's time stays about the same. Longer soaks:
//! `scripts/chaos.sh --seeds 2000 --keep-going`.

use vexil_chaos_tests::{Options, run};

fn band(start: u64, count: u64) {
    let mut promotions = 0;
    for seed in start..start + count {
        let report = run(&Options::new(seed));
        promotions += report.promotions;
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
    // The promoter's promotions ran, and each was checked whole.
    assert!(
        promotions >= count as usize,
        "seeds {start}..{}: only {promotions} promotions",
        start + count
    );
}

#[test]
fn t10_seeds_000_039() {
    band(0, 40);
}

#[test]
fn t11_seeds_040_079() {
    band(40, 40);
}

#[test]
fn t12_seeds_080_119() {
    band(80, 40);
}

#[test]
fn t13_seeds_120_159() {
    band(120, 40);
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
