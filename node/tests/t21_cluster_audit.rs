//! Membership and leadership changes are audited with the actor that asked
//! (issues 20 and 21), once every member runs this release: the cluster's
//! level (`vexil_raft::version`) gates the new audit command, and a node of
//! an older release is refused as a new member after the upgrade.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{ADMIN, TestCluster, wait_until};
use serde_json::Value;

fn json_of(r: reqwest::blocking::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn audit(tc: &TestCluster, on: u64, action: &str) -> Vec<Value> {
    let (status, body) = json_of(tc.get(on, &format!("/v1/audit?action={action}")));
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

/// A peer that answers `/raft/status` as a node of the first release does:
/// a status without `level`. Serves `count` requests, then stops.
fn old_release_peer(count: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let me = addr.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = serde_json::json!({
                "id": 9, "state": "learner", "term": 0, "leader": null,
                "last_log_index": null, "commit_index": null, "applied_index": null,
                "snapshot_index": null, "purged_index": null,
                "member": {"peer_addr": me, "client_addr": me},
                "voters": [], "learners": [], "members": {},
                "replication": null, "subscribers": 0
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn t21_membership_and_leadership_changes_are_audited_with_the_actor() {
    let tc = TestCluster::up(3);
    tc.wait_token(1);
    // Every member runs this release: the leader raises the level.
    wait_until(Duration::from_secs(30), || {
        json_of(tc.get(1, "/v1/cluster")).1["level"] == vexil_raft::version::SUPPORTED
    });

    // The Monitoring page's view asks the other members over the peer
    // port, with the cluster secret: the caller's token stays here.
    let (status, view) = json_of(tc.get(1, "/v1/ui/nodes?minutes=5"));
    assert_eq!(status, 200, "{view}");
    let nodes = view["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{view}");
    for n in nodes {
        assert!(n["error"].is_null(), "{n}");
        assert_eq!(n["metrics"]["node"], n["id"], "{n}");
    }
    let peer = &tc.cluster.nodes[&2].peer;
    let r = tc
        .http
        .get(format!("http://{peer}/vexil/usage?minutes=5"))
        .bearer_auth(ADMIN)
        .send()
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "a token is not the cluster secret"
    );

    // Leadership moved by the admin, asked on a follower.
    let leader = tc.leader();
    let follower = tc.followers()[0];
    let (status, body) = json_of(tc.post(
        follower,
        "/v1/cluster/leader",
        &serde_json::json!({ "to": follower }),
    ));
    assert_eq!(status, 200, "{body}");
    assert!(body["audit_id"].is_u64(), "{body}");
    let moved = audit(&tc, follower, "cluster.leader_transfer");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0]["actor"], "admin");
    assert_eq!(moved[0]["target"], format!("node:{follower}"));
    assert_eq!(moved[0]["after"]["from"], leader);
    assert_eq!(moved[0]["id"], body["audit_id"]);

    // A node of the first release is refused as a member now.
    let old = old_release_peer(4);
    let r = tc
        .http
        .post(tc.url(follower, "/v1/cluster/members"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({ "id": 9, "peer_addr": old, "client_addr": old }))
        .send()
        .unwrap();
    let (status, body) = json_of(r);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "member_release_too_old", "{body}");

    // A removal, audited with its actor.
    let gone = tc.followers()[0];
    let r = tc
        .http
        .delete(tc.url(tc.leader(), &format!("/v1/cluster/members/{gone}")))
        .bearer_auth(ADMIN)
        .send()
        .unwrap();
    let (status, body) = json_of(r);
    assert_eq!(status, 200, "{body}");
    assert!(body["audit_id"].is_u64(), "{body}");
    let removed = audit(&tc, tc.leader(), "cluster.member_remove");
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["actor"], "admin");
    assert_eq!(removed[0]["target"], format!("node:{gone}"));
}

/// Whoever holds the cluster secret can reach `/raft/write`, but a write as
/// `system` is refused there unless it is something a node does itself; a
/// forwarded write is applied as the token it names, whose role is checked.
#[test]
fn t21_the_peer_port_takes_no_write_as_system_that_a_node_would_not_make() {
    let tc = TestCluster::up(1);
    tc.wait_token(1);
    let node = &tc.cluster.nodes[&1];
    let send = |actor: &str, key: &str| {
        let cmd = serde_json::json!({
            "request_id": format!("req:{key}"),
            "actor": actor,
            "at": "2026-01-01T00:00:00Z",
            "op": {"type": "create_flag", "flag": common::bool_flag(key)},
        });
        tc.http
            .post(format!("http://{}/raft/write", node.peer))
            .header("x-vexil-cluster-secret", &tc.cluster.spec.cluster_secret)
            .json(&cmd)
            .send()
            .unwrap()
    };
    let r = send("system", "as-system");
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("system"), "{text}");
    let r = send("admin", "as-admin");
    assert_eq!(r.status().as_u16(), 200);
    let (status, flag) = json_of(tc.get(1, "/v1/flags/as-admin"));
    assert_eq!(status, 200, "{flag}");
    let entries = audit(&tc, 1, "flag.create");
    assert_eq!(entries[0]["actor"], "admin");
    assert_eq!(json_of(tc.get(1, "/v1/flags/as-system")).0, 404);
    // A name no token has is refused where the change is applied.
    let r = send("nobody", "as-nobody");
    let body: Value = r.json().unwrap();
    assert!(body.to_string().contains("forbidden"), "{body}");
    assert_eq!(json_of(tc.get(1, "/v1/flags/as-nobody")).0, 404);
}
