//! Runs N `vexil` nodes as local processes on 127.0.0.1, for tests, scripts
//! and benchmarks: `up`, `down`, `status`, `kill`, `restart`.
//!
//! It only starts processes and polls their HTTP health; it knows nothing of
//! Raft or flags. Ports are picked free at `up` and recorded, with pids, in
//! `<dir>/cluster.json`, so the `vexil-cluster` command can act on a cluster
//! started by an earlier invocation.
//!
//! Nodes started through a [`Cluster`] stop when it is dropped, so a test
//! never leaks processes; [`Cluster::detach`] lets them outlive it (the
//! `vexil-cluster` command does, after `up`, `start` and `restart`).
//! Secrets reach the nodes through their environment, never their command
//! line, where any local user could read them.
//!
//! # Layout
//! - [`Cluster`]: the launcher (library API used by tests).
//! - `main.rs`: the `vexil-cluster` command over the same API.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a SIGTERM may take before the launcher sends SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// One node's ports and files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: u64,
    /// host:port of the API.
    pub api: String,
    /// host:port of the peer listener.
    pub peer: String,
    pub data_dir: PathBuf,
    /// The pid of the running process, if any.
    pub pid: Option<u32>,
}

/// What `up` needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// The `vexil` binary.
    pub bin: PathBuf,
    /// Holds every node's data dir and log, and `cluster.json`.
    pub dir: PathBuf,
    pub cluster_secret: String,
    pub admin_token: String,
    /// Extra `vexil serve` flags for every node (timeouts, snapshot policy).
    pub extra_args: Vec<String>,
}

impl Spec {
    /// A spec with test-friendly timings (fast elections).
    pub fn fast(bin: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> Spec {
        Spec {
            bin: bin.into(),
            dir: dir.into(),
            cluster_secret: "local-cluster-secret-0123456789".into(),
            admin_token: "local-admin-token-0123456789".into(),
            extra_args: [
                "--heartbeat-ms",
                "50",
                "--election-timeout-min-ms",
                "300",
                "--election-timeout-max-ms",
                "600",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// A local cluster.
#[derive(Debug)]
pub struct Cluster {
    pub spec: Spec,
    pub nodes: BTreeMap<u64, NodeInfo>,
    /// Children started by this process (so they can be reaped).
    children: BTreeMap<u64, Child>,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    spec: Spec,
    nodes: BTreeMap<u64, NodeInfo>,
}

/// Ports handed to nodes come from below Linux's default ephemeral range
/// (32768–60999). A port the kernel picked (`bind(0)`) is in that range,
/// and once a node is killed, an outgoing connection from another process
/// may be given the same port, so the restarted node cannot listen there
/// ("Address already in use"; the kill -9 soak hit it). Probing starts at
/// an offset drawn from the process id, so parallel test processes spread
/// out; a port that does not bind now is skipped.
fn free_port() -> anyhow::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..200 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + start.wrapping_add(n.wrapping_mul(101)) % SPAN;
        let port = u16::try_from(port).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    /// Starts `n` nodes forming a new cluster, and waits until it has a
    /// leader and every node is ready.
    pub fn up(spec: Spec, n: u64) -> anyhow::Result<Cluster> {
        let mut cluster = Self::prepare(spec, n)?;
        let ids: Vec<u64> = cluster.nodes.keys().copied().collect();
        for id in &ids {
            cluster.start(*id)?;
        }
        cluster.save()?;
        cluster.wait_ready(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// Picks ports and data dirs for `n` nodes without starting them (to
    /// seed their data dirs first, e.g. with a restore). Refuses a `dir`
    /// whose `cluster.json` names a node that still runs: overwriting it
    /// would lose the only record of those processes.
    pub fn prepare(spec: Spec, n: u64) -> anyhow::Result<Cluster> {
        if n == 0 {
            bail!("a cluster needs at least one node");
        }
        refuse_if_running(&spec.dir)?;
        fs::create_dir_all(&spec.dir)?;
        let mut nodes = BTreeMap::new();
        for id in 1..=n {
            nodes.insert(
                id,
                NodeInfo {
                    id,
                    api: format!("127.0.0.1:{}", free_port()?),
                    peer: format!("127.0.0.1:{}", free_port()?),
                    data_dir: spec.dir.join(format!("node{id}")),
                    pid: None,
                },
            );
        }
        let cluster = Cluster {
            spec,
            nodes,
            children: BTreeMap::new(),
        };
        cluster.save()?;
        Ok(cluster)
    }

    /// `--initial-cluster` for the current members.
    pub fn initial_cluster(&self) -> String {
        self.nodes
            .values()
            .map(|n| format!("{}={}", n.id, n.peer))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn args(&self, node: &NodeInfo, join: bool) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--id".into(),
            node.id.to_string(),
            "--data-dir".into(),
            node.data_dir.display().to_string(),
            "--listen".into(),
            node.api.clone(),
            "--peer-listen".into(),
            node.peer.clone(),
        ];
        if join {
            args.push("--join".into());
        } else {
            args.push("--initial-cluster".into());
            args.push(self.initial_cluster());
        }
        args.extend(self.spec.extra_args.iter().cloned());
        args
    }

    fn spawn(&mut self, id: u64, join: bool) -> anyhow::Result<()> {
        let node = self.nodes.get(&id).context("no such node")?.clone();
        fs::create_dir_all(&node.data_dir)?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.spec.dir.join(format!("node{id}.log")))?;
        // Secrets go through the environment: a command line is visible to
        // every local user (`ps`).
        let child = Command::new(&self.spec.bin)
            .args(self.args(&node, join))
            .env("VEXIL_CLUSTER_SECRET", &self.spec.cluster_secret)
            .env("VEXIL_ADMIN_TOKEN", &self.spec.admin_token)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.spec.bin.display()))?;
        if let Some(n) = self.nodes.get_mut(&id) {
            n.pid = Some(child.id());
        }
        self.children.insert(id, child);
        Ok(())
    }

    /// Starts (or restarts) node `id` with its existing data dir.
    pub fn start(&mut self, id: u64) -> anyhow::Result<()> {
        self.spawn(id, false)?;
        self.save()
    }

    /// Adds a new node process that waits to join (`--join`); the caller
    /// then adds it through `POST /v1/cluster/members`.
    pub fn start_joiner(&mut self, id: u64) -> anyhow::Result<NodeInfo> {
        let node = NodeInfo {
            id,
            api: format!("127.0.0.1:{}", free_port()?),
            peer: format!("127.0.0.1:{}", free_port()?),
            data_dir: self.spec.dir.join(format!("node{id}")),
            pid: None,
        };
        self.nodes.insert(id, node);
        self.spawn(id, true)?;
        self.save()?;
        self.nodes.get(&id).cloned().context("vanished")
    }

    fn signal(&mut self, id: u64, sig: &str) -> anyhow::Result<()> {
        let node = self.nodes.get_mut(&id).context("no such node")?;
        let before = node.clone();
        let alive = node_alive(&before);
        if let Some(pid) = node.pid.take()
            && alive
        {
            let status = Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()?;
            if !status.success() {
                eprintln!("kill {sig} {pid}: process was already gone");
            }
        }
        match self.children.remove(&id) {
            Some(child) => wait_child(id, child, sig)?,
            // Started by an earlier invocation: not our child, so poll.
            None if alive => wait_exit(&before, sig)?,
            None => {}
        }
        self.save()
    }

    /// SIGKILL: no clean shutdown.
    pub fn kill(&mut self, id: u64) -> anyhow::Result<()> {
        self.signal(id, "-KILL")
    }

    /// SIGTERM: a clean shutdown.
    pub fn stop(&mut self, id: u64) -> anyhow::Result<()> {
        self.signal(id, "-TERM")
    }

    /// Kills and starts node `id` again, then waits for it to be ready.
    pub fn restart(&mut self, id: u64) -> anyhow::Result<()> {
        self.kill(id)?;
        self.start(id)?;
        self.wait_node_ready(id, Duration::from_secs(30))
    }

    /// Stops every node.
    pub fn down(&mut self) -> anyhow::Result<()> {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            self.stop(id)?;
        }
        Ok(())
    }

    pub fn url(&self, id: u64) -> String {
        self.nodes
            .get(&id)
            .map(|n| format!("http://{}", n.api))
            .unwrap_or_default()
    }

    /// Whether node `id` has a recorded pid whose process still runs (not
    /// exited, not a zombie).
    pub fn is_running(&self, id: u64) -> bool {
        self.nodes.get(&id).is_some_and(node_alive)
    }

    /// Lets the nodes this handle started outlive it: dropping the returned
    /// state no longer stops them. `cluster.json` records them, so a later
    /// [`Cluster::load`] can stop them.
    pub fn detach(mut self) {
        // Dropping a `Child` neither kills nor waits for it.
        self.children.clear();
    }

    /// GET `/readyz` on one node: `Some(body)` when ready.
    pub fn ready(&self, id: u64) -> Option<serde_json::Value> {
        let node = self.nodes.get(&id)?;
        http_get(&node.api, "/readyz")
            .ok()
            .filter(|(s, _)| *s == 200)
            .map(|(_, b)| b)
    }

    pub fn wait_node_ready(&self, id: u64, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.ready(id).is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log_path = self.spec.dir.join(format!("node{id}.log"));
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "node {id} not ready after {timeout:?}; last lines of {}:\n{}",
            log_path.display(),
            tail.join("\n")
        )
    }

    /// Waits until every running node is ready.
    pub fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        for (id, n) in &self.nodes {
            if n.pid.is_some() {
                self.wait_node_ready(*id, timeout)?;
            }
        }
        Ok(())
    }

    /// The leader id as the running nodes report it, once they agree.
    pub fn leader(&self) -> Option<u64> {
        let views: Vec<Option<u64>> = self
            .nodes
            .keys()
            .filter(|id| self.is_running(**id))
            .filter_map(|id| self.ready(*id))
            .map(|b| b.get("leader").and_then(|l| l.as_u64()))
            .collect();
        let first = views.first().copied().flatten()?;
        views.iter().all(|v| *v == Some(first)).then_some(first)
    }

    pub fn wait_leader(&self, timeout: Duration) -> anyhow::Result<u64> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(l) = self.leader() {
                return Ok(l);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("no agreed leader after {timeout:?}")
    }

    fn save(&self) -> anyhow::Result<()> {
        let saved = Saved {
            spec: self.spec.clone(),
            nodes: self.nodes.clone(),
        };
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        // It holds the cluster secret and the admin token.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let path = self.spec.dir.join("cluster.json");
        let mut file = options
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        std::io::Write::write_all(&mut file, &serde_json::to_vec_pretty(&saved)?)?;
        Ok(())
    }

    /// Reopens a cluster recorded in `dir` by an earlier `up`.
    pub fn load(dir: &Path) -> anyhow::Result<Cluster> {
        let raw = fs::read(dir.join("cluster.json"))
            .with_context(|| format!("no cluster recorded in {}", dir.display()))?;
        let saved: Saved = serde_json::from_slice(&raw)?;
        Ok(Cluster {
            spec: saved.spec,
            nodes: saved.nodes,
            children: BTreeMap::new(),
        })
    }
}

impl Drop for Cluster {
    /// Children started by this process die with it (tests never leak nodes).
    fn drop(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.children) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Fails if `dir/cluster.json` names a node whose process still runs.
fn refuse_if_running(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("cluster.json");
    let Ok(raw) = fs::read(&path) else {
        return Ok(());
    };
    let saved: Saved = serde_json::from_slice(&raw).with_context(|| {
        format!(
            "{} exists but cannot be read; remove it if no node of it runs",
            path.display()
        )
    })?;
    let live: Vec<String> = saved
        .nodes
        .values()
        .filter(|n| node_alive(n))
        .map(|n| format!("node {} (pid {})", n.id, n.pid.unwrap_or_default()))
        .collect();
    if !live.is_empty() {
        bail!(
            "{} already holds a running cluster: {}; run `vexil-cluster down` first (or use another --dir)",
            dir.display(),
            live.join(", ")
        );
    }
    Ok(())
}

/// Whether `node`'s recorded process still runs. On Linux the process must
/// also still be a node of this data dir, so a pid reused by an unrelated
/// process is never signalled; an exited child not yet reaped (a zombie)
/// counts as exited.
fn node_alive(node: &NodeInfo) -> bool {
    let Some(pid) = node.pid else {
        return false;
    };
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if Path::new("/proc/self").exists() {
        let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else {
            return false;
        };
        // `pid (comm) S …`: the state follows the last `)`.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, None | Some('Z' | 'X' | 'x')) {
            return false;
        }
        let cmdline = fs::read(proc_dir.join("cmdline")).unwrap_or_default();
        let data_dir = node.data_dir.display().to_string();
        return cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == data_dir.as_bytes());
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits for a child of this process to exit after `sig`, with SIGKILL
/// after [`STOP_TIMEOUT`]: a clean stop that hangs is a bug to report, not to
/// wait on forever.
fn wait_child(id: u64, mut child: Child, sig: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + STOP_TIMEOUT;
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            eprintln!(
                "node {id} did not stop within {}s of {sig}; sending SIGKILL",
                STOP_TIMEOUT.as_secs()
            );
            let _ = child.kill();
            child.wait()?;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Waits for a node started by another process to exit after `sig`, with
/// SIGKILL after [`STOP_TIMEOUT`] (bounded again: a process in
/// uninterruptible sleep may outlive even SIGKILL for a while).
fn wait_exit(node: &NodeInfo, sig: &str) -> anyhow::Result<()> {
    let mut deadline = Instant::now() + STOP_TIMEOUT;
    let mut killed = false;
    while node_alive(node) {
        if Instant::now() > deadline {
            if killed {
                bail!(
                    "node {} (pid {}) is still running after SIGKILL",
                    node.id,
                    node.pid.unwrap_or_default()
                );
            }
            eprintln!(
                "node {} did not stop within {}s of {sig}; sending SIGKILL",
                node.id,
                STOP_TIMEOUT.as_secs()
            );
            if let Some(pid) = node.pid {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            killed = true;
            deadline = Instant::now() + Duration::from_secs(5);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A blocking GET on loopback: (status, JSON body).
pub fn http_get(addr: &str, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let resp = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?
        .get(format!("http://{addr}{path}"))
        .send()?;
    let status = resp.status().as_u16();
    let body = resp.json().unwrap_or(serde_json::Value::Null);
    Ok((status, body))
}
