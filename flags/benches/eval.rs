//! Evaluation benchmarks over 1M distinct, pre-generated contexts, visited
//! cyclically so caches see a realistic spread of keys.
//!
//! - `simple_flag`: a boolean flag, one rule (`country in [NZ, AU]`), a 50%
//!   rollout fallthrough, over contexts with a key and a country. Target ≤ 100 ns.
//! - `complex_flag`: 20 rules, 2 segments of 10k keys, 3 prerequisites.
//!   Target ≤ 2 µs.
//! - `evaluate_all_10k`: every one of 10,000 flags for one context.
//! - For reference: `bucket` alone, and `simple_flag_7_attrs`, the simple
//!   flag over contexts carrying seven attributes (so ~1 GB of contexts is
//!   streamed through the caches: it measures memory as much as evaluation).
//!
//! Run: `cargo bench -p vexil-flags --bench eval`; results in docs/BENCHMARKS.md.

#![allow(clippy::unwrap_used, missing_debug_implementations)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use vexil_flags::{AttrValue, BucketHash, Context, Flag, FlagSet, Segment, bucket};

const CONTEXTS: usize = 1_000_000;
const COUNTRIES: [&str; 8] = ["NZ", "AU", "US", "DE", "JP", "BR", "IN", "GB"];
const PLANS: [&str; 3] = ["free", "pro", "team"];

/// `user-{i}` with the attributes the complex flag reads. Built in one go
/// (as deserialisation does) rather than with `Context::with`, whose
/// one-at-a-time inserts would grow and move the attribute vector.
fn context(i: usize) -> Context {
    let attributes: [(&str, AttrValue); 7] = [
        ("country", COUNTRIES[i % COUNTRIES.len()].into()),
        ("plan", PLANS[i % PLANS.len()].into()),
        ("email", format!("user{i}@example.com").into()),
        (
            "version",
            format!("{}.{}.{}", 1 + i % 4, i % 10, i % 7).into(),
        ),
        (
            "ip",
            format!("203.0.{}.{}", (i / 256) % 256, i % 256).into(),
        ),
        ("age", ((i % 90) as f64).into()),
        ("groups", vec![["staff", "users", "ops"][i % 3]].into()),
    ];
    Context {
        key: format!("user-{i}"),
        attributes: attributes
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .collect(),
    }
}

fn contexts() -> Vec<Context> {
    (0..CONTEXTS).map(context).collect()
}

fn flag(value: Value) -> Flag {
    serde_json::from_value(value).unwrap()
}

fn clause(attribute: &str, operator: &str, values: Value) -> Value {
    json!({"attribute": attribute, "operator": operator, "values": values})
}

fn boolean(key: &str, rules: Vec<Value>, fallthrough: Value, prereqs: Value) -> Flag {
    let rules: Vec<Value> = (rules.into_iter().enumerate())
        .map(|(i, clauses)| {
            json!({"id": format!("r{i}"), "clauses": clauses, "serve": {"variation": 0}})
        })
        .collect();
    flag(json!({
        "key": key, "kind": "boolean", "enabled": true, "off_variation": 1,
        "variations": [{"value": true}, {"value": false}],
        "rules": rules, "fallthrough": fallthrough, "prerequisites": prereqs,
    }))
}

fn half() -> Value {
    let slices = json!([{"variation": 0, "weight": 50_000}, {"variation": 1, "weight": 50_000}]);
    json!({"rollout": {"variations": slices}})
}

/// The simple flag: `country in [NZ, AU]` → true, else 50/50.
fn simple_flag(key: &str) -> Flag {
    boolean(
        key,
        vec![json!([clause("country", "in", json!(["NZ", "AU"]))])],
        half(),
        json!([]),
    )
}

/// 20 rules over every operator family; most contexts try them all.
fn complex_rules() -> Vec<Value> {
    let c = clause;
    [
        vec![
            json!({"attribute": "email", "operator": "ends_with", "values": ["@VEXIL.dev"],
                    "case_insensitive": true}),
        ],
        vec![c("country", "in", json!(["AQ", "GS"]))],
        vec![c("plan", "in", json!(["enterprise-legacy"]))],
        vec![c("version", "semver_lt", json!(["0.5.0"]))],
        vec![c("ip", "in_cidr", json!(["10.0.0.0/8", "192.168.0.0/16"]))],
        vec![c("email", "matches", json!(["^qa-[0-9]+@"]))],
        vec![c("age", "gt", json!([120]))],
        vec![c("signup", "before", json!(["2015-01-01T00:00:00Z"]))],
        vec![c("groups", "in", json!(["internal"]))],
        vec![c("key", "starts_with", json!(["test-"]))],
        vec![c("email", "contains", json!(["+canary"]))],
        vec![c("version", "semver_eq", json!(["9.9.9"]))],
        vec![
            c("country", "in", json!(["NZ"])),
            c("plan", "in", json!(["enterprise"])),
        ],
        vec![c("key", "segment_match", json!(["seg-a"]))],
        vec![c("key", "segment_match", json!(["seg-b"]))],
        vec![c("age", "lte", json!([-1]))],
        vec![c("ip", "in_cidr", json!(["2001:db8::/32"]))],
        vec![c("groups", "contains", json!(["beta-"]))],
        vec![c("email", "starts_with", json!(["admin@"]))],
        vec![c("version", "semver_gt", json!(["5.0.0"]))],
    ]
    .into_iter()
    .map(Value::from)
    .collect()
}

/// A segment including `user-{i * 100 + offset}` for 10k values of `i`.
fn segment(key: &str, offset: usize, rule: Value) -> Segment {
    let included: Vec<String> = (0..10_000)
        .map(|i| format!("user-{}", i * 100 + offset))
        .collect();
    serde_json::from_value(
        json!({"key": key, "included": included, "rules": [{"clauses": [rule]}]}),
    )
    .unwrap()
}

/// The complex flag, its three prerequisites and two segments.
fn complex_set() -> FlagSet {
    let always = json!({"variation": 0});
    let prereqs: Vec<Value> = (1..=3)
        .map(|i| json!({"flag": format!("p{i}"), "variation": 0}))
        .collect();
    let p3 = json!({"rollout": {"variations": [{"variation": 0, "weight": 100_000}]}});
    let flags = vec![
        boolean("complex", complex_rules(), half(), prereqs.into()),
        boolean("p1", vec![], always.clone(), json!([])),
        boolean(
            "p2",
            vec![json!([clause("country", "in", json!(["NZ"]))])],
            always,
            json!([]),
        ),
        boolean("p3", vec![], p3, json!([])),
    ];
    let segments = vec![
        segment(
            "seg-a",
            0,
            clause("email", "ends_with", json!(["@partner.com"])),
        ),
        segment("seg-b", 1, clause("plan", "in", json!(["partner"]))),
    ];
    FlagSet::from_parts(flags, segments)
}

/// 10,000 flags: mostly simple, some with 3 rules, some with a prerequisite
/// and a segment.
fn ten_thousand() -> FlagSet {
    let flags = (0..10_000).map(|i| {
        let key = format!("flag-{i}");
        match i % 10 {
            0 => boolean(
                &key,
                vec![json!([clause("key", "segment_match", json!(["seg-a"]))])],
                half(),
                json!([{"flag": format!("flag-{}", i + 1), "variation": 0}]),
            ),
            1 | 2 => boolean(
                &key,
                vec![
                    json!([clause("plan", "in", json!(["team"]))]),
                    json!([clause("version", "semver_gt", json!(["3.0.0"]))]),
                    json!([clause("email", "ends_with", json!(["@corp.com"]))]),
                ],
                half(),
                json!([]),
            ),
            _ => simple_flag(&key),
        }
    });
    let seg = segment(
        "seg-a",
        0,
        clause("email", "ends_with", json!(["@partner.com"])),
    );
    FlagSet::from_parts(flags.collect(), vec![seg])
}

/// A cycling index over the 1M contexts, shared by every bench.
fn cycle() -> impl FnMut() -> usize {
    let mut i = 0;
    move || {
        i = (i + 1) % CONTEXTS;
        i
    }
}

fn benches(c: &mut Criterion) {
    let mut next = cycle();
    // Generate both context sets up front, each in fresh memory, so neither is
    // scattered through the other's freed blocks.
    let contexts = contexts();
    // What the simple flag reads: the key and the country.
    let small: Vec<Context> = (0..CONTEXTS)
        .map(|i| Context::new(format!("user-{i}")).with("country", COUNTRIES[i % 8]))
        .collect();

    let simple = FlagSet::from_parts(vec![simple_flag("simple")], vec![]);
    c.bench_function("simple_flag", |b| {
        b.iter(|| black_box(simple.evaluate("simple", black_box(&small[next()]))))
    });
    let keys: Vec<&str> = small.iter().map(|ctx| ctx.key.as_str()).collect();
    c.bench_function("bucket", |b| {
        b.iter(|| black_box(bucket(BucketHash::Vexil, "simple", black_box(keys[next()]))))
    });
    c.bench_function("simple_flag_7_attrs", |b| {
        b.iter(|| black_box(simple.evaluate("simple", black_box(&contexts[next()]))))
    });

    let complex = complex_set();
    assert!(
        complex
            .get_flag("complex")
            .unwrap()
            .is_malformed()
            .is_none()
    );
    c.bench_function("complex_flag", |b| {
        b.iter(|| black_box(complex.evaluate("complex", black_box(&contexts[next()]))))
    });

    let all = ten_thousand();
    c.bench_function("evaluate_all_10k", |b| {
        b.iter(|| {
            for item in all.evaluate_all(black_box(&contexts[next()])) {
                black_box(item);
            }
        })
    });
}

criterion_group!(eval, benches);
criterion_main!(eval);
