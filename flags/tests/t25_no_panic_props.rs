//! Evaluation never panics: structurally random flags (out-of-range indexes,
//! bad weights, unparseable values, prerequisite cycles, nested segments)
//! evaluated for random contexts. Keys come from a small pool so flags
//! reference each other and form cycles often.

// Test helpers outside #[test] fns may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Value, json};
use vexil_flags::{
    AttrValue, BucketHash, Clause, Context, EvaluationDetail, Flag, FlagKind, FlagSet, Operator,
    Prerequisite, Reason, Rollout, Rule, Segment, SegmentRule, Serve, Target, Variation,
    WeightedVariation, validate_flag, validate_segment,
};

const KEYS: [&str; 4] = ["a", "b", "c", "d"];
const ATTRS: [&str; 9] = [
    "key", "country", "age", "groups", "version", "ip", "t", "missing", "",
];
/// Attribute strings that some clause value can match.
const ATTR_STRINGS: [&str; 8] = [
    "NZ",
    "a",
    "1.2.0",
    "2.0.0",
    "10.1.2.3",
    "::1",
    "2023-01-01T00:00:00Z",
    "Nab",
];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned)
}

/// Mostly in range (flags mostly have 2–3 variations), sometimes not.
fn index() -> impl Strategy<Value = usize> {
    prop_oneof![9 => 0usize..2, 1 => 0usize..5]
}

/// Values that suit `op`, with some garbage mixed in.
fn clause_value(op: Operator) -> impl Strategy<Value = Value> {
    use Operator::*;
    let fitting = match op {
        In => vec![json!("NZ"), json!("a"), json!(1), json!(true)],
        StartsWith | EndsWith | Contains => vec![json!("N"), json!("a"), json!("")],
        Matches => vec![json!("^a"), json!("Z$"), json!("\\d")],
        Lt | Lte | Gt | Gte => vec![json!(1), json!(-2.5), json!(30)],
        Before | After => vec![json!("2024-01-01T00:00:00Z"), json!(1_700_000_000_000_i64)],
        SemverEq | SemverLt | SemverGt => vec![json!("1.2"), json!("2.0.0-rc.1")],
        InCidr => vec![json!("10.0.0.0/8"), json!("::1")],
        SegmentMatch => KEYS.iter().map(|k| json!(k)).collect(),
    };
    let garbage = vec![
        json!("("),
        json!(null),
        json!([1]),
        json!("x.y.z"),
        json!(false),
    ];
    prop_oneof![19 => prop::sample::select(fitting), 1 => prop::sample::select(garbage)]
}

fn variation_value() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!(true),
        json!(false),
        json!("s"),
        json!(1),
        json!(null),
    ])
}

fn clause() -> impl Strategy<Value = Clause> {
    let op = prop::sample::select(Operator::ALL.to_vec());
    op.prop_flat_map(|operator| {
        let attr = prop::sample::select(ATTRS.to_vec());
        let values = prop::collection::vec(clause_value(operator), 0..3);
        (attr, values, any::<bool>(), any::<bool>()).prop_map(move |(a, values, negate, ci)| {
            Clause {
                attribute: a.into(),
                operator,
                values,
                negate,
                case_insensitive: ci,
            }
        })
    })
}

fn serve() -> impl Strategy<Value = Serve> {
    let slices = prop::collection::vec((index(), 0u32..=100_000), 0..3);
    let half =
        (index(), index(), 0u32..=100_000).prop_map(|(a, b, w)| vec![(a, w), (b, 100_000 - w)]);
    let rollout = (
        prop_oneof![1 => slices, 3 => half],
        prop::sample::select(ATTRS.to_vec()),
        any::<Option<String>>(),
    )
        .prop_map(|(slices, bucket_by, seed)| {
            let variations = (slices.into_iter())
                .map(|(variation, weight)| WeightedVariation { variation, weight })
                .collect();
            Serve::Rollout(Rollout {
                variations,
                bucket_by: bucket_by.into(),
                seed,
                hash: BucketHash::Vexil,
            })
        });
    prop_oneof![2 => index().prop_map(Serve::Variation), 1 => rollout]
}

fn flag() -> impl Strategy<Value = Flag> {
    let kind = prop_oneof![
        1 => prop::sample::select(vec![FlagKind::Boolean, FlagKind::String, FlagKind::Number]),
        3 => Just(FlagKind::Json),
    ];
    let variations = prop_oneof![
        9 => prop::collection::vec(variation_value(), 2..4),
        1 => prop::collection::vec(variation_value(), 0..2),
    ];
    let targets = prop::collection::vec((index(), prop::collection::vec(key(), 0..3)), 0..2);
    let rule = (".{0,3}", prop::collection::vec(clause(), 0..3), serve());
    let rules = prop::collection::vec(rule, 0..3);
    let prereqs = prop::collection::vec((key(), index()), 0..3);
    (
        key(),
        kind,
        variations,
        any::<bool>(),
        index(),
        targets,
        rules,
        serve(),
        prereqs,
        ".{0,4}",
    )
        .prop_map(
            |(key, kind, vs, enabled, off, targets, rules, fallthrough, prereqs, salt)| Flag {
                key,
                kind,
                enabled,
                off_variation: off,
                fallthrough,
                salt,
                variations: vs
                    .into_iter()
                    .map(|value| Variation {
                        value,
                        name: None,
                        description: String::new(),
                    })
                    .collect(),
                targets: targets
                    .into_iter()
                    .map(|(variation, values)| Target { variation, values })
                    .collect(),
                rules: (rules.into_iter())
                    .map(|(id, clauses, serve)| Rule {
                        id,
                        description: String::new(),
                        clauses,
                        serve,
                    })
                    .collect(),
                prerequisites: prereqs
                    .into_iter()
                    .map(|(flag, variation)| Prerequisite { flag, variation })
                    .collect(),
                name: String::new(),
                description: String::new(),
                tags: vec![],
                version: 0,
                created_at: None,
                updated_at: None,
                updated_by: None,
            },
        )
}

fn segment() -> impl Strategy<Value = Segment> {
    let keys = || prop::collection::vec(key(), 0..3);
    let rules = prop::collection::vec(prop::collection::vec(clause(), 0..3), 0..3);
    (key(), keys(), keys(), rules).prop_map(|(key, included, excluded, rules)| Segment {
        key,
        included,
        excluded,
        rules: rules
            .into_iter()
            .map(|clauses| SegmentRule {
                id: String::new(),
                clauses,
            })
            .collect(),
        name: String::new(),
        description: String::new(),
        version: 0,
        created_at: None,
        updated_at: None,
        updated_by: None,
    })
}

fn context() -> impl Strategy<Value = Context> {
    let value = prop_oneof![
        any::<bool>().prop_map(AttrValue::Bool),
        any::<f64>().prop_map(AttrValue::Number),
        prop_oneof![
            prop::sample::select(ATTR_STRINGS.to_vec()).prop_map(str::to_owned),
            ".{0,8}"
        ]
        .prop_map(AttrValue::String),
        prop::collection::vec(".{0,4}", 0..3).prop_map(AttrValue::List),
    ];
    let attrs = prop::collection::btree_map(
        prop::sample::select(ATTRS[1..].to_vec()).prop_map(str::to_owned),
        value,
        0..6,
    );
    (key(), attrs).prop_map(|(key, attributes)| Context {
        key,
        attributes: attributes.into_iter().collect(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn evaluation_never_panics_and_is_self_consistent(
        flags in prop::collection::vec(flag(), 1..5),
        segments in prop::collection::vec(segment(), 0..3),
        ctx in context(),
    ) {
        let set = FlagSet::from_parts(flags, segments);
        let all_valid = set.flags().all(|f| validate_flag(f.flag(), &set).is_empty())
            && set.segments().all(|s| validate_segment(s.segment(), &set).is_empty());
        for (key, detail) in set.evaluate_all(&ctx) {
            let flag = set.get_flag(key).unwrap().flag();
            match detail.variation {
                Some(v) => prop_assert_eq!(detail.value, Some(&flag.variations[v].value)),
                None => prop_assert_eq!(detail.value, None),
            }
            if all_valid {
                let errored = matches!(detail.reason, Reason::Error(_));
                prop_assert!(!errored, "valid set gave {:?}", detail);
            }
            let owned = detail.to_owned_detail(flag);
            let json = serde_json::to_string(&owned).unwrap();
            let back: EvaluationDetail = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, owned);
        }
    }
}
