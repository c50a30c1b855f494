//! Replicated writes: N concurrent writers for a fixed time each, on a
//! Vexil cluster (creating ~300-byte flags, fsync on) and, with
//! `--target etcd|both`, on an etcd cluster through its JSON gateway
//! (`POST /v3/kv/put` of the same ~300-byte bodies), so that one load
//! generator drives both.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{base64, cluster, flag, histogram, http, ms, part_row, table};

/// Which system the writers load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Vexil,
    Etcd,
    /// Vexil, then etcd, and a comparison.
    Both,
}

/// Where one writer sends its writes.
#[derive(Debug, Clone)]
enum Sink {
    /// `POST {url}/v1/flags` with a bearer token.
    Vexil { url: String, token: String },
    /// `POST {url}/v3/kv/put` (etcd's gRPC gateway).
    Etcd { url: String },
}

/// One row: acknowledged writes/s, p50, p99 and max in ms, errors.
#[derive(Debug, Clone, Copy)]
struct Row {
    rate: f64,
    p50: f64,
    p99: f64,
    max: f64,
    errors: u64,
}

/// What `run` needs besides the scratch paths.
#[derive(Debug)]
pub struct Options {
    pub concurrency: Vec<usize>,
    pub seconds: u64,
    pub nodes: u64,
    pub target: Target,
    /// Client URLs of the etcd members (`http://127.0.0.1:2379,…`).
    pub etcd_urls: Vec<String>,
}

async fn write_once(client: &reqwest::Client, sink: &Sink, key: &str) -> bool {
    let body = flag(key);
    let r = match sink {
        Sink::Vexil { url, token } => {
            client
                .post(format!("{url}/v1/flags"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
        }
        Sink::Etcd { url } => {
            let value = serde_json::to_vec(&body).unwrap_or_default();
            client
                .post(format!("{url}/v3/kv/put"))
                .json(&json!({"key": base64(key.as_bytes()), "value": base64(&value)}))
                .send()
                .await
        }
    };
    match r {
        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
        _ => false,
    }
}

/// `n` writers for `seconds`, each waiting for its write's acknowledgement.
async fn measure(sink: &Sink, n: usize, seconds: u64) -> anyhow::Result<Row> {
    let client = http();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..n {
        let (client, sink, errors) = (client.clone(), sink.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut h = histogram();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let key = format!("c{n}-w{w}-{i}");
                i += 1;
                let t = Instant::now();
                if write_once(&client, &sink, &key).await {
                    let _ = h.record(t.elapsed().as_micros() as u64);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
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
    Ok(Row {
        rate: all.len() as f64 / seconds as f64,
        p50,
        p99,
        max,
        errors: errors.load(Ordering::Relaxed),
    })
}

async fn vexil_sink(
    bin: &Path,
    dir: &Path,
    nodes: u64,
) -> anyhow::Result<(Sink, vexil_cluster::Cluster)> {
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
    Ok((Sink::Vexil { url, token }, c))
}

/// The etcd member that leads (writes to a follower would be forwarded, and
/// Vexil's writers talk to its leader too).
async fn etcd_sink(urls: &[String]) -> anyhow::Result<Sink> {
    let client = http();
    for _ in 0..100 {
        for url in urls {
            let Ok(r) = client
                .post(format!("{url}/v3/maintenance/status"))
                .json(&json!({}))
                .send()
                .await
            else {
                continue;
            };
            let Ok(v) = r.json::<serde_json::Value>().await else {
                continue;
            };
            let me = v["header"]["member_id"].as_str();
            if me.is_some() && me == v["leader"].as_str() {
                return Ok(Sink::Etcd { url: url.clone() });
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("no etcd leader among {urls:?}")
}

fn print_rows(title: &str, concurrency: &[usize], rows: &[Row]) {
    let rows: Vec<Vec<String>> = concurrency
        .iter()
        .zip(rows)
        .map(|(n, r)| {
            vec![
                n.to_string(),
                format!("{:.0}", r.rate),
                format!("{:.2}", r.p50),
                format!("{:.2}", r.p99),
                format!("{:.1}", r.max),
                r.errors.to_string(),
            ]
        })
        .collect();
    let header = [
        "concurrency",
        "acked writes/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
    ];
    table(title, &header, &rows);
}

pub async fn run(bin: &Path, dir: &Path, o: &Options) -> anyhow::Result<()> {
    let (nodes, seconds) = (o.nodes, o.seconds);
    let mut vexil = Vec::new();
    if o.target != Target::Etcd {
        // A fresh cluster for each row: the rows' flags would otherwise
        // add up to the state's limit (`MAX_FLAGS`), and a row would
        // measure its refusals instead of its writes.
        for &n in &o.concurrency {
            eprintln!("vexil: concurrency {n}");
            let (sink, mut c) = vexil_sink(bin, &dir.join(format!("c{n}")), nodes).await?;
            vexil.push(measure(&sink, n, seconds).await?);
            tokio::task::spawn_blocking(move || c.down()).await??;
        }
        let title = format!(
            "Replicated writes: {nodes}-node Vexil, fsync on, ~300-byte flags, {seconds}s per row"
        );
        print_rows(&title, &o.concurrency, &vexil);
    }
    let mut etcd = Vec::new();
    if o.target != Target::Vexil {
        let sink = etcd_sink(&o.etcd_urls).await?;
        for &n in &o.concurrency {
            eprintln!("etcd: concurrency {n}");
            etcd.push(measure(&sink, n, seconds).await?);
        }
        let title = format!(
            "Replicated writes: {}-member etcd, `POST /v3/kv/put`, ~300-byte values, {seconds}s per row",
            o.etcd_urls.len()
        );
        print_rows(&title, &o.concurrency, &etcd);
    }
    if o.target == Target::Both {
        println!();
        for ((n, v), e) in o.concurrency.iter().zip(&vexil).zip(&etcd) {
            let ratio = |a: f64, b: f64| {
                if b > 0.0 {
                    format!("{:.2}×", a / b)
                } else {
                    "–".into()
                }
            };
            part_row(
                "writes",
                &format!("c={n} acked writes/s"),
                &format!("{:.0}", v.rate),
                &format!("{:.0}", e.rate),
                &ratio(v.rate, e.rate),
            );
            part_row(
                "writes",
                &format!("c={n} p50 ms"),
                &format!("{:.2}", v.p50),
                &format!("{:.2}", e.p50),
                &ratio(v.p50, e.p50),
            );
            part_row(
                "writes",
                &format!("c={n} p99 ms"),
                &format!("{:.2}", v.p99),
                &format!("{:.2}", e.p99),
                &ratio(v.p99, e.p99),
            );
            if v.errors + e.errors > 0 {
                part_row(
                    "writes",
                    &format!("c={n} errors"),
                    &v.errors.to_string(),
                    &e.errors.to_string(),
                    "–",
                );
            }
        }
    }
    Ok(())
}
