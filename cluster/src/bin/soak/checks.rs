//! Verifications shared by the scenarios.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use vexil_cluster::Cluster;

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// Every item of a paged list (`/v1/flags`, `/v1/audit`) on node `id`, read
/// from this replica's state, following `next_cursor` to the end.
pub async fn all_pages(
    c: &Cluster,
    id: u64,
    path: &str,
    items: &str,
) -> anyhow::Result<Vec<Value>> {
    let client = http();
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}{path}?consistency=local&limit=1000", c.url(id));
        if let Some(cur) = &cursor {
            url.push_str(&format!("&cursor={cur}"));
        }
        let mut page: Value = client
            .get(url)
            .bearer_auth(&c.spec.admin_token)
            .send()
            .await?
            .json()
            .await?;
        if let Value::Array(a) = page[items].take() {
            out.extend(a);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(out),
        }
    }
}

/// Every flag on node `id` (this replica's state), key → version.
pub async fn flags_on(c: &Cluster, id: u64) -> anyhow::Result<BTreeMap<String, u64>> {
    Ok(all_pages(c, id, "/v1/flags", "flags")
        .await?
        .iter()
        .map(|f| {
            (
                f["key"].as_str().unwrap_or_default().to_owned(),
                f["version"].as_u64().unwrap_or(0),
            )
        })
        .collect())
}

/// The audit entries on node `id`, as (action, target).
pub async fn audit_entries(c: &Cluster, id: u64) -> anyhow::Result<Vec<(String, String)>> {
    Ok(all_pages(c, id, "/v1/audit", "entries")
        .await?
        .iter()
        .map(|e| {
            let s = |f: &str| e[f].as_str().unwrap_or_default().to_owned();
            (s("action"), s("target"))
        })
        .collect())
}

/// Waits until every running node reports the same applied index.
pub async fn converged(c: &Cluster, timeout: Duration) -> anyhow::Result<u64> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let applied: Vec<Option<u64>> = blocking(|| {
            c.nodes
                .keys()
                .filter(|id| c.is_running(**id))
                .map(|id| c.ready(*id).and_then(|b| b["applied_index"].as_u64()))
                .collect()
        });
        if let Some(Some(first)) = applied.first()
            && applied.iter().all(|a| *a == Some(*first))
        {
            return Ok(*first);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "nodes did not converge: applied {applied:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs blocking launcher work (processes, blocking HTTP) on this thread
/// without stalling the async runtime.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Waits until the admin token works on node `id`.
pub async fn wait_token(c: &Cluster, id: u64) -> anyhow::Result<()> {
    let client = http();
    for _ in 0..400 {
        let r = client
            .get(format!("{}/v1/me", c.url(id)))
            .bearer_auth(&c.spec.admin_token)
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == 200) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the admin token never worked on node {id}")
}

/// A fresh SDK token.
pub async fn sdk_token(c: &Cluster, id: u64) -> anyhow::Result<String> {
    let r = http()
        .post(format!("{}/v1/tokens", c.url(id)))
        .bearer_auth(&c.spec.admin_token)
        .json(&serde_json::json!({"name": "soak-sdk", "role": "sdk"}))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "token: {}", r.status());
    Ok(r.json::<Value>().await?["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// A boolean flag.
pub fn flag(key: &str) -> Value {
    serde_json::json!({
        "key": key, "kind": "boolean", "description": format!("soak {key}"),
        "variations": [{"value": true}, {"value": false}],
        "off_variation": 1, "fallthrough": {"variation": 0}, "enabled": true
    })
}
