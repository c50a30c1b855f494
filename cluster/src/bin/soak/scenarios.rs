//! Kills at the worst moments: during a snapshot install, and during a
//! membership change.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vexil_cluster::{Cluster, Spec};

use crate::checks::{blocking, converged, flag, flags_on, http, wait_token};

fn log_of(c: &Cluster, id: u64) -> String {
    std::fs::read_to_string(c.spec.dir.join(format!("node{id}.log"))).unwrap_or_default()
}

/// A follower that must catch up by snapshot is SIGKILLed as soon as it
/// logs that it is installing one; restarted, it must still converge.
pub async fn snapshot_kill(bin: &Path, dir: &Path) -> anyhow::Result<String> {
    let dir = dir.join("snapshot-kill");
    let _ = std::fs::remove_dir_all(&dir);
    let mut spec = Spec::fast(bin, &dir);
    spec.extra_args
        .extend(["--snapshot-every", "200", "--keep-logs", "10"].map(String::from));
    let mut c = blocking(|| Cluster::up(spec, 3))?;
    let leader = blocking(|| c.wait_leader(Duration::from_secs(30)))?;
    wait_token(&c, leader).await?;
    let victim = *c
        .nodes
        .keys()
        .find(|id| **id != leader)
        .ok_or_else(|| anyhow::anyhow!("no follower"))?;
    blocking(|| c.kill(victim))?;
    let client = http();
    // A few MiB of state, so the install takes a moment.
    for i in 0..1500 {
        let mut f = flag(&format!("snap-{i}"));
        f["description"] = json!("d".repeat(2000));
        let r = client
            .post(format!("{}/v1/flags", c.url(leader)))
            .bearer_auth(&c.spec.admin_token)
            .json(&f)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "write {i}: {}", r.status());
    }
    let before = log_of(&c, victim).matches("installing snapshot").count();
    blocking(|| c.start(victim))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let killed_mid_install = loop {
        let log = log_of(&c, victim);
        if log.matches("installing snapshot").count() > before {
            blocking(|| c.kill(victim))?;
            let after = log_of(&c, victim);
            break after.matches("snapshot installed").count()
                == log.matches("snapshot installed").count();
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "node {victim} never started installing a snapshot"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    blocking(|| c.start(victim))?;
    blocking(|| c.wait_node_ready(victim, Duration::from_secs(60)))?;
    let applied = converged(&c, Duration::from_secs(60)).await?;
    let here = flags_on(&c, victim).await?;
    let there = flags_on(&c, leader).await?;
    anyhow::ensure!(
        here == there && here.len() == 1500,
        "node {victim} has {} flags, the leader {}",
        here.len(),
        there.len()
    );
    blocking(|| c.down())?;
    Ok(format!(
        "snapshot-kill: node {victim} SIGKILLed {} its snapshot install, restarted, converged at index {applied} with all 1500 flags",
        if killed_mid_install {
            "during"
        } else {
            "right after"
        }
    ))
}

/// The leader is SIGKILLed right after a new member's addition starts; the
/// cluster must recover with one agreed membership, and the addition must
/// be possible again.
pub async fn membership_kill(bin: &Path, dir: &Path) -> anyhow::Result<String> {
    let dir = dir.join("membership-kill");
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = blocking(|| Cluster::up(Spec::fast(bin, &dir), 3))?;
    let leader = blocking(|| c.wait_leader(Duration::from_secs(30)))?;
    wait_token(&c, leader).await?;
    let client = http();
    for i in 0..300 {
        client
            .post(format!("{}/v1/flags", c.url(leader)))
            .bearer_auth(&c.spec.admin_token)
            .json(&flag(&format!("m-{i}")))
            .send()
            .await?;
    }
    let joiner = blocking(|| c.start_joiner(4))?;
    let body = json!({"id": 4, "peer_addr": joiner.peer, "client_addr": joiner.api});
    let add = tokio::spawn({
        let (client, url, token, body) = (
            client.clone(),
            c.url(leader),
            c.spec.admin_token.clone(),
            body.clone(),
        );
        async move {
            client
                .post(format!("{url}/v1/cluster/members"))
                .bearer_auth(token)
                .json(&body)
                .timeout(Duration::from_secs(30))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    blocking(|| c.kill(leader))?;
    let first = add.await?;
    blocking(|| c.start(leader))?;
    blocking(|| c.wait_ready(Duration::from_secs(60)))?;
    let new_leader = blocking(|| c.wait_leader(Duration::from_secs(30)))?;
    // Whatever happened, the addition can be (re)done, and every node agrees.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = client
            .post(format!("{}/v1/cluster/members", c.url(new_leader)))
            .bearer_auth(&c.spec.admin_token)
            .json(&body)
            .send()
            .await?;
        let s = r.status().as_u16();
        if s == 200 || s == 409 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "re-adding node 4 kept failing: {s} {}",
            r.text().await?
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut views = Vec::new();
    for id in 1..=4 {
        let v: Value = client
            .get(format!("{}/v1/cluster", c.url(id)))
            .bearer_auth(&c.spec.admin_token)
            .send()
            .await?
            .json()
            .await?;
        let mut voters: Vec<u64> = v["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["role"] == "voter")
            .filter_map(|m| m["id"].as_u64())
            .collect();
        voters.sort_unstable();
        views.push(voters);
    }
    anyhow::ensure!(
        views.iter().all(|v| *v == vec![1, 2, 3, 4]),
        "members disagree: {views:?}"
    );
    let r = client
        .post(format!("{}/v1/flags", c.url(4)))
        .bearer_auth(&c.spec.admin_token)
        .json(&flag("after-change"))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "write after the change: {}", r.status());
    let applied = converged(&c, Duration::from_secs(60)).await?;
    blocking(|| c.down())?;
    Ok(format!(
        "membership-kill: leader {leader} SIGKILLed while adding node 4 (first attempt: {}); all 4 nodes agree on voters [1,2,3,4] at index {applied}",
        match first {
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => format!("no answer ({e})"),
        }
    ))
}
