//! Replicated writes: N concurrent writers creating ~300-byte flags on a
//! 3-node cluster with fsync on, for a fixed time each.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{cluster, flag, histogram, http, ms, table};

pub async fn run(
    bin: &Path,
    dir: &Path,
    concurrency: &[usize],
    seconds: u64,
    nodes: u64,
) -> anyhow::Result<()> {
    let c = cluster(bin, dir, "writes", nodes, &[]).await?;
    let leader = tokio::task::block_in_place(|| c.wait_leader(Duration::from_secs(30)))?;
    let url = c.url(leader);
    let token = c.spec.admin_token.clone();
    let client = http();
    // Wait until the first admin token exists.
    for _ in 0..200 {
        if client
            .get(format!("{url}/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut rows = Vec::new();
    for &n in concurrency {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
        for w in 0..n {
            let (client, url, token, errors) =
                (client.clone(), url.clone(), token.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let mut h = histogram();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let key = format!("c{n}-w{w}-{i}");
                    i += 1;
                    let t = Instant::now();
                    let r = client
                        .post(format!("{url}/v1/flags"))
                        .bearer_auth(&token)
                        .json(&flag(&key))
                        .send()
                        .await;
                    if r.is_ok_and(|r| r.status() == 201) {
                        let _ = h.record(t.elapsed().as_micros() as u64);
                    } else {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                h
            }));
        }
        let mut all = histogram();
        for t in tasks {
            let _ = all.add(t.await?);
        }
        let (p50, p99, max) = ms(&all);
        rows.push(vec![
            n.to_string(),
            format!("{:.0}", all.len() as f64 / seconds as f64),
            format!("{p50:.2}"),
            format!("{p99:.2}"),
            format!("{max:.1}"),
            errors
                .load(std::sync::atomic::Ordering::Relaxed)
                .to_string(),
        ]);
    }
    table(
        &format!(
            "Replicated writes: {nodes}-node Vexil, fsync on, ~300-byte flags, {seconds}s per row"
        ),
        &[
            "concurrency",
            "acked writes/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
        ],
        &rows,
    );
    Ok(())
}
