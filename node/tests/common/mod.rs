//! Shared helpers for the node's integration tests.
#![allow(dead_code)]

pub mod inproc;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use vexil_cluster::{Cluster, Spec};

pub const ADMIN: &str = "local-admin-token-0123456789";

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vexil"))
}

/// A cluster of `n` real processes in a temp dir (removed on drop).
pub struct TestCluster {
    pub cluster: Cluster,
    pub dir: tempfile::TempDir,
    pub http: Client,
}

impl TestCluster {
    pub fn up(n: u64) -> TestCluster {
        Self::up_with(n, &[])
    }

    pub fn up_with(n: u64, extra: &[&str]) -> TestCluster {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = Spec::fast(bin(), dir.path());
        spec.extra_args.extend(extra.iter().map(|s| s.to_string()));
        let cluster = Cluster::up(spec, n).unwrap();
        let http = Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap();
        TestCluster { cluster, dir, http }
    }

    pub fn url(&self, id: u64, path: &str) -> String {
        format!("{}{path}", self.cluster.url(id))
    }

    pub fn get(&self, id: u64, path: &str) -> Response {
        self.http
            .get(self.url(id, path))
            .bearer_auth(ADMIN)
            .send()
            .unwrap()
    }

    pub fn post(&self, id: u64, path: &str, body: &Value) -> Response {
        self.http
            .post(self.url(id, path))
            .bearer_auth(ADMIN)
            .json(body)
            .send()
            .unwrap()
    }

    /// The admin token's first admin exists once a leader committed it.
    pub fn wait_token(&self, id: u64) {
        wait_until(Duration::from_secs(20), || {
            self.get(id, "/v1/me").status() == 200
        });
    }

    pub fn leader(&self) -> u64 {
        self.cluster.wait_leader(Duration::from_secs(20)).unwrap()
    }

    pub fn followers(&self) -> Vec<u64> {
        let l = self.leader();
        self.cluster
            .nodes
            .keys()
            .copied()
            .filter(|id| *id != l && self.cluster.is_running(*id))
            .collect()
    }
}

impl Drop for TestCluster {
    /// A failing test keeps its node logs and data for inspection.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()).keep();
            eprintln!("node logs and data kept in {}", kept.display());
        }
    }
}

/// Polls `f` until true; panics after `timeout`.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("condition not met within {timeout:?}");
}

/// A boolean flag served `true` to everyone once enabled.
pub fn bool_flag(key: &str) -> Value {
    json!({
        "key": key,
        "kind": "boolean",
        "variations": [{"value": true}, {"value": false}],
        "off_variation": 1,
        "fallthrough": {"variation": 0},
        "enabled": true,
    })
}
