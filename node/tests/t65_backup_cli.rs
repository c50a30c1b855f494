//! Backups from the command line: `vexil backup --to` through a node,
//! `--verify`, `vexil restore` into a new data directory that `vexil serve`
//! then runs with an identical state (equal state hashes), and scheduled
//! backups that keep the newest N.

mod common;
mod ops;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::inproc::{ADMIN, Node};
use vexil_node::schedule::{BackupSchedule, backup_once};

async fn cli(url: &str, args: &[&str]) -> ops::Run {
    let url = url.to_owned();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ops::vexil(&url, ADMIN, &args)
    })
    .await
    .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `vexil serve` process, killed on drop.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t65_backup_verify_restore_serve_round_trip() {
    let node = Node::start().await;
    let url = node.url.clone();
    for i in 0..5 {
        cli(&url, &["flags", "create", &format!("f{i}")])
            .await
            .expect(0);
    }
    cli(&url, &["flags", "on", "f2"]).await.expect(0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.backup").display().to_string();

    let r = cli(&url, &["--output", "json", "backup", "--to", &file])
        .await
        .expect(0);
    let info = r.json();
    assert_eq!(info["flags"], 5);
    let hash = info["state_hash"].as_str().unwrap().to_owned();
    let r = cli(&url, &["backup", "--verify", &file]).await.expect(0);
    assert!(
        r.stdout.contains("checksum OK") && r.stdout.contains(&hash),
        "{}",
        r.stdout
    );

    // A flipped byte is refused.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    let damaged = ops::write(dir.path(), "damaged.backup", "");
    std::fs::write(&damaged, bytes).unwrap();
    cli(&url, &["backup", "--verify", &damaged]).await.expect(1);
    cli(&url, &["backup", "--verify", "/nonexistent/x.backup"])
        .await
        .expect(2);

    // Restore into a new one-node cluster and serve it.
    let (api, peer) = (free_port(), free_port());
    let data = dir.path().join("restored").display().to_string();
    let members = format!("1=127.0.0.1:{peer}");
    let r = cli(
        &url,
        &[
            "restore",
            &file,
            "--data-dir",
            &data,
            "--id",
            "1",
            "--initial-cluster",
            &members,
        ],
    )
    .await
    .expect(0);
    assert!(r.stdout.contains(&hash), "{}", r.stdout);
    cli(
        &url,
        &[
            "restore",
            &file,
            "--data-dir",
            &data,
            "--id",
            "1",
            "--initial-cluster",
            &members,
        ],
    )
    .await
    .expect(2);
    cli(
        &url,
        &[
            "restore",
            &file,
            "--data-dir",
            &data,
            "--id",
            "2",
            "--initial-cluster",
            &members,
        ],
    )
    .await
    .expect(2);

    let backups = dir.path().join("scheduled");
    let _serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_vexil"))
            .args(["serve", "--id", "1", "--data-dir", &data])
            .args([
                "--listen",
                &format!("127.0.0.1:{api}"),
                "--peer-listen",
                &format!("127.0.0.1:{peer}"),
            ])
            .args([
                "--heartbeat-ms",
                "50",
                "--election-timeout-min-ms",
                "300",
                "--election-timeout-max-ms",
                "600",
            ])
            .args([
                "--backup-dir",
                &backups.display().to_string(),
                "--backup-every",
                "1s",
                "--backup-keep",
                "2",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let restored = format!("http://127.0.0.1:{api}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let flags = loop {
        let r = cli(&restored, &["--output", "json", "flags", "list"]).await;
        if r.code == 0 {
            break r.json();
        }
        assert!(
            Instant::now() < deadline,
            "the restored node never served: {}",
            r.stderr
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(flags.as_array().unwrap().len(), 5);
    let r = cli(
        &restored,
        &[
            "--output",
            "json",
            "backup",
            "--to",
            &dir.path().join("again.backup").display().to_string(),
        ],
    )
    .await
    .expect(0);
    assert_eq!(
        r.json()["state_hash"].as_str(),
        Some(hash.as_str()),
        "identical state after the round trip"
    );
    let r = cli(&restored, &["--output", "json", "cluster", "status"])
        .await
        .expect(0);
    assert_ne!(
        r.json()["cluster_id"],
        info["cluster_id"].clone(),
        "a restore makes a new cluster"
    );

    // Scheduled backups: once the first one seen has been pruned, exactly
    // the newest two remain (polled, bounded).
    let list = || {
        let mut names: Vec<String> = std::fs::read_dir(&backups)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut first: Option<String> = None;
    let names = loop {
        let names = list();
        if first.is_none() {
            first = names.first().cloned();
        }
        if names.len() == 2 && first.as_ref().is_some_and(|f| !names.contains(f)) {
            break names;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no rotation within 20 s: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for n in &names {
        assert!(n.starts_with("vexil-1-") && n.ends_with(".backup"), "{n}");
        let path = backups.join(n).display().to_string();
        let r = cli(
            &restored,
            &["--output", "json", "backup", "--verify", &path],
        )
        .await
        .expect(0);
        assert_eq!(r.json()["state_hash"].as_str(), Some(hash.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t65_scheduled_backups_keep_the_newest() {
    let node = Node::start().await;
    let dir = tempfile::tempdir().unwrap();
    let schedule = BackupSchedule {
        dir: dir.path().to_owned(),
        every: Duration::from_secs(1),
        keep: 2,
    };
    let raft = node.running.raft.clone();
    let names = tokio::task::spawn_blocking(move || {
        (0..3)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(5));
                backup_once(&raft, &schedule).unwrap().0
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, names[1..].to_vec());
}
