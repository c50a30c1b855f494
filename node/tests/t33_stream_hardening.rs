//! What a `/v1/stream` subscriber may hold (issue 21): its token's
//! revocation ends it on every node, subscribers are capped per token and
//! per source IP, and stalled subscribers share one encoded snapshot.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::TestCluster;
use common::inproc::{ADMIN, Node};
use serde_json::{Value, json};
use vexil_raft::state::FeedConfig;

/// Opens `/v1/stream` with `token` on a blocking socket and reads until the
/// snapshot event arrived.
fn open_blocking(base: &str, token: &str) -> std::net::TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /v1/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("event: snapshot") {
        let mut chunk = [0u8; 65536];
        let k = s.read(&mut chunk).unwrap();
        assert!(k > 0, "closed before the snapshot");
        seen.extend_from_slice(&chunk[..k]);
    }
    assert!(seen.starts_with(b"HTTP/1.1 200"));
    s
}

/// Reads until the response ends (the last chunk, or the socket closing);
/// false if it has not ended by `deadline`.
fn ended_by(mut s: std::net::TcpStream, deadline: Instant) -> bool {
    let mut tail = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        let mut chunk = [0u8; 65536];
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(k) => {
                tail.extend_from_slice(&chunk[..k]);
                if tail.ends_with(b"0\r\n\r\n") {
                    return true;
                }
                let keep = tail.len().saturating_sub(8);
                tail.drain(..keep);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn t33_revoking_a_token_ends_its_streams_on_every_node_within_a_second() {
    let c = TestCluster::up(3);
    let leader = c.leader();
    c.wait_token(leader);
    let r = c.post(leader, "/v1/tokens", &json!({"name": "app", "role": "sdk"}));
    assert_eq!(r.status(), 201);
    let secret = r.json::<Value>().unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let follower = c.followers()[0];
    // The follower must know the token before it can serve the stream.
    common::wait_until(Duration::from_secs(10), || {
        c.http
            .get(c.url(follower, "/v1/me"))
            .bearer_auth(&secret)
            .send()
            .unwrap()
            .status()
            == 200
    });
    let on_leader = open_blocking(&c.cluster.url(leader), &secret);
    let on_follower = open_blocking(&c.cluster.url(follower), &secret);
    let r = c
        .http
        .delete(c.url(leader, "/v1/tokens/app"))
        .bearer_auth(common::ADMIN)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // Applied on the leader when the answer came; on the follower a
    // heartbeat later.
    let deadline = Instant::now() + Duration::from_secs(1);
    std::thread::scope(|s| {
        let l = s.spawn(|| ended_by(on_leader, deadline));
        let f = s.spawn(|| ended_by(on_follower, deadline));
        assert!(
            l.join().unwrap(),
            "the leader's stream outlived its token by 1 s"
        );
        assert!(
            f.join().unwrap(),
            "the follower's stream outlived its token by 1 s"
        );
    });
    // And the token opens no new one.
    let r = c
        .http
        .get(c.url(follower, "/v1/stream"))
        .bearer_auth(&secret)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// Opens `/v1/stream` and returns the response once its head arrived.
async fn open(node: &Node, token: &str) -> reqwest::Response {
    node.http
        .get(format!("{}/v1/stream", node.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn error_code(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    format!(
        "{} {}",
        v["error"].as_str().unwrap(),
        v["message"].as_str().unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t33_the_subscriber_past_a_cap_gets_429_naming_it() {
    // Short keep-alives reveal closed subscribers quickly (see t38).
    let node = Node::start_with(FeedConfig {
        keep_alive: Duration::from_millis(100),
        ..FeedConfig::default()
    })
    .await;
    let subs = node.running.app.subscribers.clone();
    subs.per_token.store(3, Ordering::Relaxed);
    subs.per_ip.store(5, Ordering::Relaxed);
    let a = node.token("a", "sdk").await;
    let b = node.token("b", "viewer").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let r = open(&node, &a).await;
        assert_eq!(r.status(), 200);
        held.push(r);
    }
    let r = open(&node, &a).await;
    assert_eq!(r.status(), 429);
    let e = error_code(r).await;
    assert!(e.starts_with("stream_cap_per_token "), "{e}");
    assert!(
        e.contains("3 open streams") && e.contains("--stream-max-per-token"),
        "{e}"
    );
    // Another token from the same address may, up to the per-IP cap.
    for _ in 0..2 {
        let r = open(&node, &b).await;
        assert_eq!(r.status(), 200);
        held.push(r);
    }
    let r = open(&node, ADMIN).await;
    assert_eq!(r.status(), 429);
    let e = error_code(r).await;
    assert!(e.starts_with("stream_cap_per_ip "), "{e}");
    assert!(
        e.contains("5 open streams") && e.contains("--stream-max-per-ip"),
        "{e}"
    );
    assert_eq!(
        node.running.app.feed_stats.refused.load(Ordering::Relaxed),
        2
    );
    // A stream that closes frees its place.
    held.swap_remove(0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = open(&node, &a).await;
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 429);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t33_stalled_subscribers_share_one_encoded_snapshot() {
    let node = Node::start().await;
    // About 1.3 MB of state.
    for i in 0..8 {
        let mut flag = common::bool_flag(&format!("big{i}"));
        flag["kind"] = json!("string");
        flag["variations"] = json!(
            (0..5)
                .map(|v| json!({"value": format!("{v}{}", "x".repeat(30_000))}))
                .collect::<Vec<_>>()
        );
        assert_eq!(node.post("/v1/flags", &flag).await.status(), 201);
    }
    let shared = node.running.raft.shared().clone();
    let before = node
        .running
        .app
        .encoded
        .snapshots_encoded
        .load(Ordering::Relaxed);
    // Subscribers that never read a byte.
    let addr = node.url.trim_start_matches("http://").to_owned();
    let mut stalled = Vec::new();
    for _ in 0..40 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let req = format!(
            "GET /v1/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
        );
        tokio::io::AsyncWriteExt::write_all(&mut s, req.as_bytes())
            .await
            .unwrap();
        stalled.push(s);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while shared.subscribers() < 40 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} subscribed",
            shared.subscribers()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every one of them starts from the same state: one encoding, shared
    // (sse.rs's unit tests count who holds it).
    let encoded = node
        .running
        .app
        .encoded
        .snapshots_encoded
        .load(Ordering::Relaxed)
        - before;
    assert_eq!(
        encoded, 1,
        "{encoded} encodings of one state for 40 subscribers"
    );
    // The node stays healthy and writes go on.
    assert_eq!(node.get("/healthz", ADMIN).await.status(), 200);
    assert_eq!(
        node.post("/v1/flags", &common::bool_flag("after"))
            .await
            .status(),
        201
    );
}
