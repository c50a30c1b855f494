//! Projects and environments (issue 22): the default project a cluster
//! starts with, their CRUD through the one versioned implementation
//! (versions, conflicts, rollback and restore, audit), the legacy scope
//! that cannot be deleted, and who may change them.

mod common;

use std::time::Duration;

use common::inproc::{ADMIN, Node};
use reqwest::Method;
use serde_json::{Value, json};

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Waits (at most 20 s) for the node to have created project `default`,
/// which it does once its cluster level allows projects.
async fn default_project(node: &Node) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = json_of(node.get("/v1/projects/default", ADMIN).await).await;
        if status == 200 {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no project default: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn keys(envs: &Value) -> Vec<&str> {
    envs.as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect()
}

async fn send(node: &Node, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    json_of(node.send(method, path, Some(ADMIN), body).await).await
}

async fn put_if(node: &Node, path: &str, version: u64, body: &Value) -> (u16, Value) {
    let r = node
        .http
        .put(format!("{}{path}", node.url))
        .bearer_auth(ADMIN)
        .header("if-match", format!("\"{version}\""))
        .json(body)
        .send()
        .await
        .unwrap();
    json_of(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t27_a_new_cluster_has_project_default_with_three_environments() {
    let node = Node::start().await;
    let p = default_project(&node).await;
    assert_eq!(p["version"], 1);
    assert_eq!(p["updated_by"], "system");
    assert_eq!(
        keys(&p["environments"]),
        ["development", "staging", "production"]
    );
    let prod = &p["environments"][2];
    assert_eq!(prod["production"], true);
    assert_eq!(prod["project"], "default");
    // Created once, audited as Vexil's own change.
    let (_, audit) = send(&node, Method::GET, "/v1/audit?project=default", None).await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["action"], "project.create");
    assert_eq!(entries[0]["actor"], "system");
    assert_eq!(
        keys(&entries[0]["after"]["environments"]),
        ["development", "staging", "production"]
    );
    let (status, list) = send(&node, Method::GET, "/v1/projects", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["projects"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t27_projects_and_environments_are_versioned_audited_and_restorable() {
    let node = Node::start().await;
    default_project(&node).await;

    // A project gets development, staging and production unless it names its own.
    let (status, web) = send(
        &node,
        Method::POST,
        "/v1/projects",
        Some(&json!({"key": "web", "name": "Web"})),
    )
    .await;
    assert_eq!(status, 201, "{web}");
    assert_eq!(
        keys(&web["environments"]),
        ["development", "staging", "production"]
    );
    let (status, api) = send(
        &node,
        Method::POST,
        "/v1/projects",
        Some(&json!({"key": "api", "environments": [
            {"key": "qa", "color": "#00ff00", "order": 1},
            {"key": "live", "production": true, "order": 2}
        ]})),
    )
    .await;
    assert_eq!(status, 201, "{api}");
    assert_eq!(keys(&api["environments"]), ["qa", "live"]);
    assert_eq!(api["environments"][0]["color"], "#00ff00");

    // Bad input names its field; a second `web` is a conflict.
    let (status, bad) = send(
        &node,
        Method::POST,
        "/v1/projects",
        Some(&json!({"key": "x", "environments": [{"key": "qa", "color": "green"}]})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "environments[0].color", "{bad}");
    let (status, bad) = send(
        &node,
        Method::POST,
        "/v1/projects",
        Some(&json!({"key": "bad key"})),
    )
    .await;
    assert_eq!(
        (status, bad["errors"][0]["field"].as_str()),
        (400, Some("key"))
    );
    let (status, dup) = send(
        &node,
        Method::POST,
        "/v1/projects",
        Some(&json!({"key": "web"})),
    )
    .await;
    assert_eq!(
        (status, dup["error"].as_str()),
        (409, Some("already_exists"))
    );
    let (status, missing) = send(
        &node,
        Method::POST,
        "/v1/projects/ghost/environments",
        Some(&json!({"key": "qa"})),
    )
    .await;
    assert_eq!(status, 404, "{missing}");

    // Replace under If-Match; a stale version is a conflict, none is 428.
    let (status, v2) = put_if(
        &node,
        "/v1/projects/web",
        1,
        &json!({"key": "web", "name": "Web shop", "environments": []}),
    )
    .await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(
        (v2["version"].as_u64(), v2["name"].as_str()),
        (Some(2), Some("Web shop"))
    );
    assert_eq!(
        keys(&v2["environments"]).len(),
        3,
        "environments are read-only there"
    );
    let (status, stale) = put_if(&node, "/v1/projects/web", 1, &json!({"key": "web"})).await;
    assert_eq!(
        (status, stale["error"].as_str()),
        (409, Some("version_conflict"))
    );
    let (status, _) = send(
        &node,
        Method::PUT,
        "/v1/projects/web",
        Some(&json!({"key": "web"})),
    )
    .await;
    assert_eq!(status, 428);
    let (status, _) = put_if(&node, "/v1/projects/web", 2, &json!({"key": "other"})).await;
    assert_eq!(status, 400);

    // Environments: create, replace, list in order, delete, restore.
    let (status, qa) = send(
        &node,
        Method::POST,
        "/v1/projects/web/environments",
        Some(&json!({"key": "qa", "name": "QA", "order": -1})),
    )
    .await;
    assert_eq!(status, 201, "{qa}");
    assert_eq!(qa["project"], "web");
    let (status, _) = send(
        &node,
        Method::POST,
        "/v1/projects/web/environments",
        Some(&json!({"key": "qa", "project": "api"})),
    )
    .await;
    assert_eq!(status, 400, "a body naming another project");
    let (status, qa2) = put_if(
        &node,
        "/v1/projects/web/environments/qa",
        1,
        &json!({"key": "qa", "name": "Quality", "color": "#123456", "order": -1}),
    )
    .await;
    assert_eq!((status, qa2["version"].as_u64()), (200, Some(2)), "{qa2}");
    let (_, envs) = send(&node, Method::GET, "/v1/projects/web/environments", None).await;
    assert_eq!(
        keys(&envs["environments"]),
        ["qa", "development", "staging", "production"]
    );
    let (status, del) = send(
        &node,
        Method::DELETE,
        "/v1/projects/web/environments/qa",
        None,
    )
    .await;
    assert_eq!((status, del["version"].as_u64()), (200, Some(3)), "{del}");
    let (status, _) = send(&node, Method::GET, "/v1/projects/web/environments/qa", None).await;
    assert_eq!(status, 404);
    let (status, back) = send(
        &node,
        Method::POST,
        "/v1/projects/web/environments/qa/rollback",
        Some(&json!({"version": 1})),
    )
    .await;
    assert_eq!(
        (status, back["name"].as_str(), back["version"].as_u64()),
        (200, Some("QA"), Some(4))
    );
    let (_, versions) = send(
        &node,
        Method::GET,
        "/v1/projects/web/environments/qa/versions",
        None,
    )
    .await;
    let actions: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "environment.restore",
            "environment.delete",
            "environment.update",
            "environment.create"
        ]
    );

    // Deleting a project takes its environments, in one entry; a rollback
    // restores the project, and its environments one by one.
    let (status, _) = send(&node, Method::DELETE, "/v1/projects/web", None).await;
    assert_eq!(status, 200);
    let (status, _) = send(&node, Method::GET, "/v1/projects/web/environments", None).await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &node,
        Method::GET,
        "/v1/projects/web/environments/staging",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, r) = send(
        &node,
        Method::POST,
        "/v1/projects/web/environments/staging/rollback",
        Some(&json!({"version": 1})),
    )
    .await;
    assert_eq!(
        (status, r["errors"][0]["field"].as_str()),
        (400, Some("project")),
        "{r}"
    );
    let (status, p) = send(
        &node,
        Method::POST,
        "/v1/projects/web/rollback",
        Some(&json!({"version": 2})),
    )
    .await;
    assert_eq!((status, p["name"].as_str()), (200, Some("Web shop")), "{p}");
    assert_eq!(keys(&p["environments"]).len(), 0);
    let (status, _) = send(
        &node,
        Method::POST,
        "/v1/projects/web/environments/staging/rollback",
        Some(&json!({"version": 1})),
    )
    .await;
    assert_eq!(status, 200);

    // Every change is audited with its actor and target.
    let (_, audit) = send(&node, Method::GET, "/v1/audit?environment=web/qa", None).await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{audit}");
    assert!(entries.iter().all(|e| e["actor"] == "admin"), "{audit}");
    let (_, audit) = send(&node, Method::GET, "/v1/audit?action=project.delete", None).await;
    let entry = &audit["entries"][0];
    assert_eq!(entry["target"], "project:web", "{audit}");
    // One entry, naming the environments that went with the project.
    assert_eq!(keys(&entry["before"]["environments"]).len(), 4, "{audit}");

    // A page of one carries a cursor; a made-up cursor is refused.
    let (_, page) = send(&node, Method::GET, "/v1/projects?limit=1", None).await;
    assert_eq!(page["projects"][0]["key"], "api");
    assert_eq!(page["next_cursor"], "api");
    let (_, page) = send(&node, Method::GET, "/v1/projects?limit=1&cursor=api", None).await;
    assert_eq!(page["projects"][0]["key"], "default");
    let (status, _) = send(&node, Method::GET, "/v1/projects?cursor=nope", None).await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t27_the_scope_of_the_unscoped_routes_cannot_be_deleted() {
    let node = Node::start().await;
    default_project(&node).await;
    for key in ["a", "b"] {
        let r = node.post("/v1/flags", &common::bool_flag(key)).await;
        assert_eq!(r.status(), 201);
    }
    let (status, body) = send(&node, Method::DELETE, "/v1/projects/default", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("in_use")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("2 flags"),
        "{body}"
    );
    let (status, body) = send(
        &node,
        Method::DELETE,
        "/v1/projects/default/environments/production",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("in_use")),
        "{body}"
    );
    // Nothing was deleted by the refused project delete.
    let (_, p) = send(&node, Method::GET, "/v1/projects/default", None).await;
    assert_eq!(keys(&p["environments"]).len(), 3);
    // Its other environments hold the same flags (disabled), so they are
    // refused too, naming how many.
    let (status, body) = send(
        &node,
        Method::DELETE,
        "/v1/projects/default/environments/staging",
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("2 flags in staging"),
        "{body}"
    );
    // An environment without flags can go.
    let (status, _) = send(
        &node,
        Method::POST,
        "/v1/projects",
        Some(&json!({"key": "empty"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = send(
        &node,
        Method::DELETE,
        "/v1/projects/empty/environments/staging",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t27_only_admins_change_projects_and_environments() {
    let node = Node::start().await;
    default_project(&node).await;
    let editor = node.token("ed", "editor").await;
    let viewer = node.token("vi", "viewer").await;
    let writes: [(Method, &str, Value); 4] = [
        (Method::POST, "/v1/projects", json!({"key": "p"})),
        (
            Method::PUT,
            "/v1/projects/default",
            json!({"key": "default", "version": 1}),
        ),
        (
            Method::POST,
            "/v1/projects/default/environments",
            json!({"key": "qa"}),
        ),
        (
            Method::DELETE,
            "/v1/projects/default/environments/staging",
            Value::Null,
        ),
    ];
    for token in [&editor, &viewer] {
        for (method, path, body) in &writes {
            let body = (!body.is_null()).then_some(body);
            let r = node.send(method.clone(), path, Some(token), body).await;
            let (status, v) = json_of(r).await;
            assert_eq!(status, 403, "{method} {path}: {v}");
            assert!(v["message"].as_str().unwrap().contains("admin"), "{v}");
        }
        for path in [
            "/v1/projects",
            "/v1/projects/default",
            "/v1/projects/default/environments",
            "/v1/projects/default/environments/production",
            "/v1/projects/default/versions",
        ] {
            assert_eq!(node.get(path, token).await.status(), 200, "{path}");
        }
    }
    assert_eq!(node.get("/v1/projects", "wrong").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t27_a_new_project_is_checked_at_the_edge() {
    let node = Node::start().await;
    let post = |body: Value| {
        let node = &node;
        async move { send(node, Method::POST, "/v1/projects", Some(&body)).await }
    };
    // The cluster makes `default`; an admin cannot.
    let (status, v) = post(json!({"key": "default"})).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("already_exists")),
        "{v}"
    );
    let (status, v) = post(json!({"key": "p", "environments": [{"key": "a"}, {"key": "a"}]})).await;
    assert_eq!(
        (status, v["errors"][0]["field"].as_str()),
        (400, Some("environments[1].key")),
        "{v}"
    );
    let (status, v) =
        post(json!({"key": "p", "environments": [{"key": "a", "project": "q"}]})).await;
    assert_eq!(
        (status, v["errors"][0]["field"].as_str()),
        (400, Some("environments[0].project")),
        "{v}"
    );
    let many: Vec<Value> = (0..101).map(|i| json!({"key": format!("e{i}")})).collect();
    let (status, v) = post(json!({"key": "p", "environments": many})).await;
    assert_eq!(
        (status, v["errors"][0]["code"].as_str()),
        (400, Some("too_many")),
        "{v}"
    );
    // None of these cost an entry: the project does not exist.
    assert_eq!(node.get("/v1/projects/p", ADMIN).await.status(), 404);
    // A duplicate JSON key is refused, as on /v1/flags before.
    let r = node
        .http
        .post(format!("{}/v1/flags", node.url))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(r#"{"key": "a", "key": "b", "kind": "boolean", "variations": [{"value": true}, {"value": false}], "off_variation": 1, "fallthrough": {"variation": 0}}"#)
        .send()
        .await
        .unwrap();
    let (status, v) = json_of(r).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("duplicate field `key`"),
        "{v}"
    );
}
