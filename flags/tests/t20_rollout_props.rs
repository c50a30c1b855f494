//! Rollout properties: proportions, monotonic growth, and the defined result
//! for contexts without a bucketable attribute.

// Test helpers outside #[test] fns may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use vexil_flags::{Context, Flag, FlagSet, OwnedReason};

const KEYS: u32 = 100_000;

/// A boolean flag whose fallthrough serves `true` (variation 0) to
/// `weight_on` thousandths of a percent and `false` to the rest.
fn rollout_flag(key: &str, weight_on: u32, seed: Option<&str>) -> Flag {
    let flag = serde_json::json!({
        "key": key, "kind": "boolean", "enabled": true, "off_variation": 1,
        "variations": [{"value": true}, {"value": false}],
        "fallthrough": {"rollout": {"seed": seed, "variations": [
            {"variation": 0, "weight": weight_on},
            {"variation": 1, "weight": 100_000 - weight_on},
        ]}},
    });
    serde_json::from_value(flag).unwrap()
}

fn set_of(flags: Vec<Flag>) -> FlagSet {
    FlagSet::from_parts(flags, vec![])
}

/// Whether `ctx` is served `true` by the flag `key`.
fn is_on(set: &FlagSet, key: &str, ctx: &Context) -> bool {
    let detail = set.evaluate(key, ctx);
    assert!(detail.in_rollout, "{:?}", detail);
    detail.variation == Some(0)
}

/// The percentage of `user-{i}` keys served `true`.
fn percent_on(set: &FlagSet, key: &str) -> f64 {
    let on = (0..KEYS)
        .filter(|i| is_on(set, key, &Context::new(format!("user-{i}"))))
        .count();
    on as f64 * 100.0 / f64::from(KEYS)
}

#[test]
fn proportions_are_within_half_a_point_over_100k_keys() {
    for (weight, percent) in [(1_000, 1.0), (50_000, 50.0), (99_000, 99.0)] {
        let set = set_of(vec![rollout_flag("props", weight, None)]);
        let actual = percent_on(&set, "props");
        assert!(
            (actual - percent).abs() <= 0.5,
            "{percent}% rollout served {actual}%"
        );
    }
}

#[test]
fn flags_sharing_a_seed_bucket_alike_and_others_do_not() {
    let set = set_of(vec![
        rollout_flag("a", 50_000, Some("shared")),
        rollout_flag("b", 50_000, Some("shared")),
        rollout_flag("c", 50_000, None),
    ]);
    let (mut same_ab, mut same_ac) = (0, 0);
    for i in 0..10_000 {
        let ctx = Context::new(format!("user-{i}"));
        same_ab += usize::from(is_on(&set, "a", &ctx) == is_on(&set, "b", &ctx));
        same_ac += usize::from(is_on(&set, "a", &ctx) == is_on(&set, "c", &ctx));
    }
    assert_eq!(same_ab, 10_000, "a shared seed must give identical buckets");
    assert!(
        (4_500..=5_500).contains(&same_ac),
        "independent salts agreed {same_ac} times"
    );
}

proptest! {
    // Each case evaluates 100k keys; the seed is fixed so CI is deterministic.
    #![proptest_config(ProptestConfig {
        cases: 12,
        rng_seed: RngSeed::Fixed(0x5eed_0001),
        ..ProptestConfig::default()
    })]

    #[test]
    fn proportions_hold_for_any_salt(
        salt in "[a-z0-9-]{1,24}",
        weight in prop::sample::select(vec![1_000u32, 50_000, 99_000]),
    ) {
        let mut flag = rollout_flag("props", weight, None);
        flag.salt = salt;
        let set = set_of(vec![flag]);
        let actual = percent_on(&set, "props");
        let expected = f64::from(weight) / 1_000.0;
        prop_assert!((actual - expected).abs() <= 0.5, "{expected}% served {actual}%");
    }
}

proptest! {
    #[test]
    fn raising_a_percentage_never_removes_a_key(
        salt in ".{0,16}",
        key in ".{0,32}",
        p1 in 0u32..=100_000,
        p2 in 0u32..=100_000,
    ) {
        let (low, high) = (p1.min(p2), p1.max(p2));
        let mut low_flag = rollout_flag("f", low, None);
        low_flag.salt = salt.clone();
        let mut high_flag = rollout_flag("f", high, None);
        high_flag.salt = salt;
        let ctx = Context::new(key);
        let was_on = is_on(&set_of(vec![low_flag]), "f", &ctx);
        let still_on = is_on(&set_of(vec![high_flag]), "f", &ctx);
        prop_assert!(!was_on || still_on, "on at {low}, off at {high}");
    }

    #[test]
    fn a_context_without_the_attribute_gets_the_first_nonzero_slice(
        weights in prop::collection::vec(0u32..=3, 1..6),
    ) {
        prop_assume!(weights.iter().any(|&w| w > 0));
        // Scale small weights to sum to exactly 100 000.
        let total: u32 = weights.iter().sum();
        let mut scaled: Vec<u32> = weights.iter().map(|w| w * 100_000 / total).collect();
        let last = scaled.iter().rposition(|&w| w > 0).unwrap();
        scaled[last] += 100_000 - scaled.iter().sum::<u32>();
        let slices: Vec<_> = (scaled.iter().enumerate())
            .map(|(i, w)| serde_json::json!({"variation": i, "weight": w}))
            .collect();
        let variations: Vec<_> =
            (0..scaled.len()).map(|i| serde_json::json!({"value": i})).collect();
        let flag: Flag = serde_json::from_value(serde_json::json!({
            "key": "f", "kind": "number", "enabled": true, "off_variation": 0,
            "variations": variations,
            "fallthrough": {"rollout": {"bucket_by": "org", "variations": slices}},
        })).unwrap();
        let set = set_of(vec![flag]);
        let detail = set.evaluate("f", &Context::new("user-1").with("plan", "pro"));
        let first_nonzero = scaled.iter().position(|&w| w > 0);
        prop_assert_eq!(detail.variation, first_nonzero);
        prop_assert!(detail.in_rollout);
        prop_assert_eq!(OwnedReason::from(detail.reason), OwnedReason::Fallthrough);
    }
}
