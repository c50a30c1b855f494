//! The OpenFeature provider through `open-feature`'s own client API, on a
//! client seeded from a cache file with no reachable node (local evaluation
//! only): every reason, every error code, the context mapping and status.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use open_feature::provider::{FeatureProvider, ProviderStatus};
use open_feature::{
    EvaluationContext, EvaluationContextFieldValue, EvaluationErrorCode, EvaluationReason,
    FlagMetadataValue, OpenFeature, StructValue,
};
use serde_json::json;
use vexil_sdk::Client;
use vexil_sdk::openfeature::VexilProvider;

/// Every dial is refused: evaluation is local only.
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

fn client(cache: Option<&std::path::Path>) -> Client {
    let mut b = Client::builder(["http://node-a:7070"], "sdk-token")
        .connector(Arc::new(Refused))
        .seed(1);
    if let Some(p) = cache {
        b = b.cache_file(p);
    }
    b.build().unwrap()
}

/// A cached state with a flag for every reason and type.
fn seeded(dir: &tempfile::TempDir) -> Client {
    let bools = json!([{"value": true, "name": "on"}, {"value": false, "name": "off"}]);
    let half = json!({"rollout": {"variations": [
        {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}});
    let state = json!({"id": 7, "segments": [], "flags": [
        {"key": "static", "kind": "boolean", "variations": bools, "enabled": true,
         "off_variation": 1, "fallthrough": {"variation": 0}, "version": 4},
        {"key": "disabled", "kind": "boolean", "variations": bools, "enabled": false,
         "off_variation": 1, "fallthrough": {"variation": 0}},
        {"key": "plan", "kind": "string", "enabled": true, "off_variation": 0,
         "variations": [{"value": "free"}, {"value": "gold", "name": "gold"}],
         "targets": [{"variation": 1, "values": ["vip"]}],
         "rules": [{"id": "beta", "serve": {"variation": 1},
                    "clauses": [{"attribute": "groups", "operator": "in", "values": ["beta"]}]}],
         "fallthrough": {"variation": 0}},
        {"key": "limit", "kind": "number", "enabled": true, "off_variation": 0,
         "variations": [{"value": 3}, {"value": 2.5}],
         "rules": [{"id": "nz", "serve": {"variation": 1},
                    "clauses": [{"attribute": "country", "operator": "in", "values": ["NZ"]}]}],
         "fallthrough": {"variation": 0}},
        {"key": "layout", "kind": "json", "enabled": true, "off_variation": 0,
         "variations": [{"value": {"cols": 2}}, {"value": {"cols": 3}}], "fallthrough": half},
    ]});
    let path = dir.path().join("cache.json");
    vexil_sdk::write_cache_file(&path, &serde_json::from_value(state).unwrap()).unwrap();
    client(Some(&path))
}

fn user(key: &str) -> EvaluationContext {
    EvaluationContext::default().with_targeting_key(key)
}

async fn api_with(provider: VexilProvider) -> open_feature::Client {
    let mut api = OpenFeature::default();
    api.set_provider(provider).await;
    api.create_client()
}

#[tokio::test(start_paused = true)]
async fn t20_every_type_and_reason_through_the_openfeature_client() {
    let dir = tempfile::tempdir().unwrap();
    let provider = VexilProvider::new(seeded(&dir));
    assert_eq!(provider.status(), ProviderStatus::STALE, "cached, no node");
    let of = api_with(provider).await;

    let d = of
        .get_bool_details("static", Some(&user("u1")), None)
        .await
        .unwrap();
    assert_eq!((d.value, d.variant.as_deref()), (true, Some("on")));
    assert_eq!(d.reason, Some(EvaluationReason::Static));
    assert_eq!(d.flag_metadata.values["version"], FlagMetadataValue::Int(4));
    let d = of
        .get_bool_details("disabled", Some(&user("u1")), None)
        .await
        .unwrap();
    assert_eq!((d.value, d.variant.as_deref()), (false, Some("off")));
    assert_eq!(d.reason, Some(EvaluationReason::Disabled));

    let d = of
        .get_string_details("plan", Some(&user("vip")), None)
        .await
        .unwrap();
    assert_eq!(
        (d.value.as_str(), d.reason),
        ("gold", Some(EvaluationReason::TargetingMatch))
    );
    let d = of
        .get_string_details("plan", Some(&user("u1")), None)
        .await
        .unwrap();
    assert_eq!(
        (d.value.as_str(), d.reason),
        ("free", Some(EvaluationReason::Default))
    );
    assert_eq!(
        d.variant.as_deref(),
        Some("0"),
        "an unnamed variation's index"
    );
    let groups = EvaluationContextFieldValue::new_struct(vec!["beta".to_owned()]);
    let beta = user("u2").with_custom_field("groups", groups);
    let d = of
        .get_string_details("plan", Some(&beta), None)
        .await
        .unwrap();
    assert_eq!(
        (d.value.as_str(), d.reason),
        ("gold", Some(EvaluationReason::TargetingMatch))
    );
    assert_eq!(
        d.flag_metadata.values["ruleId"],
        FlagMetadataValue::String("beta".into())
    );

    assert_eq!(
        of.get_int_value("limit", Some(&user("u1")), None)
            .await
            .unwrap(),
        3
    );
    let nz = user("u1").with_custom_field("country", "NZ");
    let d = of
        .get_float_details("limit", Some(&nz), None)
        .await
        .unwrap();
    assert_eq!(
        (d.value, d.reason),
        (2.5, Some(EvaluationReason::TargetingMatch))
    );

    let d = of
        .get_struct_details::<StructValue>("layout", Some(&user("u1")), None)
        .await
        .unwrap();
    assert!(d.value.fields.contains_key("cols"));
    assert_eq!(d.reason, Some(EvaluationReason::Split));
}

#[tokio::test(start_paused = true)]
async fn t21_every_error_code_reaches_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let of = api_with(VexilProvider::new(seeded(&dir))).await;
    let u1 = user("u1");
    let code = |r: Result<(), open_feature::EvaluationError>| r.unwrap_err().code;
    let missing = of.get_bool_value("nope", Some(&u1), None).await.map(drop);
    assert_eq!(code(missing), EvaluationErrorCode::FlagNotFound);
    let wrong = of
        .get_string_value("static", Some(&u1), None)
        .await
        .map(drop);
    assert_eq!(code(wrong), EvaluationErrorCode::TypeMismatch);
    let nz = user("u1").with_custom_field("country", "NZ");
    let fraction = of.get_int_value("limit", Some(&nz), None).await.map(drop);
    assert_eq!(
        code(fraction),
        EvaluationErrorCode::TypeMismatch,
        "2.5 is no integer"
    );
    let no_key = of
        .get_struct_details::<StructValue>("layout", None, None)
        .await
        .map(drop);
    assert_eq!(code(no_key), EvaluationErrorCode::TargetingKeyMissing);
    let reserved = user("u1").with_custom_field("key", "u1");
    let bad = of
        .get_bool_value("static", Some(&reserved), None)
        .await
        .map(drop);
    assert_eq!(code(bad), EvaluationErrorCode::InvalidContext);
    // A flag that does not depend on the key needs none.
    assert!(of.get_bool_value("static", None, None).await.unwrap());

    // No state at all: not ready, after `initialize` gave up waiting.
    let empty = VexilProvider::new(client(None)).init_timeout(Duration::from_millis(50));
    let of = api_with(empty).await;
    let not_ready = of.get_bool_value("static", Some(&u1), None).await.map(drop);
    assert_eq!(code(not_ready), EvaluationErrorCode::ProviderNotReady);
}
