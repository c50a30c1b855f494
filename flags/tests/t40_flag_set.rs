//! `FlagSet`: storage, the reference queries the server uses to refuse
//! deletes, evaluation entry points and the owned detail's JSON shape.

// Test helpers outside #[test] fns may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use vexil_flags::{
    Catalog, Context, EvaluationDetail, Flag, FlagSet, Lookup, Reason, Segment, segments_used_by,
};

fn flag(value: serde_json::Value) -> Flag {
    serde_json::from_value(value).unwrap()
}

/// `key` requires each of `prereqs` to serve true and matches `segments`.
fn flag_with(key: &str, prereqs: &[&str], segments: &[&str]) -> Flag {
    let prerequisites: Vec<_> = prereqs
        .iter()
        .map(|p| json!({"flag": p, "variation": 0}))
        .collect();
    let rules: Vec<_> = (segments.iter().enumerate())
        .map(|(i, s)| {
            json!({"id": format!("r{i}"), "serve": {"variation": 0},
            "clauses": [{"attribute": "key", "operator": "segment_match", "values": [s, "beta"]}]})
        })
        .collect();
    flag(json!({
        "key": key, "kind": "string", "enabled": true, "off_variation": 1,
        "variations": [{"value": "on", "name": "treatment"}, {"value": "off"}],
        "prerequisites": prerequisites, "rules": rules, "fallthrough": {"variation": 0},
    }))
}

fn segment(key: &str, included: &[&str]) -> Segment {
    serde_json::from_value(json!({"key": key, "included": included})).unwrap()
}

fn sample() -> FlagSet {
    FlagSet::from_parts(
        vec![
            flag_with("base", &[], &[]),
            flag_with("mid", &["base"], &["beta"]),
            flag_with("top", &["mid", "base"], &["staff"]),
        ],
        vec![
            segment("beta", &["u1"]),
            segment("staff", &["u2"]),
            segment("unused", &[]),
        ],
    )
}

#[test]
fn reference_queries_name_the_dependants_sorted() {
    let set = sample();
    assert_eq!(set.flags_requiring("base"), ["mid", "top"]);
    assert_eq!(set.flags_requiring("top"), Vec::<String>::new());
    assert_eq!(set.flags_using_segment("beta"), ["mid", "top"]);
    assert_eq!(set.flags_using_segment("staff"), ["top"]);
    assert!(set.flags_using_segment("unused").is_empty());
    let top = set.get_flag("top").unwrap().flag();
    assert_eq!(
        segments_used_by(top).into_iter().collect::<Vec<_>>(),
        ["beta", "staff"]
    );
}

#[test]
fn upsert_replaces_and_remove_deletes() {
    let mut set = sample();
    assert_eq!(
        (set.len(), set.segments().len(), set.is_empty()),
        (3, 3, false)
    );
    let mut changed = flag_with("base", &[], &[]);
    changed.enabled = false;
    let old = set.upsert_flag(Arc::new(changed)).unwrap();
    assert!(old.flag().enabled);
    assert_eq!(set.evaluate("base", &Context::new("u")).reason, Reason::Off);
    assert!(set.remove_flag("base").is_some());
    assert!(set.remove_flag("base").is_none());
    assert!(set.get_flag("base").is_none());
    assert!(set.remove_segment("unused").is_some());
    assert!(set.get_segment("unused").is_none());
    assert_eq!(set.len(), 2);
    assert!(FlagSet::new().is_empty());
}

#[test]
fn a_removed_prerequisite_fails_rather_than_errors() {
    let mut set = sample();
    set.remove_flag("base");
    let detail = set.evaluate("mid", &Context::new("u"));
    assert_eq!(
        detail.reason,
        Reason::PrerequisiteFailed {
            prerequisite: "base"
        }
    );
    assert_eq!(detail.value, Some(&json!("off")));
}

#[test]
fn a_segment_change_takes_effect_without_recompiling_flags() {
    let mut set = sample();
    let ctx = Context::new("u9");
    assert_eq!(set.evaluate("mid", &ctx).reason, Reason::Fallthrough);
    set.upsert_segment(segment("beta", &["u9"]));
    let reason = set.evaluate("mid", &ctx).reason;
    assert_eq!(
        reason,
        Reason::RuleMatch {
            rule_index: 0,
            rule_id: "r0"
        }
    );
}

#[test]
fn clones_share_compiled_flags_and_diverge_on_write() {
    let set = sample();
    let mut copy = set.clone();
    assert!(Arc::ptr_eq(
        set.get_flag("top").unwrap().flag(),
        copy.get_flag("top").unwrap().flag()
    ));
    copy.remove_flag("top");
    assert!(set.get_flag("top").is_some());
}

#[test]
fn lookup_and_catalog_see_the_same_entries() {
    let set = sample();
    assert_eq!(Lookup::flag(&set, "mid").map(|f| f.key()), Some("mid"));
    assert_eq!(
        Catalog::flag(&set, "mid").map(|f| f.key.as_str()),
        Some("mid")
    );
    assert_eq!(Lookup::segment(&set, "beta").map(|s| s.key()), Some("beta"));
    assert_eq!(
        Catalog::segment(&set, "beta").map(|s| s.key.as_str()),
        Some("beta")
    );
    assert!(Lookup::flag(&set, "nope").is_none() && Catalog::segment(&set, "nope").is_none());
}

#[test]
fn evaluate_all_yields_every_flag_once() {
    let set = sample();
    let all: BTreeMap<&str, _> = set.evaluate_all(&Context::new("u1")).collect();
    assert_eq!(
        all.keys().copied().collect::<Vec<_>>(),
        ["base", "mid", "top"]
    );
    for (key, detail) in &all {
        assert_eq!(*detail, set.evaluate(key, &Context::new("u1")), "{key}");
    }
    assert_eq!(
        all["mid"].reason,
        Reason::RuleMatch {
            rule_index: 0,
            rule_id: "r0"
        }
    );
}

#[test]
fn unknown_keys_are_flag_not_found_without_a_value() {
    let set = sample();
    let detail = set.evaluate("nope", &Context::new("u"));
    assert_eq!(detail, vexil_flags::Detail::flag_not_found());
    assert_eq!((detail.value, detail.variation), (None, None));
}

#[test]
fn owned_detail_json_shape() {
    let set = sample();
    let f = set.get_flag("mid").unwrap();
    let owned = set
        .evaluate("mid", &Context::new("u1"))
        .to_owned_detail(f.flag());
    let expected = json!({
        "key": "mid", "value": "on", "variation": 0, "variation_name": "treatment",
        "reason": {"kind": "RULE_MATCH", "rule_index": 0, "rule_id": "r0"}, "in_rollout": false,
    });
    assert_eq!(serde_json::to_value(&owned).unwrap(), expected);
    assert_eq!(
        serde_json::from_value::<EvaluationDetail>(expected).unwrap(),
        owned
    );

    // Unnamed variations are named by their index.
    let mut off = flag_with("x", &["ghost"], &[]);
    off.variations[1].name = None;
    let set = FlagSet::from_parts(vec![off], vec![]);
    let x = set.get_flag("x").unwrap().flag();
    let owned = set.evaluate("x", &Context::new("u")).to_owned_detail(x);
    assert_eq!(
        serde_json::to_value(&owned).unwrap(),
        json!({
            "key": "x", "value": "off", "variation": 1, "variation_name": "1",
            "reason": {"kind": "PREREQUISITE_FAILED", "prerequisite": "ghost"}, "in_rollout": false,
        })
    );
}

#[test]
fn a_malformed_flag_says_why() {
    let mut bad = flag_with("bad", &[], &["beta"]);
    bad.rules[0].clauses[0].operator = vexil_flags::Operator::Matches;
    bad.rules[0].clauses[0].values = vec![json!("(")];
    let set = FlagSet::from_parts(vec![bad], vec![]);
    let why = set.get_flag("bad").unwrap().is_malformed().unwrap();
    assert!(why.starts_with("rules[0].clauses[0].values[0]:"), "{why}");
    assert!(why.contains("invalid_regex"), "{why}");
}
