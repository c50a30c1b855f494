//! Secrets that outlive nothing they should (issue 21): a token creation
//! retried with its `Idempotency-Key` answers the same secret, which works;
//! responses carrying a secret are not cached; API responses are not
//! sniffed; an admin token an operator chose is kept salted, so a backup
//! holds nothing to run a dictionary against.

mod common;

use common::inproc::{ADMIN, Node};
use serde_json::{Value, json};

async fn create(node: &Node, key: &str, name: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = node
        .http
        .post(format!("{}/v1/tokens", node.url))
        .bearer_auth(ADMIN)
        .header("Idempotency-Key", key)
        .json(&json!({ "name": name, "role": "viewer" }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap_or(Value::Null), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t21_a_retried_token_creation_answers_the_same_working_secret() {
    let node = Node::start().await;
    let (status, first, headers) = create(&node, "create-ci-token-1", "ci").await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(headers["cache-control"], "no-store");
    let (status, again, _) = create(&node, "create-ci-token-1", "ci").await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        first["secret"], again["secret"],
        "the retry lost the secret"
    );
    let secret = first["secret"].as_str().unwrap();
    let me: Value = node.get("/v1/me", secret).await.json().await.unwrap();
    assert_eq!(me["name"], "ci");

    // The same key for another token is a client bug, refused.
    let (status, body, _) = create(&node, "create-ci-token-1", "other").await;
    assert_eq!(status, 422, "{body}");
    // Another key makes another secret.
    let (status, other, _) = create(&node, "create-ci-token-2", "ci2").await;
    assert_eq!(status, 201, "{other}");
    assert_ne!(other["secret"], first["secret"]);

    // Without a key: random, as before.
    let r = node
        .post("/v1/tokens", &json!({"name": "plain", "role": "sdk"}))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t21_api_responses_are_not_sniffed_and_the_ui_is_not_framed() {
    let node = Node::start().await;
    for path in ["/v1/flags", "/healthz", "/v1/no-such-route"] {
        let r = node.get(path, ADMIN).await;
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
    }
    let r = node.get("/ui/", ADMIN).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t21_a_chosen_admin_token_is_kept_salted_not_as_its_sha256() {
    // The in-process node is started with `AdminToken::Given(ADMIN)`.
    let node = Node::start().await;
    let backup = node.get("/v1/backup", ADMIN).await;
    assert_eq!(backup.status(), 200);
    let backup = backup.bytes().await.unwrap();
    let digest = vexil_raft::hash_secret(ADMIN);
    assert!(
        !contains(&backup, digest.as_bytes()),
        "the backup holds the chosen token's plain SHA-256"
    );
    assert!(contains(&backup, b"$argon2id$v=19$m=19456,t=2,p=1$"));

    // It opens the node, again and again (the second from memory), and a
    // near miss is refused, also when asked twice.
    for _ in 0..3 {
        let me: Value = node.get("/v1/me", ADMIN).await.json().await.unwrap();
        assert_eq!(me["name"], "admin");
    }
    let wrong = format!("{ADMIN}x");
    for _ in 0..2 {
        assert_eq!(node.get("/v1/me", &wrong).await.status(), 401);
    }
    // Generated tokens are still SHA-256: found by digest, and working.
    let sdk = node.token("app", "viewer").await;
    assert!(contains(
        &node.get("/v1/backup", ADMIN).await.bytes().await.unwrap(),
        vexil_raft::hash_secret(&sdk).as_bytes()
    ));
    assert_eq!(node.get("/v1/flags", &sdk).await.status(), 200);
}
