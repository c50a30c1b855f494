//! Promotions while the leader is SIGKILLed (issue 22): each promotion is
//! one Raft entry, so it reaches all of its flags or none of them.
//!
//! Project `promo` holds [`FLAGS`] flags, enabled in `development` and
//! disabled in `staging`. The promoter promotes every flag to `production`
//! from each of the two in turn, so every promotion that applies flips all
//! of them at once. Afterwards, on every node, the production
//! configurations must all be at one version and one state, and there must
//! be exactly one promotion per version after the first, each naming
//! every flag: a promotion applied to part of its flags would leave one
//! behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use vexil_cluster::Cluster;

use crate::checks::{all_pages, flag, http};

/// How many flags each promotion moves.
pub const FLAGS: usize = 20;

const PROJECT: &str = "promo";

async fn ok(client: &reqwest::Client, url: &str, token: &str, body: Value) -> anyhow::Result<()> {
    let r = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "{url}: {} {}",
        r.status(),
        r.text().await.unwrap_or_default()
    );
    Ok(())
}

/// Makes project `promo` and its flags (before any node is killed), once
/// the leader has raised the cluster to the level that has promotions.
pub async fn setup(url: &str, token: &str) -> anyhow::Result<()> {
    let client = http();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status: Value = client
            .get(format!("{url}/v1/cluster"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        if status["level"].as_u64() >= Some(u64::from(vexil_raft::version::PROMOTION)) {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the cluster stayed at level {}",
            status["level"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ok(
        &client,
        &format!("{url}/v1/projects"),
        token,
        json!({"key": PROJECT}),
    )
    .await?;
    for i in 0..FLAGS {
        let key = format!("p{i}");
        let mut f = flag(&key);
        f["enabled"] = json!(false);
        ok(
            &client,
            &format!("{url}/v1/projects/{PROJECT}/flags"),
            token,
            f,
        )
        .await?;
        let toggle =
            format!("{url}/v1/projects/{PROJECT}/environments/development/flags/{key}/toggle");
        ok(&client, &toggle, token, json!({"enabled": true})).await?;
    }
    Ok(())
}

/// Promotes every flag to production, from development and staging in
/// turn, until `stop`; each promotion is retried under its idempotency key
/// until answered. Returns how many were answered.
pub async fn promoter(urls: Vec<String>, token: String, stop: Arc<AtomicBool>) -> u64 {
    let client = http();
    let mut n = 0u64;
    let mut attempts = 0usize;
    while !stop.load(Ordering::Relaxed) {
        attempts += 1;
        let url = &urls[attempts % urls.len()];
        let from = if n.is_multiple_of(2) {
            "development"
        } else {
            "staging"
        };
        let r = client
            .post(format!("{url}/v1/projects/{PROJECT}/promote"))
            .bearer_auth(&token)
            .header("Idempotency-Key", format!("promo-{n}"))
            .json(&json!({"from": from, "to": "production", "all": true}))
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        // 201: promoted; 200: nothing differed (an earlier attempt of
        // this one committed).
        if let Ok(r) = r
            && (r.status() == 201 || r.status() == 200)
        {
            n += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    n
}

/// Checks node `id`: every production configuration at one version and
/// state, and one whole promotion per version after the first. Returns
/// how many promotions applied.
pub async fn check(c: &Cluster, id: u64) -> anyhow::Result<usize> {
    let configs = all_pages(
        c,
        id,
        &format!("/v1/projects/{PROJECT}/environments/production/flags"),
        "flags",
    )
    .await?;
    anyhow::ensure!(
        configs.len() == FLAGS,
        "node {id}: {} promo flags",
        configs.len()
    );
    let states: std::collections::BTreeSet<(u64, bool)> = configs
        .iter()
        .map(|f| (f["version"].as_u64().unwrap_or(0), f["enabled"] == true))
        .collect();
    anyhow::ensure!(
        states.len() == 1,
        "node {id}: production's promo flags are at different versions or states: {states:?}"
    );
    let version = states.iter().next().map_or(0, |s| s.0);
    let promotions = all_pages(
        c,
        id,
        &format!("/v1/projects/{PROJECT}/promotions"),
        "promotions",
    )
    .await?;
    anyhow::ensure!(
        promotions.len() as u64 == version - 1,
        "node {id}: {} promotions for configurations at version {version}",
        promotions.len()
    );
    for p in &promotions {
        let flags = p["flags"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(
            flags == FLAGS,
            "node {id}: promotion {} moved {flags} of {FLAGS} flags",
            p["id"]
        );
    }
    Ok(promotions.len())
}
