//! Validation fixtures: `tests/fixtures/validation/*.json`, each a list of
//! cases `{name, flag | segment, catalog: {flags, segments}, expected_errors}`.
//! Each case must report exactly the expected set of `(field, code)` pairs.

// Test helpers outside #[test] fns may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Deserialize;
use vexil_flags::validate::code;
use vexil_flags::{CompiledFlag, CompiledSegment, Flag, FlagSet, Segment};
use vexil_flags::{validate_flag, validate_key, validate_segment};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// Exactly one of `flag` and `segment` is set.
    flag: Option<Flag>,
    segment: Option<Segment>,
    #[serde(default)]
    catalog: Catalog,
    expected_errors: Vec<Pair>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalog {
    #[serde(default)]
    flags: Vec<Flag>,
    #[serde(default)]
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pair {
    field: String,
    code: String,
}

fn dir() -> PathBuf {
    manifest_dir().join("tests/fixtures/validation")
}

fn load_all() -> Vec<(String, Case)> {
    let mut files: Vec<_> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        let file_cases: Vec<Case> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        cases.extend(file_cases.into_iter().map(|c| (file.clone(), c)));
    }
    assert!(!cases.is_empty(), "no validation fixtures found");
    cases
}

/// The `(field, code)` pairs reported for `case`.
fn reported(case: &Case) -> BTreeSet<Pair> {
    let catalog = FlagSet::from_parts(case.catalog.flags.clone(), case.catalog.segments.clone());
    let errors = match (&case.flag, &case.segment) {
        (Some(flag), None) => validate_flag(flag, &catalog),
        (None, Some(segment)) => validate_segment(segment, &catalog),
        _ => panic!("{}: set exactly one of flag and segment", case.name),
    };
    for e in &errors {
        assert!(
            !e.message.is_empty(),
            "{}: {} has no message",
            case.name,
            e.field
        );
    }
    let pairs = errors.iter().map(|e| Pair {
        field: e.field.clone(),
        code: e.code.clone(),
    });
    let set: BTreeSet<Pair> = pairs.collect();
    assert_eq!(
        set.len(),
        errors.len(),
        "{}: duplicate errors {errors:?}",
        case.name
    );
    set
}

#[test]
fn every_case_reports_exactly_its_expected_errors() {
    let mut failures = Vec::new();
    let cases = load_all();
    for (file, case) in &cases {
        let expected: BTreeSet<Pair> = case.expected_errors.iter().cloned().collect();
        let actual = reported(case);
        if actual != expected {
            let missing: Vec<_> = expected.difference(&actual).collect();
            let extra: Vec<_> = actual.difference(&expected).collect();
            failures.push(format!(
                "{file}: {}\n    missing {missing:?}\n    unexpected {extra:?}",
                case.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} validation cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn fixtures_cover_every_error_code() {
    let codes: BTreeSet<String> = load_all()
        .iter()
        .flat_map(|(_, c)| c.expected_errors.iter().map(|e| e.code.clone()))
        .collect();
    for c in code::ALL {
        assert!(codes.contains(c), "no validation fixture expects {c}");
    }
    for c in &codes {
        assert!(
            code::ALL.contains(&c.as_str()),
            "fixture expects unknown code {c}"
        );
    }
}

#[test]
fn whatever_validates_compiles() {
    for (_, case) in load_all()
        .iter()
        .filter(|(_, c)| c.expected_errors.is_empty())
    {
        if let Some(flag) = &case.flag {
            let compiled = CompiledFlag::new(flag.clone().into());
            assert_eq!(compiled.is_malformed(), None, "{}", case.name);
        }
        if let Some(segment) = &case.segment {
            let compiled = CompiledSegment::new(segment.clone().into());
            assert_eq!(compiled.is_malformed(), None, "{}", case.name);
        }
    }
}

#[test]
fn keys_are_1_to_128_chars_of_the_allowed_set() {
    assert_eq!(validate_key("key", "a-B_9.z"), None);
    assert_eq!(validate_key("key", &"k".repeat(128)), None);
    let e = validate_key("name", &"k".repeat(129)).unwrap();
    assert_eq!(
        (e.field.as_str(), e.code.as_str()),
        ("name", code::INVALID_KEY)
    );
    for bad in ["", "a b", "a/b", "ü", "a\n"] {
        assert!(validate_key("key", bad).is_some(), "{bad:?}");
    }
}

#[test]
fn field_errors_serialise_as_field_code_message() {
    let e = validate_key("key", "").unwrap();
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["field"], "key");
    assert_eq!(json["code"], "invalid_key");
    assert!(json["message"].is_string());
    assert_eq!(e.to_string(), format!("key: {} (invalid_key)", e.message));
}

/// This package's directory: from the test runner (cargo and nextest set it
/// at run time), else as compiled. A binary reused from a shared target
/// directory may have been compiled in another clone, since removed.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
