//! SIGKILL the leader every few seconds under a steady write load, restart
//! each killed node, then check that nothing acknowledged was lost.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vexil_cluster::{Cluster, Spec};

use crate::checks::{
    audit_entries, blocking, converged, flag, flags_on, http, sdk_token, wait_token,
};

type Acked = Arc<Mutex<BTreeMap<String, u64>>>;

/// One writer: creates `soak-<w>-<i>` flags at its share of the rate,
/// retrying each (same idempotency key) until acknowledged.
async fn writer(
    w: u64,
    urls: Vec<String>,
    token: String,
    per_second: u64,
    stop: Arc<AtomicBool>,
    acked: Acked,
) -> u64 {
    let client = http();
    let mut i = 0u64;
    let mut attempts = 0u64;
    let pace = Duration::from_micros(1_000_000 / per_second.max(1));
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        next += pace;
        let key = format!("soak-{w}-{i}");
        attempts += 1;
        let url = &urls[(attempts as usize) % urls.len()];
        let r = client
            .post(format!("{url}/v1/flags"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key.clone())
            .json(&flag(&key))
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        if let Ok(r) = r {
            // 409: an earlier attempt of this key committed.
            if r.status() == 201 || r.status() == 409 {
                acked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, 1);
                i += 1;
            }
        }
        tokio::time::sleep_until(next.into()).await;
    }
    i
}

pub async fn run(
    bin: &Path,
    dir: &Path,
    seconds: u64,
    rate: u64,
    kill_every: u64,
) -> anyhow::Result<String> {
    let dir = dir.join("kill9");
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = blocking(|| Cluster::up(Spec::fast(bin, &dir), 3))?;
    let leader = blocking(|| c.wait_leader(Duration::from_secs(30)))?;
    wait_token(&c, leader).await?;
    let token = c.spec.admin_token.clone();
    let urls: Vec<String> = (1..=3).map(|id| c.url(id)).collect();
    let sdk = vexil_sdk::Client::builder(urls.clone(), sdk_token(&c, leader).await?)
        .backoff(Duration::from_millis(50), Duration::from_secs(1))
        .build()?;
    crate::promote::setup(&urls[0], &token).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let promoter = tokio::spawn(crate::promote::promoter(
        urls.clone(),
        token.clone(),
        stop.clone(),
    ));
    let acked: Acked = Arc::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            tokio::spawn(writer(
                w,
                urls.clone(),
                token.clone(),
                rate / 4,
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    let mut kills = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(kill_every)).await;
        let Some(leader) = blocking(|| c.leader()) else {
            continue;
        };
        blocking(|| c.kill(leader))?;
        kills += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
        blocking(|| c.start(leader))?;
    }
    stop.store(true, Ordering::Relaxed);
    eprintln!("kill9: load stopped after {kills} kills; verifying");
    let mut written = 0;
    for w in writers {
        written += w.await?;
    }
    let promotions_answered = promoter.await?;
    eprintln!(
        "kill9: writers done ({written} acknowledged, {promotions_answered} promotions answered)"
    );
    blocking(|| c.wait_ready(Duration::from_secs(60)))?;
    let applied = converged(&c, Duration::from_secs(60)).await?;
    eprintln!("kill9: converged at index {applied}");
    let acked = acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut reference = BTreeMap::new();
    let mut promotions = 0;
    for id in 1..=3 {
        let flags = flags_on(&c, id).await?;
        for key in acked.keys() {
            anyhow::ensure!(
                flags.contains_key(key),
                "node {id} lost acknowledged write {key}"
            );
        }
        // One audit entry per committed change: every flag version, plus
        // the admin and SDK tokens, project `default` (which the leader
        // creates once, under a fixed request id) and, when flags were
        // written before the cluster reached level 4, the entry that gave
        // them their definitions and other environments
        // (`project.configure`).
        let versions: u64 = flags.values().sum();
        promotions = crate::promote::check(&c, id).await?;
        // Project `promo`'s entries are the promoter's (checked above).
        let entries: Vec<(String, String)> = audit_entries(&c, id)
            .await?
            .into_iter()
            .filter(|(_, t)| {
                !(t.starts_with("flag:promo/")
                    || t.starts_with("promotion:")
                    || t.starts_with("project:promo"))
            })
            .collect();
        let (flag_entries, mut others): (Vec<_>, Vec<_>) = entries
            .iter()
            .partition(|(_, target)| target.starts_with("flag:"));
        anyhow::ensure!(
            flag_entries.len() as u64 == versions,
            "node {id}: {} flag audit entries for {versions} committed flag versions",
            flag_entries.len()
        );
        others.retain(|(action, _)| action != "project.configure");
        let mut actions: Vec<&str> = others.iter().map(|(a, _)| a.as_str()).collect();
        actions.sort_unstable();
        anyhow::ensure!(
            actions == ["project.create", "token.create", "token.create"]
                && entries.len() - flag_entries.len() - others.len() <= 1,
            "node {id}: other audit entries {:?}",
            entries
                .iter()
                .filter(|(_, t)| !t.starts_with("flag:"))
                .collect::<Vec<_>>()
        );
        reference = flags;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while sdk.flag_versions() != reference {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the SDK did not converge: {} flags vs {}",
            sdk.flag_versions().len(),
            reference.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    blocking(|| c.down())?;
    Ok(format!(
        "kill9: {seconds}s, {kills} leader kills, {written} acknowledged writes ({:.0}/s), {} flags on every node at index {applied}, audit complete, SDK converged; {promotions} promotions of {} flags each applied whole",
        written as f64 / started.elapsed().as_secs_f64(),
        reference.len(),
        crate::promote::FLAGS
    ))
}
