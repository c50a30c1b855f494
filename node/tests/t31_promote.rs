//! Promotion (issue 22, cluster level 5) over HTTP: a dry run with the
//! per-flag diff, a refusal that names the segments the target lacks, the
//! promotion as one entry with its expected versions, one audit entry per
//! flag linked by the promotion's id, and its rollback as a whole.

mod common;

use common::inproc::{ADMIN, Node};
use reqwest::Method;
use serde_json::{Value, json};

async fn send(node: &Node, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    let r = node.send(method, path, Some(ADMIN), body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn ok(node: &Node, method: Method, path: &str, body: Value) -> Value {
    let (status, v) = send(node, method, path, Some(&body)).await;
    assert!((200..300).contains(&status), "{path}: {status} {v}");
    v
}

async fn eval(node: &Node, env: &str, key: &str, user: &str) -> Value {
    let path = format!("/v1/projects/web/environments/{env}/evaluate");
    let body = json!({"flag": key, "context": {"key": user}});
    ok(node, Method::POST, &path, body).await["value"].clone()
}

async fn config(node: &Node, env: &str, key: &str) -> Value {
    let path = format!("/v1/projects/web/environments/{env}/flags/{key}");
    let (status, v) = send(node, Method::GET, &path, None).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Project `web` with flags `a`, `b` and `c` (disabled everywhere),
/// segment `beta` (holding u1) in staging only; in staging `a` is on for
/// `beta` only and `b` is on for everyone.
async fn setup(node: &Node) {
    ok(node, Method::POST, "/v1/projects", json!({"key": "web"})).await;
    for key in ["a", "b", "c"] {
        let mut flag = common::bool_flag(key);
        flag["enabled"] = json!(false);
        ok(node, Method::POST, "/v1/projects/web/flags", flag).await;
    }
    let staging = "/v1/projects/web/environments/staging";
    ok(
        node,
        Method::POST,
        &format!("{staging}/segments"),
        json!({"key": "beta", "included": ["u1"]}),
    )
    .await;
    let mut a = config(node, "staging", "a").await;
    a["enabled"] = json!(true);
    a["fallthrough"] = json!({"variation": 1});
    a["rules"] = json!([{"id": "r1", "clauses": [
        {"attribute": "key", "operator": "segment_match", "values": ["beta"]}],
        "serve": {"variation": 0}}]);
    put(node, &format!("{staging}/flags/a"), &a).await;
    ok(
        node,
        Method::POST,
        &format!("{staging}/flags/b/toggle"),
        json!({"enabled": true}),
    )
    .await;
}

async fn put(node: &Node, path: &str, body: &Value) -> Value {
    let r = node
        .http
        .put(format!("{}{path}", node.url))
        .bearer_auth(ADMIN)
        .header("if-match", format!("\"{}\"", body["version"]))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn t31_a_promotion_is_previewed_applied_audited_and_rolled_back_whole() {
    let node = Node::start().await;
    setup(&node).await;
    let promote = "/v1/projects/web/promote";
    // The dry run: a and b change (with each field's values), c does not,
    // and a's rule needs `beta`, which production lacks.
    let dry = ok(
        &node,
        Method::POST,
        promote,
        json!({"from": "staging", "to": "production", "all": true, "dry_run": true}),
    )
    .await;
    assert_eq!(dry["applied"], false, "{dry}");
    let planned: Vec<&str> = dry["plan"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(planned, ["a", "b"], "{dry}");
    assert_eq!(dry["plan"]["unchanged"], json!(["c"]));
    let b_change = &dry["plan"]["flags"][1]["changes"][0];
    assert_eq!(b_change["field"], "enabled");
    assert_eq!(
        (&b_change["before"], &b_change["after"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(
        dry["plan"]["missing_segments"],
        json!([{"flag": "a", "segment": "beta"}])
    );
    assert_eq!(eval(&node, "production", "b", "u2").await, false);
    // Applying it is refused, naming the segment, and changes nothing.
    let (status, refused) = send(
        &node,
        Method::POST,
        promote,
        Some(&json!({"from": "staging", "to": "production", "all": true})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "flags.a.rules", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("\"beta\""));
    assert_eq!(config(&node, "production", "b").await["version"], 1);

    // With `beta` in production, the promotion applies as shown.
    ok(
        &node,
        Method::POST,
        "/v1/projects/web/environments/production/segments",
        json!({"key": "beta", "included": ["u1"]}),
    )
    .await;
    let dry = ok(
        &node,
        Method::POST,
        promote,
        json!({"from": "staging", "to": "production", "all": true, "dry_run": true}),
    )
    .await;
    assert_eq!(dry["plan"]["missing_segments"], json!([]));
    let expected = dry["expected_versions"].clone();
    assert_eq!(expected, json!({"a": 1, "b": 1, "c": 1}));
    let r = node
        .send(
            Method::POST,
            promote,
            Some(ADMIN),
            Some(&json!({"from": "staging", "to": "production", "all": true,
                "expected_versions": expected, "source_versions": dry["source_versions"]})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let applied: Value = r.json().await.unwrap();
    let promotion = &applied["promotion"];
    let id = promotion["id"].as_u64().unwrap();
    assert_eq!(location, format!("/v1/projects/web/promotions/{id}"));
    assert_eq!(
        promotion["flags"],
        json!([
            {"key": "a", "from_version": 2, "before": 1, "after": 2},
            {"key": "b", "from_version": 2, "before": 1, "after": 2},
        ])
    );
    assert_eq!(eval(&node, "production", "a", "u1").await, true);
    assert_eq!(eval(&node, "production", "a", "u2").await, false);
    assert_eq!(eval(&node, "production", "b", "u2").await, true);
    assert_eq!(config(&node, "production", "c").await["version"], 1);

    // One audit entry for the promotion, one per flag, linked by its id.
    let audit = ok(
        &node,
        Method::GET,
        &format!("/v1/audit?promotion={id}"),
        Value::Null,
    )
    .await;
    let entries: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let (action, target) = (e["action"].as_str(), e["target"].as_str());
            (action.unwrap().to_owned(), target.unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("flag.promote".into(), "flag:web/production/b".into()),
            ("flag.promote".into(), "flag:web/production/a".into()),
            ("promotion.apply".into(), format!("promotion:{id}")),
        ]
    );
    assert_eq!(audit["entries"][0]["seq"], 2);
    assert_eq!(audit["entries"][0]["id"], id);
    // Paging by one walks them by their `id.seq` cursors.
    let page = ok(&node, Method::GET, "/v1/audit?limit=1", Value::Null).await;
    assert_eq!(page["next_cursor"], format!("{id}.2"));
    let page = ok(
        &node,
        Method::GET,
        &format!("/v1/audit?limit=1&cursor={id}.2"),
        Value::Null,
    )
    .await;
    assert_eq!(page["entries"][0]["seq"], 1, "{page}");
    let (status, _) = send(&node, Method::GET, "/v1/audit?cursor=1.x", None).await;
    assert_eq!(status, 400);

    // Listed and readable.
    let list = ok(
        &node,
        Method::GET,
        "/v1/projects/web/promotions",
        Value::Null,
    )
    .await;
    assert_eq!(list["promotions"][0]["id"], id);
    let one = ok(&node, Method::GET, &location, Value::Null).await;
    assert_eq!(one["to"], "production");

    // Nothing differs now: a second promotion writes nothing.
    let again = ok(
        &node,
        Method::POST,
        promote,
        json!({"from": "staging", "to": "production", "tag": "none"}),
    )
    .await;
    assert_eq!(again["applied"], false, "{again}");

    // Rolled back as a whole: both flags are as before, as new versions.
    let back = ok(
        &node,
        Method::POST,
        &format!("{location}/rollback"),
        Value::Null,
    )
    .await;
    assert!(back["rolled_back_by"].as_u64().is_some(), "{back}");
    assert_eq!(eval(&node, "production", "b", "u2").await, false);
    assert_eq!(eval(&node, "production", "a", "u1").await, false);
    assert_eq!(config(&node, "production", "a").await["version"], 3);
    let (status, twice) = send(&node, Method::POST, &format!("{location}/rollback"), None).await;
    assert_eq!(status, 400, "{twice}");
    let audit = ok(
        &node,
        Method::GET,
        &format!("/v1/audit?promotion={id}"),
        Value::Null,
    )
    .await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 6, "{audit}");
    assert_eq!(audit["entries"][0]["action"], "flag.rollback");
}

#[tokio::test]
async fn t31_a_promotion_whose_target_moved_since_the_dry_run_is_refused() {
    let node = Node::start().await;
    setup(&node).await;
    ok(
        &node,
        Method::POST,
        "/v1/projects/web/environments/production/segments",
        json!({"key": "beta", "included": ["u1"]}),
    )
    .await;
    let promote = "/v1/projects/web/promote";
    let body = json!({"from": "staging", "to": "production", "flags": ["b"], "dry_run": true});
    let dry = ok(&node, Method::POST, promote, body).await;
    assert_eq!(dry["expected_versions"], json!({"b": 1}));
    ok(
        &node,
        Method::POST,
        "/v1/projects/web/environments/production/flags/b/toggle",
        json!({"enabled": false}),
    )
    .await;
    let (status, v) = send(
        &node,
        Method::POST,
        promote,
        Some(
            &json!({"from": "staging", "to": "production", "flags": ["b"],
            "expected_versions": {"b": 1}, "source_versions": {"b": 2}}),
        ),
    )
    .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"], "plan_changed", "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("\"b\" changed"),
        "{v}"
    );
    assert_eq!(eval(&node, "production", "b", "u2").await, false);
    // A flag the dry run did not show is not promoted behind its back.
    let (status, v) = send(
        &node,
        Method::POST,
        promote,
        Some(
            &json!({"from": "staging", "to": "production", "flags": ["a", "b"],
            "expected_versions": {"b": 2}, "source_versions": {"b": 2}}),
        ),
    )
    .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["field"], "expected_versions", "{v}");
    // A flag the dry run showed as alike that changed in the source since
    // is not promoted unseen either.
    let body = json!({"from": "staging", "to": "production", "flags": ["c"], "dry_run": true});
    let dry = ok(&node, Method::POST, promote, body).await;
    assert_eq!(dry["plan"]["unchanged"], json!(["c"]), "{dry}");
    ok(
        &node,
        Method::POST,
        "/v1/projects/web/environments/staging/flags/c/toggle",
        json!({"enabled": true}),
    )
    .await;
    let (status, v) = send(
        &node,
        Method::POST,
        promote,
        Some(
            &json!({"from": "staging", "to": "production", "flags": ["c"],
            "expected_versions": dry["expected_versions"],
            "source_versions": dry["source_versions"]}),
        ),
    )
    .await;
    assert_eq!(status, 409, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("\"c\" changed in staging"),
        "{v}"
    );
    assert_eq!(eval(&node, "production", "c", "u2").await, false);
    // The versions come as a pair.
    let (status, v) = send(
        &node,
        Method::POST,
        promote,
        Some(
            &json!({"from": "staging", "to": "production", "flags": ["c"],
            "expected_versions": dry["expected_versions"]}),
        ),
    )
    .await;
    assert_eq!(
        (status, v["field"].as_str()),
        (400, Some("source_versions")),
        "{v}"
    );
}

#[tokio::test]
async fn t31_a_retried_promotion_gets_its_first_answer() {
    let node = Node::start().await;
    setup(&node).await;
    let promote = |key: &'static str| {
        let node = &node;
        async move {
            let r = node
                .http
                .post(format!("{}/v1/projects/web/promote", node.url))
                .bearer_auth(ADMIN)
                .header("idempotency-key", key)
                .json(&json!({"from": "staging", "to": "production", "flags": ["b"]}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = promote("once").await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = promote("once").await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["promotion"]["id"], first["promotion"]["id"]);
    // The same key for another promotion is refused, not answered with
    // the first one.
    let r = node
        .http
        .post(format!("{}/v1/projects/web/promote", node.url))
        .bearer_auth(ADMIN)
        .header("idempotency-key", "once")
        .json(&json!({"from": "development", "to": "production", "flags": ["b"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Another key: nothing differs now, so nothing is written.
    let (status, other) = promote("twice").await;
    assert_eq!((status, &other["applied"]), (200, &json!(false)), "{other}");
    let list = ok(
        &node,
        Method::GET,
        "/v1/projects/web/promotions",
        Value::Null,
    )
    .await;
    assert_eq!(list["promotions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn t31_bad_promotions_are_400s_and_404s_naming_the_field() {
    let node = Node::start().await;
    setup(&node).await;
    let promote = "/v1/projects/web/promote";
    for (body, status, field) in [
        (json!({"from": "staging", "to": "production"}), 400, "flags"),
        (
            json!({"from": "staging", "to": "production", "all": true, "tag": "x"}),
            400,
            "flags",
        ),
        (
            json!({"from": "staging", "to": "staging", "all": true}),
            400,
            "to",
        ),
        (
            json!({"from": "qa", "to": "production", "all": true}),
            404,
            "from",
        ),
        (
            json!({"from": "staging", "to": "production", "flags": ["nope"]}),
            404,
            "flags",
        ),
    ] {
        let (got, v) = send(&node, Method::POST, promote, Some(&body)).await;
        assert_eq!(
            (got, v["field"].as_str()),
            (status, Some(field)),
            "{body}: {v}"
        );
    }
    let (got, v) = send(
        &node,
        Method::POST,
        "/v1/projects/nope/promote",
        Some(&json!({"from": "staging", "to": "production", "all": true})),
    )
    .await;
    assert_eq!((got, v["field"].as_str()), (404, Some("project")), "{v}");
    let (got, _) = send(
        &node,
        Method::GET,
        "/v1/projects/web/promotions/12345",
        None,
    )
    .await;
    assert_eq!(got, 404);
    let (got, _) = send(
        &node,
        Method::POST,
        "/v1/projects/web/promotions/x/rollback",
        None,
    )
    .await;
    assert_eq!(got, 404);
}
