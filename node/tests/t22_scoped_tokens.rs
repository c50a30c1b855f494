//! Tokens scoped to projects and environments (issue 22): the matrix of
//! role × scope × route, an sdk token serving its one environment on the
//! unscoped routes, and the scope's validation.

mod common;

use common::inproc::{ADMIN, Node};
use reqwest::Method;
use serde_json::{Value, json};

/// What a route needs of a token's scope, modelled apart from the server's
/// `vexil_flags::scope` so that the matrix checks it rather than repeats it.
#[derive(Clone, Copy, Debug)]
enum Needs {
    /// Only the role (cluster status, `/v1/me`).
    Role,
    /// Every project.
    All,
    /// Every environment of the project.
    Project(&'static str),
    /// Some environment of the project.
    InProject(&'static str),
    Env(&'static str, &'static str),
    /// Two environments of the project (compare, promotion).
    Both(&'static str, &'static str, &'static str),
    /// What the unscoped evaluation routes serve: an sdk token's one
    /// environment, else `default`/`production`.
    Served,
}

/// Whether a token of `role` and `scope` (`*`, `web`, or `web/staging`)
/// reaches `needs`.
fn covers(role: &str, scope: &str, needs: Needs) -> bool {
    if scope == "*" {
        return true;
    }
    let (p, e) = scope.split_once('/').unwrap_or((scope, ""));
    match needs {
        Needs::Role => true,
        Needs::All => false,
        Needs::Project(x) => e.is_empty() && p == x,
        Needs::InProject(x) => p == x,
        Needs::Env(x, y) => p == x && (e.is_empty() || e == y),
        Needs::Both(x, y, z) => p == x && (e.is_empty() || (e == y && e == z)),
        // A scoped sdk token is bound to one environment, which it is
        // served; anyone else is served `default`/`production`.
        Needs::Served => role == "sdk" || (p == "default" && (e.is_empty() || e == "production")),
    }
}

/// (method, path, body, least role, what the scope must reach)
fn routes() -> Vec<(Method, &'static str, Option<Value>, &'static str, Needs)> {
    let web = Needs::Project("web");
    let staging = Needs::Env("web", "staging");
    let seg = json!({"key": "scoped-seg", "included": ["a"]});
    let flag = common::bool_flag("scoped");
    vec![
        (Method::GET, "/v1/projects", None, "viewer", Needs::Role),
        (
            Method::POST,
            "/v1/projects",
            Some(json!({"key": "made-by-matrix"})),
            "admin",
            Needs::All,
        ),
        (
            Method::GET,
            "/v1/projects/web",
            None,
            "viewer",
            Needs::InProject("web"),
        ),
        (
            Method::PUT,
            "/v1/projects/web",
            Some(json!({"key": "web", "name": "Web"})),
            "admin",
            web,
        ),
        (
            Method::GET,
            "/v1/projects/web/environments",
            None,
            "viewer",
            Needs::InProject("web"),
        ),
        (
            Method::GET,
            "/v1/projects/web/environments/staging",
            None,
            "viewer",
            staging,
        ),
        (
            Method::POST,
            "/v1/projects/web/environments",
            Some(json!({"key": "qa"})),
            "admin",
            web,
        ),
        (
            Method::GET,
            "/v1/projects/web/flags",
            None,
            "viewer",
            Needs::InProject("web"),
        ),
        (
            Method::POST,
            "/v1/projects/web/flags",
            Some(common::bool_flag("scoped-new")),
            "editor",
            web,
        ),
        (
            Method::GET,
            "/v1/projects/web/flags/scoped",
            None,
            "viewer",
            web,
        ),
        (
            Method::PUT,
            "/v1/projects/web/flags/scoped",
            Some(flag.clone()),
            "editor",
            web,
        ),
        (
            Method::GET,
            "/v1/projects/web/flags/scoped/versions",
            None,
            "viewer",
            web,
        ),
        (
            Method::GET,
            "/v1/projects/web/environments/staging/flags",
            None,
            "viewer",
            staging,
        ),
        (
            Method::GET,
            "/v1/projects/web/environments/staging/flags/scoped",
            None,
            "viewer",
            staging,
        ),
        (
            Method::PUT,
            "/v1/projects/web/environments/staging/flags/scoped",
            Some(flag),
            "editor",
            staging,
        ),
        (
            Method::POST,
            "/v1/projects/web/environments/staging/flags/scoped/toggle",
            Some(json!({"enabled": true})),
            "editor",
            staging,
        ),
        (
            Method::GET,
            "/v1/projects/web/environments/staging/flags/scoped/versions",
            None,
            "viewer",
            staging,
        ),
        (
            Method::POST,
            "/v1/projects/web/environments/staging/flags/scoped/rollback",
            Some(json!({"version": 1})),
            "editor",
            staging,
        ),
        (
            Method::GET,
            "/v1/projects/web/environments/staging/segments",
            None,
            "viewer",
            staging,
        ),
        (
            Method::POST,
            "/v1/projects/web/environments/staging/segments",
            Some(seg),
            "editor",
            staging,
        ),
        (
            Method::GET,
            "/v1/projects/web/environments/staging/segments/scoped-seg",
            None,
            "viewer",
            staging,
        ),
        (
            Method::POST,
            "/v1/projects/web/environments/staging/evaluate",
            Some(json!({"context": {"key": "u"}})),
            "sdk",
            staging,
        ),
        (
            Method::GET,
            "/v1/projects/web/environments/staging/stream",
            None,
            "sdk",
            staging,
        ),
        (
            Method::GET,
            "/v1/projects/web/compare?from=staging&to=production",
            None,
            "viewer",
            Needs::Both("web", "staging", "production"),
        ),
        (
            Method::POST,
            "/v1/projects/web/promote",
            Some(json!({"from": "staging", "to": "production", "all": true, "dry_run": true})),
            "viewer",
            Needs::Both("web", "staging", "production"),
        ),
        (
            Method::POST,
            "/v1/projects/web/promote",
            Some(json!({"from": "development", "to": "staging", "flags": ["scoped"]})),
            "editor",
            Needs::Both("web", "development", "staging"),
        ),
        (
            Method::GET,
            "/v1/projects/web/promotions",
            None,
            "viewer",
            Needs::InProject("web"),
        ),
        (
            Method::GET,
            "/v1/flags",
            None,
            "viewer",
            Needs::Env("default", "production"),
        ),
        (
            Method::PUT,
            "/v1/flags/legacy",
            Some(common::bool_flag("legacy")),
            "editor",
            // It writes `default`'s definition and other environments.
            Needs::Project("default"),
        ),
        (
            Method::GET,
            "/v1/flags/legacy",
            None,
            "viewer",
            Needs::Env("default", "production"),
        ),
        (
            Method::POST,
            "/v1/flags/legacy/toggle",
            Some(json!({"enabled": true})),
            "editor",
            Needs::Env("default", "production"),
        ),
        (
            Method::GET,
            "/v1/segments",
            None,
            "viewer",
            Needs::Env("default", "production"),
        ),
        (
            Method::GET,
            "/v1/metrics/evaluations",
            None,
            "viewer",
            Needs::Env("default", "production"),
        ),
        (
            Method::POST,
            "/v1/evaluate",
            Some(json!({"context": {"key": "u"}})),
            "sdk",
            Needs::Served,
        ),
        (Method::GET, "/v1/stream", None, "sdk", Needs::Served),
        (Method::GET, "/v1/sdk/flags", None, "sdk", Needs::Served),
        (
            Method::POST,
            "/ofrep/v1/evaluate/flags",
            Some(json!({"context": {"targetingKey": "u"}})),
            "sdk",
            Needs::Served,
        ),
        (Method::GET, "/v1/me", None, "sdk", Needs::Role),
        (Method::GET, "/v1/cluster", None, "viewer", Needs::Role),
        (Method::GET, "/v1/audit", None, "viewer", Needs::All),
        (Method::GET, "/v1/tokens", None, "admin", Needs::All),
        (
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "made-in-matrix", "role": "viewer"})),
            "admin",
            Needs::All,
        ),
        (Method::GET, "/v1/backup", None, "admin", Needs::All),
    ]
}

const ORDER: [&str; 4] = ["sdk", "viewer", "editor", "admin"];

fn rank(role: &str) -> usize {
    ORDER.iter().position(|r| *r == role).unwrap()
}

/// The API's form of a scope string: `web` or `web/staging`.
fn scope_json(scope: &str) -> Value {
    match scope.split_once('/') {
        Some((p, e)) => json!([{"project": p, "environments": [e]}]),
        None => json!([{ "project": scope }]),
    }
}

async fn scoped_token(node: &Node, name: &str, role: &str, scope: &str) -> String {
    let mut body = json!({"name": name, "role": role});
    if scope != "*" {
        body["scope"] = scope_json(scope);
    }
    let r = node
        .send(Method::POST, "/v1/tokens", Some(ADMIN), Some(&body))
        .await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    v["secret"].as_str().unwrap().to_owned()
}

async fn setup(node: &Node) {
    let ok = |r: reqwest::Response| async move {
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(status.is_success(), "{status} {body}");
    };
    for project in ["web", "api"] {
        ok(node.post("/v1/projects", &json!({"key": project})).await).await;
    }
    ok(node
        .post("/v1/projects/web/flags", &common::bool_flag("scoped"))
        .await)
    .await;
    ok(node.post("/v1/flags", &common::bool_flag("legacy")).await).await;
}

fn is_event_stream(r: &reqwest::Response) -> bool {
    r.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t22_every_route_every_role_every_scope() {
    let node = Node::start().await;
    setup(&node).await;
    // sdk tokens are bound to one environment; the other roles get every
    // kind of scope.
    let mut tokens: Vec<(&str, &str, String)> = Vec::new();
    for (i, (role, scope)) in [
        ("sdk", "*"),
        ("sdk", "web/staging"),
        ("sdk", "web/production"),
        ("sdk", "api/production"),
        ("viewer", "*"),
        ("viewer", "web"),
        ("viewer", "web/staging"),
        ("viewer", "api"),
        ("editor", "web"),
        ("editor", "web/staging"),
        ("editor", "web/production"),
        ("editor", "default/production"),
        ("editor", "api"),
        ("admin", "web"),
        ("admin", "web/staging"),
        ("admin", "api"),
    ]
    .into_iter()
    .enumerate()
    {
        let secret = scoped_token(&node, &format!("m{i}-{role}"), role, scope).await;
        tokens.push((role, scope, secret));
    }
    tokens.push(("admin", "*", ADMIN.to_owned()));
    let mut failures = Vec::new();
    for (method, path, body, least, needs) in routes() {
        for (role, scope, secret) in &tokens {
            let r = node
                .send(method.clone(), path, Some(secret), body.as_ref())
                .await;
            let status = r.status().as_u16();
            let text = if is_event_stream(&r) {
                String::new()
            } else {
                r.text().await.unwrap()
            };
            let role_ok = rank(role) >= rank(least);
            let allowed = role_ok && covers(role, scope, needs);
            let who = format!("{method} {path} as {role} of {scope}");
            if allowed && (status == 401 || status == 403) {
                failures.push(format!("{who}: {status} {text} (want allowed)"));
            }
            if allowed && method == Method::GET && status != 200 {
                failures.push(format!("{who}: {status} {text} (want 200)"));
            }
            if !allowed && status != 403 {
                failures.push(format!("{who}: {status} (want 403)"));
            }
            if !allowed && status == 403 {
                // A 403 names what is missing: the role, else the scope.
                let named = if role_ok {
                    text.contains("scope includes")
                } else {
                    text.contains(least)
                };
                if !named {
                    failures.push(format!("{who}: 403 that names nothing: {text}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} scope mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A token scoped to some projects lists only those, and only the
/// environments it reaches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t22_lists_show_what_the_scope_reaches() {
    let node = Node::start().await;
    setup(&node).await;
    let secret = scoped_token(&node, "staging-viewer", "viewer", "web/staging").await;
    let projects: Value = node
        .get("/v1/projects", &secret)
        .await
        .json()
        .await
        .unwrap();
    let keys: Vec<&str> = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["web"], "{projects}");
    let envs: Value = node
        .get("/v1/projects/web/environments", &secret)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(envs["environments"].as_array().unwrap().len(), 1, "{envs}");
    assert_eq!(envs["environments"][0]["key"], "staging");
    let flags: Value = node
        .get("/v1/projects/web/flags", &secret)
        .await
        .json()
        .await
        .unwrap();
    let row = &flags["flags"][0];
    assert_eq!(row["key"], "scoped", "{flags}");
    let shown: Vec<&String> = row["environments"].as_object().unwrap().keys().collect();
    assert_eq!(shown, ["staging"], "{flags}");
    // Outside its scope, a project that exists and one that does not
    // answer alike: the scope is checked before the path is looked up.
    for path in [
        "/v1/projects/api/environments/production/segments/x",
        "/v1/projects/nope/environments/production/segments/x",
        "/v1/projects/nope/flags/x",
    ] {
        assert_eq!(node.get(path, &secret).await.status(), 403, "{path}");
    }
    let me: Value = node.get("/v1/me", &secret).await.json().await.unwrap();
    assert_eq!(
        me["scope"],
        json!([{"project": "web", "environments": ["staging"]}])
    );
}

/// An sdk token bound to `web`/`staging` is served staging on every
/// unscoped evaluation route; changes in production reach none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t22_an_sdk_token_selects_its_environment() {
    let node = Node::start().await;
    setup(&node).await;
    // On in staging, off in production.
    for (env, enabled) in [("staging", true), ("production", false)] {
        let path = format!("/v1/projects/web/environments/{env}/flags/scoped/toggle");
        let r = node
            .send(
                Method::POST,
                &path,
                Some(ADMIN),
                Some(&json!({"enabled": enabled})),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let sdk = scoped_token(&node, "web-staging-sdk", "sdk", "web/staging").await;
    let me: Value = node.get("/v1/me", &sdk).await.json().await.unwrap();
    assert_eq!(me["environment"], "web/staging");

    // Evaluation: staging's flag, on; `default`'s flag is not there.
    let ctx = json!({"context": {"key": "u1"}});
    let r = node
        .send(Method::POST, "/v1/evaluate", Some(&sdk), Some(&ctx))
        .await;
    let all: Value = r.json().await.unwrap();
    assert_eq!(all["flags"]["scoped"]["value"], true, "{all}");
    assert!(all["flags"].get("legacy").is_none(), "{all}");
    // The same flag is off in production and for an unscoped sdk token.
    let prod = scoped_token(&node, "web-prod-sdk", "sdk", "web/production").await;
    let r = node
        .send(Method::POST, "/v1/evaluate", Some(&prod), Some(&ctx))
        .await;
    let all: Value = r.json().await.unwrap();
    assert_eq!(all["flags"]["scoped"]["value"], false, "{all}");

    // The SDK's snapshot.
    let snap: Value = node.get("/v1/sdk/flags", &sdk).await.json().await.unwrap();
    let keys: Vec<&str> = snap["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["scoped"], "{snap}");
    assert_eq!(snap["flags"][0]["enabled"], true);

    // OFREP.
    let r = node
        .send(
            Method::POST,
            "/ofrep/v1/evaluate/flags/scoped",
            Some(&sdk),
            Some(&json!({"context": {"targetingKey": "u1"}})),
        )
        .await;
    let one: Value = r.json().await.unwrap();
    assert_eq!(one["value"], true, "{one}");
    let r = node
        .send(
            Method::POST,
            "/ofrep/v1/evaluate/flags/legacy",
            Some(&sdk),
            Some(&json!({"context": {"targetingKey": "u1"}})),
        )
        .await;
    assert_eq!(r.status(), 404, "default's flag is not in web/staging");

    // The stream: its snapshot is staging's, and a production change
    // sends nothing, a staging change does.
    let mut stream = node
        .http
        .get(format!("{}/v1/stream", node.url))
        .bearer_auth(&sdk)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    while !seen.contains("event: snapshot") || !seen.contains("\n\n") {
        let chunk = stream.chunk().await.unwrap().expect("the snapshot");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("\"scoped\"") && !seen.contains("\"legacy\""),
        "{seen}"
    );
    for (env, enabled) in [("production", true), ("staging", false)] {
        let path = format!("/v1/projects/web/environments/{env}/flags/scoped/toggle");
        let r = node
            .send(
                Method::POST,
                &path,
                Some(ADMIN),
                Some(&json!({"enabled": enabled})),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let mut next = String::new();
    while !next.contains("\n\n") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk())
            .await
            .expect("a change within 10 s")
            .unwrap()
            .expect("the stream stays open");
        next.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The first change event after the snapshot is staging's toggle off:
    // production's toggle on, made first, never came.
    assert!(next.contains("event: change"), "{next}");
    assert!(next.contains("\"enabled\":false"), "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t22_a_bad_scope_is_a_400_naming_the_field() {
    let node = Node::start().await;
    setup(&node).await;
    let cases = [
        (json!({"role": "viewer", "scope": []}), "scope"),
        (
            json!({"role": "viewer", "scope": [{"project": "nope"}]}),
            "scope[0].project",
        ),
        (
            json!({"role": "viewer", "scope": [{"project": "web", "environments": ["qa"]}]}),
            "scope[0].environments[0]",
        ),
        (
            json!({"role": "viewer", "scope": [{"project": "web", "environments": []}]}),
            "scope[0].environments",
        ),
        (
            json!({"role": "viewer", "scope": [{"project": "web"}, {"project": "web"}]}),
            "scope[1].project",
        ),
        (
            json!({"role": "sdk", "scope": [{"project": "web"}]}),
            "scope",
        ),
        (
            json!({"role": "sdk", "scope": [{"project": "web", "environments": ["staging", "production"]}]}),
            "scope",
        ),
        (
            json!({"role": "viewer", "scope": [{"project": "web", "extra": 1}]}),
            "scope",
        ),
    ];
    for (i, (mut body, field)) in cases.into_iter().enumerate() {
        body["name"] = json!(format!("bad-{i}"));
        let r = node
            .send(Method::POST, "/v1/tokens", Some(ADMIN), Some(&body))
            .await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 400, "{body}: {v}");
        let fields: Vec<&str> = v["errors"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_else(|| v["field"].as_str().into_iter().collect());
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{body}: want {field}, got {v}"
        );
    }
    // A scoped admin cannot make tokens (it would reach past its scope),
    // and the last admin of every project stays.
    let scoped_admin = scoped_token(&node, "web-admin", "admin", "web").await;
    let r = node
        .send(
            Method::POST,
            "/v1/tokens",
            Some(&scoped_admin),
            Some(&json!({"name": "escalated", "role": "admin"})),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = node
        .send(Method::DELETE, "/v1/tokens/admin", Some(ADMIN), None)
        .await;
    assert_eq!(
        r.status(),
        409,
        "a scoped admin does not count as the last admin"
    );
    let r = node
        .send(Method::DELETE, "/v1/tokens/web-admin", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 200);
}
