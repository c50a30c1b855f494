//! Backup and restore: a round trip gives an identical state, and the
//! restored cluster continues (new cluster id, versions and audit ids never
//! going backwards).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use common::inproc::{ADMIN, Node};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use vexil_node::net::dial::TcpDialer;
use vexil_node::server::{self, AdminToken, Bootstrap, RunOptions};
use vexil_raft::{Member, RaftConfig};
use vexil_storage::{BlobStore, Engine, MemBlobStore, MemEngine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t50_backup_restore_round_trip() {
    let source = Node::start().await;
    source
        .post("/v1/segments", &json!({"key": "beta", "included": ["u1"]}))
        .await;
    for i in 0..20 {
        assert_eq!(
            source
                .post("/v1/flags", &common::bool_flag(&format!("f{i}")))
                .await
                .status(),
            201
        );
    }
    source
        .post("/v1/flags/f3/toggle", &json!({"enabled": false}))
        .await;
    source.token("reader", "viewer").await;
    let resp = source.get("/v1/backup", ADMIN).await;
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();

    // The file verifies and says what it holds.
    let files = MemBlobStore::new();
    let mut w = files.create("backup").unwrap();
    w.write_all(&bytes).unwrap();
    w.commit().unwrap();
    let info = vexil_raft::verify_backup(files.open("backup").unwrap().unwrap().as_mut()).unwrap();
    assert_eq!((info.flags, info.segments, info.tokens), (20, 1, 2));
    assert_eq!(
        info.state_hash,
        vexil_raft::state_hash(source.running.raft.engine().as_ref()).unwrap()
    );

    // A damaged file is refused.
    let mut bad = bytes.to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let mut w = files.create("bad").unwrap();
    w.write_all(&bad).unwrap();
    w.commit().unwrap();
    assert!(vexil_raft::verify_backup(files.open("bad").unwrap().unwrap().as_mut()).is_err());

    // Restore into a new one-node cluster.
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let member = Member {
        peer_addr: peer.local_addr().unwrap().to_string(),
        client_addr: api.local_addr().unwrap().to_string(),
    };
    let engine: Arc<dyn Engine> = Arc::new(MemEngine::new());
    let blobs: Arc<dyn BlobStore> = Arc::new(MemBlobStore::new());
    let mut reader = files.open("backup").unwrap().unwrap();
    let members = BTreeMap::from([(1, member.clone())]);
    vexil_raft::restore_backup(
        engine.clone(),
        blobs.clone(),
        reader.as_mut(),
        members.clone(),
    )
    .unwrap();
    assert_eq!(
        vexil_raft::state_hash(engine.as_ref()).unwrap(),
        info.state_hash,
        "identical state after restore"
    );
    let mut reader = files.open("backup").unwrap().unwrap();
    let again = vexil_raft::restore_backup(engine.clone(), blobs.clone(), reader.as_mut(), members);
    assert!(matches!(again, Err(vexil_raft::RestoreError::NotEmpty)));

    let mut raft = RaftConfig::new(1, member.clone());
    raft.election_timeout = (Duration::from_millis(150), Duration::from_millis(300));
    raft.heartbeat = Duration::from_millis(50);
    let opts = RunOptions {
        raft,
        engine,
        blobs,
        dialer: Arc::new(TcpDialer),
        cluster_secret: "restored-cluster-secret".into(),
        bootstrap: Bootstrap::Single,
        admin_token: AdminToken::Given("ignored-because-tokens-exist".into()),
        data_dir: None,
        min_free_bytes: 0,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (running, _done) = server::run(opts, api, peer, async move {
        let _ = rx.await;
    })
    .await
    .unwrap();
    let url = format!("http://{}", member.client_addr);
    let http = reqwest::Client::new();
    let mut toggled = None;
    for _ in 0..200 {
        let r = http
            .post(format!("{url}/v1/flags/f3/toggle"))
            .bearer_auth(ADMIN)
            .json(&json!({"enabled": true}))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            toggled = Some(r.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let toggled = toggled.expect("the restored cluster takes writes with the old admin token");
    assert_eq!(toggled["version"], 3, "versions continue");
    let audit: Value = http
        .get(format!("{url}/v1/audit?limit=1"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let newest = audit["entries"][0]["id"].as_u64().unwrap();
    assert!(
        newest > info.applied_index,
        "audit ids continue after {}",
        info.applied_index
    );
    let old_cluster = source.running.raft.status();
    let new_view: Value = http
        .get(format!("{url}/v1/cluster"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(new_view["members"].as_array().unwrap().len(), 1);
    assert_ne!(
        running.raft.cluster_id(),
        source.running.raft.cluster_id(),
        "a restore makes a new cluster"
    );
    let _ = old_cluster;
    drop(tx);
}
