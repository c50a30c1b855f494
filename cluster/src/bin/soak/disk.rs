//! A full data device: writes are refused with a clear error (the node keeps
//! a free-space margin, so RocksDB never hits ENOSPC mid-append), reads and
//! the feed keep working, and writes resume once space returns.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use vexil_cluster::{Cluster, Spec};

use crate::checks::{blocking, flag, http, wait_token};

pub async fn run(bin: &Path, device_dir: &Path) -> anyhow::Result<String> {
    let dir = device_dir.join("disk-full");
    let _ = std::fs::remove_dir_all(&dir);
    let mut spec = Spec::fast(bin, &dir);
    spec.extra_args
        .extend(["--min-free-mb", "16"].map(String::from));
    let mut c = blocking(|| Cluster::up(spec, 1))?;
    wait_token(&c, 1).await?;
    let client = http();
    let url = c.url(1);
    let token = c.spec.admin_token.clone();
    anyhow::ensure!(
        client
            .post(format!("{url}/v1/flags"))
            .bearer_auth(&token)
            .json(&flag("before"))
            .send()
            .await?
            .status()
            == 201
    );
    // A subscriber from before the disk filled up.
    let mut early = open_stream(&url, &token).await?;
    read_until(&mut early, "event: snapshot").await?;
    // Fill the device until less than the margin is left.
    let filler = device_dir.join("filler");
    {
        let mut f = std::fs::File::create(&filler)?;
        let chunk = vec![0u8; 1 << 20];
        while fs4::available_space(device_dir)? > 8 << 20 {
            if f.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = f.sync_all();
    }
    let r = client
        .post(format!("{url}/v1/flags"))
        .bearer_auth(&token)
        .json(&flag("during"))
        .send()
        .await?;
    let status = r.status().as_u16();
    let body: Value = r.json().await?;
    anyhow::ensure!(
        status == 507 && body["error"] == "no_space",
        "a write on a full disk got {status} {body}"
    );
    let read = client
        .get(format!("{url}/v1/flags/before"))
        .bearer_auth(&token)
        .send()
        .await?;
    anyhow::ensure!(
        read.status() == 200,
        "reads must keep working: {}",
        read.status()
    );
    let feed = client
        .get(format!("{url}/v1/sdk/flags"))
        .bearer_auth(&token)
        .send()
        .await?;
    anyhow::ensure!(
        feed.status() == 200,
        "the SDK state must keep working: {}",
        feed.status()
    );
    // A new subscriber still gets its snapshot while the disk is full.
    let mut late = open_stream(&url, &token).await?;
    read_until(&mut late, "event: snapshot").await?;
    std::fs::remove_file(&filler)?;
    let mut ok = false;
    for _ in 0..100 {
        let r = client
            .post(format!("{url}/v1/flags"))
            .bearer_auth(&token)
            .json(&flag("after"))
            .send()
            .await?;
        if r.status() == 201 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::ensure!(ok, "writes did not resume after space returned");
    // Both subscribers stayed connected through it and see the new write.
    read_until(&mut early, "\"key\":\"after\"").await?;
    read_until(&mut late, "\"key\":\"after\"").await?;
    blocking(|| c.down())?;
    Ok(format!(
        "disk-full: refused with 507 no_space ({}), reads, /v1/sdk/flags and two SSE subscribers (one opened while full) kept working, writes resumed and reached both",
        body["message"].as_str().unwrap_or_default()
    ))
}

/// Subscribes to the feed (a client without the shared one's total timeout:
/// a stream is meant to stay open).
async fn open_stream(url: &str, token: &str) -> anyhow::Result<reqwest::Response> {
    let r = reqwest::Client::new()
        .get(format!("{url}/v1/stream"))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "/v1/stream answered {}", r.status());
    Ok(r)
}

/// Reads the SSE body until `needle` appears (bounded: 10 s).
async fn read_until(stream: &mut reqwest::Response, needle: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .map_err(|_| anyhow::anyhow!("the feed did not deliver {needle} within 10 s"))??
            .ok_or_else(|| anyhow::anyhow!("the feed ended before {needle}"))?;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    Ok(())
}
