//! The peer listener answers only requests carrying the cluster secret:
//! without it, or with a wrong one, every peer route is 401 and nothing is
//! committed.

mod common;

use common::inproc::{ADMIN, Node};
use serde_json::Value;
use vexil_raft::{Command, Op, Role, Rpc};

/// The secret `common::inproc` starts its node with.
const SECRET: &str = "inproc-cluster-secret";
const HEADER: &str = vexil_node::net::SECRET_HEADER;

/// A forged write that would create an admin token, as a peer would forward it.
fn forged_write() -> Vec<u8> {
    serde_json::to_vec(&Command {
        request_id: "forged-1".into(),
        actor: vexil_raft::SYSTEM_ACTOR.into(),
        at: chrono::Utc::now(),
        op: Op::CreateToken {
            name: "intruder".into(),
            role: Role::Admin,
            secret_hash: vexil_raft::hash_secret("intruder-secret-0123456789"),
        },
        needs_level: None,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t21_peer_routes_need_the_cluster_secret() {
    let node = Node::start().await;
    let peer = format!("http://{}", node.running.raft.config().member.peer_addr);
    let post = |path: &str, secret: Option<&str>, body: Vec<u8>| {
        let mut req = node.http.post(format!("{peer}{path}")).body(body);
        if let Some(s) = secret {
            req = req.header(HEADER, s);
        }
        req.send()
    };
    let wrong = [
        None,
        Some(""),
        Some("not-the-secret"),
        Some("inproc-cluster-secre"),
        Some("inproc-cluster-secreT"),
        Some("inproc-cluster-secret-and-more"),
    ];
    let mut paths: Vec<&str> = Rpc::ALL.iter().map(|r| r.path()).collect();
    paths.push(vexil_raft::transport::SNAPSHOT_PATH);
    for path in &paths {
        for secret in wrong {
            let r = post(path, secret, forged_write()).await.unwrap();
            assert_eq!(r.status(), 401, "POST {path} with secret {secret:?}");
        }
    }

    // The forged write was refused before it reached Raft.
    let tokens: Value = node.get("/v1/tokens", ADMIN).await.json().await.unwrap();
    assert!(!tokens.to_string().contains("intruder"), "{tokens}");
    assert_eq!(
        node.get("/v1/me", "intruder-secret-0123456789")
            .await
            .status(),
        401
    );

    // Control: with the right secret the same listener answers, so the 401s
    // above were about the secret and nothing else.
    let r = post(Rpc::Status.path(), Some(SECRET), Vec::new())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await.unwrap();
    assert!(status.is_object(), "{status}");
    let r = post(Rpc::Vote.path(), Some(SECRET), b"{".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a bad body past the secret check is a 400");
}

/// A peer request names the node it is meant for; another node refuses it
/// (421), so an address recorded under the wrong id never answers as that
/// id. Requests that name nobody (older nodes) are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t22_peer_requests_meant_for_another_node_are_refused() {
    let node = Node::start().await;
    let peer = format!("http://{}", node.running.raft.config().member.peer_addr);
    let to_header = vexil_node::net::TO_HEADER;
    let post = |path: &str, to: Option<&str>| {
        let mut req = node
            .http
            .post(format!("{peer}{path}"))
            .header(HEADER, SECRET)
            .body(Vec::new());
        if let Some(to) = to {
            req = req.header(to_header, to);
        }
        req.send()
    };
    let mut paths: Vec<&str> = Rpc::ALL.iter().map(|r| r.path()).collect();
    paths.push(vexil_raft::transport::SNAPSHOT_PATH);
    for path in &paths {
        let r = post(path, Some("3")).await.unwrap();
        assert_eq!(r.status(), 421, "POST {path} meant for node 3");
        let text = r.text().await.unwrap();
        assert!(text.contains("this is node 1, not node 3"), "{text}");
        let r = post(path, Some("three")).await.unwrap();
        assert_eq!(r.status(), 400, "POST {path} with a bad id");
    }
    for to in [Some("1"), None] {
        let r = post(Rpc::Status.path(), to).await.unwrap();
        assert_eq!(r.status(), 200, "status meant for {to:?}");
    }
}
