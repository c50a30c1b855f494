//! Evaluation does not allocate. A counting global allocator tallies the
//! allocations made by the current thread while counting is switched on.

// Test helpers outside #[test] fns may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]
// A `GlobalAlloc` impl is `unsafe` by definition; this test file is the only
// place the crate needs it, and it only forwards to `System`.
#![allow(unsafe_code)]

use serde_json::json;
use vexil_flags::{Context, Flag, FlagSet, Reason};

mod alloc_counter;

use alloc_counter::allocations_in;

fn flag(value: serde_json::Value) -> Flag {
    serde_json::from_value(value).unwrap()
}

/// `country in [NZ, AU]` serves true; everyone else gets a 50/50 rollout.
fn boolean_flag() -> Flag {
    flag(json!({
        "key": "checkout", "kind": "boolean", "enabled": true, "off_variation": 1,
        "variations": [{"value": true}, {"value": false}],
        "rules": [{
            "id": "anz",
            "clauses": [{"attribute": "country", "operator": "in", "values": ["NZ", "AU"]}],
            "serve": {"variation": 0},
        }],
        "fallthrough": {"rollout": {"variations": [
            {"variation": 0, "weight": 50000},
            {"variation": 1, "weight": 50000},
        ]}},
    }))
}

#[test]
fn evaluating_a_rule_and_a_rollout_allocates_nothing() {
    let boxed = allocations_in(|| drop(std::hint::black_box(vec![0u8; 8])));
    assert_eq!(boxed, 1, "the counter sees allocations");
    let set = FlagSet::from_parts(vec![boolean_flag()], vec![]);
    let countries = ["NZ", "AU", "US", "DE"];
    let contexts: Vec<Context> = (0..10_000)
        .map(|i| Context::new(format!("user-{i}")).with("country", countries[i % 4]))
        .collect();
    let (mut rule_hits, mut rollout_hits) = (0, 0);
    let n = allocations_in(|| {
        for ctx in &contexts {
            let detail = set.evaluate("checkout", ctx);
            rule_hits += usize::from(matches!(detail.reason, Reason::RuleMatch { .. }));
            rollout_hits += usize::from(detail.in_rollout);
        }
    });
    assert_eq!(n, 0, "evaluation allocated {n} times");
    assert_eq!(
        (rule_hits, rollout_hits),
        (5_000, 5_000),
        "both paths were exercised"
    );
}

#[test]
fn every_operator_prerequisites_and_segments_allocate_nothing_once_warm() {
    fn clause(attr: &str, op: &str, v: serde_json::Value, ci: bool) -> serde_json::Value {
        json!({"attribute": attr, "operator": op, "values": [v], "case_insensitive": ci})
    }
    let rules: Vec<_> = [
        clause("email", "starts_with", json!("ADMIN"), true),
        clause("email", "ends_with", json!("@Corp.com"), true),
        clause("email", "contains", json!("zzz"), false),
        clause("email", "matches", json!("^z+$"), false),
        clause("age", "gt", json!(99), false),
        clause("signup", "before", json!("2000-01-01T00:00:00Z"), false),
        clause("version", "semver_gt", json!("9.9"), false),
        clause("ip", "in_cidr", json!("10.0.0.0/8"), false),
        clause("key", "segment_match", json!("beta"), false),
        clause("groups", "in", json!("Admins"), true),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, c)| json!({"id": format!("r{i}"), "clauses": [c], "serve": {"variation": 0}}))
    .collect();
    let complex = flag(json!({
        "key": "complex", "kind": "boolean", "enabled": true, "off_variation": 1,
        "variations": [{"value": true}, {"value": false}],
        "prerequisites": [{"flag": "gate", "variation": 0}],
        "targets": [{"variation": 0, "values": ["vip"]}],
        "rules": rules, "fallthrough": {"variation": 1},
    }));
    let beta = serde_json::from_value(json!({"key": "beta", "included": ["x"],
        "rules": [{"clauses": [{"attribute": "plan", "operator": "in", "values": ["pro"]}]}]}))
    .unwrap();
    let gate = flag(json!({
        "key": "gate", "kind": "boolean", "enabled": true, "off_variation": 1,
        "variations": [{"value": true}, {"value": false}], "fallthrough": {"variation": 0},
    }));
    let set = FlagSet::from_parts(vec![gate, complex], vec![beta]);
    let ctx = Context::new("user-7")
        .with("country", "US")
        .with("email", "user@example.com")
        .with("age", 30)
        .with("signup", "2024-05-01T00:00:00Z")
        .with("version", "1.2")
        .with("ip", "192.168.0.1")
        .with("groups", vec!["staff", "ops"]);
    // Warm up: a regex allocates its per-thread matching cache on first use.
    let warm = set.evaluate("complex", &ctx);
    let n = allocations_in(|| {
        for _ in 0..1_000 {
            assert_eq!(set.evaluate("complex", &ctx), warm);
        }
    });
    assert_eq!(n, 0, "evaluation allocated {n} times");
    // The prerequisite passed and every rule was tried and missed.
    assert_eq!(warm.reason, Reason::Fallthrough);
}
