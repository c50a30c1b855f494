//! OFREP over HTTP against one in-process node: every reason, every error
//! code and status a request can cause, auth, bulk ETag/304, CORS, and the
//! SSE refetch events (ticket auth, catch-up, revocation).

mod common;

use std::time::{Duration, Instant};

use common::inproc::{ADMIN, Node};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const ONE: &str = "/ofrep/v1/evaluate/flags";

/// Flags covering every reason: see each comment.
async fn seed(node: &Node) {
    let bool_vars = json!([{"value": true, "name": "on"}, {"value": false, "name": "off"}]);
    let half = json!({"rollout": {"variations": [
        {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}});
    let flags = [
        // STATIC: no targeting at all.
        json!({"key": "static", "kind": "boolean", "variations": bool_vars, "enabled": true,
               "off_variation": 1, "fallthrough": {"variation": 0}}),
        // TARGETING_MATCH for u-target, DEFAULT for anyone else.
        json!({"key": "targeted", "kind": "string", "enabled": true, "off_variation": 0,
               "variations": [{"value": "plain"}, {"value": "gold", "name": "gold"}],
               "targets": [{"variation": 1, "values": ["u-target"]}],
               "fallthrough": {"variation": 0}}),
        // TARGETING_MATCH by a rule on an attribute (no key needed).
        json!({"key": "by-country", "kind": "number", "enabled": true, "off_variation": 0,
               "variations": [{"value": 1}, {"value": 2.5}],
               "rules": [{"id": "nz", "serve": {"variation": 1},
                          "clauses": [{"attribute": "country", "operator": "in", "values": ["NZ"]}]}],
               "fallthrough": {"variation": 0}}),
        // SPLIT: a rollout by key.
        json!({"key": "split", "kind": "json", "enabled": true, "off_variation": 0,
               "variations": [{"value": {"a": 1}}, {"value": {"b": [1, 2]}}], "fallthrough": half}),
        // DISABLED: still a value and a variant.
        json!({"key": "disabled", "kind": "boolean", "variations": bool_vars, "enabled": false,
               "off_variation": 1, "fallthrough": {"variation": 0}}),
        // DEFAULT: a prerequisite (the disabled flag) fails.
        json!({"key": "needs-prereq", "kind": "boolean", "variations": bool_vars, "enabled": true,
               "off_variation": 1, "fallthrough": {"variation": 0},
               "prerequisites": [{"flag": "disabled", "variation": 0}]}),
    ];
    for f in flags {
        let r = node.post("/v1/flags", &f).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
}

/// POSTs raw `body` to an OFREP path with `auth` headers.
async fn call(
    node: &Node,
    path: &str,
    auth: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = node
        .http
        .post(format!("{}{path}", node.url))
        .body(body.to_owned());
    req = req.header("content-type", "application/json");
    for (name, value) in auth {
        req = req.header(*name, *value);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn eval(node: &Node, token: &str, key: &str, ctx: Value) -> (StatusCode, Value) {
    let bearer = format!("Bearer {token}");
    let body = json!({ "context": ctx }).to_string();
    let (s, _, v) = call(
        node,
        &format!("{ONE}/{key}"),
        &[("authorization", &bearer)],
        &body,
    )
    .await;
    (s, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t40_every_reason_with_value_variant_and_metadata() {
    let node = Node::start().await;
    seed(&node).await;
    let sdk = node.token("app", "sdk").await;
    let u1 = json!({"targetingKey": "u1"});
    let cases = [
        ("static", u1.clone(), json!(true), "on", "STATIC"),
        (
            "targeted",
            json!({"targetingKey": "u-target"}),
            json!("gold"),
            "gold",
            "TARGETING_MATCH",
        ),
        ("targeted", u1.clone(), json!("plain"), "0", "DEFAULT"),
        (
            "by-country",
            json!({"country": "NZ"}),
            json!(2.5),
            "1",
            "TARGETING_MATCH",
        ),
        (
            "by-country",
            json!({"country": "AU"}),
            json!(1),
            "0",
            "DEFAULT",
        ),
        ("disabled", u1.clone(), json!(false), "off", "DISABLED"),
        ("needs-prereq", u1.clone(), json!(false), "off", "DEFAULT"),
    ];
    for (key, ctx, value, variant, reason) in cases {
        let (status, v) = eval(&node, &sdk, key, ctx).await;
        assert_eq!(status, 200, "{key}: {v}");
        assert_eq!(v["key"], key);
        assert_eq!(
            (&v["value"], &v["variant"], &v["reason"]),
            (&value, &json!(variant), &json!(reason)),
            "{key}: {v}"
        );
        assert_eq!(v["metadata"]["version"], 1, "{v}");
    }
    let (_, v) = eval(&node, &sdk, "by-country", json!({"country": "NZ"})).await;
    assert_eq!(
        v["metadata"],
        json!({"version": 1, "vexilReason": "RULE_MATCH", "ruleId": "nz"})
    );
    let (_, v) = eval(&node, &sdk, "needs-prereq", u1.clone()).await;
    assert_eq!(v["metadata"]["prerequisite"], "disabled");
    let (status, v) = eval(&node, &sdk, "split", u1).await;
    assert_eq!(
        (status, &v["reason"]),
        (StatusCode::OK, &json!("SPLIT")),
        "{v}"
    );
    assert!(v["value"].is_object() && ["0", "1"].contains(&v["variant"].as_str().unwrap()));

    // No context at all: an empty body, `{}`, or a null context.
    let auth = format!("Bearer {sdk}");
    for body in ["", "{}", r#"{"context": null}"#] {
        let (s, _, v) = call(
            &node,
            &format!("{ONE}/static"),
            &[("authorization", &auth)],
            body,
        )
        .await;
        assert_eq!(
            (s, &v["reason"]),
            (StatusCode::OK, &json!("STATIC")),
            "{body:?}: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t41_every_error_code_with_its_status_and_details() {
    let node = Node::start().await;
    seed(&node).await;
    let sdk = node.token("app", "sdk").await;
    let auth = format!("Bearer {sdk}");
    let cases = [
        (
            "nope",
            r#"{"context": {"targetingKey": "u1"}}"#,
            404,
            "FLAG_NOT_FOUND",
        ),
        ("static", "{not json", 400, "PARSE_ERROR"),
        ("static", r#"["context"]"#, 400, "PARSE_ERROR"),
        (
            "static",
            r#"{"context": {"user": {"plan": "pro"}}}"#,
            400,
            "INVALID_CONTEXT",
        ),
        (
            "static",
            r#"{"context": {"targetingKey": 42}}"#,
            400,
            "INVALID_CONTEXT",
        ),
        (
            "static",
            r#"{"context": {"key": "u1"}}"#,
            400,
            "INVALID_CONTEXT",
        ),
        (
            "split",
            r#"{"context": {"country": "NZ"}}"#,
            400,
            "TARGETING_KEY_MISSING",
        ),
        ("targeted", "{}", 400, "TARGETING_KEY_MISSING"),
    ];
    for (key, body, status, code) in cases {
        let path = format!("{ONE}/{key}");
        let (s, _, v) = call(&node, &path, &[("authorization", &auth)], body).await;
        assert_eq!(s.as_u16(), status, "{key} {body}: {v}");
        assert_eq!(
            (&v["key"], &v["errorCode"]),
            (&json!(key), &json!(code)),
            "{v}"
        );
        assert!(!v["errorDetails"].as_str().unwrap().is_empty(), "{v}");
    }
    // Flags that do not depend on the key need none.
    let (s, v) = eval(&node, &sdk, "by-country", json!({"country": "NZ"})).await;
    assert_eq!(s, 200, "{v}");
    // Bulk: a bad body fails whole, without a key.
    let (s, _, v) = call(&node, ONE, &[("authorization", &auth)], r#"{"context": 1}"#).await;
    assert_eq!(s, 400);
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["errorCode", "errorDetails"]
    );
    assert_eq!(v["errorCode"], "INVALID_CONTEXT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t42_auth_bearer_or_api_key_else_401() {
    let node = Node::start().await;
    seed(&node).await;
    let sdk = node.token("app", "sdk").await;
    let viewer = node.token("ops", "viewer").await;
    let path = format!("{ONE}/static");
    let bearer = format!("Bearer {sdk}");
    let ok: [&[(&str, &str)]; 3] = [
        &[("authorization", &bearer)],
        &[("x-api-key", &sdk)],
        &[("x-api-key", &viewer)],
    ];
    for auth in ok {
        let (s, _, v) = call(&node, &path, auth, "{}").await;
        assert_eq!(s, 200, "{auth:?}: {v}");
    }
    let refused: [&[(&str, &str)]; 3] = [
        &[],
        &[("authorization", "Bearer not-a-token")],
        &[("x-api-key", "not-a-token")],
    ];
    for auth in refused {
        for p in [path.as_str(), ONE] {
            let (s, _, v) = call(&node, p, auth, "{}").await;
            assert_eq!(s, 401, "{p} {auth:?}");
            assert!(v["errorDetails"].is_string(), "the general error body: {v}");
        }
    }
    // Revoking a token takes effect at once.
    let r = node
        .send(reqwest::Method::DELETE, "/v1/tokens/app", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 200);
    let (s, _, _) = call(&node, &path, &[("x-api-key", &sdk)], "{}").await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t43_bulk_lists_every_flag_with_an_etag_and_304() {
    let node = Node::start().await;
    seed(&node).await;
    let sdk = node.token("app", "sdk").await;
    let auth = format!("Bearer {sdk}");
    let bulk = |ctx: Value, etag: Option<String>| {
        let node = &node;
        let auth = auth.clone();
        async move {
            let mut h = vec![("authorization", auth.as_str())];
            let etag = etag.unwrap_or_default();
            if !etag.is_empty() {
                h.push(("if-none-match", etag.as_str()));
            }
            let (s, headers, v) = call(node, ONE, &h, &json!({ "context": ctx }).to_string()).await;
            let etag = headers.get("etag").map(|e| e.to_str().unwrap().to_owned());
            (s, etag, v)
        }
    };
    let (s, etag, v) = bulk(json!({"targetingKey": "u1"}), None).await;
    assert_eq!(s, 200);
    let keys: Vec<&str> = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "by-country",
            "disabled",
            "needs-prereq",
            "split",
            "static",
            "targeted"
        ]
    );
    let stream = &v["eventStreams"][0];
    assert_eq!(
        (&stream["type"], &stream["inactivityDelaySec"]),
        (&json!("sse"), &json!(120))
    );
    assert!(
        stream["endpoint"]["requestUri"]
            .as_str()
            .unwrap()
            .starts_with("/ofrep/v1/events?ticket=")
    );
    let etag = etag.expect("an ETag");

    let (s, again, v) = bulk(json!({"targetingKey": "u1"}), Some(etag.clone())).await;
    assert_eq!(
        (s, again.as_deref(), &v),
        (StatusCode::NOT_MODIFIED, Some(etag.as_str()), &Value::Null)
    );
    // Another context with other answers: another ETag.
    let (s, other, _) = bulk(json!({"targetingKey": "u-target"}), Some(etag.clone())).await;
    assert_eq!(s, 200);
    assert_ne!(other.unwrap(), etag);
    // No targeting key: flags that need one fail alone.
    let (s, _, v) = bulk(json!({}), None).await;
    assert_eq!(s, 200);
    let failed: Vec<&Value> = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("errorCode").is_some())
        .collect();
    assert_eq!(failed.len(), 2, "split and targeted: {failed:?}");
    assert!(
        failed
            .iter()
            .all(|f| f["errorCode"] == "TARGETING_KEY_MISSING")
    );
    // A change that alters the answers changes the ETag.
    let r = node
        .post("/v1/flags/static/toggle", &json!({"enabled": false}))
        .await;
    assert_eq!(r.status(), 200);
    let (s, changed, _) = bulk(json!({"targetingKey": "u1"}), Some(etag.clone())).await;
    assert_eq!(s, 200);
    assert_ne!(changed.unwrap(), etag);

    // CORS: a preflight, and the ETag exposed.
    let r = node
        .http
        .request(reqwest::Method::OPTIONS, format!("{}{ONE}", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        allowed.contains("authorization") && allowed.contains("if-none-match"),
        "{allowed}"
    );
    let (_, headers, _) = call(&node, ONE, &[("authorization", &auth)], "{}").await;
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["access-control-expose-headers"], "ETag");
}

/// An open events stream, read chunk by chunk.
struct Events(reqwest::Response, String);

impl Events {
    async fn open(node: &Node, uri: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = node.http.get(format!("{}{uri}", node.url));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        req.send().await.unwrap()
    }

    /// The next `refetchEvaluation` event's (id, data), within `within`.
    async fn next(&mut self, within: Duration) -> Option<(u64, Value)> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.1.find("\n\n") {
                let block: String = self.1.drain(..end + 2).collect();
                let id = block.lines().find_map(|l| l.strip_prefix("id: "));
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                if let (Some(id), Some(data)) = (id, data) {
                    return Some((id.parse().unwrap(), serde_json::from_str(data).unwrap()));
                }
                continue;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.0.chunk()).await {
                Ok(Ok(Some(bytes))) => self.1.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t44_events_refetch_on_every_change_with_ticket_auth() {
    let node = Node::start().await;
    seed(&node).await;
    let sdk = node.token("app", "sdk").await;
    let (_, _, v) = call(&node, ONE, &[("x-api-key", &sdk)], "{}").await;
    let uri = v["eventStreams"][0]["endpoint"]["requestUri"]
        .as_str()
        .unwrap()
        .to_owned();

    // The ticket alone authenticates (EventSource sends no headers).
    let r = Events::open(&node, &uri, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut events = Events(r, String::new());
    assert!(
        events.next(Duration::from_millis(300)).await.is_none(),
        "nothing changed yet"
    );
    let started = Instant::now();
    let r = node
        .post("/v1/flags/static/toggle", &json!({"enabled": false}))
        .await;
    assert_eq!(r.status(), 200);
    let applied = node.running.raft.shared().read().last_change;
    let (id, data) = events
        .next(Duration::from_secs(1))
        .await
        .expect("an event within 1 s");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(id, applied);
    assert_eq!(
        data,
        json!({"type": "refetchEvaluation", "etag": format!("\"{applied}\"")})
    );

    // A forged or foreign ticket is refused; a stale `since` catches up at once.
    let forged = uri.replacen("ticket=", "ticket=00", 1);
    assert_eq!(Events::open(&node, &forged, &[]).await.status(), 401);
    assert_eq!(
        Events::open(&node, "/ofrep/v1/events", &[]).await.status(),
        401
    );
    let mut late = Events(Events::open(&node, &uri, &[]).await, String::new());
    assert_eq!(
        late.next(Duration::from_secs(1)).await.map(|e| e.0),
        Some(applied)
    );
    // A reconnect that saw the last change gets nothing until the next one.
    let last = applied.to_string();
    let resumed = Events::open(
        &node,
        "/ofrep/v1/events",
        &[("x-api-key", &sdk), ("last-event-id", &last)],
    )
    .await;
    let mut resumed = Events(resumed, String::new());
    assert!(resumed.next(Duration::from_millis(300)).await.is_none());

    // Revoking the token ends its streams at their next event.
    let r = node
        .send(reqwest::Method::DELETE, "/v1/tokens/app", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), 200);
    node.post("/v1/flags/static/toggle", &json!({"enabled": true}))
        .await;
    assert!(
        events.next(Duration::from_secs(2)).await.is_none(),
        "the stream ended"
    );
    assert_eq!(Events::open(&node, &uri, &[]).await.status(), 401);
}
