//! Restarting a node (issue 20): the store, not the options, says who the
//! node is. A peer address other than the recorded one is refused (no
//! member could reach it), a second process on the same data directory is
//! told so in plain words, a restart ignores `--initial-cluster`, and a lost
//! admin token can be recovered through an audited write.

mod common;
mod ops;

use std::net::TcpListener;
use std::time::Duration;

use common::{ADMIN, bin, wait_until};
use vexil_cluster::{Cluster, Spec};

fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A one-node cluster that ran once and was stopped cleanly.
fn stopped_node() -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::up(Spec::fast(bin(), dir.path()), 1).unwrap();
    cluster.stop(1).unwrap();
    (dir, cluster)
}

/// Runs `vexil serve …` expecting it to refuse: returns its exit code and
/// stderr, or panics (after killing it) if it is still running after 20 s.
fn serve(data_dir: &str, listen: &str, peer: &str, extra: &[&str]) -> ops::Run {
    let mut child = ops::command()
        .args(["serve", "--id", "1", "--data-dir", data_dir])
        .args(["--listen", listen, "--peer-listen", peer])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "vexil serve did not refuse to start:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    ops::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn t19_a_restart_at_another_peer_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::up(Spec::fast(bin(), dir.path()), 3).unwrap();
    cluster.stop(1).unwrap();
    let node = &cluster.nodes[&1];
    let moved = free_addr();
    let data = node.data_dir.display().to_string();
    let list = format!("1={moved}");
    let r = serve(&data, &free_addr(), &moved, &["--initial-cluster", &list]);
    assert_ne!(r.code, 0, "started at {moved}: {}", r.stderr);
    assert!(
        r.stderr.contains(&node.peer) && r.stderr.contains(&moved),
        "the refusal names both addresses: {}",
        r.stderr
    );
}

/// Alone in its cluster, a node that moved records its new address: nobody
/// dials the old one, and a node added later must learn the new one.
#[test]
fn t19_a_one_node_cluster_records_a_new_peer_address() {
    let (_dir, mut cluster) = stopped_node();
    let moved = free_addr();
    cluster.nodes.get_mut(&1).unwrap().peer = moved.clone();
    cluster.start(1).unwrap();
    cluster.wait_node_ready(1, Duration::from_secs(30)).unwrap();
    let http = reqwest::blocking::Client::new();
    let url = cluster.url(1);
    wait_until(Duration::from_secs(20), || {
        let v: serde_json::Value = http
            .get(format!("{url}/v1/cluster"))
            .bearer_auth(ADMIN)
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["members"][0]["peer_addr"] == moved.as_str()
    });
}

#[test]
fn t19_a_restart_ignores_an_initial_cluster_that_does_not_name_it() {
    let (_dir, cluster) = stopped_node();
    let node = &cluster.nodes[&1];
    // The list names only another node: a new store would refuse it, a
    // restarted one resumes from disk.
    let mut child = ops::command()
        .args(["serve", "--id", "1", "--data-dir"])
        .arg(&node.data_dir)
        .args(["--listen", &node.api, "--peer-listen", &node.peer])
        .args(["--initial-cluster", "7=127.0.0.1:1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::blocking::Client::new();
    let url = cluster.url(1);
    let started = std::time::Instant::now();
    let mut ready = false;
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the node exited: {status}");
        }
        if http
            .get(format!("{url}/readyz"))
            .send()
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "the restarted node never became ready");
}

#[test]
fn t19_a_second_process_on_a_data_directory_is_told_so() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::up(Spec::fast(bin(), dir.path()), 1).unwrap();
    let data = cluster.nodes[&1].data_dir.display().to_string();
    let r = serve(&data, &free_addr(), &free_addr(), &[]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("another process is using the data directory"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("LOCK"), "{}", r.stderr);
}

#[test]
fn t19_a_lost_admin_token_is_recovered_through_an_audited_write() {
    let (_dir, mut cluster) = stopped_node();
    let data = cluster.nodes[&1].data_dir.clone();
    // While the node runs, the command refuses.
    cluster.start(1).unwrap();
    cluster.wait_node_ready(1, Duration::from_secs(30)).unwrap();
    let running = ops::vexil_env(
        &[
            "recover-admin-token",
            "--data-dir",
            &data.display().to_string(),
        ],
        &[],
    );
    assert_eq!(running.code, 2, "{}", running.stderr);
    assert!(
        running.stderr.contains("stop it first"),
        "{}",
        running.stderr
    );
    cluster.stop(1).unwrap();

    let r = ops::vexil_env(
        &[
            "recover-admin-token",
            "--data-dir",
            &data.display().to_string(),
        ],
        &[],
    )
    .expect(0);
    let file = data.join("recovery-admin-token");
    assert!(
        r.stdout.contains(&file.display().to_string()),
        "{}",
        r.stdout
    );
    let secret = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(!r.stdout.contains(&secret), "the secret is not printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    cluster.start(1).unwrap();
    cluster.wait_node_ready(1, Duration::from_secs(30)).unwrap();
    let http = reqwest::blocking::Client::new();
    let url = cluster.url(1);
    wait_until(Duration::from_secs(20), || {
        http.get(format!("{url}/v1/me"))
            .bearer_auth(&secret)
            .send()
            .is_ok_and(|r| r.status() == 200)
    });
    let audit: serde_json::Value = http
        .get(format!("{url}/v1/audit?actor=system"))
        .bearer_auth(ADMIN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let recovered = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e.to_string().contains("recovered-"))
        .count();
    assert_eq!(recovered, 1, "one audited creation: {audit}");
    // A second start does not make a second token.
    cluster.stop(1).unwrap();
    cluster.start(1).unwrap();
    cluster.wait_node_ready(1, Duration::from_secs(30)).unwrap();
    let tokens: serde_json::Value = http
        .get(format!("{url}/v1/tokens"))
        .bearer_auth(ADMIN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let recovered = tokens
        .as_array()
        .or_else(|| tokens["tokens"].as_array())
        .unwrap()
        .iter()
        .filter(|t| {
            t["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("recovered-"))
        })
        .count();
    assert_eq!(recovered, 1, "{tokens}");
}
