//! A real three-node cluster: election, forwarding, read-your-writes,
//! failover under load, catch-up by snapshot, and membership changes.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

#[test]
fn t10_write_to_follower_is_read_on_every_node() {
    let tc = TestCluster::up(3);
    let leader = tc.leader();
    tc.wait_token(leader);
    let follower = tc.followers()[0];
    let resp = tc.post(follower, "/v1/flags", &bool_flag("from-follower"));
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    for id in 1..=3 {
        let resp = tc.get(id, "/v1/flags/from-follower");
        assert_eq!(resp.status(), 200, "node {id}");
        assert_eq!(resp.headers()["x-vexil-consistency"], "linearizable");
        let flag: Value = resp.json().unwrap();
        assert_eq!(flag["version"], 1);
    }
    let status: Value = tc.get(follower, "/v1/cluster").json().unwrap();
    let members = status["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert!(members.iter().all(|m| m["healthy"] == true), "{status}");
    assert_eq!(members.iter().filter(|m| m["is_leader"] == true).count(), 1);
    // One cluster, one id, whichever node is asked (SDKs rely on it).
    let ids: Vec<Value> = (1..=3)
        .map(|id| tc.get(id, "/v1/cluster").json::<Value>().unwrap()["cluster_id"].clone())
        .collect();
    assert!(ids[0].as_str().is_some_and(|s| !s.is_empty()), "{ids:?}");
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");

    // Read your writes on the node written through, even for what is checked
    // from local state without a read barrier: a token created through a
    // follower works there at once, and one revoked there stops at once.
    for n in 0..5 {
        let name = format!("ryw-{n}");
        let resp = tc.post(
            follower,
            "/v1/tokens",
            &json!({"name": name, "role": "viewer"}),
        );
        assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
        let secret = resp.json::<Value>().unwrap()["secret"]
            .as_str()
            .unwrap()
            .to_owned();
        let me = |secret: &str| {
            tc.http
                .get(tc.url(follower, "/v1/me"))
                .bearer_auth(secret)
                .send()
                .unwrap()
                .status()
        };
        assert_eq!(
            me(&secret),
            200,
            "token {name} just created through node {follower}"
        );
        let resp = tc
            .http
            .delete(tc.url(follower, &format!("/v1/tokens/{name}")))
            .bearer_auth(ADMIN)
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        assert_eq!(
            me(&secret),
            401,
            "token {name} just revoked through node {follower}"
        );
    }
}

/// Writes keys in a loop, round-robin over `urls`, until stopped; retries a
/// key (same idempotency key) until it is acknowledged; records acks.
fn writer(
    urls: &[String],
    http: &reqwest::blocking::Client,
    prefix: &str,
    stop: &AtomicBool,
    acked: &Mutex<Vec<String>>,
) {
    let mut i = 0u64;
    let mut attempt = 0usize;
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) && i < 2_000
    {
        let key = format!("{prefix}-{i}");
        attempt += 1;
        let url = &urls[attempt % urls.len()];
        let req = http
            .post(format!("{url}/v1/flags"))
            .bearer_auth(ADMIN)
            .header("Idempotency-Key", key.clone())
            .json(&bool_flag(&key));
        match req.send() {
            // 409: an earlier attempt of this key committed already.
            Ok(r) if r.status() == 201 || r.status() == 409 => {
                acked.lock().unwrap().push(key);
                i += 1;
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn t11_leader_killed_mid_load_loses_no_acked_write() {
    let mut tc = TestCluster::up(3);
    let leader = tc.leader();
    tc.wait_token(leader);
    let urls: Vec<String> = (1..=3).map(|id| tc.cluster.url(id)).collect();
    let http = tc.http.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let h = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || writer(&urls, &http, "load", &stop, &acked))
    };
    wait_until(Duration::from_secs(20), || {
        acked.lock().unwrap().len() >= 30
    });
    tc.cluster.kill(leader).unwrap();
    let before = acked.lock().unwrap().len();
    wait_until(Duration::from_secs(30), || {
        acked.lock().unwrap().len() >= before + 30
    });
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
    let new_leader = tc.leader();
    assert_ne!(new_leader, leader);
    tc.cluster.start(leader).unwrap();
    tc.cluster
        .wait_node_ready(leader, Duration::from_secs(30))
        .unwrap();
    let acked = acked.lock().unwrap().clone();
    for id in 1..=3 {
        let r = tc.get(id, "/v1/flags?limit=1000&q=load-");
        let status = r.status();
        let list: Value = r.json().unwrap();
        assert_eq!(status, 200, "node {id}: {list}");
        let keys: Vec<&str> = list["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["key"].as_str().unwrap())
            .collect();
        for k in &acked {
            assert!(
                keys.contains(&k.as_str()),
                "node {id} lost acknowledged write {k}"
            );
        }
    }
}

#[test]
fn t12_restarted_node_catches_up_by_snapshot() {
    let mut tc = TestCluster::up_with(3, &["--snapshot-every", "20", "--keep-logs", "5"]);
    let leader = tc.leader();
    tc.wait_token(leader);
    let lagger = tc.followers()[0];
    tc.cluster.kill(lagger).unwrap();
    // An early keyed write: its idempotency record must reach the lagger in
    // the snapshot, or the lagger would apply a retry of it a second time.
    assert_eq!(
        tc.post(leader, "/v1/flags", &bool_flag("early")).status(),
        201
    );
    let toggle = |tc: &TestCluster, id: u64| {
        tc.http
            .post(tc.url(id, "/v1/flags/early/toggle"))
            .bearer_auth(ADMIN)
            .header("Idempotency-Key", "early-toggle")
            .json(&json!({"enabled": false}))
            .send()
            .unwrap()
    };
    let first = toggle(&tc, leader);
    assert_eq!(first.status(), 200);
    let first: Value = first.json().unwrap();
    assert_eq!(first["version"], 2);
    for i in 0..60 {
        let r = tc.post(leader, "/v1/flags", &bool_flag(&format!("snap-{i}")));
        assert_eq!(r.status(), 201);
    }
    // Wait until the leader has snapshotted and purged the log the lagger
    // would need, so it can only catch up from a snapshot.
    wait_until(Duration::from_secs(20), || {
        let v: Value = tc.get(leader, "/v1/cluster").json().unwrap();
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == leader && m["purged_index"].as_u64().unwrap_or(0) > 20)
    });
    tc.cluster.start(lagger).unwrap();
    tc.cluster
        .wait_node_ready(lagger, Duration::from_secs(30))
        .unwrap();
    wait_until(Duration::from_secs(30), || {
        let r = tc.get(lagger, "/v1/flags/snap-59?consistency=local");
        r.status() == 200
    });
    let list: Value = tc
        .get(lagger, "/v1/flags?consistency=local&limit=1000&q=snap-")
        .json()
        .unwrap();
    assert_eq!(list["flags"].as_array().unwrap().len(), 60);
    let log = std::fs::read_to_string(tc.dir.path().join(format!("node{lagger}.log"))).unwrap();
    assert!(
        log.contains("installing snapshot"),
        "the lagger should have caught up by snapshot"
    );
    // The leader's snapshot is a checkpoint (hard links), written out as a
    // snapshot file only now that a peer needs it.
    let leader_log =
        std::fs::read_to_string(tc.dir.path().join(format!("node{leader}.log"))).unwrap();
    assert!(
        leader_log.contains("wrote checkpoint out as a snapshot file"),
        "the leader should have sent its checkpoint as a file"
    );

    // The retry goes through the lagger (forwarded to the leader) and is
    // applied by every node, the lagger included: each must see a duplicate.
    let retry = toggle(&tc, lagger);
    assert_eq!(retry.status(), 200);
    let retry: Value = retry.json().unwrap();
    assert_eq!(retry, first, "the retry gets the first answer");
    for id in [leader, lagger] {
        // Linearizable: the node has applied the retry's entry.
        let now: Value = tc.get(id, "/v1/flags/early").json().unwrap();
        assert_eq!(
            (now["version"].as_u64(), now["enabled"].as_bool()),
            (Some(2), Some(false)),
            "node {id}: {now}"
        );
        let audit: Value = tc
            .get(id, "/v1/audit?flag=early&action=flag.toggle")
            .json()
            .unwrap();
        assert_eq!(
            audit["entries"].as_array().unwrap().len(),
            1,
            "node {id}: {audit}"
        );
    }
}

#[test]
fn t13_add_and_remove_members_including_the_leader() {
    let mut tc = TestCluster::up(3);
    let leader = tc.leader();
    tc.wait_token(leader);
    tc.post(leader, "/v1/flags", &bool_flag("before-join"));
    let joiner = tc.cluster.start_joiner(4).unwrap();
    let body = json!({"id": 4, "peer_addr": joiner.peer, "client_addr": joiner.api});
    let r = tc.post(tc.followers()[0], "/v1/cluster/members", &body);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    tc.cluster
        .wait_node_ready(4, Duration::from_secs(30))
        .unwrap();
    assert_eq!(tc.get(4, "/v1/flags/before-join").status(), 200);
    let view: Value = tc.get(4, "/v1/cluster").json().unwrap();
    let voters = view["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "voter")
        .count();
    assert_eq!(voters, 4);

    // Remove the leader: leadership moves first, then it leaves.
    let r = tc
        .http
        .delete(tc.url(4, &format!("/v1/cluster/members/{leader}")))
        .bearer_auth(ADMIN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    wait_until(Duration::from_secs(20), || {
        let v: Value = tc.get(4, "/v1/cluster").json().unwrap();
        let ids: Vec<u64> = v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        !ids.contains(&leader) && v["leader"].as_u64().is_some_and(|l| l != leader)
    });
    tc.cluster.kill(leader).unwrap();
    let r = tc.post(4, "/v1/flags", &bool_flag("after-leader-left"));
    assert_eq!(r.status(), 201);

    // Three voters left, all healthy: removing one more is fine; then with
    // one of the remaining two down, removing the other would lose quorum.
    let remaining: Vec<u64> = (1..=4).filter(|id| *id != leader).collect();
    let victim = *remaining.iter().find(|id| **id != 4).unwrap();
    let r = tc
        .http
        .delete(tc.url(4, &format!("/v1/cluster/members/{victim}")))
        .bearer_auth(ADMIN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    tc.cluster.kill(victim).unwrap();
    let last = *remaining
        .iter()
        .find(|id| **id != 4 && **id != victim)
        .unwrap();
    tc.cluster.kill(last).unwrap();
    wait_until(Duration::from_secs(10), || {
        tc.get(4, "/v1/cluster").status() == 200
    });
    let r = tc
        .http
        .delete(tc.url(4, "/v1/cluster/members/4"))
        .bearer_auth(ADMIN)
        .send()
        .unwrap();
    assert!(
        r.status() == 409 || r.status() == 503,
        "removing with no quorum must be refused, got {}",
        r.status()
    );
}

#[test]
fn t17_leadership_moves_on_request_and_refuses_a_down_target() {
    let mut tc = TestCluster::up(3);
    let old = tc.leader();
    tc.wait_token(old);
    let followers = tc.followers();
    let (target, entry) = (followers[0], followers[1]);

    // Asked at a follower: forwarded to the leader, answered once moved.
    let r = tc.post(entry, "/v1/cluster/leader", &json!({"to": target}));
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let v: Value = r.json().unwrap();
    assert_eq!(v["leader"], target, "{v}");
    assert_eq!(v["cluster"]["leader"], target, "the answering node sees it");
    let r = tc.post(target, "/v1/flags", &bool_flag("after-transfer"));
    assert_eq!(r.status(), 201);
    // Asking for the leader it already has changes nothing.
    let r = tc.post(old, "/v1/cluster/leader", &json!({"to": target}));
    assert_eq!(r.status(), 200);

    // No target: away from the current leader, to another voter.
    let r = tc.post(target, "/v1/cluster/leader", &json!({}));
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let v: Value = r.json().unwrap();
    let now = v["leader"].as_u64().unwrap();
    assert!(now != target && (1..=3).contains(&now), "{v}");

    for (body, status, field) in [
        (json!({"to": 9}), 404, None),
        (json!({"to": 0}), 400, Some("to")),
        (json!({"to": "two"}), 400, Some("to")),
        (json!({"from": 1}), 400, None),
    ] {
        let r = tc.post(now, "/v1/cluster/leader", &body);
        assert_eq!(r.status(), status, "{body}");
        let e: Value = r.json().unwrap();
        if let Some(f) = field {
            assert_eq!(e["field"], f, "{body}: {e}");
        }
    }

    // A voter that stopped answering cannot take over.
    let down = (1..=3).find(|id| *id != now).unwrap();
    tc.cluster.kill(down).unwrap();
    wait_until(Duration::from_secs(10), || {
        let v: Value = tc.get(now, "/v1/cluster").json().unwrap();
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == down && m["healthy"] == false)
    });
    let r = tc.post(now, "/v1/cluster/leader", &json!({"to": down}));
    assert_eq!(r.status(), 409);
    let e: Value = r.json().unwrap();
    assert_eq!(e["error"], "unhealthy", "{e}");
}

#[test]
fn t14_acknowledged_writes_survive_kill_9() {
    let mut tc = TestCluster::up(1);
    tc.wait_token(1);
    for i in 0..50 {
        assert_eq!(
            tc.post(1, "/v1/flags", &bool_flag(&format!("durable-{i}")))
                .status(),
            201
        );
    }
    let r = tc.post(1, "/v1/flags/durable-7/toggle", &json!({"enabled": false}));
    assert_eq!(r.status(), 200);
    tc.cluster.kill(1).unwrap();
    tc.cluster.start(1).unwrap();
    tc.cluster
        .wait_node_ready(1, Duration::from_secs(30))
        .unwrap();
    let list: Value = tc.get(1, "/v1/flags?limit=1000").json().unwrap();
    assert_eq!(list["flags"].as_array().unwrap().len(), 50);
    let f: Value = tc.get(1, "/v1/flags/durable-7").json().unwrap();
    assert_eq!(
        (f["enabled"].as_bool(), f["version"].as_u64()),
        (Some(false), Some(2))
    );
    let audit: Value = tc.get(1, "/v1/audit?limit=1000").json().unwrap();
    assert_eq!(
        flag_and_token_entries(&audit),
        52,
        "50 creates, 1 toggle, 1 token"
    );
}

/// Applied state is written unlogged: a crash loses it back to the last
/// flush, and the node re-applies the log. Here snapshots (every 20 entries)
/// let openraft purge the log it would re-apply from, so this checks that a
/// purge first persists the state.
#[test]
fn t16_a_crash_after_the_log_was_purged_loses_nothing() {
    let mut tc = TestCluster::up_with(1, &["--snapshot-every", "20", "--keep-logs", "0"]);
    tc.wait_token(1);
    for i in 0..50 {
        let r = tc.post(1, "/v1/flags", &bool_flag(&format!("purged-{i}")));
        assert_eq!(r.status(), 201);
    }
    // The log was purged (openraft purges in the background after a
    // snapshot): what a crash would re-apply from is gone.
    let purged = |tc: &TestCluster| {
        let text = tc.get(1, "/metrics").text().unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("vexil_raft_purged_index "))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(-1)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while purged(&tc) < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the log was never purged"
        );
        std::thread::yield_now();
    }
    let status: Value = tc.get(1, "/v1/cluster").json().unwrap();
    tc.cluster.kill(1).unwrap();
    tc.cluster.start(1).unwrap();
    tc.cluster
        .wait_node_ready(1, Duration::from_secs(30))
        .unwrap();
    let list: Value = tc.get(1, "/v1/flags?limit=1000").json().unwrap();
    assert_eq!(list["flags"].as_array().unwrap().len(), 50, "{status}");
    let audit: Value = tc.get(1, "/v1/audit?limit=1000").json().unwrap();
    assert_eq!(flag_and_token_entries(&audit), 51, "50 creates, 1 token");
}

#[test]
fn t15_without_a_quorum_writes_get_503_fast_and_local_reads_work() {
    let mut tc = TestCluster::up_with(3, &["--write-timeout-ms", "1500"]);
    let leader = tc.leader();
    tc.wait_token(leader);
    assert_eq!(
        tc.post(leader, "/v1/flags", &bool_flag("before-split"))
            .status(),
        201
    );
    for f in tc.followers() {
        tc.cluster.kill(f).unwrap();
    }
    let started = Instant::now();
    let r = tc.post(leader, "/v1/flags", &bool_flag("after-split"));
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "never a hang: took {:?}",
        started.elapsed()
    );
    let v: Value = r.json().unwrap();
    assert!(
        ["no_quorum", "write_timeout", "no_leader"].contains(&v["error"].as_str().unwrap()),
        "{v}"
    );
    let r = tc.get(leader, "/v1/flags/before-split");
    assert_eq!(r.status(), 503, "a linearizable read needs a quorum");
    let v: Value = r.json().unwrap();
    let message = v["message"].as_str().unwrap();
    assert!(
        message.len() < 200 && !message.contains("membership"),
        "a short reason, not openraft's membership dump: {v}"
    );
    let r = tc.get(leader, "/v1/flags/before-split?consistency=local");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-vexil-consistency"], "local");
    // A load balancer must stop sending writes here: not ready.
    let mut ready = tc.get(leader, "/readyz");
    let deadline = Instant::now() + Duration::from_secs(5);
    while ready.status() == 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        ready = tc.get(leader, "/readyz");
    }
    assert_eq!(ready.status(), 503, "a leader without a quorum looks ready");
    let v: Value = ready.json().unwrap();
    assert!(
        ["no_quorum", "no_leader"].contains(&v["error"].as_str().unwrap()),
        "{v}"
    );
}

/// Audit entries other than the `project.*` ones: when a new cluster
/// creates project `default` depends on when its level check runs.
fn flag_and_token_entries(audit: &Value) -> usize {
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["action"].as_str().unwrap_or("").starts_with("project."))
        .count()
}
