//! Flags configured per environment (issue 22, cluster level 4): one
//! definition per project, a configuration and a history per environment,
//! segments per environment, and evaluation and the change feed of exactly
//! one environment. The routes without a project keep serving `default`'s
//! `production`, and keep its other environments in step.

mod common;

use std::time::Duration;

use common::inproc::{ADMIN, Node};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vexil_flags::wire::Change;
use vexil_raft::state::{FeedEvent, Start};

async fn send(node: &Node, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    let r = node.send(method, path, Some(ADMIN), body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
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
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn eval(node: &Node, env: &str, key: &str, user: &str) -> Value {
    let path = format!("/v1/projects/web/environments/{env}/evaluate");
    let body = json!({"flag": key, "context": {"key": user}});
    let (status, v) = send(node, Method::POST, &path, Some(&body)).await;
    assert_eq!(status, 200, "{v}");
    v["value"].clone()
}

async fn project_web(node: &Node) {
    let (status, body) = send(
        node,
        Method::POST,
        "/v1/projects",
        Some(&json!({"key": "web"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

fn config(node: &Node, env: &str, key: &str) -> Option<vexil_flags::Flag> {
    let st = node.running.raft.shared().read();
    st.set(env)?
        .get_flag(key)
        .map(|f| vexil_flags::Flag::clone(f.flag()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_a_flag_has_one_definition_and_a_configuration_per_environment() {
    let node = Node::start().await;
    project_web(&node).await;
    let mut flag = common::bool_flag("checkout");
    flag["enabled"] = json!(false);
    let (status, made) = send(&node, Method::POST, "/v1/projects/web/flags", Some(&flag)).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["version"], 1);
    let envs = made["environments"].as_object().unwrap();
    assert_eq!(envs.len(), 3, "{made}");
    for (env, f) in envs {
        assert_eq!(f["enabled"], false, "{env} starts disabled");
        assert_eq!(f["version"], 1, "{env}");
    }
    // The same key in another project is another flag.
    let (status, _) = send(
        &node,
        Method::POST,
        "/v1/projects/default/flags",
        Some(&flag),
    )
    .await;
    assert_eq!(status, 201);
    let (status, dup) = send(&node, Method::POST, "/v1/projects/web/flags", Some(&flag)).await;
    assert_eq!(
        (status, dup["error"].as_str()),
        (409, Some("already_exists")),
        "{dup}"
    );

    // Turning it on in staging changes staging only: its evaluation, its
    // version and its history.
    let (status, on) = send(
        &node,
        Method::POST,
        "/v1/projects/web/environments/staging/flags/checkout/toggle",
        Some(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(
        (status, &on["enabled"], &on["version"]),
        (200, &json!(true), &json!(2)),
        "{on}"
    );
    assert_eq!(eval(&node, "staging", "checkout", "u1").await, true);
    assert_eq!(eval(&node, "production", "checkout", "u1").await, false);
    assert_eq!(eval(&node, "development", "checkout", "u1").await, false);
    let (_, prod) = send(
        &node,
        Method::GET,
        "/v1/projects/web/environments/production/flags/checkout",
        None,
    )
    .await;
    assert_eq!(prod["version"], 1, "{prod}");
    let (_, hist) = send(
        &node,
        Method::GET,
        "/v1/projects/web/environments/staging/flags/checkout/versions",
        None,
    )
    .await;
    assert_eq!(hist["versions"].as_array().unwrap().len(), 2, "{hist}");
    let (_, hist) = send(
        &node,
        Method::GET,
        "/v1/projects/web/environments/production/flags/checkout/versions",
        None,
    )
    .await;
    assert_eq!(hist["versions"].as_array().unwrap().len(), 1, "{hist}");
    // Project default's flag of the same key is untouched.
    assert!(
        !config(&node, "default/staging", "checkout")
            .unwrap()
            .enabled
    );

    // A configuration is replaced under its own version; a definition
    // field sent through it is refused, naming the field.
    let path = "/v1/projects/web/environments/production/flags/checkout";
    let mut cfg = prod.clone();
    cfg["targets"] = json!([{"variation": 0, "values": ["vip"]}]);
    let (status, body) = put_if(&node, path, 7, &cfg).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("version_conflict")),
        "{body}"
    );
    let (status, body) = put_if(&node, path, 1, &cfg).await;
    assert_eq!(status, 200, "{body}");
    cfg["name"] = json!("Renamed here");
    let (status, body) = put_if(&node, path, 2, &cfg).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "name", "{body}");
    assert_eq!(body["errors"][0]["code"], "definition_field", "{body}");

    // The definition changes for every environment at once, each a new
    // version of its configuration; the configurations are kept.
    let (_, def) = send(&node, Method::GET, "/v1/projects/web/flags/checkout", None).await;
    let mut new_def = def.clone();
    new_def["name"] = json!("New checkout");
    new_def["tags"] = json!(["payments"]);
    let (status, after) = put_if(&node, "/v1/projects/web/flags/checkout", 1, &new_def).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["version"], 2);
    for env in ["development", "staging", "production"] {
        let f = &after["environments"][env];
        assert_eq!(f["name"], "New checkout", "{env}: {after}");
        assert_eq!(f["tags"], json!(["payments"]), "{env}");
    }
    assert_eq!(after["environments"]["staging"]["enabled"], true);
    assert_eq!(after["environments"]["staging"]["version"], 3);
    assert_eq!(
        after["environments"]["production"]["targets"][0]["values"],
        json!(["vip"])
    );
    // Production is still off: its targets wait for it to be turned on.
    assert_eq!(eval(&node, "production", "checkout", "vip").await, false);

    // The project's list shows each environment side by side.
    let (_, list) = send(&node, Method::GET, "/v1/projects/web/flags", None).await;
    assert_eq!(
        list["environments"],
        json!(["development", "staging", "production"]),
        "{list}"
    );
    let row = &list["flags"][0];
    assert_eq!(row["key"], "checkout");
    assert_eq!(row["environments"]["staging"]["enabled"], true);
    assert_eq!(row["environments"]["production"]["enabled"], false);
    assert_eq!(row["environments"]["production"]["targets"], 1);
    // One environment's list filters by its state; the project's list,
    // where a flag is on in one environment and off in another, refuses to.
    for (env, enabled, expect) in [
        ("staging", true, 1),
        ("staging", false, 0),
        ("production", true, 0),
        ("production", false, 1),
    ] {
        let path = format!("/v1/projects/web/environments/{env}/flags?enabled={enabled}");
        let (status, page) = send(&node, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(
            page["flags"].as_array().unwrap().len(),
            expect,
            "{path}: {page}"
        );
    }
    let (status, refused) = send(
        &node,
        Method::GET,
        "/v1/projects/web/flags?enabled=true",
        None,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["field"], "enabled", "{refused}");

    // Deleted everywhere in one entry; a rollback of the definition
    // restores it whole, each environment with its last configuration.
    let (status, gone) = send(
        &node,
        Method::DELETE,
        "/v1/projects/web/flags/checkout",
        None,
    )
    .await;
    assert_eq!(status, 200, "{gone}");
    for env in ["web/development", "web/staging", "web/production"] {
        assert!(config(&node, env, "checkout").is_none(), "{env}");
    }
    let (status, back) = send(
        &node,
        Method::POST,
        "/v1/projects/web/flags/checkout/rollback",
        Some(&json!({"version": 2})),
    )
    .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["environments"]["staging"]["enabled"], true, "{back}");
    assert_eq!(back["environments"]["production"]["enabled"], false);
    assert_eq!(back["environments"]["production"]["name"], "New checkout");

    // One audit entry per write, naming the flag in its project.
    let (_, audit) = send(&node, Method::GET, "/v1/audit?flag=web/checkout", None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "flag.restore",
            "flag.delete",
            "flag.definition_update",
            "flag.create"
        ],
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_segments_belong_to_one_environment() {
    let node = Node::start().await;
    project_web(&node).await;
    let seg = json!({"key": "beta", "included": ["u1"]});
    let r = node
        .send(
            Method::POST,
            "/v1/projects/web/environments/staging/segments",
            Some(ADMIN),
            Some(&seg),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"],
        "/v1/projects/web/environments/staging/segments/beta"
    );
    // Listed a page at a time, like /v1/segments; each environment lists
    // its own, and a cursor from elsewhere is refused.
    for key in ["yak", "zebra"] {
        let (status, body) = send(
            &node,
            Method::POST,
            "/v1/projects/web/environments/staging/segments",
            Some(&json!({ "key": key })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let base = "/v1/projects/web/environments/staging/segments";
    let (status, first) = send(&node, Method::GET, &format!("{base}?limit=2"), None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["segments"][1]["key"], "yak", "{first}");
    assert_eq!(first["next_cursor"], "yak", "{first}");
    let (_, rest) = send(
        &node,
        Method::GET,
        &format!("{base}?limit=2&cursor=yak&q=ZEB"),
        None,
    )
    .await;
    assert_eq!(rest["segments"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["next_cursor"], Value::Null, "{rest}");
    let (_, prod) = send(
        &node,
        Method::GET,
        "/v1/projects/web/environments/production/segments",
        None,
    )
    .await;
    assert_eq!(prod["segments"], json!([]), "{prod}");
    let (status, refused) = send(
        &node,
        Method::GET,
        "/v1/projects/web/environments/production/segments?cursor=beta",
        None,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["field"], "cursor");
    // A flag that uses it cannot be made where it is missing: the message
    // names the environment.
    let mut flag = common::bool_flag("beta-only");
    flag["rules"] = json!([{"id": "r1", "clauses": [{"attribute": "key", "operator": "segment_match", "values": ["beta"]}], "serve": {"variation": 0}}]);
    flag["fallthrough"] = json!({"variation": 1});
    let (status, body) = send(&node, Method::POST, "/v1/projects/web/flags", Some(&flag)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("in environment development"),
        "{body}"
    );
    // Made without the rule, then given it in staging only.
    let mut plain = flag.clone();
    plain["rules"] = json!([]);
    let (status, _) = send(&node, Method::POST, "/v1/projects/web/flags", Some(&plain)).await;
    assert_eq!(status, 201);
    let path = "/v1/projects/web/environments/staging/flags/beta-only";
    let (_, current) = send(&node, Method::GET, path, None).await;
    let mut cfg = current.clone();
    cfg["rules"] = flag["rules"].clone();
    let (status, body) = put_if(&node, path, 1, &cfg).await;
    assert_eq!(status, 200, "{body}");
    let prod = "/v1/projects/web/environments/production/flags/beta-only";
    let (status, body) = put_if(&node, prod, 1, &cfg).await;
    assert_eq!(status, 400, "production has no segment beta: {body}");
    assert_eq!(eval(&node, "staging", "beta-only", "u1").await, true);
    assert_eq!(eval(&node, "staging", "beta-only", "u2").await, false);
    // A write's answer names who uses the segment where it is.
    let seg_path = "/v1/projects/web/environments/staging/segments/beta";
    let (_, current) = send(&node, Method::GET, seg_path, None).await;
    let mut more = current.clone();
    more["included"] = json!(["u1", "u3"]);
    let (status, body) = put_if(&node, seg_path, 1, &more).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["used_by"], json!(["beta-only"]), "{body}");
    // In use in staging: refused, naming the flag.
    let (status, body) = send(
        &node,
        Method::DELETE,
        "/v1/projects/web/environments/staging/segments/beta",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("in_use")),
        "{body}"
    );
    let (_, list) = send(
        &node,
        Method::GET,
        "/v1/projects/web/environments/staging/segments",
        None,
    )
    .await;
    assert_eq!(
        list["segments"][0]["used_by"],
        json!(["beta-only"]),
        "{list}"
    );
    let (_, list) = send(
        &node,
        Method::GET,
        "/v1/projects/web/environments/production/segments",
        None,
    )
    .await;
    assert_eq!(list["segments"], json!([]), "{list}");
    // Unknown scopes are 404s naming what is missing.
    let (status, body) = send(
        &node,
        Method::GET,
        "/v1/projects/web/environments/qa/flags",
        None,
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (404, Some("environment")),
        "{body}"
    );
    let (status, body) = send(&node, Method::GET, "/v1/projects/nope/flags", None).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (404, Some("project")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_the_unscoped_routes_are_default_production_and_keep_the_rest_in_step() {
    let node = Node::start().await;
    let r = node.post("/v1/flags", &common::bool_flag("legacy")).await;
    assert_eq!(r.status(), 201);
    // The same record through both routes.
    let (_, scoped) = send(
        &node,
        Method::GET,
        "/v1/projects/default/environments/production/flags/legacy",
        None,
    )
    .await;
    assert_eq!(
        (&scoped["enabled"], &scoped["version"]),
        (&json!(true), &json!(1)),
        "{scoped}"
    );
    // Its other environments got it, disabled, and it has a definition.
    let staging = config(&node, "default/staging", "legacy").expect("staging has it");
    assert!(!staging.enabled);
    let (status, def) = send(
        &node,
        Method::GET,
        "/v1/projects/default/flags/legacy",
        None,
    )
    .await;
    assert_eq!(status, 200, "{def}");
    assert_eq!(def["environments"].as_object().unwrap().len(), 3, "{def}");
    // A rename through the unscoped route is a definition change.
    let mut renamed = scoped.clone();
    renamed["name"] = json!("Legacy flag");
    let (status, body) = put_if(&node, "/v1/flags/legacy", 1, &renamed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        config(&node, "default/staging", "legacy").unwrap().name,
        "Legacy flag"
    );
    let (_, def) = send(
        &node,
        Method::GET,
        "/v1/projects/default/flags/legacy",
        None,
    )
    .await;
    assert_eq!(def["version"], 2, "{def}");
    // A staging toggle is not a production one.
    let (status, _) = send(
        &node,
        Method::POST,
        "/v1/projects/default/environments/staging/flags/legacy/toggle",
        Some(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, prod) = send(&node, Method::GET, "/v1/flags/legacy", None).await;
    assert_eq!(prod["version"], 2, "{prod}");
    // Deleted through the unscoped route: gone from every environment.
    let (status, _) = send(&node, Method::DELETE, "/v1/flags/legacy", None).await;
    assert_eq!(status, 200);
    assert!(config(&node, "default/staging", "legacy").is_none());
    assert!(config(&node, "default/development", "legacy").is_none());
    let (status, _) = send(
        &node,
        Method::GET,
        "/v1/projects/default/flags/legacy",
        None,
    )
    .await;
    assert_eq!(status, 404);
    // A new environment starts with every flag, disabled.
    let r = node.post("/v1/flags", &common::bool_flag("kept")).await;
    assert_eq!(r.status(), 201);
    let (status, body) = send(
        &node,
        Method::POST,
        "/v1/projects/default/environments",
        Some(&json!({"key": "qa"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let qa = config(&node, "default/qa", "kept").expect("qa has it");
    assert!(!qa.enabled);
    // An environment holding flags is not deleted.
    let (status, body) = send(
        &node,
        Method::DELETE,
        "/v1/projects/default/environments/qa",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("in_use")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("1 flags in qa"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_a_feed_carries_one_environment() {
    let node = Node::start().await;
    project_web(&node).await;
    let mut flag = common::bool_flag("f");
    flag["enabled"] = json!(false);
    let (status, _) = send(&node, Method::POST, "/v1/projects/web/flags", Some(&flag)).await;
    assert_eq!(status, 201);
    let shared = node.running.raft.shared().clone();
    let mut prod = shared.subscribe_env("web/production", None);
    let mut staging = shared.subscribe_env("web/staging", None);
    let mut legacy = shared.subscribe(None);
    match &prod.start {
        Start::Snapshot(s) => assert_eq!(
            s.flags.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
            ["f"]
        ),
        Start::Resume(_) => panic!("a new subscriber starts from a snapshot"),
    }
    // Staging first, then production: a production subscriber's first
    // event must be production's.
    for env in ["staging", "production"] {
        let (status, _) = send(
            &node,
            Method::POST,
            &format!("/v1/projects/web/environments/{env}/flags/f/toggle"),
            Some(&json!({"enabled": true})),
        )
        .await;
        assert_eq!(status, 200);
    }
    let next = |rx: &mut tokio::sync::broadcast::Receiver<FeedEvent>| match rx.try_recv() {
        Ok(FeedEvent::Change(c)) => Some(c),
        _ => None,
    };
    let p = next(&mut prod.rx).expect("production's change");
    let s = next(&mut staging.rx).expect("staging's change");
    assert!(p.id > s.id, "staging was written first");
    for c in [&p, &s] {
        assert!(matches!(&c.change, Change::FlagUpsert { flag } if flag.enabled));
    }
    assert!(next(&mut prod.rx).is_none(), "production saw one change");
    assert!(next(&mut staging.rx).is_none(), "staging saw one change");
    assert!(
        next(&mut legacy.rx).is_none(),
        "default/production saw none"
    );

    // Over HTTP: an environment's stream starts with its own snapshot.
    let addr = node.url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /v1/projects/web/environments/staging/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    while !String::from_utf8_lossy(&buf).contains("\n\n{")
        && !String::from_utf8_lossy(&buf).contains("}\n\n")
    {
        let mut chunk = [0u8; 65536];
        let k = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .expect("a snapshot within 5 s")
            .unwrap();
        assert!(k > 0, "stream closed early");
        buf.extend_from_slice(&chunk[..k]);
    }
    let text = String::from_utf8_lossy(&buf);
    assert!(text.contains("event: snapshot"), "{text}");
    assert!(text.contains("\"key\":\"f\""), "{text}");
    assert!(text.contains("\"enabled\":true"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_scoped_writes_need_their_role() {
    let node = Node::start().await;
    project_web(&node).await;
    let viewer = node.token("vi", "viewer").await;
    let r = node
        .send(
            Method::POST,
            "/v1/projects/web/flags",
            Some(&viewer),
            Some(&common::bool_flag("x")),
        )
        .await;
    assert_eq!(r.status(), 403);
    let editor = node.token("ed", "editor").await;
    let r = node
        .send(
            Method::POST,
            "/v1/projects/web/flags",
            Some(&editor),
            Some(&common::bool_flag("x")),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = node
        .send(
            Method::POST,
            "/v1/projects/web/environments/staging/flags/x/toggle",
            Some(&viewer),
            Some(&json!({"enabled": true})),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = node
        .send(
            Method::GET,
            "/v1/projects/web/environments/staging/flags/x",
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
}

/// A key is never a path: `a%2Fb` reaches no other record, and the
/// mirror and the store stay one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_a_slash_in_a_key_reaches_no_other_record() {
    let node = Node::start().await;
    let r = node.post("/v1/flags", &common::bool_flag("b")).await;
    assert_eq!(r.status(), 201);
    let (status, _) = send(
        &node,
        Method::POST,
        "/v1/flags/a%2Fb/toggle",
        Some(&json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(&node, Method::DELETE, "/v1/flags/a%2Fb", None).await;
    assert_eq!(status, 404);
    let (_, b) = send(&node, Method::GET, "/v1/flags/b", None).await;
    assert_eq!(
        (&b["enabled"], &b["version"]),
        (&json!(true), &json!(1)),
        "{b}"
    );
    // A scoped rollback of production keeps the shared definition.
    let mut renamed = b.clone();
    renamed["name"] = json!("B");
    let (status, _) = put_if(&node, "/v1/flags/b", 1, &renamed).await;
    assert_eq!(status, 200);
    let (status, back) = send(
        &node,
        Method::POST,
        "/v1/projects/default/environments/production/flags/b/rollback",
        Some(&json!({"version": 1})),
    )
    .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["name"], "B", "{back}");
    // A flag made again through /v1/flags starts blank elsewhere, not
    // with the configuration it had before it was deleted.
    let (status, _) = send(
        &node,
        Method::POST,
        "/v1/projects/default/environments/staging/flags/b/toggle",
        Some(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(&node, Method::DELETE, "/v1/flags/b", None).await;
    assert_eq!(status, 200);
    let r = node.post("/v1/flags", &common::bool_flag("b")).await;
    assert_eq!(r.status(), 201);
    assert!(!config(&node, "default/staging", "b").unwrap().enabled);
}

/// An environment holding flags is deleted only with `?confirm=true`, and
/// its rollback brings them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_an_environment_with_flags_goes_only_when_confirmed() {
    let node = Node::start().await;
    project_web(&node).await;
    let (status, _) = send(
        &node,
        Method::POST,
        "/v1/projects/web/flags",
        Some(&common::bool_flag("kept")),
    )
    .await;
    assert_eq!(status, 201);
    let toggle = "/v1/projects/web/environments/staging/flags/kept/toggle";
    let (status, _) = send(&node, Method::POST, toggle, Some(&json!({"enabled": true}))).await;
    assert_eq!(status, 200);
    let env = "/v1/projects/web/environments/staging";
    let (status, body) = send(&node, Method::DELETE, env, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("in_use")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("1 flags in staging") && message.contains("?confirm=true"),
        "{message}"
    );
    let (status, body) = send(&node, Method::DELETE, &format!("{env}?confirm=yes"), None).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("confirm")),
        "{body}"
    );
    let (status, body) = send(&node, Method::DELETE, &format!("{env}?confirm=true"), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = send(&node, Method::GET, &format!("{env}/flags/kept"), None).await;
    assert_eq!(status, 404);
    let (status, body) = send(
        &node,
        Method::DELETE,
        "/v1/projects/default/environments/production?confirm=true",
        None,
    )
    .await;
    assert_eq!(status, 409, "default's production stays: {body}");
    let (status, body) = send(
        &node,
        Method::POST,
        &format!("{env}/rollback"),
        Some(&json!({"version": 1})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, flag) = send(&node, Method::GET, &format!("{env}/flags/kept"), None).await;
    assert_eq!(status, 200);
    assert_eq!(flag["enabled"], true, "{flag}");
    assert_eq!(eval(&node, "staging", "kept", "u1").await, true);
}

/// `GET /v1/projects/{p}/compare` lists where two environments differ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_compare_shows_where_two_environments_differ() {
    let node = Node::start().await;
    project_web(&node).await;
    for key in ["same", "differs"] {
        let mut f = common::bool_flag(key);
        f["tags"] = json!(["checkout"]);
        let (status, _) = send(&node, Method::POST, "/v1/projects/web/flags", Some(&f)).await;
        assert_eq!(status, 201);
    }
    let path = "/v1/projects/web/environments/staging/flags/differs";
    let (_, mut cfg) = send(&node, Method::GET, path, None).await;
    cfg["enabled"] = json!(false);
    cfg["targets"] = json!([{"variation": 0, "values": ["u1"]}]);
    let (status, body) = put_if(&node, path, 1, &cfg).await;
    assert_eq!(status, 200, "{body}");
    let seg = json!({"key": "beta", "included": ["u1"]});
    let (status, _) = send(
        &node,
        Method::POST,
        "/v1/projects/web/environments/staging/segments",
        Some(&seg),
    )
    .await;
    assert_eq!(status, 201);

    let url = "/v1/projects/web/compare?from=staging&to=production";
    let (status, c) = send(&node, Method::GET, url, None).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        c["flags"],
        json!([{"key": "differs", "status": "changed", "fields": ["enabled", "targets"]}])
    );
    assert_eq!(c["same_flags"], 1);
    assert_eq!(
        c["segments"],
        json!([{"key": "beta", "status": "only_in_from", "fields": []}])
    );
    // Filters.
    let (_, c) = send(&node, Method::GET, &format!("{url}&flags=same"), None).await;
    assert_eq!(
        (c["flags"].as_array().unwrap().len(), &c["same_flags"]),
        (0, &json!(1))
    );
    let (_, c) = send(&node, Method::GET, &format!("{url}&tag=nope"), None).await;
    assert_eq!(c["same_flags"], 0, "{c}");
    // Bad input names the field.
    let (status, body) = send(
        &node,
        Method::GET,
        "/v1/projects/web/compare?from=staging&to=qa",
        None,
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (404, Some("to")),
        "{body}"
    );
    let (status, body) = send(
        &node,
        Method::GET,
        "/v1/projects/web/compare?from=staging&to=staging",
        None,
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("to")),
        "{body}"
    );
    let (status, body) = send(
        &node,
        Method::GET,
        "/v1/projects/web/compare?from=staging",
        None,
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("to")),
        "{body}"
    );
    // A token must reach both environments.
    let r = node
        .send(
            Method::POST,
            "/v1/tokens",
            Some(ADMIN),
            Some(&json!({"name": "stg", "role": "viewer", "scope": [{"project": "web", "environments": ["staging"]}]})),
        )
        .await;
    let secret = r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = node.get(url, &secret).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("web/production"),
        "{body}"
    );
}

/// Sends `report` to `/v1/sdk/metrics` with an `sdk` token of `web`'s
/// environment `env`.
async fn sdk_report(node: &Node, env: &str, report: Value) {
    let r = node
        .send(
            Method::POST,
            "/v1/tokens",
            Some(ADMIN),
            Some(&json!({"name": format!("{env}-sdk"), "role": "sdk",
                "scope": [{"project": "web", "environments": [env]}]})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let secret = r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = node
        .send(
            Method::POST,
            "/v1/sdk/metrics",
            Some(&secret),
            Some(&report),
        )
        .await;
    assert_eq!(r.status(), 202);
}

/// The node's `/metrics` text.
async fn scrape(node: &Node) -> String {
    node.http
        .get(format!("{}/metrics", node.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Evaluations are counted in their environment: staging's do not show in
/// production's counts or in `default`'s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_evaluations_are_counted_per_environment() {
    let node = Node::start().await;
    project_web(&node).await;
    let (status, _) = send(
        &node,
        Method::POST,
        "/v1/projects/web/flags",
        Some(&common::bool_flag("counted")),
    )
    .await;
    assert_eq!(status, 201);
    for user in ["u1", "u2"] {
        eval(&node, "staging", "counted", user).await;
    }
    eval(&node, "production", "counted", "u1").await;
    // An SDK's report, from a token scoped to staging.
    sdk_report(
        &node,
        "staging",
        json!({"flags": {"counted": {"variations": {"0": 5}, "errors": 0}}}),
    )
    .await;
    let totals = |env: &'static str| {
        let node = &node;
        async move {
            let path = format!("/v1/projects/web/environments/{env}/metrics/evaluations");
            let (status, v) = send(node, Method::GET, &path, None).await;
            assert_eq!(status, 200, "{v}");
            v["totals_1h"]["counted"].as_u64().unwrap_or(0)
        }
    };
    assert_eq!(totals("staging").await, 7);
    assert_eq!(totals("production").await, 1);
    assert_eq!(totals("development").await, 0);
    let (_, legacy) = send(&node, Method::GET, "/v1/metrics/evaluations", None).await;
    assert!(legacy["totals_1h"].get("counted").is_none(), "{legacy}");
    // Prometheus counts them with their project and environment.
    let text = scrape(&node).await;
    let value = |series: &str| {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    let labels = |env: &str| format!("project=\"web\",environment=\"{env}\"");
    assert_eq!(
        value(&format!(
            "vexil_evaluations_total{{flag=\"counted\",reason=\"FALLTHROUGH\",{}}}",
            labels("staging")
        )),
        2.0
    );
    assert_eq!(
        value(&format!(
            "vexil_evaluations_total{{flag=\"counted\",reason=\"FALLTHROUGH\",{}}}",
            labels("production")
        )),
        1.0
    );
    assert_eq!(
        value(&format!(
            "vexil_sdk_evaluations_total{{flag=\"counted\",result=\"0\",{}}}",
            labels("staging")
        )),
        5.0
    );
    assert!(
        !text.contains("environment=\"development\""),
        "development counted nothing:\n{text}"
    );
    let (status, _) = send(
        &node,
        Method::GET,
        "/v1/projects/web/environments/qa/metrics/evaluations",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // A deleted environment's series go: they are not kept for names that
    // no longer exist (the next SDK report removes them).
    let (status, body) = send(
        &node,
        Method::DELETE,
        "/v1/projects/web/environments/staging?confirm=true",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    sdk_report(
        &node,
        "production",
        json!({"flags": {"counted": {"variations": {"1": 2}}}}),
    )
    .await;
    let text = scrape(&node).await;
    assert!(
        !text.contains("environment=\"staging\""),
        "staging's series are gone:\n{text}"
    );
    assert!(
        text.contains(
            "vexil_sdk_evaluations_total{flag=\"counted\",result=\"1\",project=\"web\",environment=\"production\"} 2"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_a_new_environment_can_start_as_a_copy_of_another() {
    let node = Node::start().await;
    project_web(&node).await;
    let (status, body) = send(
        &node,
        Method::POST,
        "/v1/projects/web/flags",
        Some(&common::bool_flag("checkout")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(
        &node,
        Method::POST,
        "/v1/projects/web/environments/staging/segments",
        Some(&json!({"key": "beta", "included": ["u1"]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut staged = config(&node, "web/staging", "checkout").unwrap();
    staged.rules = serde_json::from_value(json!([{"id": "r1",
        "clauses": [{"attribute": "key", "operator": "segment_match", "values": ["beta"]}],
        "serve": {"variation": 1}}]))
    .unwrap();
    let path = "/v1/projects/web/environments/staging/flags/checkout";
    let (status, body) = put_if(&node, path, staged.version, &json!(staged)).await;
    assert_eq!(status, 200, "{body}");

    // A copy_from that is not an environment of the project, or not a key.
    for (bad, why) in [(json!("nope"), "not found"), (json!(3), "must be the key")] {
        let (status, body) = send(
            &node,
            Method::POST,
            "/v1/projects/web/environments",
            Some(&json!({"key": "qa", "copy_from": bad})),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["field"], "copy_from", "{body}");
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");
    }

    let (status, made) = send(
        &node,
        Method::POST,
        "/v1/projects/web/environments",
        Some(&json!({"key": "qa", "name": "QA", "copy_from": "staging"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["key"], "qa");
    let copy = config(&node, "web/qa", "checkout").unwrap();
    assert_eq!(copy.rules, staged.rules);
    assert_eq!(copy.version, 1);
    // Its segment came too, so the rule evaluates there as in staging.
    assert_eq!(eval(&node, "qa", "checkout", "u1").await, false);
    assert_eq!(eval(&node, "staging", "checkout", "u1").await, false);
    assert_eq!(eval(&node, "production", "checkout", "u1").await, true);

    // Compare finds nothing between the copy and its source.
    let (_, diff) = send(
        &node,
        Method::GET,
        "/v1/projects/web/compare?from=staging&to=qa",
        None,
    )
    .await;
    assert_eq!(diff["flags"], json!([]), "{diff}");
    let (_, audit) = send(&node, Method::GET, "/v1/audit?environment=web/qa", None).await;
    let entry = &audit["entries"][0];
    assert_eq!(entry["action"], "environment.create", "{audit}");
    assert_eq!(entry["after"]["copied_from"], "staging", "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_a_project_with_flags_goes_only_when_confirmed_and_comes_back() {
    let node = Node::start().await;
    project_web(&node).await;
    let (status, _) = send(
        &node,
        Method::POST,
        "/v1/projects/web/flags",
        Some(&common::bool_flag("kept")),
    )
    .await;
    assert_eq!(status, 201);
    let staging = "/v1/projects/web/environments/staging";
    let (status, _) = send(
        &node,
        Method::POST,
        &format!("{staging}/segments"),
        Some(&json!({"key": "beta", "included": ["u1"]})),
    )
    .await;
    assert_eq!(status, 201);
    let mut cfg = config(&node, "web/staging", "kept").unwrap();
    cfg.targets = serde_json::from_value(json!([{"variation": 1, "values": ["u9"]}])).unwrap();
    let (status, body) = put_if(
        &node,
        &format!("{staging}/flags/kept"),
        cfg.version,
        &json!(cfg),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = send(&node, Method::DELETE, "/v1/projects/web", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("in_use")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("1 flags in staging") && message.contains("?confirm=true"),
        "{message}"
    );
    let (status, body) = send(&node, Method::DELETE, "/v1/projects/web?confirm=true", None).await;
    assert_eq!(status, 200, "{body}");
    let deleted_at = body["version"].as_u64().unwrap();
    for path in [
        "/v1/projects/web",
        "/v1/projects/web/flags/kept",
        "/v1/projects/web/environments/staging",
    ] {
        let (status, body) = send(&node, Method::GET, path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    assert!(config(&node, "web/staging", "kept").is_none());
    let has_definition = |node: &Node| {
        node.running
            .raft
            .shared()
            .read()
            .definitions
            .contains_key("web/kept")
    };
    assert!(
        !has_definition(&node),
        "the definition went with the project"
    );
    let (_, audit) = send(&node, Method::GET, "/v1/audit?project=web&limit=1", None).await;
    let entry = &audit["entries"][0];
    assert_eq!(entry["action"], "project.delete", "{audit}");
    assert_eq!(entry["before"]["flags"], 1, "{audit}");
    assert_eq!(entry["before"]["segments"], 1, "{audit}");
    // `default` serves the routes without a project: never purged.
    let (status, body) = send(
        &node,
        Method::DELETE,
        "/v1/projects/default?confirm=true",
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // The project comes back with its flag's definition; each environment
    // then with what it held.
    let (status, body) = send(
        &node,
        Method::POST,
        "/v1/projects/web/rollback",
        Some(&json!({"version": deleted_at - 1})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, def) = send(&node, Method::GET, "/v1/projects/web/flags/kept", None).await;
    assert_eq!(status, 200, "{def}");
    assert!(has_definition(&node));
    let (status, body) = send(
        &node,
        Method::POST,
        &format!("{staging}/rollback"),
        Some(&json!({"version": 1})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let back = config(&node, "web/staging", "kept").expect("kept in staging");
    assert_eq!(back.targets, cfg.targets);
    assert_eq!(eval(&node, "staging", "kept", "u9").await, false);
    let (status, _) = send(
        &node,
        Method::GET,
        &format!("{staging}/segments/beta"),
        None,
    )
    .await;
    assert_eq!(status, 200);
}

/// Level 7: a flag made through `/v1/flags` stores only its production
/// configuration; its definition and its blanks in `staging` and
/// `development` are derived. Through the API they read as if stored
/// (versions, paging, rollback), alike after a restart, and a change
/// stores them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t29_a_new_unscoped_flag_derives_the_rest_and_reads_alike_after_a_restart() {
    use std::sync::Arc;
    use vexil_storage::{Cf, Engine, MemBlobStore, MemEngine};

    let engine = Arc::new(MemEngine::new());
    let blobs = Arc::new(MemBlobStore::new());
    let feed = vexil_raft::state::FeedConfig::default;
    let mut node = Node::start_on(feed(), engine.clone(), blobs.clone()).await;
    assert!(
        node.running.raft.shared().read().level() >= vexil_raft::version::DERIVED_BLANKS,
        "a new node runs at the newest level"
    );
    for key in ["lazy-a", "lazy-b"] {
        let r = node.post("/v1/flags", &common::bool_flag(key)).await;
        assert_eq!(r.status(), 201);
    }
    // Nothing stored for staging or the definition.
    let stored = |cf: Cf, key: &[u8]| engine.get(cf, key).unwrap().is_some();
    assert!(stored(Cf::Flags, b"lazy-a"));
    assert!(!stored(Cf::Flags, b"default/staging/lazy-a"));

    let staging = "/v1/projects/default/environments/staging/flags";
    let (status, v) = send(
        &node,
        Method::GET,
        &format!("{staging}/lazy-a/versions"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let versions = v["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{v}");
    assert_eq!(
        (&versions[0]["version"], &versions[0]["action"]),
        (&json!(1), &json!("flag.restore"))
    );
    assert_eq!(versions[0]["state"]["enabled"], json!(false), "{v}");
    let (status, v) = send(
        &node,
        Method::GET,
        &format!("{staging}/lazy-a/versions/1"),
        None,
    )
    .await;
    assert_eq!((status, &v["version"]), (200, &json!(1)), "{v}");
    let (status, v) = send(
        &node,
        Method::GET,
        "/v1/projects/default/flags/lazy-a/versions",
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["versions"][0]["action"], json!("flag_definition.create"));
    // A page of staging's list ends at a derived flag, and its cursor
    // is accepted.
    let (status, page) = send(&node, Method::GET, &format!("{staging}?limit=1"), None).await;
    assert_eq!(status, 200, "{page}");
    let cursor = page["next_cursor"].as_str().expect("a cursor").to_owned();
    let (status, page) = send(
        &node,
        Method::GET,
        &format!("{staging}?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["flags"][0]["key"], json!("lazy-b"), "{page}");

    // After a restart, the same answers.
    let read_all = |node: &Node| {
        let st = node.running.raft.shared().read();
        let flags = |env: &str| -> Vec<Value> {
            let mut v: Vec<Value> = st
                .set(env)
                .map(|s| {
                    s.flags()
                        .map(|f| serde_json::to_value(f.flag().as_ref()).unwrap())
                        .collect()
                })
                .unwrap_or_default();
            v.sort_by_key(|f| f["key"].as_str().unwrap_or_default().to_owned());
            v
        };
        (
            serde_json::to_value(&st.definitions).unwrap(),
            flags("default/staging"),
            flags("default/development"),
        )
    };
    let before = read_all(&node);
    assert!(node.shutdown(Duration::from_secs(10)).await);
    let mut node = Node::start_on(feed(), engine.clone(), blobs.clone()).await;
    assert_eq!(read_all(&node), before);

    // A rollback of development to its derived version 1, and a staging
    // toggle: each stores version 1 before its own.
    let (status, v) = send(
        &node,
        Method::POST,
        "/v1/projects/default/environments/development/flags/lazy-a/rollback",
        Some(&json!({"version": 1})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["version"], json!(2), "{v}");
    let (status, _) = send(
        &node,
        Method::POST,
        &format!("{staging}/lazy-a/toggle"),
        Some(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, v) = send(
        &node,
        Method::GET,
        &format!("{staging}/lazy-a/versions"),
        None,
    )
    .await;
    let numbers: Vec<&Value> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["version"])
        .collect();
    assert_eq!(numbers, [&json!(2), &json!(1)], "{v}");
    assert!(stored(Cf::Flags, b"default/staging/lazy-a"));
    let before = read_all(&node);
    assert!(node.shutdown(Duration::from_secs(10)).await);
    let node = Node::start_on(feed(), engine, blobs).await;
    assert_eq!(read_all(&node), before);
}
