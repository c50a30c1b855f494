//! The change feed at scale: N raw SSE subscribers on a follower; each write
//! at the leader is timed from its acknowledgement to its arrival at every
//! subscriber. Also the follower's resident memory per subscriber.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Semaphore;

use crate::common::{cluster, flag, histogram, http, ms, part_row, rss_kib, table};

/// Arrival times of each benchmark write (`feed-{i}`), per write.
type Arrivals = Arc<Mutex<HashMap<usize, Vec<Instant>>>>;

/// Connections opened at once: more overflows the node's accept backlog,
/// and the dropped SYNs come back only after a one-second retransmit.
const CONNECTING: usize = 256;

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The benchmark write a `change` event carries, from its `"key":"feed-{i}"`.
fn write_number(block: &[u8]) -> Option<usize> {
    let at = find(block, b"\"feed-")? + b"\"feed-".len();
    let digits = block.get(at..)?;
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(digits.get(..len)?).ok()?.parse().ok()
}

/// One subscriber: connects (retrying), announces itself once the first
/// `snapshot` event arrives, then records when each write's `change` event
/// arrives.
async fn subscribe(
    client: reqwest::Client,
    url: String,
    token: String,
    arrivals: Arrivals,
    connecting: Arc<Semaphore>,
    ready: Arc<Semaphore>,
) -> anyhow::Result<()> {
    let resp = {
        let _permit = connecting.acquire().await?;
        let mut tries = 0;
        loop {
            tries += 1;
            match client
                .get(format!("{url}/v1/stream"))
                .bearer_auth(&token)
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => break r,
                Ok(r) if tries >= 10 => anyhow::bail!("stream: {}", r.status()),
                Err(e) if tries >= 10 => return Err(e.into()),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    };
    // Parsed as bytes, in place: this process shares the CPU with the node
    // it measures, so it should spend as little of it as it can.
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut announced = false;
    while let Some(chunk) = body.next().await {
        let now = Instant::now();
        buf.extend_from_slice(&chunk?);
        let mut start = 0;
        while let Some(end) = find(&buf[start..], b"\n\n") {
            let block = &buf[start..start + end + 2];
            start += end + 2;
            if !announced && find(block, b"event: snapshot").is_some() {
                announced = true;
                ready.add_permits(1);
            }
            if find(block, b"event: change").is_some()
                && let Some(i) = write_number(block)
            {
                let mut a = arrivals.lock().unwrap_or_else(|p| p.into_inner());
                a.entry(i).or_default().push(now);
            }
        }
        buf.drain(..start);
    }
    Ok(())
}

/// Opens `n` subscriptions to `url` over several clients and waits until
/// each has its first snapshot.
async fn connect_all(url: &str, token: &str, n: usize, arrivals: &Arrivals) -> anyhow::Result<()> {
    let clients: Vec<reqwest::Client> = (0..16)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap_or_default()
        })
        .collect();
    let connecting = Arc::new(Semaphore::new(CONNECTING));
    let ready = Arc::new(Semaphore::new(0));
    for i in 0..n {
        let task = subscribe(
            clients[i % clients.len()].clone(),
            url.to_owned(),
            token.to_owned(),
            arrivals.clone(),
            connecting.clone(),
            ready.clone(),
        );
        tokio::spawn(async move {
            if let Err(e) = task.await {
                eprintln!("subscriber {i}: {e:#}");
            }
        });
    }
    let started = Instant::now();
    let all = tokio::time::timeout(Duration::from_secs(300), ready.acquire_many(n as u32)).await;
    anyhow::ensure!(all.is_ok(), "not every subscriber connected within 300 s");
    eprintln!("{n} subscribers connected in {:.1?}", started.elapsed());
    Ok(())
}

pub async fn run(
    bin: &Path,
    dir: &Path,
    subscribers: usize,
    writes: usize,
    interval_ms: u64,
) -> anyhow::Result<()> {
    let mut c = cluster(bin, dir, "feed", 3, &[]).await?;
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
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(pid);
    let arrivals: Arrivals = Arc::default();
    connect_all(&follower_url, &token, subscribers, &arrivals).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);
    eprintln!("follower {follower} (pid {pid}) RSS {rss_before} KiB -> {rss_after} KiB");
    let mut acks = Vec::new();
    for i in 0..writes {
        let r = client
            .post(format!("{leader_url}/v1/flags"))
            .bearer_auth(&token)
            .json(&flag(&format!("feed-{i}")))
            .send()
            .await?;
        acks.push(Instant::now());
        anyhow::ensure!(r.status() == 201, "write failed: {}", r.status());
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
    }
    // Wait until every subscriber saw every write (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let complete = |a: &HashMap<usize, Vec<Instant>>| {
        (0..writes).all(|i| a.get(&i).is_some_and(|v| v.len() >= subscribers))
    };
    while !complete(&arrivals.lock().unwrap_or_else(|p| p.into_inner()))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut h = histogram();
    let mut missing = 0usize;
    {
        let a = arrivals.lock().unwrap_or_else(|p| p.into_inner());
        for (i, ack) in acks.iter().enumerate() {
            let times = a.get(&i).map(Vec::as_slice).unwrap_or_default();
            missing += subscribers.saturating_sub(times.len());
            for t in times {
                let _ = h.record(t.saturating_duration_since(*ack).as_micros() as u64);
            }
        }
    }
    let (p50, p99, max) = ms(&h);
    let per_sub = (rss_after.saturating_sub(rss_before)) as f64 / subscribers as f64;
    table(
        &format!(
            "Change feed: {subscribers} SSE subscribers on a follower, {writes} writes at the leader, one per {interval_ms} ms"
        ),
        &[
            "subscribers",
            "propagation p50 ms",
            "p99 ms",
            "max ms",
            "missed",
            "follower RSS before → after",
            "per subscriber",
        ],
        &[vec![
            subscribers.to_string(),
            format!("{p50:.1}"),
            format!("{p99:.1}"),
            format!("{max:.1}"),
            missing.to_string(),
            format!("{} → {} MiB", rss_before / 1024, rss_after / 1024),
            format!("{per_sub:.1} KiB"),
        ]],
    );
    println!();
    let m = |metric: &str, v: String| part_row("feed", metric, &v, "–", "–");
    m(
        &format!("{subscribers} subscribers on a follower: ack → arrival p50 ms"),
        format!("{p50:.1}"),
    );
    m("ack → arrival p99 ms (goal ≤ 100)", format!("{p99:.1}"));
    m("ack → arrival max ms", format!("{max:.1}"));
    m(
        &format!(
            "(write, subscriber) pairs missed of {}",
            writes * subscribers
        ),
        missing.to_string(),
    );
    m(
        "follower RSS per subscriber KiB (goal ≤ 16)",
        format!("{per_sub:.1}"),
    );
    tokio::task::spawn_blocking(move || c.down()).await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{find, write_number};

    #[test]
    fn a_change_event_names_its_benchmark_write() {
        let block = b"event: change\nid: 7\ndata: {\"key\":\"feed-12\",\"on\":true}\n\n";
        assert_eq!(write_number(block), Some(12));
        assert_eq!(
            write_number(b"event: change\ndata: {\"key\":\"other\"}\n\n"),
            None
        );
        assert_eq!(write_number(b"data: {\"key\":\"feed-\"}\n\n"), None);
        assert_eq!(find(b"ab\n\ncd\n\n", b"\n\n"), Some(2));
        assert_eq!(find(b"ab", b"\n\n"), None);
    }
}
