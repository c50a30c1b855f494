//! Promotion at scale (issue 22): one project with `--flags` flags, each
//! configured differently in `staging` than in `production`; then the dry
//! run, the promotion (one Raft entry writing every flag's configuration,
//! its history and an audit entry per flag) and its rollback, each timed
//! end to end through the HTTP API on a 3-node cluster (fsync on).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::common::{cluster, flag, http, part_row, table};

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let r = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{url}: {status} {v}");
    Ok(v)
}

/// Runs `f(i)` for `0..n`, 16 at a time.
async fn each<F, Fut>(n: usize, f: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Value>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = permits.clone().acquire_owned().await?;
        let fut = f(i);
        tasks.push(tokio::spawn(async move {
            let out = fut.await;
            drop(permit);
            out
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub async fn run(bin: &Path, dir: &Path, flags: usize, rounds: usize) -> anyhow::Result<()> {
    let c = cluster(bin, dir, "promote", 3, &[]).await?;
    let leader = tokio::task::block_in_place(|| c.wait_leader(Duration::from_secs(30)))?;
    let url = c.url(leader);
    let token = c.spec.admin_token.clone();
    let client = http();
    // The first admin token, then the level that has promotions.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let level = match client
            .get(format!("{url}/v1/cluster"))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(r) => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["level"].as_u64()),
            Err(_) => None,
        };
        if level >= Some(5) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the cluster never reached level 5"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    post(
        &client,
        &format!("{url}/v1/projects"),
        &token,
        &json!({"key": "bench"}),
    )
    .await?;
    let started = Instant::now();
    each(flags, |i| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let mut f = flag(&format!("f{i}"));
            f["enabled"] = json!(false);
            post(
                &client,
                &format!("{url}/v1/projects/bench/flags"),
                &token,
                &f,
            )
            .await
        }
    })
    .await?;
    each(flags, |i| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let path = format!("{url}/v1/projects/bench/environments/staging/flags/f{i}/toggle");
            post(&client, &path, &token, &json!({"enabled": true})).await
        }
    })
    .await?;
    eprintln!(
        "promote: {flags} flags made and configured in staging in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let promote = format!("{url}/v1/projects/bench/promote");
    let body = json!({"from": "staging", "to": "production", "all": true});
    let (mut dry, mut apply, mut back) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut dry_body = body.clone();
        dry_body["dry_run"] = json!(true);
        let t = Instant::now();
        let plan = post(&client, &promote, &token, &dry_body).await?;
        dry.push(t.elapsed().as_secs_f64() * 1000.0);
        let planned = plan["plan"]["flags"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(
            planned == flags,
            "the dry run planned {planned} of {flags} flags"
        );
        let mut apply_body = body.clone();
        apply_body["expected_versions"] = plan["expected_versions"].clone();
        apply_body["source_versions"] = plan["source_versions"].clone();
        let t = Instant::now();
        let done = post(&client, &promote, &token, &apply_body).await?;
        apply.push(t.elapsed().as_secs_f64() * 1000.0);
        let id = done["promotion"]["id"].as_u64().unwrap_or(0);
        let moved = done["promotion"]["flags"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(
            moved == flags,
            "the promotion moved {moved} of {flags} flags"
        );
        let t = Instant::now();
        let rollback = format!("{url}/v1/projects/bench/promotions/{id}/rollback");
        post(&client, &rollback, &token, &Value::Null).await?;
        back.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let row = |name: &str, v: &[f64]| {
        let max = v.iter().copied().fold(0.0, f64::max);
        vec![
            name.to_owned(),
            flags.to_string(),
            format!("{:.0}", median(v.to_vec())),
            format!("{max:.0}"),
        ]
    };
    let rows = vec![
        row("dry run", &dry),
        row("apply (one Raft entry)", &apply),
        row("rollback (one Raft entry)", &back),
    ];
    table(
        &format!("Promotion of every flag, staging to production, 3 nodes, {rounds} rounds"),
        &["step", "flags", "median ms", "max ms"],
        &rows,
    );
    for r in &rows {
        part_row(
            "promote",
            &format!("{} of {flags} flags", r[0]),
            &format!("{} ms median", r[2]),
            "-",
            "-",
        );
    }
    let mut c = c;
    tokio::task::spawn_blocking(move || c.down()).await??;
    Ok(())
}
