//! Operator trust (issue 20): input the API used to accept silently, errors
//! that named the wrong field, a reused idempotency key, and writes that
//! changed nothing but still made a version.

mod common;

use common::inproc::{ADMIN, Node};
use reqwest::Method;
use serde_json::{Value, json};

fn flag(key: &str) -> Value {
    common::bool_flag(key)
}

fn string_flag(key: &str, values: &[&str]) -> Value {
    let variations: Vec<Value> = values.iter().map(|v| json!({ "value": v })).collect();
    json!({
        "key": key,
        "kind": "string",
        "variations": variations,
        "off_variation": 0,
        "fallthrough": {"variation": 0},
    })
}

fn segment(key: &str) -> Value {
    json!({"key": key, "included": ["a"], "excluded": ["b"]})
}

/// The status and body of a response.
async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Asserts a 400 whose `field` is `field`.
async fn assert_400(r: reqwest::Response, field: &str) -> Value {
    let (status, v) = answer(r).await;
    let shown: String = v.to_string().chars().take(400).collect();
    assert_eq!(status, 400, "{shown}");
    assert_eq!(v["field"], field, "{shown}");
    v
}

async fn count(node: &Node, path: &str, list: &str) -> usize {
    let v: Value = node.get(path, ADMIN).await.json().await.unwrap();
    v[list].as_array().unwrap_or_else(|| panic!("{v}")).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t24_duplicate_variations_and_included_excluded_keys_are_refused() {
    let node = Node::start().await;
    let r = node
        .post("/v1/flags", &string_flag("dup", &["red", "blue", "red"]))
        .await;
    let v = assert_400(r, "variations[2].value").await;
    assert_eq!(v["errors"][0]["code"], "duplicate_variation", "{v}");

    let mut both = segment("both");
    both["excluded"] = json!(["b", "a"]);
    let v = assert_400(node.post("/v1/segments", &both).await, "excluded[1]").await;
    assert_eq!(v["errors"][0]["code"], "included_and_excluded", "{v}");

    // The same checks on replace.
    assert_eq!(node.post("/v1/segments", &segment("s")).await.status(), 201);
    let mut edit = segment("s");
    edit["version"] = json!(1);
    edit["excluded"] = json!(["a"]);
    let r = node
        .send(Method::PUT, "/v1/segments/s", Some(ADMIN), Some(&edit))
        .await;
    assert_400(r, "excluded[0]").await;
    assert_eq!(count(&node, "/v1/segments", "segments").await, 1);
    assert_eq!(count(&node, "/v1/flags", "flags").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t24_sizes_are_bounded_by_documented_limits() {
    use vexil_flags::limits;
    let node = Node::start().await;
    let names: Vec<String> = (0..50_000).map(|i| format!("v{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let r = node.post("/v1/flags", &string_flag("many", &refs)).await;
    let v = assert_400(r, "variations").await;
    assert_eq!(
        v["errors"].as_array().unwrap().len(),
        1,
        "one error, not 50,000"
    );
    assert_eq!(v["errors"][0]["code"], "too_many", "{v}");

    let mut tags = flag("tags");
    tags["tags"] = json!((0..20_000).map(|i| format!("t{i}")).collect::<Vec<_>>());
    assert_400(node.post("/v1/flags", &tags).await, "tags").await;

    let mut long = flag("long");
    long["description"] = json!("d".repeat(900_000));
    let v = assert_400(node.post("/v1/flags", &long).await, "description").await;
    assert_eq!(v["errors"][0]["code"], "too_long", "{v}");
    long["description"] = json!("");
    long["name"] = json!("n".repeat(limits::MAX_NAME_CHARS + 1));
    assert_400(node.post("/v1/flags", &long).await, "name").await;

    let mut seg = segment("big");
    seg["description"] = json!("d".repeat(limits::MAX_DESCRIPTION_CHARS + 1));
    assert_400(node.post("/v1/segments", &seg).await, "description").await;
    assert_eq!(count(&node, "/v1/flags", "flags").await, 0);

    // At the limits, accepted.
    let names: Vec<String> = (0..limits::MAX_VARIATIONS)
        .map(|i| format!("v{i}"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut at_limit = string_flag("at-limit", &refs);
    at_limit["tags"] = json!(
        (0..limits::MAX_TAGS)
            .map(|i| format!("{i:0>width$}", width = limits::MAX_TAG_CHARS))
            .collect::<Vec<_>>()
    );
    at_limit["description"] = json!("é".repeat(limits::MAX_DESCRIPTION_CHARS));
    at_limit["name"] = json!("n".repeat(limits::MAX_NAME_CHARS));
    let (status, v) = answer(node.post("/v1/flags", &at_limit).await).await;
    assert_eq!(status, 201, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t24_a_cursor_this_api_did_not_issue_is_a_400_naming_cursor() {
    let node = Node::start().await;
    for key in ["a", "b", "c"] {
        assert_eq!(node.post("/v1/flags", &flag(key)).await.status(), 201);
        assert_eq!(node.post("/v1/segments", &segment(key)).await.status(), 201);
    }
    for path in [
        "/v1/flags",
        "/v1/segments",
        "/v1/flags/a/versions",
        "/v1/segments/a/versions",
        "/v1/audit",
    ] {
        let r = node.get(&format!("{path}?cursor=garbage"), ADMIN).await;
        let v = assert_400(r, "cursor").await;
        assert!(!v["message"].as_str().unwrap().is_empty(), "{v}");
    }
    // The cursors the API hands out still page through everything.
    for (path, list) in [("/v1/flags", "flags"), ("/v1/segments", "segments")] {
        let first: Value = node
            .get(&format!("{path}?limit=2"), ADMIN)
            .await
            .json()
            .await
            .unwrap();
        let cursor = first["next_cursor"].as_str().unwrap();
        let next: Value = node
            .get(&format!("{path}?limit=2&cursor={cursor}"), ADMIN)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(next[list][0]["key"], "c", "{next}");
        assert!(next["next_cursor"].is_null(), "{next}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t24_errors_name_the_real_field_not_body_query_or_a_question_mark() {
    let node = Node::start().await;
    let mut no_fallthrough = flag("x");
    no_fallthrough
        .as_object_mut()
        .unwrap()
        .remove("fallthrough");
    assert_400(node.post("/v1/flags", &no_fallthrough).await, "fallthrough").await;

    let mut rule_without_serve = flag("x");
    rule_without_serve["rules"] = json!([{"id": "r", "clauses": []}]);
    let r = node.post("/v1/flags", &rule_without_serve).await;
    assert_400(r, "rules[0].serve").await;

    let mut bad_serve = flag("x");
    bad_serve["fallthrough"] = json!({"everyone": 0});
    assert_400(node.post("/v1/flags", &bad_serve).await, "fallthrough").await;
    bad_serve["fallthrough"] =
        json!({"rollout": {"variations": [{"variation": "one", "weight": 1}]}});
    let r = node.post("/v1/flags", &bad_serve).await;
    assert_400(r, "fallthrough.rollout.variations[0].variation").await;

    for (query, field) in [
        ("/v1/flags?limit=zero", "limit"),
        ("/v1/flags?enabled=maybe", "enabled"),
        ("/v1/flags?consistency=eventual", "consistency"),
        ("/v1/flags/x/versions?limit=-1", "limit"),
        ("/v1/audit?limit=ten", "limit"),
    ] {
        assert_400(node.get(query, ADMIN).await, field).await;
    }
    let r = node
        .post("/v1/flags/x/toggle", &json!({"enabled": "yes"}))
        .await;
    assert_400(r, "enabled").await;
    let r = node.post("/v1/flags/x/toggle", &json!({})).await;
    assert_400(r, "enabled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t24_a_nested_context_value_names_the_attribute() {
    let node = Node::start().await;
    assert_eq!(node.post("/v1/flags", &flag("f")).await.status(), 201);
    let body = json!({"flag": "f", "context": {"key": "u1", "plan": {"tier": "pro"}}});
    let v = assert_400(node.post("/v1/evaluate", &body).await, "context.plan").await;
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("\"plan\""), "{v}");
    assert!(message.contains("nested objects"), "{v}");
    assert!(!message.contains("untagged"), "{v}");

    let body = json!({"context": {"key": "u1", "groups": ["a", 1]}});
    let v = assert_400(node.post("/v1/evaluate", &body).await, "context.groups[1]").await;
    assert!(v["message"].as_str().unwrap().contains("strings"), "{v}");

    // What contexts may hold still evaluates.
    let body = json!({"flag": "f", "context": {"key": "u1", "plan": "pro", "age": 3,
        "beta": true, "groups": ["a"], "nickname": null}});
    let (status, v) = answer(node.post("/v1/evaluate", &body).await).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t24_an_idempotency_key_reused_with_another_body_is_422() {
    let node = Node::start().await;
    assert_eq!(node.post("/v1/flags", &flag("k")).await.status(), 201);
    let keyed = |path: &str, key: &str, body: Value| {
        node.http
            .post(format!("{}{path}", node.url))
            .bearer_auth(ADMIN)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let (status, first) = answer(
        keyed("/v1/flags/k/toggle", "key-1", json!({"enabled": false}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{first}");

    // The same body again is a retry: the first answer.
    let (status, again) = answer(
        keyed("/v1/flags/k/toggle", "key-1", json!({"enabled": false}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, &again), (200, &first));

    // Another body under the same key: refused, and nothing applied.
    for (path, body) in [
        ("/v1/flags/k/toggle", json!({"enabled": true})),
        ("/v1/flags", flag("other")),
    ] {
        let (status, v) = answer(keyed(path, "key-1", body).await.unwrap()).await;
        assert_eq!(status, 422, "{path}: {v}");
        assert_eq!(v["error"], "idempotency_key_reused", "{v}");
        assert_eq!(v["field"], "Idempotency-Key", "{v}");
    }
    let now: Value = node.get("/v1/flags/k", ADMIN).await.json().await.unwrap();
    assert_eq!(now["enabled"], false, "{now}");
    assert_eq!(now["version"], 2, "{now}");
    assert_eq!(node.get("/v1/flags/other", ADMIN).await.status(), 404);

    // The key is the caller's: another token may use it.
    let editor = node.token("editor", "editor").await;
    let r = node
        .http
        .post(format!("{}/v1/flags", node.url))
        .bearer_auth(&editor)
        .header("Idempotency-Key", "key-1")
        .json(&flag("other"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t24_a_toggle_to_the_current_state_writes_nothing_and_says_so() {
    let node = Node::start().await;
    assert_eq!(node.post("/v1/flags", &flag("t")).await.status(), 201);
    let r = node
        .post("/v1/flags/t/toggle", &json!({"enabled": true}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-vexil-unchanged"], "true");
    assert_eq!(r.headers()["etag"], "\"1\"");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["enabled"].as_bool(), v["version"].as_u64()),
        (Some(true), Some(1))
    );
    assert_eq!(count(&node, "/v1/flags/t/versions", "versions").await, 1);
    assert_eq!(
        count(&node, "/v1/audit?action=flag.toggle", "entries").await,
        0
    );

    // A real change still writes, and does not carry the header.
    let r = node
        .post("/v1/flags/t/toggle", &json!({"enabled": false}))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-vexil-unchanged").is_none());
    assert_eq!(count(&node, "/v1/flags/t/versions", "versions").await, 2);
    assert_eq!(
        node.post("/v1/flags/none/toggle", &json!({"enabled": true}))
            .await
            .status(),
        404
    );
}
