//! The Rust SDK against a real three-node cluster.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use serde_json::{Value, json};
use vexil_sdk::{Client, Context, Status};

fn sdk_token(tc: &TestCluster) -> String {
    let leader = tc.leader();
    let r = tc.post(leader, "/v1/tokens", &json!({"name": "app", "role": "sdk"}));
    assert_eq!(r.status(), 201);
    r.json::<Value>().unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn node_of(tc: &TestCluster, url: &str) -> u64 {
    *tc.cluster
        .nodes
        .keys()
        .find(|id| tc.cluster.url(**id) == url)
        .unwrap()
}

#[test]
fn t30_follower_subscriber_sees_leader_writes_and_survives_its_node_dying() {
    let mut tc = TestCluster::up(3);
    let leader = tc.leader();
    tc.wait_token(leader);
    let token = sdk_token(&tc);
    assert_eq!(
        tc.post(leader, "/v1/flags", &bool_flag("live")).status(),
        201
    );
    let follower = tc.followers()[0];
    let rt = rt();
    // The follower first; the others are failover targets.
    let urls: Vec<String> = std::iter::once(follower)
        .chain(
            tc.cluster
                .nodes
                .keys()
                .copied()
                .filter(|id| *id != follower),
        )
        .map(|id| tc.cluster.url(id))
        .collect();
    let client = rt.block_on(async {
        let c = Client::builder(urls, token)
            .backoff(Duration::from_millis(50), Duration::from_millis(500))
            .seed(0)
            .build()
            .unwrap();
        c.wait_until_ready(Duration::from_secs(10)).await.unwrap();
        c
    });
    let streaming_from = node_of(&tc, &client.current_node());
    let mut versions = rt.block_on(async { Box::pin(client.changes_of("live")) });

    // A write at the leader reaches an SDK streaming from a follower.
    let ctx = Context::new("u1");
    assert!(client.bool_value("live", &ctx, false));
    let r = tc.post(leader, "/v1/flags/live/toggle", &json!({"enabled": false}));
    assert_eq!(r.status(), 200);
    let seen = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), versions.next())
            .await
            .unwrap()
            .unwrap()
    });
    assert_eq!(seen.version, Some(2));
    assert!(
        !client.bool_value("live", &ctx, true),
        "served off after the toggle"
    );

    // Kill the SDK's node, keep writing: it moves on and misses nothing.
    tc.cluster.kill(streaming_from).unwrap();
    let writer = tc
        .cluster
        .nodes
        .keys()
        .copied()
        .find(|id| *id != streaming_from)
        .unwrap();
    for i in 0..20 {
        let enabled = i % 2 == 0;
        loop {
            let r = tc
                .http
                .post(tc.url(writer, "/v1/flags/live/toggle"))
                .bearer_auth(ADMIN)
                .header("Idempotency-Key", format!("t-{i}"))
                .json(&json!({"enabled": enabled}))
                .send();
            if r.is_ok_and(|r| r.status() == 200) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let got: Vec<u64> = rt.block_on(async {
        let mut got = Vec::new();
        while got.last() != Some(&22) {
            let c = tokio::time::timeout(Duration::from_secs(15), versions.next())
                .await
                .unwrap()
                .unwrap();
            got.push(c.version.unwrap());
        }
        got
    });
    let expected: Vec<u64> = (3..=22).collect();
    assert_eq!(got, expected, "contiguous versions across the failover");
    assert_ne!(node_of(&tc, &client.current_node()), streaming_from);
    assert_eq!(client.status(), Status::Ready);
}

#[test]
fn t31_starts_from_cache_with_every_node_down_and_recovers() {
    let mut tc = TestCluster::up(3);
    let leader = tc.leader();
    tc.wait_token(leader);
    let token = sdk_token(&tc);
    let mut flag = bool_flag("cached");
    flag["rules"] = json!([{"id": "nz", "clauses": [{"attribute": "country", "operator": "in", "values": ["NZ"]}], "serve": {"variation": 1}}]);
    assert_eq!(tc.post(leader, "/v1/flags", &flag).status(), 201);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("vexil-cache.json");
    let urls: Vec<String> = (1..=3).map(|id| tc.cluster.url(id)).collect();
    let rt = rt();
    let build = |urls: Vec<String>, token: String| {
        Client::builder(urls, token)
            .cache_file(&cache)
            .backoff(Duration::from_millis(50), Duration::from_millis(300))
            .build()
            .unwrap()
    };
    rt.block_on(async {
        let c = build(urls.clone(), token.clone());
        c.wait_until_ready(Duration::from_secs(10)).await.unwrap();
        wait_until_async(|| cache.exists()).await;
    });
    tc.cluster.down().unwrap();
    rt.block_on(async {
        let c = build(urls.clone(), token.clone());
        assert!(c.cache_warning().is_none());
        let nz = Context::new("u1").with("country", "NZ");
        assert!(
            !c.bool_value("cached", &nz, true),
            "rule from the cache applies"
        );
        assert!(c.bool_value("cached", &Context::new("u2"), false));
        assert!(
            matches!(c.status(), Status::Stale { .. }),
            "{:?}",
            c.status()
        );
        tokio::task::spawn_blocking({
            let mut cluster = std::mem::replace(
                &mut tc.cluster,
                vexil_cluster::Cluster::load(tc.dir.path()).unwrap(),
            );
            move || {
                cluster.start(2).unwrap();
                cluster
            }
        })
        .await
        .map(|cl| tc.cluster = cl)
        .unwrap();
        c.wait_until_ready(Duration::from_secs(20)).await.unwrap();
    });
}

async fn wait_until_async(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not met");
}
