//! The change feed at scale: N raw SSE subscribers on a follower; each write
//! at the leader is timed from its acknowledgement to its arrival at every
//! subscriber. Also the follower's resident memory per subscriber.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Mutex;

use crate::common::{cluster, flag, histogram, http, ms, rss_kib, table};

/// Arrival times of change events, per event id.
type Arrivals = Arc<Mutex<std::collections::HashMap<u64, Vec<Instant>>>>;

async fn subscribe(
    client: reqwest::Client,
    url: String,
    token: String,
    arrivals: Arrivals,
    ready: Arc<tokio::sync::Semaphore>,
) -> anyhow::Result<()> {
    let resp = client
        .get(format!("{url}/v1/stream"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(3600))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "stream: {}", resp.status());
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let mut announced = false;
    while let Some(chunk) = body.next().await {
        let now = Instant::now();
        buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.contains("event: snapshot") && !announced {
                announced = true;
                ready.add_permits(1);
            }
            if block.contains("event: change")
                && let Some(id) = block
                    .lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .and_then(|v| v.trim().parse().ok())
            {
                arrivals.lock().await.entry(id).or_default().push(now);
            }
        }
    }
    Ok(())
}

pub async fn run(bin: &Path, dir: &Path, subscribers: usize, writes: usize) -> anyhow::Result<()> {
    let c = cluster(bin, dir, "feed", 3, &[]).await?;
    let leader = tokio::task::block_in_place(|| c.wait_leader(Duration::from_secs(30)))?;
    let follower = *c
        .nodes
        .keys()
        .find(|id| **id != leader)
        .ok_or_else(|| anyhow::anyhow!("no follower"))?;
    let token = c.spec.admin_token.clone();
    let client = http();
    let (leader_url, follower_url) = (c.url(leader), c.url(follower));
    for _ in 0..200 {
        if client
            .get(format!("{follower_url}/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = c.nodes.get(&follower).and_then(|n| n.pid).unwrap_or(0);
    let rss_before = rss_kib(pid);
    let arrivals: Arrivals = Arc::default();
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let sub_client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    for _ in 0..subscribers {
        tokio::spawn(subscribe(
            sub_client.clone(),
            follower_url.clone(),
            token.clone(),
            arrivals.clone(),
            ready.clone(),
        ));
    }
    let connected = tokio::time::timeout(
        Duration::from_secs(300),
        ready.acquire_many(subscribers as u32),
    )
    .await;
    anyhow::ensure!(connected.is_ok(), "not every subscriber connected");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);
    let mut acks = Vec::new();
    for i in 0..writes {
        let t = Instant::now();
        let r = client
            .post(format!("{leader_url}/v1/flags"))
            .bearer_auth(&token)
            .json(&flag(&format!("feed-{i}")))
            .send()
            .await?;
        let ack = Instant::now();
        anyhow::ensure!(r.status() == 201, "write failed: {}", r.status());
        let _ = t;
        acks.push(ack);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Wait until every subscriber saw every write (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = arrivals.lock().await;
        let done = a.len() >= writes && a.values().all(|v| v.len() >= subscribers);
        drop(a);
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a = arrivals.lock().await;
    let mut ids: Vec<u64> = a.keys().copied().collect();
    ids.sort_unstable();
    let mut h = histogram();
    let mut missing = 0usize;
    for (i, id) in ids.iter().take(writes).enumerate() {
        let times = &a[id];
        missing += subscribers.saturating_sub(times.len());
        for t in times {
            let _ = h.record(t.saturating_duration_since(acks[i]).as_micros() as u64);
        }
    }
    let (p50, p99, max) = ms(&h);
    let per_sub = (rss_after.saturating_sub(rss_before)) as f64 / subscribers as f64;
    table(
        &format!(
            "Change feed: {subscribers} SSE subscribers on a follower, {writes} writes at the leader"
        ),
        &[
            "subscribers",
            "propagation p50 ms",
            "p99 ms",
            "max ms",
            "missed",
            "follower RSS per subscriber",
        ],
        &[vec![
            subscribers.to_string(),
            format!("{p50:.1}"),
            format!("{p99:.1}"),
            format!("{max:.1}"),
            missing.to_string(),
            format!("{per_sub:.1} KiB"),
        ]],
    );
    Ok(())
}
