//! The change feed over raw HTTP: resume inside and outside the ring buffer,
//! and a slow consumer dropped while the node stays healthy.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::inproc::{ADMIN, Node};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vexil_raft::state::FeedConfig;

/// Opens `/v1/stream` on a raw socket.
async fn open(node: &Node, last_event_id: Option<u64>) -> TcpStream {
    open_from(node, last_event_id, None).await
}

/// Opens `/v1/stream` as a client whose state came from `cluster`.
async fn open_from(node: &Node, last_event_id: Option<u64>, cluster: Option<&str>) -> TcpStream {
    let addr = node.url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut extra = last_event_id
        .map(|id| format!("Last-Event-ID: {id}\r\n"))
        .unwrap_or_default();
    if let Some(c) = cluster {
        extra.push_str(&format!("X-Vexil-Cluster-Id: {c}\r\n"));
    }
    let req = format!(
        "GET /v1/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\n{extra}\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

/// Reads until `n` SSE events arrived; returns (event name, id) pairs.
async fn events(s: &mut TcpStream, n: usize) -> Vec<(String, u64)> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while out.len() < n {
        let mut chunk = [0u8; 65536];
        let k = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "waited 5 s for event {} of {n}; so far: {}",
                    out.len() + 1,
                    String::from_utf8_lossy(&buf)
                )
            })
            .unwrap();
        assert!(k > 0, "stream closed early");
        buf.extend_from_slice(&chunk[..k]);
        let text = String::from_utf8_lossy(&buf).to_string();
        out = text
            .split("\n\n")
            .filter_map(|block| {
                let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
                let id = block.lines().find_map(|l| l.strip_prefix("id: "))?;
                Some((name.to_owned(), id.trim().parse().ok()?))
            })
            .collect();
    }
    out
}

async fn toggle(node: &Node, enabled: bool) -> u64 {
    let r = node
        .post("/v1/flags/f/toggle", &json!({"enabled": enabled}))
        .await;
    assert_eq!(r.status(), 200);
    node.running.raft.shared().read().applied
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t32_resume_inside_and_outside_the_ring() {
    let node = Node::start_with(FeedConfig {
        ring: 8,
        per_subscriber: 64,
        ..FeedConfig::default()
    })
    .await;
    node.post("/v1/flags", &common::bool_flag("f")).await;
    let mut s = open(&node, None).await;
    let first = events(&mut s, 1).await;
    assert_eq!(first[0].0, "snapshot");
    let start = first[0].1;
    let mut ids = Vec::new();
    // The flag starts enabled: off, on, off (a toggle to the state it has
    // writes nothing, and sends no event).
    for i in 0..3 {
        ids.push(toggle(&node, i % 2 == 1).await);
    }
    // `events` starts a fresh buffer: the snapshot was consumed above.
    let live = events(&mut s, 3).await;
    assert_eq!(
        live.iter().map(|e| e.1).collect::<Vec<_>>(),
        ids,
        "live changes in commit order"
    );

    let mut resumed = open(&node, Some(start)).await;
    let got = events(&mut resumed, 3).await;
    assert!(
        got.iter().all(|(name, _)| name == "change"),
        "inside the ring: no snapshot, {got:?}"
    );
    assert_eq!(got.iter().map(|e| e.1).collect::<Vec<_>>(), ids);

    for i in 0..20 {
        toggle(&node, i % 2 == 0).await;
    }
    let mut old = open(&node, Some(start)).await;
    let got = events(&mut old, 1).await;
    assert_eq!(got[0].0, "snapshot", "outside the ring: a fresh snapshot");
    assert_eq!(got[0].1, node.running.raft.shared().read().applied);

    let mut future = open(&node, Some(10_000)).await;
    let got = events(&mut future, 1).await;
    assert_eq!(got[0].0, "snapshot", "an unknown id gets a snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t33_a_slow_consumer_is_dropped_and_the_node_stays_healthy() {
    let node = Node::start_with(FeedConfig {
        ring: 64,
        per_subscriber: 4,
        ..FeedConfig::default()
    })
    .await;
    node.post("/v1/flags", &common::bool_flag("f")).await;
    let mut slow = open(&node, None).await;
    events(&mut slow, 1).await;
    // The slow client stops reading; big changes fill its socket, then its
    // queue, and the node drops it.
    // About 210 KB: seven string variations just under the 32 KiB a value
    // may take (a description may take only 4 KiB).
    let mut flag = common::bool_flag("big");
    flag["kind"] = json!("string");
    flag["variations"] = json!(
        (0..7)
            .map(|i| json!({"value": format!("{i}{}", "x".repeat(30_000))}))
            .collect::<Vec<_>>()
    );
    node.post("/v1/flags", &flag).await;
    let stats = node.running.app.feed_stats.clone();
    let mut writes = 0;
    while stats.dropped.load(Ordering::Relaxed) == 0 {
        assert!(writes < 400, "the slow consumer was never dropped");
        let r = node
            .post("/v1/flags/big/toggle", &json!({"enabled": writes % 2 == 0}))
            .await;
        assert_eq!(r.status(), 200);
        writes += 1;
    }
    let health = node.get("/healthz", ADMIN).await;
    assert_eq!(health.status(), 200);
    assert_eq!(
        node.post("/v1/flags", &common::bool_flag("after"))
            .await
            .status(),
        201
    );
    // A healthy subscriber still gets everything.
    let mut fresh = open(&node, None).await;
    assert_eq!(events(&mut fresh, 1).await[0].0, "snapshot");
    // The dropped stream ends once the client reads what was buffered.
    let mut total = 0usize;
    let mut tail = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        let k = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        if k == 0 {
            break;
        }
        total += k;
        tail.extend_from_slice(&chunk[..k]);
        if tail.len() > 16 {
            tail.drain(..tail.len() - 16);
        }
        if tail.ends_with(b"0\r\n\r\n") {
            break;
        }
    }
    assert!(total > 0);
    let v: Value = node
        .get("/v1/metrics/evaluations", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert!(v["subscribers"].as_u64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t34_open_streams_end_when_the_node_shuts_down() {
    let mut node = Node::start().await;
    let mut s = open(&node, None).await;
    assert_eq!(events(&mut s, 1).await[0].0, "snapshot");
    assert!(
        node.shutdown(Duration::from_secs(10)).await,
        "a graceful shutdown waited on an open stream"
    );
    // The subscriber sees the end of the response, not a hang.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the stream stayed open after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t35_sdk_flags_etag_is_the_applied_index_with_304() {
    let node = Node::start().await;
    node.post("/v1/flags", &common::bool_flag("f")).await;
    let sdk = node.token("poller", "sdk").await;
    let r = node.get("/v1/sdk/flags", &sdk).await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    let applied = node.running.raft.shared().read().applied;
    assert_eq!(etag, format!("\"{applied}\""));
    assert_eq!(body["id"], applied);
    assert_eq!(body["flags"][0]["key"], "f");

    let unchanged = node
        .http
        .get(format!("{}/v1/sdk/flags", node.url))
        .bearer_auth(&sdk)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    assert_eq!(unchanged.headers()["etag"].to_str().unwrap(), etag);

    toggle(&node, false).await;
    let changed = node
        .http
        .get(format!("{}/v1/sdk/flags", node.url))
        .bearer_auth(&sdk)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["flags"][0]["enabled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t36_the_feed_needs_a_token() {
    let node = Node::start().await;
    let sdk = node.token("feed-reader", "sdk").await;
    for path in ["/v1/stream", "/v1/sdk/flags"] {
        let none = node
            .http
            .get(format!("{}{path}", node.url))
            .send()
            .await
            .unwrap();
        assert_eq!(none.status(), 401, "{path} without a token");
        let body: Value = none.json().await.unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
        assert_eq!(
            node.get(path, "not-a-token").await.status(),
            401,
            "{path} with an unknown token"
        );
        // The response starts (headers) without waiting for the stream to end.
        assert_eq!(node.get(path, &sdk).await.status(), 200, "{path} as sdk");
    }
}

/// After a restore from backup the new cluster's log indexes can repeat ids
/// a client saw from the old one, with other content: ids from another
/// cluster are never resumed from, and never answered with a 304.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t37_ids_from_another_cluster_get_a_fresh_snapshot() {
    let node = Node::start().await;
    node.post("/v1/flags", &common::bool_flag("f")).await;
    let start = node.running.raft.shared().read().applied;
    toggle(&node, false).await;
    let ours = node.running.raft.cluster_id();
    assert!(!ours.is_empty(), "a formed cluster has an id");

    let sdk = node.token("restored-client", "sdk").await;
    let r = node.get("/v1/sdk/flags", &sdk).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["cluster_id"],
        ours.as_str(),
        "the state names its cluster"
    );

    // Same cluster: resumed from the ring.
    let mut same = open_from(&node, Some(start), Some(&ours)).await;
    assert_eq!(events(&mut same, 1).await[0].0, "change");
    // Another cluster: the same id gets a snapshot naming this cluster.
    let mut other = open_from(&node, Some(start), Some("an-older-cluster")).await;
    // The headers and the snapshot's slices may arrive in separate reads:
    // read until the snapshot's cluster id is in (or 5 s pass).
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains("\"cluster_id\"") {
        let k = tokio::time::timeout_at(deadline, other.read(&mut buf))
            .await
            .expect("the snapshot within 5 s")
            .unwrap();
        assert!(k > 0, "the stream ended early");
        got.extend_from_slice(&buf[..k]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("event: snapshot"), "{text}");
    assert!(
        text.contains(&format!("\"cluster_id\":\"{ours}\"")),
        "{text}"
    );

    let etag = format!("\"{}\"", node.running.raft.shared().read().applied);
    for (cluster, want) in [(ours.as_str(), 304), ("an-older-cluster", 200)] {
        let r = node
            .http
            .get(format!("{}/v1/sdk/flags", node.url))
            .bearer_auth(&sdk)
            .header("if-none-match", &etag)
            .header("x-vexil-cluster-id", cluster)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "If-None-Match from cluster {cluster}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t38_a_subscriber_that_went_away_stops_counting() {
    // The node does not read a connection while it streams to it (see
    // `node/src/net/http.rs`): a client that left is noticed when a write
    // to it fails, so keep-alive comments must reveal it.
    let node = Node::start_with(FeedConfig {
        keep_alive: Duration::from_millis(100),
        ..FeedConfig::default()
    })
    .await;
    let shared = node.running.raft.shared().clone();
    let mut s = open(&node, None).await;
    assert_eq!(events(&mut s, 1).await[0].0, "snapshot");
    assert_eq!(shared.subscribers(), 1);
    drop(s);
    // No change is written: only the keep-alive comments can find it gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while shared.subscribers() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a closed subscriber still counted after 10 s of 100 ms keep-alives"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And the node still serves a new one.
    let mut again = open(&node, None).await;
    assert_eq!(events(&mut again, 1).await[0].0, "snapshot");
    assert_eq!(shared.subscribers(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t36_a_restarted_node_keeps_its_feed_position_and_audit_clock() {
    let engine = std::sync::Arc::new(vexil_storage::MemEngine::new());
    let blobs = std::sync::Arc::new(vexil_storage::MemBlobStore::new());
    let mut node = Node::start_on(FeedConfig::default(), engine.clone(), blobs.clone()).await;
    assert_eq!(
        node.post("/v1/flags", &common::bool_flag("f"))
            .await
            .status(),
        201
    );
    let changed = node.running.raft.shared().read().last_change;
    // A token is not a feed change, but it moves the audit clock on.
    node.token("later", "sdk").await;
    let (last_change, last_at) = {
        let state = node.running.raft.shared().read();
        (state.last_change, state.last_at_ms)
    };
    assert!(changed > 0 && last_change == changed);
    assert!(last_at > 0);
    assert!(node.shutdown(Duration::from_secs(10)).await);

    let node = Node::start_on(FeedConfig::default(), engine, blobs).await;
    let state = node.running.raft.shared().read();
    assert_eq!(state.last_change, last_change, "the feed resumes after it");
    assert!(
        state.last_at_ms >= last_at,
        "audit time does not go back after a restart"
    );
}
