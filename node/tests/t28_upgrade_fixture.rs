//! A data directory and a backup written by the release before projects
//! (`tests/fixtures/release-1/`, made by `scripts/ops/make-upgrade-fixture.sh`)
//! open under this one: every flag, segment, version, audit entry and token
//! is kept, the cluster level rises to this release's, and the leader
//! creates project `default`, whose `production` holds them.

mod common;
mod ops;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release-1")
}

fn expect() -> Value {
    serde_json::from_slice(&std::fs::read(fixture().join("expect.json")).unwrap()).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `vexil serve` process of this release, killed on drop.
struct Serve {
    child: Child,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path, api: u16, peer: u16) -> Serve {
    let child = Command::new(env!("CARGO_BIN_EXE_vexil"))
        .args(["serve", "--id", "1", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{api}")])
        .args(["--peer-listen", &format!("127.0.0.1:{peer}")])
        .args(["--heartbeat-ms", "50"])
        .args(["--election-timeout-min-ms", "300"])
        .args(["--election-timeout-max-ms", "600"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Serve {
        child,
        url: format!("http://127.0.0.1:{api}"),
    }
}

fn get(url: &str, path: &str, token: &str) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(5))
        .send();
    match r {
        Ok(r) => (r.status().as_u16(), r.json().unwrap_or(Value::Null)),
        Err(_) => (0, Value::Null),
    }
}

/// Waits (at most 30 s) for the node to answer with project `default`.
fn wait_default_project(url: &str, token: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(url, "/v1/projects/default", token);
        if status == 200 {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no project default: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the previous release stored is all there, in `default`/`production`.
fn check_kept(url: &str, want: &Value) {
    let token = want["admin_token"].as_str().unwrap();
    let project = wait_default_project(url, token);
    let envs: Vec<&str> = project["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["development", "staging", "production"]);
    let (_, cluster) = get(url, "/v1/cluster", token);
    assert_eq!(
        cluster["level"],
        vexil_raft::version::SUPPORTED,
        "{cluster}"
    );

    let (status, flags) = get(url, "/v1/flags", token);
    assert_eq!(status, 200, "{flags}");
    let flags = flags["flags"].as_array().unwrap();
    let wanted = want["flags"].as_object().unwrap();
    assert_eq!(flags.len(), wanted.len(), "{flags:?}");
    for f in flags {
        let w = &wanted[f["key"].as_str().unwrap()];
        assert_eq!(
            (&f["version"], &f["enabled"]),
            (&w["version"], &w["enabled"])
        );
    }
    // Level 4 gave every flag a definition and a disabled configuration in
    // `default`'s other environments; production's is the stored one.
    let (status, list) = get(url, "/v1/projects/default/flags", token);
    assert_eq!(status, 200, "{list}");
    let rows = list["flags"].as_array().unwrap();
    assert_eq!(rows.len(), wanted.len(), "{list}");
    for row in rows {
        let w = &wanted[row["key"].as_str().unwrap()];
        let envs = &row["environments"];
        assert_eq!(envs["production"]["enabled"], w["enabled"], "{row}");
        assert_eq!(envs["production"]["version"], w["version"], "{row}");
        assert_eq!(envs["staging"]["enabled"], false, "{row}");
        assert_eq!(envs["development"]["enabled"], false, "{row}");
    }
    // A deleted flag keeps its history, and its restore still works from it.
    let (status, versions) = get(url, "/v1/flags/gone/versions", token);
    assert_eq!(status, 200, "{versions}");
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
    let (status, seg) = get(url, "/v1/segments/beta-testers", token);
    assert_eq!(
        (status, &seg["used_by"]),
        (200, &serde_json::json!(["banner"]))
    );
    let (_, tokens) = get(url, "/v1/tokens", token);
    let names: Vec<&str> = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "ci"]);
    // The segment still targets: user-1 gets the rule's red.
    let r = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/evaluate"))
        .bearer_auth(token)
        .json(&serde_json::json!({"flag": "banner", "context": {"key": "user-1"}}))
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    assert_eq!(v["value"], "red", "{v}");
    // Every audit entry of the previous release, and one for project default.
    let (_, log) = get(url, "/v1/audit?limit=1000", token);
    let entries = log["entries"].as_array().unwrap();
    let old = entries
        .iter()
        .filter(|e| !e["action"].as_str().unwrap().starts_with("project."))
        .count();
    assert_eq!(old as u64, want["audit_entries"].as_u64().unwrap(), "{log}");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "project.create" && e["actor"] == "system")
    );
}

#[test]
fn t28_a_data_directory_of_the_previous_release_opens_into_project_default() {
    let want = expect();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&fixture().join("data"), &data);
    let node = serve(&data, free_port(), free_port());
    check_kept(&node.url, &want);
}

#[test]
fn t28_a_backup_of_the_previous_release_verifies_and_restores() {
    let want = expect();
    let backup = fixture().join("backup.vexil");
    let backup = backup.to_str().unwrap();
    let token = want["admin_token"].as_str().unwrap();
    let r = ops::vexil("http://127.0.0.1:9", token, &["backup", "--verify", backup]).expect(0);
    let hash = want["backup_state_hash"].as_str().unwrap();
    assert!(r.stdout.contains(hash), "{}", r.stdout);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("restored");
    let (api, peer) = (free_port(), free_port());
    ops::vexil(
        "http://127.0.0.1:9",
        token,
        &[
            "restore",
            backup,
            "--data-dir",
            data.to_str().unwrap(),
            "--id",
            "1",
            "--initial-cluster",
            &format!("1=127.0.0.1:{peer}"),
        ],
    )
    .expect(0);
    let node = serve(&data, api, peer);
    check_kept(&node.url, &want);
}
