//! API behaviour on one node: bad input, versions and conflicts, rollback
//! and restore, audit completeness, idempotency, references, pagination.

mod common;

use common::inproc::{ADMIN, Node};
use reqwest::Method;
use serde_json::{Value, json};

fn flag(key: &str) -> Value {
    common::bool_flag(key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t22_bad_input_is_a_4xx_naming_the_field() {
    let node = Node::start().await;
    let raw = |body: &'static str| {
        node.http
            .post(format!("{}/v1/flags", node.url))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = raw("{\"key\":").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "malformed_json");

    let mut bogus = flag("x");
    bogus["colour"] = json!("red");
    let v: Value = node.post("/v1/flags", &bogus).await.json().await.unwrap();
    assert_eq!(v["field"], "colour", "{v}");

    let mut wrong_type = flag("x");
    wrong_type["enabled"] = json!("yes");
    let v: Value = node
        .post("/v1/flags", &wrong_type)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["field"], "enabled", "{v}");

    let mut bad_rule = flag("bad key!");
    bad_rule["rules"] = json!([{"id": "r1", "clauses": [{"attribute": "email", "operator": "matches", "values": ["("]}], "serve": {"variation": 7}}]);
    bad_rule["fallthrough"] = json!({"rollout": {"variations": [{"variation": 0, "weight": 10}]}});
    let r = node.post("/v1/flags", &bad_rule).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for want in [
        "key",
        "rules[0].clauses[0].values[0]",
        "rules[0].serve",
        "fallthrough.rollout.variations",
    ] {
        assert!(
            fields.iter().any(|f| f.starts_with(want)),
            "missing {want} in {fields:?}"
        );
    }

    let mut missing_seg = flag("needs-seg");
    missing_seg["rules"] = json!([{"id": "r1", "clauses": [{"attribute": "key", "operator": "segment_match", "values": ["ghost"]}], "serve": {"variation": 0}}]);
    let v: Value = node
        .post("/v1/flags", &missing_seg)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        v["field"]
            .as_str()
            .unwrap()
            .starts_with("rules[0].clauses[0].values"),
        "{v}"
    );

    // Every time, as JSON: not a connection reset racing the answer.
    let mut huge = flag("huge");
    huge["description"] = json!("x".repeat(1 << 21));
    for _ in 0..10 {
        let r = node.post("/v1/flags", &huge).await;
        assert_eq!(r.status(), 413);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "payload_too_large", "{v}");
        assert_eq!(v["message"], "the request body is over the 1 MiB limit");
    }

    let r = node.get("/v1/nowhere", ADMIN).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    let r = node
        .send(Method::PATCH, "/v1/flags", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 405);
    let v: Value = node
        .get("/v1/flags?limit=zero", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["field"], "limit", "{v}");
    let v: Value = node
        .get("/v1/flags?colour=red", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["field"], "colour", "{v}");
    let v: Value = node
        .get("/v1/audit?since=yesterday", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["field"], "since", "{v}");

    // Nothing above was committed.
    let list: Value = node.get("/v1/flags", ADMIN).await.json().await.unwrap();
    assert!(list["flags"].as_array().unwrap().is_empty(), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t23_stale_version_gets_409_and_missing_version_428() {
    let node = Node::start().await;
    assert_eq!(node.post("/v1/flags", &flag("v")).await.status(), 201);
    let mut edit = flag("v");
    edit["name"] = json!("first edit");
    edit["version"] = json!(1);
    let r = node
        .send(Method::PUT, "/v1/flags/v", Some(ADMIN), Some(&edit))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let r = node
        .send(Method::PUT, "/v1/flags/v", Some(ADMIN), Some(&edit))
        .await;
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "version_conflict");
    let r = node
        .http
        .put(format!("{}/v1/flags/v", node.url))
        .bearer_auth(ADMIN)
        .header("If-Match", "\"2\"")
        .json(&flag("v"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "If-Match carries the version");
    let r = node
        .send(Method::PUT, "/v1/flags/v", Some(ADMIN), Some(&flag("v")))
        .await;
    assert_eq!(r.status(), 428);
    let r = node
        .send(Method::PUT, "/v1/flags/other", Some(ADMIN), Some(&edit))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t24_rollback_and_restore_after_delete() {
    let node = Node::start().await;
    let mut f = flag("rb");
    f["name"] = json!("one");
    node.post("/v1/flags", &f).await;
    f["name"] = json!("two");
    f["version"] = json!(1);
    node.send(Method::PUT, "/v1/flags/rb", Some(ADMIN), Some(&f))
        .await;
    let r = node
        .post("/v1/flags/rb/rollback", &json!({"version": 1}))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["name"].as_str(), v["version"].as_u64()),
        (Some("one"), Some(3))
    );
    let r = node
        .send(Method::DELETE, "/v1/flags/rb", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(node.get("/v1/flags/rb", ADMIN).await.status(), 404);
    let r = node
        .post("/v1/flags/rb/rollback", &json!({"version": 4}))
        .await;
    assert_eq!(r.status(), 404, "version 4 is the deletion itself");
    let r = node
        .post("/v1/flags/rb/rollback", &json!({"version": 2}))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["name"].as_str(), v["version"].as_u64()),
        (Some("two"), Some(5))
    );
    let versions: Value = node
        .get("/v1/flags/rb/versions", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "flag.restore",
            "flag.delete",
            "flag.rollback",
            "flag.update",
            "flag.create"
        ]
    );
    let one: Value = node
        .get("/v1/flags/rb/versions/2", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["state"]["name"], "two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t25_audit_has_one_entry_per_committed_change() {
    let node = Node::start().await;
    let editor = node.token("ed", "editor").await;
    let as_editor = |m: Method, p: &'static str, b: Option<Value>| {
        let node = &node;
        let editor = editor.clone();
        async move {
            node.send(m, p, Some(&editor), b.as_ref())
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        as_editor(Method::POST, "/v1/flags", Some(flag("a1"))).await,
        201
    );
    assert_eq!(
        as_editor(
            Method::POST,
            "/v1/flags/a1/toggle",
            Some(json!({"enabled": false}))
        )
        .await,
        200
    );
    assert_eq!(
        as_editor(Method::POST, "/v1/flags", Some(flag("a1"))).await,
        409,
        "rejected: no entry"
    );
    assert_eq!(
        as_editor(Method::POST, "/v1/segments", Some(json!({"key": "s1"}))).await,
        201
    );
    assert_eq!(as_editor(Method::DELETE, "/v1/flags/a1", None).await, 200);
    let all: Value = node.get("/v1/audit", ADMIN).await.json().await.unwrap();
    let entries = all["entries"].as_array().unwrap();
    // project.create(default) + token.create(admin) + token.create(ed) +
    // 4 committed changes.
    assert_eq!(entries.len(), 7, "{all}");
    let toggle = entries
        .iter()
        .find(|e| e["action"] == "flag.toggle")
        .unwrap();
    assert_eq!(toggle["actor"], "ed");
    assert_eq!(toggle["target"], "flag:a1");
    assert_eq!(toggle["before"]["enabled"], true);
    assert_eq!(toggle["after"]["enabled"], false);
    assert_eq!(toggle["version"], 2);
    let del = entries
        .iter()
        .find(|e| e["action"] == "flag.delete")
        .unwrap();
    assert!(del["after"].is_null() && del["before"]["key"] == "a1");
    let ids: Vec<u64> = entries.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");

    let by_flag: Value = node
        .get("/v1/audit?flag=a1", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_flag["entries"].as_array().unwrap().len(), 3);
    let by_action: Value = node
        .get("/v1/audit?action=segment.create", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_action["entries"].as_array().unwrap().len(), 1);
    let by_actor: Value = node
        .get("/v1/audit?actor=ed&limit=2", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_actor["entries"].as_array().unwrap().len(), 2);
    let cursor = by_actor["next_cursor"].as_str().unwrap().to_owned();
    let page2: Value = node
        .get(
            &format!("/v1/audit?actor=ed&limit=2&cursor={cursor}"),
            ADMIN,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page2["entries"].as_array().unwrap().len(), 2);
    assert!(
        page2["next_cursor"].is_null(),
        "ed's last page is exactly full and has no cursor: {page2}"
    );
    for (limit, more) in [(6, true), (7, false)] {
        let page: Value = node
            .get(&format!("/v1/audit?limit={limit}"), ADMIN)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["entries"].as_array().unwrap().len(), limit);
        assert_eq!(
            page["next_cursor"].is_string(),
            more,
            "limit={limit}: {page}"
        );
    }
    let future: Value = node
        .get("/v1/audit?since=2999-01-01T00:00:00Z", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert!(future["entries"].as_array().unwrap().is_empty());
    let past: Value = node
        .get("/v1/audit?until=2000-01-01T00:00:00Z", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert!(past["entries"].as_array().unwrap().is_empty());
    let r = node
        .send(Method::DELETE, "/v1/audit", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 405, "the audit log cannot be edited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t26_retried_write_with_same_key_applies_once() {
    let node = Node::start().await;
    node.post("/v1/flags", &flag("idem")).await;
    let toggle = || {
        node.http
            .post(format!("{}/v1/flags/idem/toggle", node.url))
            .bearer_auth(ADMIN)
            .header("Idempotency-Key", "toggle-once")
            .json(&json!({"enabled": false}))
            .send()
    };
    let a: Value = toggle().await.unwrap().json().await.unwrap();
    let b: Value = toggle().await.unwrap().json().await.unwrap();
    assert_eq!(a["version"], 2);
    assert_eq!(b["version"], 2, "the retry returns the first answer");
    let audit: Value = node
        .get("/v1/audit?action=flag.toggle", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t27_references_block_deletes() {
    let node = Node::start().await;
    node.post("/v1/segments", &json!({"key": "beta", "included": ["u1"]}))
        .await;
    node.post("/v1/flags", &flag("base")).await;
    let mut dependent = flag("dependent");
    dependent["prerequisites"] = json!([{"flag": "base", "variation": 0}]);
    dependent["rules"] = json!([{"id": "r", "clauses": [{"attribute": "key", "operator": "segment_match", "values": ["beta"]}], "serve": {"variation": 1}}]);
    assert_eq!(node.post("/v1/flags", &dependent).await.status(), 201);
    let r = node
        .send(Method::DELETE, "/v1/flags/base", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("dependent"));
    let r = node
        .send(Method::DELETE, "/v1/segments/beta", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 409);
    let seg: Value = node
        .get("/v1/segments/beta", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seg["used_by"], json!(["dependent"]));
    let eval: Value = node
        .post(
            "/v1/evaluate",
            &json!({"flag": "dependent", "context": {"key": "u1"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(eval["reason"]["kind"], "RULE_MATCH");
    assert_eq!(eval["value"], false);
    let r = node.get("/v1/flags/base?consistency=local", ADMIN).await;
    assert_eq!(r.headers()["x-vexil-consistency"], "local");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t28_server_side_evaluations_are_counted_for_one_flag_and_all() {
    let node = Node::start().await;
    assert_eq!(node.post("/v1/flags", &flag("counted")).await.status(), 201);
    assert_eq!(node.post("/v1/flags", &flag("other")).await.status(), 201);
    for _ in 0..3 {
        let r = node
            .post(
                "/v1/evaluate",
                &json!({"flag": "counted", "context": {"key": "u1"}}),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let r = node
        .post("/v1/evaluate", &json!({"context": {"key": "u1"}}))
        .await;
    assert_eq!(r.status(), 200);
    let usage: Value = node
        .get("/v1/metrics/evaluations", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(usage["totals_1h"]["counted"], 4, "{usage}");
    assert_eq!(usage["totals_1h"]["other"], 1, "{usage}");
    assert!(usage["last_seen"]["counted"].is_string(), "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_flag_list_pages_by_key_with_a_cursor() {
    let node = Node::start().await;
    // Created out of key order, so the order of the pages is the API's doing.
    let mut want: Vec<String> = Vec::new();
    for i in 0..25 {
        let key = format!("page-{:02}", (i * 7) % 25);
        assert_eq!(node.post("/v1/flags", &flag(&key)).await.status(), 201);
        want.push(key);
    }
    want.sort();
    let mut seen: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/v1/flags?limit=10&cursor={c}"),
            None => "/v1/flags?limit=10".to_owned(),
        };
        let r = node.get(&path, ADMIN).await;
        assert_eq!(r.status(), 200);
        let page: Value = r.json().await.unwrap();
        let keys: Vec<String> = page["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["key"].as_str().unwrap().to_owned())
            .collect();
        sizes.push(keys.len());
        seen.extend(keys);
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(Some(c), seen.last().map(String::as_str), "{page}");
                cursor = Some(c.to_owned());
            }
            None => {
                assert!(page["next_cursor"].is_null(), "{page}");
                cursor = None;
                break;
            }
        }
    }
    assert!(cursor.is_none(), "the last page has no next_cursor");
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(seen, want, "every flag exactly once, in key order");

    for bad in ["0", "1001"] {
        let r = node.get(&format!("/v1/flags?limit={bad}"), ADMIN).await;
        assert_eq!(r.status(), 400, "limit={bad}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["field"], "limit", "limit={bad}: {v}");
    }
    let all: Value = node
        .get("/v1/flags?limit=1000", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["flags"].as_array().unwrap().len(), 25);
    assert!(all["next_cursor"].is_null(), "{all}");
    // A page that ends the list exactly has no cursor; one short of it has.
    for (limit, more) in [(24, true), (25, false)] {
        let page: Value = node
            .get(&format!("/v1/flags?limit={limit}"), ADMIN)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["flags"].as_array().unwrap().len(), limit);
        assert_eq!(
            page["next_cursor"].is_string(),
            more,
            "limit={limit}: {page}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t30_segment_rollback_and_restore_after_delete() {
    let node = Node::start().await;
    let content = |v: &Value| {
        json!([
            v["name"],
            v["description"],
            v["included"],
            v["excluded"],
            v["rules"]
        ])
    };
    let mut s = json!({"key": "srb", "name": "one", "included": ["a"]});
    assert_eq!(node.post("/v1/segments", &s).await.status(), 201);
    s["name"] = json!("two");
    s["included"] = json!(["b"]);
    s["excluded"] = json!(["c"]);
    s["version"] = json!(1);
    let r = node
        .send(Method::PUT, "/v1/segments/srb", Some(ADMIN), Some(&s))
        .await;
    assert_eq!(r.status(), 200);
    let v1: Value = node
        .get("/v1/segments/srb/versions/1", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    let v2: Value = node
        .get("/v1/segments/srb/versions/2", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(content(&v1["state"]), content(&v2["state"]));

    let r = node
        .post("/v1/segments/srb/rollback", &json!({"version": 1}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"3\"");
    let v3: Value = r.json().await.unwrap();
    assert_eq!(v3["version"], 3);
    assert_eq!(content(&v3), content(&v1["state"]), "v3 is v1's content");
    let now: Value = node
        .get("/v1/segments/srb", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(content(&now), content(&v1["state"]));

    let r = node
        .send(Method::DELETE, "/v1/segments/srb", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(node.get("/v1/segments/srb", ADMIN).await.status(), 404);
    let r = node
        .post("/v1/segments/srb/rollback", &json!({"version": 4}))
        .await;
    assert_eq!(r.status(), 404, "version 4 is the deletion itself");
    let r = node
        .post("/v1/segments/srb/rollback", &json!({"version": 2}))
        .await;
    assert_eq!(r.status(), 200);
    let v5: Value = r.json().await.unwrap();
    assert_eq!(v5["version"], 5);
    assert_eq!(content(&v5), content(&v2["state"]), "restored as v2 was");
    let now: Value = node
        .get("/v1/segments/srb", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (now["version"].as_u64(), content(&now)),
        (Some(5), content(&v2["state"]))
    );

    let versions: Value = node
        .get("/v1/segments/srb/versions", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "segment.restore",
            "segment.delete",
            "segment.rollback",
            "segment.update",
            "segment.create"
        ]
    );
    let audit: Value = node
        .get("/v1/audit?segment=srb", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["entries"].as_array().unwrap().len(), 5, "{audit}");
}

/// The audit entries of `action`, newest first.
async fn audit_entries(node: &Node, action: &str) -> Vec<Value> {
    let v: Value = node
        .get(&format!("/v1/audit?action={action}"), ADMIN)
        .await
        .json()
        .await
        .unwrap();
    v["entries"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t31_audit_request_id_is_the_idempotency_key_or_a_fresh_id() {
    let node = Node::start().await;
    let r = node
        .http
        .post(format!("{}/v1/flags", node.url))
        .bearer_auth(ADMIN)
        .header("Idempotency-Key", "create-keyed-42")
        .json(&flag("keyed"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        node.post("/v1/flags", &flag("unkeyed-1")).await.status(),
        201
    );
    assert_eq!(
        node.post("/v1/flags", &flag("unkeyed-2")).await.status(),
        201
    );
    let entries = audit_entries(&node, "flag.create").await;
    let id_of = |target: &str| -> String {
        let e = entries
            .iter()
            .find(|e| e["target"] == target)
            .unwrap_or_else(|| panic!("no audit entry for {target}: {entries:?}"));
        e["request_id"].as_str().unwrap().to_owned()
    };
    // What is stored is the key scoped to the caller and the change
    // (`api::request_id`): `key:<Idempotency-Key>:<16 hex digits>`.
    let keyed = id_of("flag:keyed");
    let scope = keyed
        .strip_prefix("key:create-keyed-42:")
        .unwrap_or_else(|| panic!("request_id {keyed:?} does not carry the key"));
    assert!(
        scope.len() == 16 && scope.bytes().all(|b| b.is_ascii_hexdigit()),
        "{keyed:?}"
    );
    // Without the header every request gets its own random id.
    let (a, b) = (id_of("flag:unkeyed-1"), id_of("flag:unkeyed-2"));
    for id in [&a, &b] {
        let hex = id
            .strip_prefix("req:")
            .unwrap_or_else(|| panic!("generated request_id {id:?}"));
        assert!(
            hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id:?}"
        );
    }
    assert_ne!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t32_retried_create_returns_the_first_response() {
    let node = Node::start().await;
    let create = |token: &str, body: Value| {
        node.http
            .post(format!("{}/v1/flags", node.url))
            .bearer_auth(token)
            .header("Idempotency-Key", "create-once")
            .json(&body)
            .send()
    };
    let first = create(ADMIN, flag("retried")).await.unwrap();
    let first_status = first.status();
    let first_etag = first.headers()["etag"].clone();
    let first_body: Value = first.json().await.unwrap();
    assert_eq!(first_status, 201);
    assert_eq!(first_body["version"], 1);

    let again = create(ADMIN, flag("retried")).await.unwrap();
    assert_eq!(
        again.status(),
        first_status,
        "a retry gets the first status"
    );
    assert_eq!(again.headers()["etag"], first_etag);
    assert_eq!(again.headers()["location"], "/v1/flags/retried");
    let again_body: Value = again.json().await.unwrap();
    assert_eq!(again_body, first_body, "and the first body");
    assert_eq!(audit_entries(&node, "flag.create").await.len(), 1);

    // The same key for a different change is refused (422, as Stripe and
    // the IETF draft do); from another token it is a new request: here a
    // second create of the same flag, so a conflict.
    let mut changed = flag("retried");
    changed["name"] = json!("changed");
    let r = create(ADMIN, changed).await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "idempotency_key_reused"
    );
    let editor = node.token("idem-editor", "editor").await;
    let r = create(&editor, flag("retried")).await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "already_exists");
    assert_eq!(audit_entries(&node, "flag.create").await.len(), 1);
    let now: Value = node
        .get("/v1/flags/retried", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now, first_body, "nothing changed the flag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t33_a_single_node_keeps_leadership_it_cannot_hand_over() {
    let node = Node::start().await;
    let r = node.post("/v1/cluster/leader", &json!({"to": 1})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["leader"], 1);
    let r = node.post("/v1/cluster/leader", &json!({})).await;
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "no_candidate", "{e}");
    let viewer = node.token("looker", "viewer").await;
    let r = node
        .send(
            Method::POST,
            "/v1/cluster/leader",
            Some(&viewer),
            Some(&json!({"to": 1})),
        )
        .await;
    assert_eq!(r.status(), 403);
}

/// A node whose membership adds give up after `catch_up`.
async fn node_giving_up_after(catch_up: std::time::Duration) -> Node {
    Node::start_configured(
        std::sync::Arc::new(vexil_storage::MemEngine::new()),
        std::sync::Arc::new(vexil_storage::MemBlobStore::new()),
        |raft| raft.snapshot_timeout = catch_up,
    )
    .await
}

/// Member `id` in the node's `GET /v1/cluster`, with the whole view (for
/// assertion messages); `None` when it is not a member.
async fn cluster_member(node: &Node, id: u64) -> (Option<Value>, Value) {
    let view: Value = node.get("/v1/cluster", ADMIN).await.json().await.unwrap();
    let member = view["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .cloned();
    (member, view)
}

/// A node that never answers is left a learner when adding it times out
/// (before, it was made a voter, and the cluster's writes stopped); a
/// learner cannot be handed leadership, takes new addresses when added
/// again, and can be removed.
#[tokio::test]
async fn t34_a_learner_cannot_take_leadership() {
    let node = node_giving_up_after(std::time::Duration::from_millis(500)).await;
    // Nothing listens on port 1: the learner never answers.
    let add = json!({"id": 2, "peer_addr": "127.0.0.1:1", "client_addr": "127.0.0.1:1"});
    let r = node.post("/v1/cluster/members", &add).await;
    assert_eq!(r.status(), 503);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "membership_failed", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("stays a learner"),
        "{e}"
    );

    let (two, view) = cluster_member(&node, 2).await;
    assert_eq!(two.expect("node 2 listed")["role"], "learner", "{view}");

    let r = node.post("/v1/cluster/leader", &json!({"to": 2})).await;
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "not_a_voter", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains('2'),
        "the message names the node: {e}"
    );
    // Added again under other addresses (a corrected typo): the learner
    // takes them, and stays a learner while it does not answer.
    let add = json!({"id": 2, "peer_addr": "127.0.0.1:2", "client_addr": "127.0.0.1:3"});
    let r = node.post("/v1/cluster/members", &add).await;
    assert_eq!(r.status(), 503);
    let (two, view) = cluster_member(&node, 2).await;
    let two = two.expect("node 2 listed");
    assert_eq!(two["peer_addr"], "127.0.0.1:2", "{view}");
    assert_eq!(two["client_addr"], "127.0.0.1:3", "{view}");
    assert_eq!(two["role"], "learner", "{view}");
    // Still the leader, and writes still commit without the learner.
    assert_eq!(node.running.raft.leader().map(|(id, _)| id), Some(1));
    let r = node.post("/v1/flags", &flag("after-learner")).await;
    assert_eq!(r.status(), 201);

    let r = node
        .send(Method::DELETE, "/v1/cluster/members/2", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let (two, view) = cluster_member(&node, 2).await;
    assert!(two.is_none(), "{view}");
}

/// Adding a node under another member's peer address is refused at once:
/// the leader would otherwise replicate to that member (here, itself) as
/// if it were the new node.
#[tokio::test]
async fn t35_a_new_node_cannot_take_a_members_peer_address() {
    let node = Node::start().await;
    let own = node.running.raft.config().member.peer_addr.clone();
    let add = json!({"id": 3, "peer_addr": own, "client_addr": "127.0.0.1:1"});
    let r = node.post("/v1/cluster/members", &add).await;
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "address_in_use", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("node 1's peer address"),
        "{e}"
    );
    let view: Value = node.get("/v1/cluster", ADMIN).await.json().await.unwrap();
    assert_eq!(view["members"].as_array().unwrap().len(), 1, "{view}");
    let r = node.post("/v1/flags", &flag("after-refused-add")).await;
    assert_eq!(r.status(), 201);
}

/// The same address spelled differently gets past the check above, but not
/// past the leader's look at who answers there: the node at that address
/// says it is node 1, not node 3 (421), and the add is refused at once,
/// naming the field. (Before, the newcomer was added as a learner that
/// could never catch up, and the request waited out the catch-up deadline.)
#[tokio::test]
async fn t36_an_address_that_reaches_a_member_under_another_id_is_refused() {
    let node = node_giving_up_after(std::time::Duration::from_secs(60)).await;
    let own = node.running.raft.config().member.peer_addr.clone();
    let port = own.rsplit_once(':').unwrap().1;
    let add =
        json!({"id": 3, "peer_addr": format!("localhost:{port}"), "client_addr": "127.0.0.1:1"});
    let r = node.post("/v1/cluster/members", &add).await;
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "address_in_use", "{e}");
    assert_eq!(e["field"], "peer_addr", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("this is node 1, not node 3"), "{e}");
    assert!(message.contains("answers as another member"), "{e}");
    assert!(message.contains("check node 3's peer address"), "{e}");
    let (three, view) = cluster_member(&node, 3).await;
    assert!(three.is_none(), "nothing was added: {view}");
    let r = node.post("/v1/flags", &flag("still-writing")).await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
}
