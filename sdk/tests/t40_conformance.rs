//! The shared SDK conformance suite (`sdk/conformance/`, see its README),
//! run through the Rust SDK: each suite's state is written as a cache file,
//! a client starts from it with every dial refused, and each case goes
//! through the typed getter of its kind and through `VexilProvider`. The
//! Python and Node.js SDKs run the same files.

// Test helpers outside #[test] fns may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use open_feature::provider::{FeatureProvider, ResolutionDetails};
use open_feature::{EvaluationContext, EvaluationContextFieldValue, EvaluationResult};
use serde::Deserialize;
use serde_json::{Value, json};
use vexil_sdk::openfeature::VexilProvider;
use vexil_sdk::{Client, Context};

/// Every dial is refused, as when every node is down.
#[derive(Debug)]
struct Refused;

impl vexil_sdk::Connector for Refused {
    fn connect(
        &self,
        _addr: &str,
    ) -> BoxFuture<'static, std::io::Result<Box<dyn vexil_sdk::client_io::Io>>> {
        Box::pin(async { Err(std::io::ErrorKind::ConnectionRefused.into()) })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    description: String,
    suites: Vec<Suite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Suite {
    name: String,
    /// A `StateSnapshot`; `null`: the client has no state at all.
    state: Option<Value>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    flag: String,
    kind: String,
    default: Value,
    context: Value,
    expected: Value,
    openfeature: Value,
    #[serde(default)]
    note: Option<String>,
}

fn conformance_dir() -> PathBuf {
    manifest_dir().join("conformance")
}

/// This package's directory: from the test runner (cargo and nextest set it
/// at run time), else as compiled.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn case_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(conformance_dir().join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> File {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The conformance rules for a context given as JSON: `null` is the empty
/// context, anything the core's decoder refuses is `INVALID_CONTEXT`.
fn context(json: &Value) -> Option<Context> {
    match json {
        Value::Null => Some(Context::default()),
        other => serde_json::from_value(other.clone()).ok(),
    }
}

/// Numbers compare by value (`3` equals `3.0`), everything else exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The typed getter's detail, as the case file writes it.
fn sdk_result(client: &Client, case: &Case) -> Value {
    let Some(ctx) = context(&case.context) else {
        return json!({"value": case.default, "variation": null, "variation_name": null,
            "reason": {"kind": "ERROR", "error_kind": "INVALID_CONTEXT"}, "in_rollout": false});
    };
    macro_rules! detail {
        ($d:expr) => {{
            let d = $d;
            json!({"value": d.value, "variation": d.variation, "variation_name": d.variation_name,
                "reason": d.reason, "in_rollout": d.in_rollout})
        }};
    }
    let key = case.flag.as_str();
    match case.kind.as_str() {
        "boolean" => detail!(client.bool_detail(key, &ctx, case.default.as_bool().unwrap())),
        "string" => detail!(client.string_detail(key, &ctx, case.default.as_str().unwrap())),
        "number" => detail!(client.number_detail(key, &ctx, case.default.as_f64().unwrap())),
        "json" => detail!(client.json_detail(key, &ctx, case.default.clone())),
        other => panic!("{}: unknown kind {other:?}", case.name),
    }
}

/// The case's context as OpenFeature's: `key` is the targeting key; `None`
/// when it cannot be written as one (an `INVALID_CONTEXT` case).
fn of_context(json: &Value) -> Option<EvaluationContext> {
    let mut ctx = EvaluationContext::default();
    let Value::Object(map) = json else {
        return json.is_null().then_some(ctx);
    };
    for (name, v) in map {
        ctx = match (name.as_str(), v) {
            ("key", Value::String(k)) => ctx.with_targeting_key(k.as_str()),
            ("key", _) => return None,
            (_, Value::Null) => ctx,
            (_, Value::Bool(b)) => ctx.with_custom_field(name.as_str(), *b),
            (_, Value::String(s)) => ctx.with_custom_field(name.as_str(), s.as_str()),
            (_, Value::Number(n)) => match n.as_i64() {
                Some(i) => ctx.with_custom_field(name.as_str(), i),
                None => ctx.with_custom_field(name.as_str(), n.as_f64()?),
            },
            (_, Value::Array(items)) => {
                let list: Option<Vec<String>> = items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect();
                let field = EvaluationContextFieldValue::new_struct(list?);
                ctx.with_custom_field(name.as_str(), field)
            }
            (_, Value::Object(_)) => return None,
        };
    }
    Some(ctx)
}

fn of_answer<T: serde::Serialize>(r: EvaluationResult<ResolutionDetails<T>>, case: &Case) -> Value {
    let of_type = &case.openfeature["type"];
    match r {
        Ok(d) => json!({"type": of_type, "value": d.value, "variant": d.variant,
            "reason": d.reason.map(|r| r.to_string())}),
        Err(e) => json!({"type": of_type, "value": case.default,
            "error_code": e.code.to_string()}),
    }
}

/// The provider's answer, as the case file writes it; `None` for a context
/// OpenFeature's Rust types cannot hold.
async fn of_result(provider: &VexilProvider, case: &Case) -> Option<Value> {
    let ctx = of_context(&case.context)?;
    let key = case.flag.as_str();
    Some(match case.openfeature["type"].as_str().unwrap() {
        "boolean" => of_answer(provider.resolve_bool_value(key, &ctx).await, case),
        "string" => of_answer(provider.resolve_string_value(key, &ctx).await, case),
        "float" => of_answer(provider.resolve_float_value(key, &ctx).await, case),
        "integer" => of_answer(provider.resolve_int_value(key, &ctx).await, case),
        "object" => {
            let r = provider.resolve_struct_value(key, &ctx).await;
            let r = r.map(|d| ResolutionDetails {
                value: struct_json(d.value),
                variant: d.variant,
                reason: d.reason,
                flag_metadata: d.flag_metadata,
            });
            of_answer(r, case)
        }
        other => panic!("{}: unknown OpenFeature type {other:?}", case.name),
    })
}

fn struct_json(s: open_feature::StructValue) -> Value {
    fn value(v: open_feature::Value) -> Value {
        match v {
            open_feature::Value::Bool(b) => json!(b),
            open_feature::Value::Int(i) => json!(i),
            open_feature::Value::Float(f) => json!(f),
            open_feature::Value::String(s) => json!(s),
            open_feature::Value::Array(a) => Value::Array(a.into_iter().map(value).collect()),
            open_feature::Value::Struct(s) => struct_json(s),
        }
    }
    Value::Object(s.fields.into_iter().map(|(k, v)| (k, value(v))).collect())
}

/// Runs one suite; returns a line per failing check.
async fn run_suite(suite: &Suite, dir: &Path) -> Vec<String> {
    let mut b = Client::builder(["http://node-a:7070"], "sdk-token")
        .connector(Arc::new(Refused))
        .seed(1);
    if let Some(state) = &suite.state {
        let path = dir.join("cache.json");
        let snap = serde_json::from_value(state.clone())
            .unwrap_or_else(|e| panic!("{}: state: {e}", suite.name));
        vexil_sdk::write_cache_file(&path, &snap).unwrap();
        b = b.cache_file(path);
    }
    let client = b.build().unwrap();
    let provider = VexilProvider::new(client.clone());
    let mut failures = Vec::new();
    for case in &suite.cases {
        let mut what = format!("{} / {}", suite.name, case.name);
        if let Some(note) = &case.note {
            what = format!("{what} ({note})");
        }
        let got = sdk_result(&client, case);
        if !same(&got, &case.expected) {
            failures.push(format!(
                "{what}\n    expected {}\n    got      {got}",
                case.expected
            ));
        }
        // The `null` in a case's `openfeature.value` comes from
        // `Option<Value>`: compare the provider only where it answers.
        if let Some(got) = of_result(&provider, case).await
            && !same(&got, &case.openfeature)
        {
            failures.push(format!(
                "{what} (OpenFeature)\n    expected {}\n    got      {got}",
                case.openfeature
            ));
        }
    }
    failures
}

#[tokio::test(start_paused = true)]
async fn t40_every_case_through_the_client_and_the_provider() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for path in case_files() {
        let file = load(&path);
        assert!(!file.description.is_empty(), "{}", path.display());
        for suite in &file.suites {
            let dir = tempfile::tempdir().unwrap();
            cases += suite.cases.len();
            failures.extend(run_suite(suite, dir.path()).await);
        }
    }
    assert!(cases > 150, "only {cases} cases found");
    assert!(
        failures.is_empty(),
        "{} of {cases} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn t40_context_conversion_follows_the_table() {
    let text = std::fs::read_to_string(conformance_dir().join("context_conversion.json")).unwrap();
    let table: Value = serde_json::from_str(&text).unwrap();
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() > 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let got = match context(&case["context"]) {
            Some(ctx) => {
                let attributes: serde_json::Map<String, Value> = ctx
                    .attributes
                    .iter()
                    .map(|(n, v)| (n.to_owned(), serde_json::to_value(v).unwrap()))
                    .collect();
                json!({"key": ctx.key, "attributes": attributes})
            }
            None => json!("INVALID_CONTEXT"),
        };
        assert!(
            same(&got, &case["expected"]),
            "{name}: expected {}, got {got}",
            case["expected"]
        );
    }
}

/// Every evaluator fixture, and every golden bucket, is in the suite, and
/// every reason and error path is covered.
#[test]
fn t40_the_suite_is_complete() {
    let files: Vec<File> = case_files().iter().map(|p| load(p)).collect();
    let suites: BTreeSet<&str> = files
        .iter()
        .flat_map(|f| &f.suites)
        .map(|s| s.name.as_str())
        .collect();
    let fixtures = manifest_dir().join("../flags/tests/fixtures");
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let cases: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for c in cases {
            let name = format!("{file}: {}", c["name"].as_str().unwrap());
            assert!(
                suites.contains(name.as_str()),
                "fixture {name:?} is not in sdk/conformance: run python3 sdk/conformance/generate.py"
            );
        }
    }
    let all: Vec<&Case> = files
        .iter()
        .flat_map(|f| &f.suites)
        .flat_map(|s| &s.cases)
        .collect();
    let reasons: BTreeSet<String> = all
        .iter()
        .map(|c| {
            let r = &c.expected["reason"];
            format!("{}/{}", r["kind"].as_str().unwrap(), r["error_kind"])
        })
        .collect();
    for want in [
        "OFF/null",
        "TARGET_MATCH/null",
        "RULE_MATCH/null",
        "PREREQUISITE_FAILED/null",
        "FALLTHROUGH/null",
        "ERROR/\"FLAG_NOT_FOUND\"",
        "ERROR/\"MALFORMED_FLAG\"",
        "ERROR/\"WRONG_TYPE\"",
        "ERROR/\"CLIENT_NOT_READY\"",
        "ERROR/\"INVALID_CONTEXT\"",
    ] {
        assert!(reasons.contains(want), "no case expects {want}");
    }
    let of: BTreeSet<&str> = all
        .iter()
        .filter_map(|c| {
            let o = &c.openfeature;
            o["reason"].as_str().or(o["error_code"].as_str())
        })
        .collect();
    for want in [
        "STATIC",
        "TARGETING_MATCH",
        "SPLIT",
        "DISABLED",
        "DEFAULT",
        "FLAG_NOT_FOUND",
        "PARSE_ERROR",
        "TYPE_MISMATCH",
        "TARGETING_KEY_MISSING",
        "INVALID_CONTEXT",
        "PROVIDER_NOT_READY",
    ] {
        assert!(of.contains(want), "no case expects OpenFeature {want}");
    }
    for kind in ["boolean", "string", "number", "json"] {
        assert!(all.iter().any(|c| c.kind == kind), "no {kind} case");
    }
}
