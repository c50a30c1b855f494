//! What only new input must meet (`validate_flag_input`,
//! `validate_segment_input`): the documented limits, no value served by two
//! variations, no key both included and excluded; and what a context may
//! hold. The state machine's own validation is unchanged by these rules.

// Test helpers outside #[test] fns may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use vexil_flags::validate::code;
use vexil_flags::{Context, Flag, FlagSet, Segment, limits};
use vexil_flags::{validate_flag, validate_flag_input, validate_segment, validate_segment_input};

fn flag(extra: Value) -> Flag {
    let mut f = json!({
        "key": "f",
        "kind": "string",
        "variations": [{"value": "a"}, {"value": "b"}],
        "off_variation": 0,
        "fallthrough": {"variation": 0},
    });
    for (k, v) in extra.as_object().unwrap() {
        f[k] = v.clone();
    }
    serde_json::from_value(f).unwrap()
}

fn segment(extra: Value) -> Segment {
    let mut s = json!({"key": "s"});
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    serde_json::from_value(s).unwrap()
}

fn pairs(errors: &[vexil_flags::FieldError]) -> Vec<(String, String)> {
    errors
        .iter()
        .map(|e| (e.field.clone(), e.code.clone()))
        .collect()
}

fn flag_errors(f: &Flag) -> Vec<(String, String)> {
    let input = validate_flag_input(f, &FlagSet::default());
    for e in &input {
        assert!(!e.message.is_empty(), "{e:?}");
    }
    pairs(&input)
}

fn segment_errors(s: &Segment) -> Vec<(String, String)> {
    pairs(&validate_segment_input(s, &FlagSet::default()))
}

fn one(field: &str, code: &str) -> Vec<(String, String)> {
    vec![(field.to_owned(), code.to_owned())]
}

fn strings(n: usize, width: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i:0>width$}")).collect()
}

#[test]
fn a_value_served_by_two_variations_is_refused_numbers_by_value() {
    let f = flag(json!({"variations": [{"value": "a"}, {"value": "b"}, {"value": "a"}]}));
    assert_eq!(
        flag_errors(&f),
        one("variations[2].value", code::DUPLICATE_VARIATION)
    );
    let f = flag(json!({"kind": "number", "variations": [{"value": 1}, {"value": 1.0}]}));
    assert_eq!(
        flag_errors(&f),
        one("variations[1].value", code::DUPLICATE_VARIATION)
    );
    let f =
        flag(json!({"kind": "json", "variations": [{"value": {"a": [1]}}, {"value": {"a": [2]}}]}));
    assert_eq!(flag_errors(&f), []);
}

#[test]
fn a_key_both_included_and_excluded_is_refused() {
    let s = segment(json!({"included": ["a", "b"], "excluded": ["c", "b"]}));
    assert_eq!(
        segment_errors(&s),
        one("excluded[1]", code::INCLUDED_AND_EXCLUDED)
    );
}

#[test]
fn every_limit_is_enforced_at_one_past_it_and_not_at_it() {
    use limits::*;
    let cases: Vec<(&str, &str, Value, Value)> = vec![
        (
            "variations",
            code::TOO_MANY,
            json!({"variations": strings(MAX_VARIATIONS, 3).iter().map(|v| json!({"value": v})).collect::<Vec<_>>()}),
            json!({"variations": strings(MAX_VARIATIONS + 1, 3).iter().map(|v| json!({"value": v})).collect::<Vec<_>>()}),
        ),
        (
            "tags",
            code::TOO_MANY,
            json!({"tags": strings(MAX_TAGS, MAX_TAG_CHARS)}),
            json!({"tags": strings(MAX_TAGS + 1, 2)}),
        ),
        (
            "name",
            code::TOO_LONG,
            json!({"name": "ñ".repeat(MAX_NAME_CHARS)}),
            json!({"name": "n".repeat(MAX_NAME_CHARS + 1)}),
        ),
        (
            "description",
            code::TOO_LONG,
            json!({"description": "ñ".repeat(MAX_DESCRIPTION_CHARS)}),
            json!({"description": "d".repeat(MAX_DESCRIPTION_CHARS + 1)}),
        ),
        (
            "variations[1].value",
            code::TOO_LONG,
            json!({"variations": [{"value": "a"}, {"value": "v".repeat(MAX_VALUE_BYTES - 2)}]}),
            json!({"variations": [{"value": "a"}, {"value": "v".repeat(MAX_VALUE_BYTES - 1)}]}),
        ),
        (
            "targets",
            code::TOO_MANY,
            json!({"targets": [{"variation": 0, "values": strings(MAX_TARGET_KEYS, 5)}]}),
            json!({"targets": [{"variation": 0, "values": strings(MAX_TARGET_KEYS, 5)},
                               {"variation": 1, "values": ["x"]}]}),
        ),
        (
            "targets[0].values[1]",
            code::TOO_LONG,
            json!({"targets": [{"variation": 0, "values": ["a", "k".repeat(MAX_CONTEXT_KEY_CHARS)]}]}),
            json!({"targets": [{"variation": 0, "values": ["a", "k".repeat(MAX_CONTEXT_KEY_CHARS + 1)]}]}),
        ),
        (
            "rules",
            code::TOO_MANY,
            json!({"rules": strings(MAX_RULES, 3).iter().map(|id| json!({"id": id, "clauses": [], "serve": {"variation": 0}})).collect::<Vec<_>>()}),
            json!({"rules": strings(MAX_RULES + 1, 3).iter().map(|id| json!({"id": id, "clauses": [], "serve": {"variation": 0}})).collect::<Vec<_>>()}),
        ),
        (
            "rules[0].id",
            code::TOO_LONG,
            json!({"rules": [{"id": "r".repeat(MAX_RULE_ID_CHARS), "clauses": [], "serve": {"variation": 0}}]}),
            json!({"rules": [{"id": "r".repeat(MAX_RULE_ID_CHARS + 1), "clauses": [], "serve": {"variation": 0}}]}),
        ),
        (
            "rules[0].clauses",
            code::TOO_MANY,
            json!({"rules": [{"id": "r", "clauses": vec![json!({"attribute": "a", "operator": "in", "values": ["x"]}); MAX_CLAUSES], "serve": {"variation": 0}}]}),
            json!({"rules": [{"id": "r", "clauses": vec![json!({"attribute": "a", "operator": "in", "values": ["x"]}); MAX_CLAUSES + 1], "serve": {"variation": 0}}]}),
        ),
        (
            "rules[0].clauses[0].values",
            code::TOO_MANY,
            json!({"rules": [{"id": "r", "clauses": [{"attribute": "a", "operator": "in", "values": strings(MAX_CLAUSE_VALUES, 4)}], "serve": {"variation": 0}}]}),
            json!({"rules": [{"id": "r", "clauses": [{"attribute": "a", "operator": "in", "values": strings(MAX_CLAUSE_VALUES + 1, 4)}], "serve": {"variation": 0}}]}),
        ),
    ];
    for (field, code, at, over) in cases {
        assert_eq!(flag_errors(&flag(at)), [], "{field} at its limit");
        assert_eq!(flag_errors(&flag(over)), one(field, code), "{field} over");
    }
    // Prerequisites are counted before they are looked up.
    let prereqs: Vec<Value> = (0..=MAX_PREREQUISITES)
        .map(|i| json!({"flag": format!("p{i}"), "variation": 0}))
        .collect();
    let f = flag(json!({ "prerequisites": prereqs }));
    assert_eq!(flag_errors(&f), one("prerequisites", code::TOO_MANY));

    let s = segment(json!({"included": strings(MAX_SEGMENT_KEYS / 2, 5),
                           "excluded": strings(MAX_SEGMENT_KEYS / 2 + 1, 6)}));
    assert_eq!(segment_errors(&s), one("excluded", code::TOO_MANY));
    let s = segment(json!({"description": "d".repeat(MAX_DESCRIPTION_CHARS + 1)}));
    assert_eq!(segment_errors(&s), one("description", code::TOO_LONG));
}

#[test]
fn an_oversized_list_gets_one_error_not_one_per_element() {
    let f = flag(json!({
        "variations": (0..50_000).map(|_| json!({"value": 7})).collect::<Vec<_>>(),
        "tags": vec![""; 20_000],
    }));
    assert_eq!(
        flag_errors(&f),
        [
            ("variations".to_owned(), code::TOO_MANY.to_owned()),
            ("tags".to_owned(), code::TOO_MANY.to_owned()),
        ]
    );
}

#[test]
fn the_state_machine_still_accepts_what_it_accepted_before() {
    // Stored data from before the limits must load, replay and roll back.
    let f = flag(json!({
        "variations": [{"value": "a"}, {"value": "a"}],
        "description": "d".repeat(900_000),
    }));
    assert!(validate_flag(&f, &FlagSet::default()).is_empty());
    let s = segment(json!({"included": ["a"], "excluded": ["a"]}));
    assert!(validate_segment(&s, &FlagSet::default()).is_empty());
}

#[test]
fn every_input_code_is_distinct_from_the_state_machines() {
    for c in code::INPUT {
        assert!(!code::ALL.contains(&c), "{c}");
    }
}

#[test]
fn a_context_value_that_is_not_a_scalar_or_list_of_strings_names_its_attribute() {
    let err = |v: Value| {
        serde_json::from_value::<Context>(v)
            .unwrap_err()
            .to_string()
    };
    let m = err(json!({"key": "u", "plan": {"tier": "pro"}}));
    assert!(
        m.contains("attribute \"plan\"") && m.contains("nested objects"),
        "{m}"
    );
    let m = err(json!({"key": "u", "groups": ["a", 1]}));
    assert!(
        m.contains("attribute \"groups\"") && m.contains("only strings"),
        "{m}"
    );
    let m = err(json!({"key": 7}));
    assert!(m.contains("string"), "{m}");

    let ctx: Context = serde_json::from_value(json!({
        "key": "u", "n": 3, "f": 1.5, "b": false, "s": "x", "l": ["y"], "gone": null,
    }))
    .unwrap();
    assert_eq!(ctx.key, "u");
    assert_eq!(ctx.attributes.len(), 5);
    assert_eq!(
        serde_json::to_value(&ctx).unwrap(),
        json!({"key": "u", "b": false, "f": 1.5, "l": ["y"], "n": 3.0, "s": "x"})
    );
    let v: vexil_flags::AttrValue = serde_json::from_value(json!(["a"])).unwrap();
    assert_eq!(v, vexil_flags::AttrValue::List(vec!["a".into()]));
    assert!(serde_json::from_value::<vexil_flags::AttrValue>(json!({})).is_err());
}
