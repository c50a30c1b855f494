//! Scale: a state of F flags and A audit entries, and optionally P projects
//! of E environments and N flags each (issue 22: 10 × 5 × 2,000, 100,000
//! configurations), built in-process, backed up, restored into a 3-node
//! cluster; then pages, restart, snapshot size, a join and SDK cold start
//! are measured.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vexil_cluster::{Cluster, Spec};
use vexil_node::net::dial::TcpDialer;
use vexil_node::server::{self, AdminToken, Bootstrap, RunOptions};
use vexil_raft::{Member, Op, RaftConfig};
use vexil_storage::{BlobStore, Engine, FsBlobStore, MemBlobStore, MemEngine, RocksEngine};

use crate::common::{flag, histogram, http, ms, part_row, table};

/// SDK cold starts measured; the median is reported, with every run.
const COLD_STARTS: usize = 5;

/// Projects to add to the state: `projects` of `envs` environments, each
/// with `flags` flags configured in every environment.
#[derive(Debug, Clone, Copy)]
pub struct Projects {
    pub projects: usize,
    pub envs: usize,
    pub flags: usize,
}

impl Projects {
    fn key(p: usize) -> String {
        format!("proj-{p:02}")
    }
    fn env(e: usize) -> String {
        format!("env-{e}")
    }
}

/// Builds the state in an in-process node (no HTTP, no fsync: fast) and
/// writes it as a backup file.
async fn seed(
    dir: &Path,
    flags: usize,
    audit: usize,
    projects: Projects,
    token: &str,
) -> anyhow::Result<vexil_raft::BackupInfo> {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let peer = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let member = Member {
        peer_addr: peer.local_addr()?.to_string(),
        client_addr: api.local_addr()?.to_string(),
    };
    let mut raft = RaftConfig::new(1, member);
    raft.snapshot_every = 1_000_000_000;
    let opts = RunOptions {
        raft,
        engine: Arc::new(MemEngine::new()),
        blobs: Arc::new(MemBlobStore::new()),
        dialer: Arc::new(TcpDialer),
        cluster_secret: "bench-seed-secret".into(),
        bootstrap: Bootstrap::Single,
        admin_token: AdminToken::Given(token.into()),
        data_dir: None,
        min_free_bytes: 0,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (running, _done) = server::run(opts, api, peer, async move {
        let _ = rx.await;
    })
    .await?;
    while running.raft.shared().read().tokens.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let app = running.app.clone();
    let writers = 64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < flags {
                let f: vexil_flags::Flag = serde_json::from_value(flag(&format!("flag-{i:05}")))?;
                app.commit("admin", format!("seed-c-{i}"), Op::CreateFlag { flag: f })
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                i += writers;
            }
            let mut j = w;
            while j < audit.saturating_sub(flags) {
                let key = format!("flag-{:05}", j % flags.max(1));
                let op = Op::ToggleFlag {
                    key,
                    enabled: j % 2 == 0,
                };
                app.commit("admin", format!("seed-t-{j}"), op)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                j += writers;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "seeded {flags} flags and {audit} audit entries in {:.1?}",
        started.elapsed()
    );
    if projects.projects > 0 {
        seed_projects(&app, &running.raft, projects).await?;
    }
    let store = FsBlobStore::open(dir)?;
    let out = store.create("seed.backup")?;
    let raft = running.raft.clone();
    let info =
        tokio::task::spawn_blocking(move || raft.write_backup(out, chrono::Utc::now())).await??;
    drop(tx);
    Ok(info)
}

/// Adds `p.projects` projects with their environments and flags, once the
/// node's level has flags per environment.
async fn seed_projects(
    app: &vexil_node::api::AppState,
    raft: &vexil_raft::RaftNode,
    p: Projects,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while raft.shared().read().level() < vexil_raft::version::ENV_CONFIG {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the seed node never reached level 4"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..p.projects {
        let key = Projects::key(i);
        let environments = (0..p.envs)
            .map(|e| {
                serde_json::from_value(serde_json::json!({
                    "key": Projects::env(e), "project": key, "order": e,
                    "production": e + 1 == p.envs,
                }))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let project = serde_json::from_value(serde_json::json!({ "key": key }))?;
        app.commit(
            "admin",
            format!("seed-p-{i}"),
            Op::CreateProject {
                project,
                environments,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    }
    let writers = 64;
    let total = p.projects * p.flags;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < total {
                let project = Projects::key(i / p.flags);
                let mut f: vexil_flags::Flag =
                    serde_json::from_value(flag(&format!("flag-{:05}", i % p.flags)))?;
                f.enabled = i % 2 == 0;
                app.commit(
                    "admin",
                    format!("seed-pf-{i}"),
                    Op::CreateProjectFlag { project, flag: f },
                )
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
                i += writers;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "seeded {} projects × {} environments × {} flags ({} configurations) in {:.1?}",
        p.projects,
        p.envs,
        p.flags,
        total * p.envs,
        started.elapsed()
    );
    Ok(())
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        dir_size(&e.path())
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn page(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut h = histogram();
    for _ in 0..n {
        let t = Instant::now();
        let r = client.get(url).bearer_auth(token).send().await?;
        anyhow::ensure!(r.status() == 200, "{url}: {}", r.status());
        r.bytes().await?;
        let _ = h.record(t.elapsed().as_micros() as u64);
    }
    let (p50, p99, _) = ms(&h);
    Ok((p50, p99))
}

pub async fn run(
    bin: &Path,
    dir: &Path,
    flags: usize,
    audit: usize,
    projects: Projects,
) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(dir.join("scale"));
    std::fs::create_dir_all(dir.join("scale"))?;
    let spec = Spec::fast(bin, dir.join("scale"));
    let token = spec.admin_token.clone();
    let info = seed(&dir.join("scale"), flags, audit, projects, &token).await?;
    let backup = dir.join("scale").join("seed.backup");
    let mut rows = vec![vec![
        "backup file".into(),
        format!(
            "{:.1} MiB",
            std::fs::metadata(&backup)?.len() as f64 / 1048576.0
        ),
        format!("{} records", info.records),
    ]];

    let mut c = tokio::task::spawn_blocking(move || Cluster::prepare(spec, 3)).await??;
    let members: BTreeMap<u64, Member> = c
        .nodes
        .values()
        .map(|n| {
            (
                n.id,
                Member {
                    peer_addr: n.peer.clone(),
                    client_addr: n.api.clone(),
                },
            )
        })
        .collect();
    for n in c.nodes.values() {
        let engine: Arc<dyn Engine> = Arc::new(
            RocksEngine::open(&n.data_dir.join("db"))?
                .with_checkpoints(&n.data_dir.join("checkpoints"))?,
        );
        let blobs: Arc<dyn BlobStore> = Arc::new(FsBlobStore::open(&n.data_dir.join("snapshots"))?);
        let mut reader = FsBlobStore::open(&dir.join("scale"))?
            .open("seed.backup")?
            .ok_or_else(|| anyhow::anyhow!("backup vanished"))?;
        vexil_raft::restore_backup(engine, blobs, reader.as_mut(), members.clone())?;
    }
    let started = Instant::now();
    c = tokio::task::spawn_blocking(move || -> anyhow::Result<Cluster> {
        for id in 1..=3 {
            c.start(id)?;
        }
        c.wait_ready(Duration::from_secs(120))?;
        Ok(c)
    })
    .await??;
    rows.push(vec![
        "3-node cluster from restore to ready".into(),
        format!("{:.2} s", started.elapsed().as_secs_f64()),
        String::new(),
    ]);
    let leader = tokio::task::block_in_place(|| c.wait_leader(Duration::from_secs(30)))?;
    let url = c.url(leader);
    let client = http();
    let mut pages: Vec<(String, String)> = Vec::new();
    if projects.projects > 0 {
        let (p, e) = (Projects::key(0), Projects::env(projects.envs - 1));
        pages.push((
            format!(
                "project flag list page (100, {} environments side by side)",
                projects.envs
            ),
            format!("/v1/projects/{p}/flags?limit=100"),
        ));
        pages.push((
            "one environment's flag list page (100)".into(),
            format!("/v1/projects/{p}/environments/{e}/flags?limit=100"),
        ));
    }
    for (what, path) in [
        ("flag list page (100, linearizable)", "/v1/flags?limit=100"),
        (
            "flag list page, search `q`",
            "/v1/flags?limit=100&q=flag-099",
        ),
        (
            "flag list page (local read)",
            "/v1/flags?limit=100&consistency=local",
        ),
        ("audit page (100)", "/v1/audit?limit=100"),
        (
            "audit page filtered by flag",
            "/v1/audit?limit=100&flag=flag-00042",
        ),
        (
            "audit page filtered by action",
            "/v1/audit?limit=100&action=flag.create",
        ),
    ] {
        pages.push((what.into(), path.into()));
    }
    for (what, path) in pages {
        let (p50, p99) = page(&client, &format!("{url}{path}"), &token, 50).await?;
        rows.push(vec![
            what,
            format!("p50 {p50:.2} ms"),
            format!("p99 {p99:.2} ms"),
        ]);
    }
    // The data directory now; the snapshot's size once the join below
    // has had it written out (a snapshot is a checkpoint, hard links, until
    // a peer needs it sent as a file).
    let data = c
        .nodes
        .values()
        .map(|n| dir_size(&n.data_dir))
        .max()
        .unwrap_or(0);

    let follower = *c
        .nodes
        .keys()
        .find(|id| **id != leader)
        .ok_or_else(|| anyhow::anyhow!("no follower"))?;
    let started = Instant::now();
    c = tokio::task::spawn_blocking(move || -> anyhow::Result<Cluster> {
        c.restart(follower)?;
        Ok(c)
    })
    .await??;
    rows.push(vec![
        "node restart to ready".into(),
        format!("{:.2} s", started.elapsed().as_secs_f64()),
        String::new(),
    ]);
    // The restarted node may have called an election: find the leader again.
    let leader = tokio::task::block_in_place(|| c.wait_leader(Duration::from_secs(30)))?;
    let url = c.url(leader);

    let sdk_token = {
        let r = client
            .post(format!("{url}/v1/tokens"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "bench-sdk", "role": "sdk"}))
            .send()
            .await?;
        r.json::<serde_json::Value>().await?["secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    // Several cold starts, one after another: a single one right after the
    // restart above can land on the node's compaction of the restored state.
    let mut starts = Vec::new();
    for _ in 0..COLD_STARTS {
        let started = Instant::now();
        let sdk = vexil_sdk::Client::builder([url.clone()], sdk_token.clone()).build()?;
        sdk.wait_until_ready(Duration::from_secs(60))
            .await
            .map_err(|s| anyhow::anyhow!("SDK not ready: {s:?}"))?;
        starts.push(started.elapsed().as_secs_f64() * 1000.0);
        drop(sdk);
    }
    let runs = starts
        .iter()
        .map(|m| format!("{m:.1}"))
        .collect::<Vec<_>>()
        .join(", ");
    starts.sort_by(f64::total_cmp);
    rows.push(vec![
        format!("SDK cold start ({flags} flags), connect to Ready"),
        format!(
            "median {:.1} ms (runs: {runs} ms)",
            starts[starts.len() / 2]
        ),
        String::new(),
    ]);

    let started = Instant::now();
    let (c2, joined) = tokio::task::spawn_blocking(
        move || -> anyhow::Result<(Cluster, vexil_cluster::NodeInfo)> {
            let j = c.start_joiner(4)?;
            Ok((c, j))
        },
    )
    .await??;
    c = c2;
    let body = serde_json::json!({"id": 4, "peer_addr": joined.peer, "client_addr": joined.api});
    let mut attempts = 0;
    loop {
        attempts += 1;
        let r = client
            .post(format!("{url}/v1/cluster/members"))
            .bearer_auth(&token)
            .json(&body)
            .timeout(Duration::from_secs(300))
            .send()
            .await?;
        if r.status() == 200 {
            break;
        }
        let why = r.text().await?;
        // A leader change mid-join surfaces as a failed membership change
        // (not retried by the node): retry as an operator would.
        anyhow::ensure!(attempts < 5, "join failed: {why}");
        eprintln!("join attempt {attempts} failed, retrying: {why}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    rows.push(vec![
        "new node joins and catches up (snapshot), to voter".into(),
        format!("{:.2} s", started.elapsed().as_secs_f64()),
        format!("{attempts} attempt(s)"),
    ]);
    let snap = c
        .nodes
        .values()
        .map(|n| dir_size(&n.data_dir.join("snapshots")))
        .max()
        .unwrap_or(0);
    rows.push(vec![
        "snapshot size (the file sent to the new node)".into(),
        format!("{:.1} MiB", snap as f64 / 1048576.0),
        format!(
            "data dir {:.1} MiB before the join",
            data as f64 / 1048576.0
        ),
    ]);
    let title = if projects.projects > 0 {
        format!(
            "Scale: {flags} flags, {audit} audit entries, and {} projects × {} environments × {} flags, 3 nodes",
            projects.projects, projects.envs, projects.flags
        )
    } else {
        format!("Scale: {flags} flags, {audit} audit entries, 3 nodes")
    };
    table(&title, &["measure", "value", ""], &rows);
    println!();
    for r in &rows {
        let extra = if r[2].is_empty() {
            String::new()
        } else {
            format!(" ({})", r[2])
        };
        part_row("scale", &r[0], &format!("{}{extra}", r[1]), "–", "–");
    }
    tokio::task::spawn_blocking(move || c.down()).await??;
    Ok(())
}
