//! The `vexil-cluster` command as an operator uses it: each invocation is a
//! separate process acting on the cluster recorded in `--dir`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use vexil_cluster::Cluster;

/// A scratch `--dir`; dropping it stops whatever runs there and removes it.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("vexil-t66-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = vc(&self.0, &["down"], &[]);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `vexil-cluster --dir DIR ARGS…` with `env`, and no inherited
/// Vexil settings.
fn vc(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vexil-cluster"));
    for v in [
        "VEXIL_BIN",
        "VEXIL_CLUSTER_DIR",
        "VEXIL_CLUSTER_SECRET",
        "VEXIL_ADMIN_TOKEN",
    ] {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    c.arg("--dir").arg(dir).args(args);
    c.output().unwrap()
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Waits (bounded) until `f` holds.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn t66_restart_leaves_the_node_running_and_status_sees_exits() {
    let dir = Dir::new("restart");
    ok(vc(&dir.0, &["up", "1"], &[]));
    ok(vc(&dir.0, &["restart", "1"], &[]));
    // The command has exited; the node it restarted must still serve.
    let cluster = Cluster::load(&dir.0).unwrap();
    assert!(cluster.is_running(1), "the restarted node was stopped");
    // `/readyz` also needs every committed entry applied, so it answers 503
    // for the moment between a commit (the new leader's first entry) and
    // its apply: wait, bounded, rather than read it once.
    wait_until("the restarted node to be ready", || {
        cluster.ready(1).is_some()
    });
    let status = ok(vc(&dir.0, &["status"], &[]));
    assert!(status.contains("ready"), "{status}");

    // A node that died behind the launcher's back is reported as exited.
    let pid = cluster.nodes[&1].pid.unwrap();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    wait_until("the killed node to exit", || !cluster.is_running(1));
    let status = ok(vc(&dir.0, &["status"], &[]));
    assert!(status.contains(&format!("pid {pid} exited")), "{status}");
}

#[test]
fn t66_a_second_up_refuses_and_down_waits_for_the_nodes() {
    let dir = Dir::new("twice");
    ok(vc(&dir.0, &["up", "1"], &[]));
    let first = Cluster::load(&dir.0).unwrap();
    let out = vc(&dir.0, &["up", "1"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second up succeeded");
    assert!(stderr.contains("vexil-cluster down"), "{stderr}");
    // The record still names the running node, so `down` can stop it…
    let now = Cluster::load(&dir.0).unwrap();
    assert_eq!(now.nodes[&1].pid, first.nodes[&1].pid);
    assert!(first.is_running(1));
    ok(vc(&dir.0, &["down"], &[]));
    // …and it has exited by the time `down` returns.
    assert!(!first.is_running(1), "down returned before the node exited");
}

#[test]
fn t66_secrets_come_from_the_environment_and_stay_off_command_lines() {
    let dir = Dir::new("secrets");
    let secret = "t66-cluster-secret-from-env-0123";
    let token = "t66-admin-token-from-env-0123456";
    let out = ok(vc(
        &dir.0,
        &["up", "1"],
        &[
            ("VEXIL_CLUSTER_SECRET", secret),
            ("VEXIL_ADMIN_TOKEN", token),
        ],
    ));
    assert!(!out.contains(token), "the chosen token was echoed: {out}");
    let cluster = Cluster::load(&dir.0).unwrap();
    let pid = cluster.nodes[&1].pid.unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(!cmdline.contains(secret), "{cmdline}");
    assert!(!cmdline.contains(token), "{cmdline}");
    // The node took the token from the environment.
    wait_until("the admin token", || token_works(&cluster.url(1), token));

    // A file works too, for the next cluster.
    ok(vc(&dir.0, &["down"], &[]));
    let file = dir.0.join("token");
    std::fs::write(&file, "t66-admin-token-from-file-012345\n").unwrap();
    let other = Dir::new("secrets-file");
    ok(vc(
        &other.0,
        &["up", "1", "--admin-token-file", file.to_str().unwrap()],
        &[],
    ));
    let cluster = Cluster::load(&other.0).unwrap();
    wait_until("the admin token", || {
        token_works(&cluster.url(1), "t66-admin-token-from-file-012345")
    });
}

/// Whether `token` is accepted (the first admin exists once committed).
fn token_works(url: &str, token: &str) -> bool {
    reqwest::blocking::Client::new()
        .get(format!("{url}/v1/me"))
        .bearer_auth(token)
        .send()
        .is_ok_and(|r| r.status().as_u16() == 200)
}
