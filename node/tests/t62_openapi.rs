//! `GET /v1/openapi.json`: a valid OpenAPI 3.1 document that lists every
//! route the code serves (and no other), with honest error bodies.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::inproc::Node;
use serde_json::Value;

/// The admin UI's static files: served, but not an API.
const UNDOCUMENTED: [&str; 4] = ["/", "/ui", "/ui/", "/ui/{*path}"];

/// Every path literal given to `.route(` under `node/src` (but `net/`,
/// the peer port's Raft RPC, which is not the API), plus the version routes
/// `versions_routes(prefix, …)` builds.
fn routes_in_source() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("net") {
                    stack.push(path);
                }
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices(".route(") {
                let rest = text[i + 7..].trim_start();
                if let Some(lit) = rest.strip_prefix('"') {
                    out.insert(lit[..lit.find('"').unwrap()].to_owned());
                }
            }
            // `versions_routes::<R>("/v1/flags/{key}")`
            for (i, _) in text.match_indices("versions_routes::<") {
                let rest = &text[i..];
                let open = rest.find('"').unwrap() + 1;
                let prefix = &rest[open..open + rest[open..].find('"').unwrap()];
                for tail in ["/versions", "/versions/{version}", "/rollback"] {
                    out.insert(format!("{prefix}{tail}"));
                }
            }
        }
    }
    out
}

#[test]
fn t62_every_route_is_documented_and_nothing_else() {
    let doc = serde_json::to_value(vexil_node::openapi::document()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let served: BTreeSet<String> = routes_in_source()
        .into_iter()
        .filter(|r| !UNDOCUMENTED.contains(&r.as_str()))
        .collect();
    assert!(served.len() > 30, "found only {served:?}");
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "routes without documentation: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "documented routes the code does not serve: {extra:?}"
    );
}

#[test]
fn t62_errors_are_documented_where_they_apply() {
    let doc = serde_json::to_value(vexil_node::openapi::document()).unwrap();
    let op = |path: &str, method: &str| doc["paths"][path][method].clone();
    let codes = |v: &Value| -> BTreeSet<String> {
        v["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let put = codes(&op("/v1/flags/{key}", "put"));
    for c in [
        "200", "400", "401", "403", "404", "409", "413", "415", "428", "503", "507",
    ] {
        assert!(put.contains(c), "PUT /v1/flags/{{key}} lacks {c}: {put:?}");
    }
    // A reused Idempotency-Key answers 422 wherever the header is taken.
    let mut idempotent = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let takes_key = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key")
            });
            if takes_key {
                idempotent += 1;
                assert!(
                    codes(op).contains("422"),
                    "{method} {path} takes Idempotency-Key but does not document 422"
                );
            }
        }
    }
    assert!(
        idempotent >= 8,
        "only {idempotent} operations take Idempotency-Key"
    );
    let health = codes(&op("/healthz", "get"));
    assert_eq!(health, BTreeSet::from(["200".to_owned()]));
    let error = &doc["components"]["schemas"]["ApiError"];
    let props: BTreeSet<&str> = error["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        props,
        BTreeSet::from(["error", "message", "field", "errors"])
    );
    assert_eq!(
        op("/v1/stream", "get")["responses"]["200"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap(),
        "text/event-stream"
    );
    // Every reference resolves.
    let text = doc.to_string();
    let pat = "\"$ref\":\"#/components/schemas/";
    for (i, _) in text.match_indices(pat) {
        let rest = &text[i + pat.len()..];
        let name = &rest[..rest.find('"').unwrap()];
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "unresolved {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t62_the_node_serves_the_document_without_a_token() {
    let node = Node::start().await;
    let r = node
        .http
        .get(format!("{}/v1/openapi.json", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let served: Value = r.json().await.unwrap();
    assert_eq!(
        served,
        serde_json::to_value(vexil_node::openapi::document()).unwrap()
    );
}
