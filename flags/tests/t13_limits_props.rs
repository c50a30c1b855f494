//! The resource limits of issue 21: the regex budget of a flag or segment,
//! the state's limits, and what a context may hold. Property tests put
//! random sizes around each limit and check that input is accepted iff it
//! is within; the rest checks that stored data over a budget still loads.

// Test helpers outside #[test] fns may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::{Value, json};
use vexil_flags::limits::{
    MAX_ATTRIBUTE_BYTES, MAX_CONTEXT_BYTES, MAX_FLAGS, MAX_REGEX_BYTES, MAX_STATE_BYTES,
};
use vexil_flags::validate::code;
use vexil_flags::{
    AttrValue, Catalog, CompiledFlag, Context, Flag, FlagSet, Reason, Segment, StateUsage, Stored,
    validate_context, validate_flag, validate_flag_input, validate_segment_input,
};

/// A string flag serving "hit" when any of `clauses` (one rule each) matches.
fn flag_with(clauses: Vec<Value>) -> Flag {
    let rules: Vec<Value> = (clauses.into_iter().enumerate())
        .map(|(i, c)| json!({"id": format!("r{i}"), "clauses": [c], "serve": {"variation": 1}}))
        .collect();
    serde_json::from_value(json!({
        "key": "f", "kind": "string", "enabled": true,
        "variations": [{"value": "miss"}, {"value": "hit"}],
        "off_variation": 0, "fallthrough": {"variation": 0}, "rules": rules,
    }))
    .unwrap()
}

fn matches(patterns: &[String], negate: bool) -> Value {
    json!({"attribute": "email", "operator": "matches", "values": patterns, "negate": negate})
}

/// What `pattern` takes compiled, as the budget counts it.
fn size_of(pattern: &str) -> usize {
    CompiledFlag::new(Arc::new(flag_with(vec![matches(
        &[pattern.to_owned()],
        false,
    )])))
    .regex_bytes()
}

fn codes(errors: &[vexil_flags::FieldError]) -> Vec<(&str, &str)> {
    (errors.iter())
        .map(|e| (e.field.as_str(), e.code.as_str()))
        .collect()
}

#[test]
fn a_simple_pattern_takes_kilobytes_and_the_budget_holds_dozens() {
    let email = size_of(r"^[a-z0-9._%+-]+@example\.com$");
    println!("an e-mail pattern takes {email} bytes compiled");
    assert!(email > 0 && email * 50 < MAX_REGEX_BYTES, "{email}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        rng_seed: RngSeed::Fixed(0x5eed_0021),
        ..ProptestConfig::default()
    })]

    /// `count` copies of a pattern of size `s` are accepted iff `count * s`
    /// fits the budget; the refusal names the first value that does not.
    #[test]
    fn patterns_are_accepted_iff_within_the_regex_budget(width in 8usize..64, delta in -3i64..=3) {
        let pattern = format!("^[a-z]{{{width}}}@[a-z0-9]+\\.(com|org|net)$");
        let size = size_of(&pattern);
        let fit = MAX_REGEX_BYTES / size;
        let count = usize::try_from(i64::try_from(fit).unwrap() + delta).unwrap().max(1);
        prop_assume!(count <= vexil_flags::limits::MAX_CLAUSE_VALUES);
        let flag = flag_with(vec![matches(&vec![pattern; count], false)]);
        let errors = validate_flag_input(&flag, &FlagSet::new());
        if count * size <= MAX_REGEX_BYTES {
            prop_assert!(errors.is_empty(), "{count} × {size}: {errors:?}");
        } else {
            let field = format!("rules[0].clauses[0].values[{fit}]");
            prop_assert_eq!(codes(&errors), vec![(field.as_str(), code::REGEX_BUDGET)]);
        }
    }

    /// A value is accepted iff it is at most MAX_ATTRIBUTE_BYTES, and a
    /// context iff it is at most MAX_CONTEXT_BYTES in all; the refusal names
    /// the attribute.
    #[test]
    fn contexts_are_accepted_iff_within_their_limits(
        value_len in (MAX_ATTRIBUTE_BYTES - 4)..(MAX_ATTRIBUTE_BYTES + 4),
        key_len in 0usize..(MAX_ATTRIBUTE_BYTES + 2),
        attrs in 0usize..12,
        as_list in any::<bool>(),
    ) {
        let mut ctx = Context::new("k".repeat(key_len));
        // Names `a00`, `a01`, … (3 bytes each); a list of n strings counts n more.
        let mut total = key_len;
        let mut first_over = (key_len > MAX_ATTRIBUTE_BYTES).then(|| "key".to_owned());
        for i in 0..attrs {
            let name = format!("a{i:02}");
            let (value, size) = if as_list && value_len >= 2 {
                let half = "x".repeat(value_len / 2 - 1);
                (AttrValue::List(vec![half.clone(), half]), value_len / 2 * 2)
            } else {
                (AttrValue::String("x".repeat(value_len)), value_len)
            };
            total += name.len() + size;
            if first_over.is_none() && (size > MAX_ATTRIBUTE_BYTES || total > MAX_CONTEXT_BYTES) {
                first_over = Some(name.clone());
            }
            ctx.attributes.insert(name, value);
        }
        match validate_context(&ctx) {
            Ok(()) => prop_assert_eq!(first_over, None),
            Err(e) => {
                prop_assert_eq!(Some(e.field.clone()), first_over);
                prop_assert_eq!(e.code.as_str(), code::TOO_LONG);
            }
        }
    }
}

#[test]
fn a_stored_flag_over_the_budget_loads_and_its_extra_patterns_never_match() {
    // Written before the budget: apply's validation still takes it.
    let big = r"^[a-z]{40}@[a-z0-9]+\.(com|org|net)$".to_owned();
    let count = MAX_REGEX_BYTES / size_of(&big) + 1;
    let flag = flag_with(vec![
        matches(&["@example\\.com$".to_owned()], false),
        matches(&vec![big.clone(); count], false),
        matches(&["nothing-like-this".to_owned()], true),
    ]);
    assert!(validate_flag(&flag, &FlagSet::new()).is_empty());
    let compiled = CompiledFlag::new(Arc::new(flag.clone()));
    assert_eq!(compiled.is_malformed(), None);
    let why = compiled.over_budget().unwrap();
    assert!(why.starts_with("rules[1].clauses[0].values["), "{why}");

    let set = FlagSet::from_parts(vec![flag], vec![]);
    let served = |email: &str| {
        let mut ctx = Context::new("u");
        ctx.attributes
            .insert("email".into(), AttrValue::String(email.into()));
        set.evaluate("f", &ctx).reason
    };
    // The first rule is within the budget and still matches.
    assert!(matches!(
        served("a@example.com"),
        Reason::RuleMatch { rule_index: 0, .. }
    ));
    // The second and third are past it: neither matches, negated or not.
    let address = format!("{}@x.org", "a".repeat(40));
    assert!(
        matches!(served(&address), Reason::Fallthrough),
        "{:?}",
        served(&address)
    );
}

#[test]
fn a_segment_over_the_budget_is_refused_naming_the_value() {
    let big = r"^[a-z]{40}@[a-z0-9]+\.(com|org|net)$".to_owned();
    let count = MAX_REGEX_BYTES / size_of(&big) + 1;
    let segment: Segment = serde_json::from_value(json!({
        "key": "s",
        "rules": [{"id": "r", "clauses": [matches(&vec![big; count], false)]}],
    }))
    .unwrap();
    let errors = validate_segment_input(&segment, &FlagSet::new());
    let field = format!("rules[0].clauses[0].values[{}]", count - 1);
    assert_eq!(codes(&errors), vec![(field.as_str(), code::REGEX_BUDGET)]);
}

/// A catalog reporting a state at the given usage.
struct Full(StateUsage);

impl Catalog for Full {
    fn flag(&self, _: &str) -> Option<&Flag> {
        None
    }
    fn segment(&self, _: &str) -> Option<&Segment> {
        None
    }
    fn usage_except(&self, _: Stored<'_>) -> Option<StateUsage> {
        Some(self.0)
    }
}

#[test]
fn a_full_state_refuses_new_flags_with_state_full() {
    let flag = flag_with(vec![]);
    let at = |flags, bytes| {
        let usage = StateUsage {
            flags,
            segments: 0,
            bytes,
        };
        codes(&validate_flag_input(&flag, &Full(usage)))
            .into_iter()
            .map(|(f, c)| (f.to_owned(), c.to_owned()))
            .collect::<Vec<_>>()
    };
    let full = vec![("key".to_owned(), code::STATE_FULL.to_owned())];
    assert_eq!(at(MAX_FLAGS - 1, 0), vec![]);
    assert_eq!(at(MAX_FLAGS, 0), full);
    assert_eq!(at(0, MAX_STATE_BYTES - 10_000), vec![]);
    assert_eq!(at(0, MAX_STATE_BYTES - 10), full);
}

#[test]
fn a_flag_set_counts_what_it_holds_and_a_replaced_flag_counts_once() {
    let mut set = FlagSet::new();
    set.upsert_flag(flag_with(vec![matches(&["a+".to_owned()], false)]));
    let one = set.usage();
    assert_eq!((one.flags, one.segments), (1, 0));
    assert!(one.bytes > 0);
    // The same key again: replaced, not added.
    set.upsert_flag(flag_with(vec![matches(&["a+".to_owned()], false)]));
    assert_eq!(set.usage(), one);
    // Replacing it is measured without it.
    let without = set.usage_except(Stored::Flag("f")).unwrap();
    assert_eq!((without.flags, without.bytes), (0, 0));
    set.remove_flag("f");
    assert_eq!(set.usage(), StateUsage::default());
}

#[test]
fn a_clone_is_a_snapshot_that_later_changes_do_not_touch() {
    let mut set = FlagSet::new();
    set.upsert_flag(flag_with(vec![]));
    let snapshot = set.clone();
    set.remove_flag("f");
    let mut other = flag_with(vec![]);
    other.key = "g".into();
    set.upsert_flag(other);
    assert!(snapshot.get_flag("f").is_some() && snapshot.get_flag("g").is_none());
    assert!(set.get_flag("f").is_none() && set.get_flag("g").is_some());
}
