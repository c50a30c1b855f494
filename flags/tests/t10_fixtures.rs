//! Evaluation fixtures: `tests/fixtures/*.json`, each a list of cases
//! `{name, flags, segments?, flag, context, expected}`. Every case of a file
//! runs and every failing case is reported by name.

// Test helpers outside #[test] fns may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use test_case::test_case;
use vexil_flags::{Context, Flag, FlagSet, Operator, OwnedReason, Segment};

/// One evaluation case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    flags: Vec<Flag>,
    #[serde(default)]
    segments: Vec<Segment>,
    /// The key evaluated.
    flag: String,
    context: Context,
    expected: Expected,
}

/// What evaluation must return.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    /// `null` when no value is served.
    value: Value,
    variation: Option<usize>,
    reason: OwnedReason,
    #[serde(default)]
    in_rollout: bool,
}

const FILES: [&str; 4] = [
    "operators.json",
    "reasons.json",
    "rollouts.json",
    "segments.json",
];

fn fixtures_dir() -> PathBuf {
    manifest_dir().join("tests/fixtures")
}

fn load(file: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures_dir().join(file)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn run(case: &Case) -> Result<(), String> {
    let set = FlagSet::from_parts(case.flags.clone(), case.segments.clone());
    let detail = set.evaluate(&case.flag, &case.context);
    let actual = Expected {
        value: detail.value.cloned().unwrap_or(Value::Null),
        variation: detail.variation,
        reason: OwnedReason::from(detail.reason),
        in_rollout: detail.in_rollout,
    };
    if actual == case.expected {
        Ok(())
    } else {
        Err(format!(
            "{}\n    expected {:?}\n    got      {:?}",
            case.name, case.expected, actual
        ))
    }
}

#[test_case("operators.json")]
#[test_case("reasons.json")]
#[test_case("rollouts.json")]
#[test_case("segments.json")]
fn fixture_file(file: &str) {
    let cases = load(file);
    assert!(!cases.is_empty(), "{file} has no cases");
    let failures: Vec<String> = cases.iter().filter_map(|c| run(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{file}: {} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_file_is_run() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    let listed: BTreeSet<String> = FILES.iter().map(|f| f.to_string()).collect();
    assert_eq!(
        on_disk, listed,
        "add new fixture files to FILES and the test_case list"
    );
}

#[test]
fn fixtures_cover_every_operator_reason_and_option() {
    let cases: Vec<Case> = FILES.iter().flat_map(|f| load(f)).collect();
    let flag_clauses = cases.iter().flat_map(|c| &c.flags).flat_map(|f| &f.rules);
    let segment_rules = cases
        .iter()
        .flat_map(|c| &c.segments)
        .flat_map(|s| &s.rules);
    let clauses: Vec<_> = (flag_clauses.flat_map(|r| &r.clauses))
        .chain(segment_rules.flat_map(|r| &r.clauses))
        .collect();
    let operators: BTreeSet<String> = clauses
        .iter()
        .map(|c| format!("{:?}", c.operator))
        .collect();
    for op in Operator::ALL {
        assert!(
            operators.contains(&format!("{op:?}")),
            "no fixture uses {op:?}"
        );
    }
    assert!(clauses.iter().any(|c| c.negate), "no fixture uses negate");
    assert!(
        clauses.iter().any(|c| c.case_insensitive),
        "no fixture uses case_insensitive"
    );

    let reasons: BTreeSet<String> = cases
        .iter()
        .map(|c| serde_json::to_value(&c.expected.reason).unwrap())
        .map(|r| format!("{} {}", r["kind"], r["error_kind"]))
        .collect();
    for kind in [
        "OFF",
        "TARGET_MATCH",
        "RULE_MATCH",
        "PREREQUISITE_FAILED",
        "FALLTHROUGH",
    ] {
        assert!(
            reasons.contains(&format!("\"{kind}\" null")),
            "no fixture expects {kind}"
        );
    }
    for error in ["FLAG_NOT_FOUND", "MALFORMED_FLAG"] {
        assert!(
            reasons.contains(&format!("\"ERROR\" \"{error}\"")),
            "no fixture expects {error}"
        );
    }
    let in_rollout = cases.iter().filter(|c| c.expected.in_rollout).count();
    assert!(in_rollout > 0, "no fixture expects in_rollout");
}

/// This package's directory: from the test runner (cargo and nextest set it
/// at run time), else as compiled. A binary reused from a shared target
/// directory may have been compiled in another clone, since removed.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
