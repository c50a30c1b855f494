//! The RBAC matrix: every route × every role × no token and a bad token,
//! and the routes that need no token at all.

mod common;

use common::inproc::{ADMIN, Node};
use reqwest::Method;
use serde_json::{Value, json};

fn flag(key: &str) -> Value {
    common::bool_flag(key)
}

/// (method, path, body, least role allowed)
fn routes() -> Vec<(Method, String, Option<Value>, &'static str)> {
    let seg = json!({"key": "rbac-seg", "included": ["a"]});
    vec![
        (Method::GET, "/v1/flags".into(), None, "viewer"),
        (
            Method::POST,
            "/v1/flags".into(),
            Some(flag("rbac-new")),
            "editor",
        ),
        (Method::GET, "/v1/flags/rbac".into(), None, "viewer"),
        (
            Method::PUT,
            "/v1/flags/rbac".into(),
            Some(flag("rbac")),
            "editor",
        ),
        (
            Method::POST,
            "/v1/flags/rbac/toggle".into(),
            Some(json!({"enabled": true})),
            "editor",
        ),
        (
            Method::GET,
            "/v1/flags/rbac/versions".into(),
            None,
            "viewer",
        ),
        (
            Method::GET,
            "/v1/flags/rbac/versions/1".into(),
            None,
            "viewer",
        ),
        (
            Method::POST,
            "/v1/flags/rbac/rollback".into(),
            Some(json!({"version": 1})),
            "editor",
        ),
        (Method::DELETE, "/v1/flags/rbac-gone".into(), None, "editor"),
        (Method::GET, "/v1/segments".into(), None, "viewer"),
        (
            Method::POST,
            "/v1/segments".into(),
            Some(seg.clone()),
            "editor",
        ),
        (Method::GET, "/v1/segments/rbac-seg".into(), None, "viewer"),
        (
            Method::PUT,
            "/v1/segments/rbac-seg".into(),
            Some(seg),
            "editor",
        ),
        (
            Method::GET,
            "/v1/segments/rbac-seg/versions".into(),
            None,
            "viewer",
        ),
        (
            Method::GET,
            "/v1/segments/rbac-seg/versions/1".into(),
            None,
            "viewer",
        ),
        (
            Method::POST,
            "/v1/segments/rbac-seg/rollback".into(),
            Some(json!({"version": 1})),
            "editor",
        ),
        (
            Method::DELETE,
            "/v1/segments/rbac-seg-gone".into(),
            None,
            "editor",
        ),
        (Method::GET, "/v1/audit".into(), None, "viewer"),
        (Method::GET, "/v1/tokens".into(), None, "admin"),
        (
            Method::POST,
            "/v1/tokens".into(),
            Some(json!({"name": "rbac-t", "role": "sdk"})),
            "admin",
        ),
        (
            Method::DELETE,
            "/v1/tokens/rbac-nobody".into(),
            None,
            "admin",
        ),
        (Method::GET, "/v1/cluster".into(), None, "viewer"),
        (
            Method::POST,
            "/v1/cluster/members".into(),
            Some(json!({"id": 0, "peer_addr": "x:1", "client_addr": "x:2"})),
            "admin",
        ),
        (
            Method::DELETE,
            "/v1/cluster/members/99".into(),
            None,
            "admin",
        ),
        (
            Method::POST,
            "/v1/evaluate".into(),
            Some(json!({"context": {"key": "u"}})),
            "sdk",
        ),
        (Method::GET, "/v1/me".into(), None, "sdk"),
        (Method::GET, "/v1/stream".into(), None, "sdk"),
        (Method::GET, "/v1/sdk/flags".into(), None, "sdk"),
        (
            Method::POST,
            "/v1/sdk/metrics".into(),
            Some(json!({"flags": {}})),
            "sdk",
        ),
        (Method::GET, "/v1/backup".into(), None, "admin"),
        (
            Method::GET,
            "/v1/metrics/evaluations".into(),
            None,
            "viewer",
        ),
        (Method::GET, "/v1/ui/nodes".into(), None, "viewer"),
        (Method::GET, "/v1/ui/write-latency".into(), None, "viewer"),
    ]
}

/// Routes anyone may call, with or without a token (see `metrics` and
/// `openapi` for why they are public).
const PUBLIC: [&str; 4] = ["/metrics", "/v1/openapi.json", "/healthz", "/readyz"];

const ORDER: [&str; 4] = ["sdk", "viewer", "editor", "admin"];

fn rank(role: &str) -> usize {
    ORDER.iter().position(|r| *r == role).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t20_every_route_every_role() {
    let node = Node::start().await;
    assert_eq!(node.post("/v1/flags", &flag("rbac")).await.status(), 201);
    assert_eq!(
        node.post("/v1/segments", &json!({"key": "rbac-seg-gone"}))
            .await
            .status(),
        201
    );
    let mut tokens = vec![("admin", ADMIN.to_owned())];
    for role in ["sdk", "viewer", "editor"] {
        tokens.push((role, node.token(&format!("t-{role}"), role).await));
    }
    let mut failures = Vec::new();
    for (method, path, body, least) in routes() {
        for (label, token) in [("none", None), ("bad", Some("not-a-real-token"))] {
            let r = node.send(method.clone(), &path, token, body.as_ref()).await;
            if r.status() != 401 {
                failures.push(format!(
                    "{method} {path} with {label} token: {} (want 401)",
                    r.status()
                ));
            } else {
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["error"], "unauthorized");
            }
        }
        for (role, token) in &tokens {
            let r = node
                .send(method.clone(), &path, Some(token), body.as_ref())
                .await;
            let status = r.status().as_u16();
            let allowed = rank(role) >= rank(least);
            // An SSE stream never ends: its status is all we read.
            let text = if is_event_stream(&r) {
                String::new()
            } else {
                r.text().await.unwrap()
            };
            if allowed && (status == 401 || status == 403) {
                failures.push(format!(
                    "{method} {path} as {role}: {status} {text} (want allowed)"
                ));
            }
            if allowed && method == Method::GET && status != 200 {
                failures.push(format!("{method} {path} as {role}: {status} (want 200)"));
            }
            if !allowed && status != 403 {
                failures.push(format!("{method} {path} as {role}: {status} (want 403)"));
            }
            if !allowed {
                assert!(
                    text.contains(least),
                    "a 403 names the role it needs: {text}"
                );
            }
        }
    }
    for path in PUBLIC {
        let mut callers = vec![("none", None), ("bad", Some("not-a-real-token"))];
        callers.extend(tokens.iter().map(|(role, t)| (*role, Some(t.as_str()))));
        for (label, token) in callers {
            let r = node.send(Method::GET, path, token, None).await;
            if r.status() != 200 {
                failures.push(format!(
                    "GET {path} with {label} token: {} (want 200)",
                    r.status()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "RBAC mismatches:\n{}",
        failures.join("\n")
    );
}

fn is_event_stream(r: &reqwest::Response) -> bool {
    r.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t21_revoked_token_stops_working_and_last_admin_stays() {
    let node = Node::start().await;
    let secret = node.token("short-lived", "editor").await;
    assert_eq!(node.get("/v1/me", &secret).await.status(), 200);
    let list: Value = node.get("/v1/tokens", ADMIN).await.json().await.unwrap();
    let text = list.to_string();
    assert!(text.contains("short-lived") && !text.contains(&secret) && !text.contains("hash"));
    let r = node
        .send(Method::DELETE, "/v1/tokens/short-lived", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(node.get("/v1/me", &secret).await.status(), 401);
    let r = node
        .send(Method::DELETE, "/v1/tokens/admin", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 409, "the last admin token cannot be revoked");
    let audit: Value = node
        .get("/v1/audit?token=short-lived", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["token.revoke", "token.create"]);
}
