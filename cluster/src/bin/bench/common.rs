//! What the parts share: clusters, an HTTP client, histograms, tables.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use vexil_cluster::{Cluster, Spec};

pub fn default_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("vexil")))
        .unwrap_or_else(|| PathBuf::from("vexil"))
}

/// Starts a fresh cluster of `n` nodes in `dir/name` (blocking work on a
/// blocking thread).
pub async fn cluster(
    bin: &Path,
    dir: &Path,
    name: &str,
    n: u64,
    extra: &[&str],
) -> anyhow::Result<Cluster> {
    let dir = dir.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let mut spec = Spec::fast(bin, &dir);
    spec.extra_args = extra.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || Cluster::up(spec, n)).await?
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// A boolean flag whose JSON is about 300 bytes.
pub fn flag(key: &str) -> Value {
    json!({
        "key": key,
        "name": format!("Benchmark flag {key}"),
        "description": "x".repeat(120),
        "kind": "boolean",
        "variations": [{"value": true}, {"value": false}],
        "off_variation": 1,
        "fallthrough": {"variation": 0},
        "enabled": true,
    })
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is a valid precision")
}

/// "p50 / p99 / max" of microsecond samples, in milliseconds.
pub fn ms(h: &Histogram<u64>) -> (f64, f64, f64) {
    let f = |v: u64| v as f64 / 1000.0;
    (
        f(h.value_at_quantile(0.5)),
        f(h.value_at_quantile(0.99)),
        f(h.max()),
    )
}

/// Prints a markdown table.
pub fn table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    println!("\n### {title}\n");
    println!("| {} |", header.join(" | "));
    println!(
        "|{}|",
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for r in rows {
        println!("| {} |", r.join(" | "));
    }
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// One row of the benchmark summary that `scripts/bench.sh` collects:
/// `| part | metric | vexil | peer | ratio |`.
pub fn part_row(part: &str, metric: &str, vexil: &str, peer: &str, ratio: &str) {
    println!("| {part} | {metric} | {vexil} | {peer} | {ratio} |");
}

/// Standard base64 with padding (etcd's JSON gateway encodes bytes so).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
