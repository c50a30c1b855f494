//! Membership changes an operator can trust (issue 20): a removal counted on
//! a voter that just died is refused instead of wedging the cluster, one
//! change runs at a time and a pending add can be cancelled, shutdown does
//! not wait on a change, and `/readyz` means the admin token works.

mod common;
mod ops;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{ADMIN, TestCluster, bool_flag, wait_until};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use vexil_cluster::{Cluster, Spec};

fn delete(tc: &TestCluster, on: u64, path: &str) -> (u16, Value) {
    let r = tc
        .http
        .delete(tc.url(on, path))
        .bearer_auth(ADMIN)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// The exact sequence that wedged a cluster 3 times of 3: kill -9 one
/// follower, and at once remove the other. The dead follower's last ack is
/// still recent, so the old guard counted it and the joint configuration
/// {1,2,3}+{leader,dead} could never commit. The guard now asks for fresh
/// acks and refuses; the cluster keeps taking writes.
#[test]
fn t18_removing_a_follower_right_after_another_died_is_refused() {
    let mut tc = TestCluster::up(3);
    let leader = tc.leader();
    tc.wait_token(leader);
    let followers = tc.followers();
    let (dead, healthy) = (followers[0], followers[1]);
    tc.cluster.kill(dead).unwrap();
    let (status, body) = delete(&tc, leader, &format!("/v1/cluster/members/{healthy}"));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "would_lose_quorum", "{body}");

    // Still two of three voters: writes commit, and the leader is ready.
    let r = tc.post(leader, "/v1/flags", &bool_flag("after-refusal"));
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    // Readiness compares the applied and committed indexes of openraft's
    // metrics, which are published a moment after the write is answered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (status, ready) = loop {
        let (status, ready) = common_ready(&tc, leader);
        if status == 200 || std::time::Instant::now() > deadline {
            break (status, ready);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status, 200, "{ready}");
    let view: Value = tc.get(leader, "/v1/cluster").json().unwrap();
    assert_eq!(view["members"].as_array().unwrap().len(), 3, "{view}");

    // The status table says why the dead member is unhealthy.
    let status = ops::vexil(&tc.cluster.url(leader), ADMIN, &["cluster", "status"]).expect(0);
    let row = status
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&dead.to_string()))
        .unwrap_or_else(|| panic!("no row for node {dead}:\n{}", status.stdout));
    assert!(
        row.contains("false") && row.to_lowercase().contains("refused"),
        "{row}"
    );
}

fn common_ready(tc: &TestCluster, id: u64) -> (u16, Value) {
    let r = tc.http.get(tc.url(id, "/readyz")).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// A port nothing listens on: an add to it waits for a learner that never
/// catches up, which is a change that stays pending.
fn dead_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

/// Starts adding node 9 at an address where nobody answers, in a thread,
/// and waits until the leader lists it as a learner (the add then waits for
/// it to catch up, which it never does).
fn start_pending_add(tc: &TestCluster, leader: u64) -> std::thread::JoinHandle<(u16, Value)> {
    let url = tc.url(leader, "/v1/cluster/members");
    let body = json!({"id": 9, "peer_addr": dead_addr(), "client_addr": dead_addr()});
    let add = std::thread::spawn(move || {
        let r = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
            .post(url)
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    });
    wait_until(Duration::from_secs(20), || {
        let v: Value = tc.get(leader, "/v1/cluster").json().unwrap();
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == 9 && m["role"] == "learner")
    });
    add
}

/// While an add waits for its learner, a second change is refused at once
/// (it used to queue for up to 120 s), and removing the node being added
/// cancels the add.
#[test]
fn t18_one_change_at_a_time_and_a_pending_add_can_be_cancelled() {
    let tc = TestCluster::up(3);
    let leader = tc.leader();
    tc.wait_token(leader);
    let add = start_pending_add(&tc, leader);

    let other = tc.followers()[0];
    let started = Instant::now();
    let (status, body) = delete(&tc, other, &format!("/v1/cluster/members/{other}"));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "membership_change_in_progress", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("adding node 9"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused only after {:?}",
        started.elapsed()
    );
    let r = tc.post(other, "/v1/cluster/leader", &json!({}));
    assert_eq!(r.status(), 409, "{}", r.text().unwrap());

    // Removing node 9 cancels its add, then removes the learner.
    let (status, body) = delete(&tc, leader, "/v1/cluster/members/9");
    assert_eq!(status, 200, "{body}");
    let (status, body) = add.join().unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "membership_change_cancelled", "{body}");
    let v: Value = tc.get(leader, "/v1/cluster").json().unwrap();
    assert!(
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"] != 9),
        "{v}"
    );
    // And the next change runs.
    let (status, body) = delete(&tc, leader, &format!("/v1/cluster/members/{other}"));
    assert_eq!(status, 200, "{body}");
    // The removed node tells load balancers to drop it.
    let mut last = Value::Null;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let (status, body) = common_ready(&tc, other);
        last = json!({"status": status, "body": body});
        if status == 503 && body["error"] == "removed" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(last["body"]["error"], "removed", "{last}");
}

/// SIGTERM on a leader with a pending add: the add is cancelled, and the
/// node exits well inside systemd's 30 s (it used to wait up to 120 s).
#[test]
fn t18_shutdown_does_not_wait_for_a_pending_change() {
    let mut tc = TestCluster::up(3);
    let leader = tc.leader();
    tc.wait_token(leader);
    let add = start_pending_add(&tc, leader);
    let started = Instant::now();
    tc.cluster.stop(leader).unwrap();
    let took = started.elapsed();
    let (status, body) = add.join().unwrap();
    assert!(took < Duration::from_secs(10), "SIGTERM took {took:?}");
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "membership_change_cancelled", "{body}");
    assert!(
        tc.cluster
            .nodes
            .get(&leader)
            .is_some_and(|n| n.pid.is_none()),
        "the leader is still running"
    );
}

/// The moment `/readyz` first says 200, the admin token works on that node:
/// every node of a fresh 3-node cluster, polled as fast as a script would.
#[test]
fn t18_ready_means_the_admin_token_works() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::fast(common::bin(), dir.path());
    let mut cluster = Cluster::prepare(spec, 3).unwrap();
    for id in 1..=3 {
        cluster.start(id).unwrap();
    }
    let http = Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for id in 1..=3 {
        let url = cluster.url(id);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "node {id} never became ready");
            let ready = http
                .get(format!("{url}/readyz"))
                .send()
                .is_ok_and(|r| r.status() == 200);
            if ready {
                let me = http
                    .get(format!("{url}/v1/me"))
                    .bearer_auth(ADMIN)
                    .send()
                    .unwrap();
                assert_eq!(
                    me.status(),
                    200,
                    "node {id} said ready, but the admin token got {}",
                    me.status()
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
