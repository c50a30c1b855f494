//! `vexil serve --config FILE`: flags and variables override the file; an
//! unknown key or an invalid value refuses to start and names it; the 3-AZ
//! example in `cluster/deploy/` passes the real loader.

mod ops;

use std::path::Path;

use vexil_node::config::ServeArgs;

#[test]
fn t64_the_deploy_examples_load_and_validate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cluster/deploy");
    for id in 1..=3u64 {
        let args = ServeArgs {
            config: Some(dir.join(format!("node{id}.toml"))),
            // As the unit's EnvironmentFile would give it.
            cluster_secret: Some("a-cluster-secret-from-secrets.env".into()),
            ..ServeArgs::default()
        };
        let c = args
            .resolve(None)
            .unwrap_or_else(|e| panic!("node{id}.toml: {e}"));
        assert_eq!(c.id, id);
        assert_eq!(c.advertise_peer, format!("10.0.{id}.10:7071"));
        assert_eq!(c.initial_cluster.as_ref().map(|m| m.len()), Some(3));
        let b = c.backup.expect("scheduled backups");
        assert_eq!((b.every.as_secs(), b.keep), (3600, 24));
    }
    let unit = std::fs::read_to_string(dir.join("vexil.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/vexil serve --config /etc/vexil/vexil.toml"));
}

fn serve(args: &[&str], env: &[(&str, &str)]) -> ops::Run {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    ops::vexil_env(&all, env)
}

#[test]
fn t64_bad_files_refuse_to_start_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = ops::write(
        dir.path(),
        "unknown.toml",
        "data-dir = \"x\"\nlisten-addr = \"127.0.0.1:1\"\n",
    );
    let r = serve(&["--config", &unknown], &[]).expect(2);
    assert!(r.stderr.contains("listen-addr"), "{}", r.stderr);
    let typed = ops::write(dir.path(), "typed.toml", "heartbeat-ms = \"fast\"\n");
    let r = serve(&["--config", &typed], &[]).expect(2);
    assert!(r.stderr.contains("heartbeat-ms"), "{}", r.stderr);
    let invalid = ops::write(dir.path(), "invalid.toml", "heartbeat-ms = 5000\n");
    let r = serve(&["--config", &invalid], &[]).expect(2);
    assert!(r.stderr.contains("key `heartbeat-ms` in"), "{}", r.stderr);
    let r = serve(&["--config", "/nonexistent/vexil.toml"], &[]).expect(2);
    assert!(r.stderr.contains("--config"), "{}", r.stderr);
}

#[test]
fn t64_flags_and_variables_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = ops::write(
        dir.path(),
        "vexil.toml",
        "listen = \"nope\"\npeer-listen = \"127.0.0.1:9\"\nbackup-keep = 0\n",
    );
    // The variable overrides backup-keep and the flag overrides listen, so
    // what is left to refuse is the file's peer-listen, equal to the flag.
    let r = serve(
        &["--config", &file, "--listen", "127.0.0.1:9"],
        &[("VEXIL_BACKUP_KEEP", "3")],
    )
    .expect(2);
    assert!(
        r.stderr
            .contains("invalid --peer-listen: must differ from --listen (key `peer-listen`"),
        "{}",
        r.stderr
    );
    // Without the overrides the file's own values are refused.
    let r = serve(&["--config", &file], &[]).expect(2);
    assert!(r.stderr.contains("invalid --listen"), "{}", r.stderr);
}

#[test]
fn t64_backup_options_are_checked() {
    let r = serve(&["--backup-dir", "/tmp", "--backup-every", "10ms"], &[]).expect(2);
    assert!(r.stderr.contains("--backup-every"), "{}", r.stderr);
    let r = serve(&["--backup-dir", "/tmp", "--backup-keep", "0"], &[]).expect(2);
    assert!(r.stderr.contains("--backup-keep"), "{}", r.stderr);
    let r = serve(&["--backup-dir", "/proc/vexil-backups"], &[]).expect(2);
    assert!(r.stderr.contains("--backup-dir"), "{}", r.stderr);
}

#[test]
fn t64_nodes_sharing_a_backup_dir_check_it_without_racing() {
    let shared = std::env::temp_dir().join(format!("vexil-t64-shared-{}", std::process::id()));
    let configs: Vec<_> = (1..=3u64)
        .map(|id| {
            ServeArgs {
                id,
                backup_dir: Some(shared.clone()),
                ..ServeArgs::default()
            }
            .resolve(None)
            .expect("valid")
        })
        .collect();
    std::thread::scope(|s| {
        for c in &configs {
            s.spawn(move || {
                for _ in 0..200 {
                    c.check_dirs().expect("writable");
                }
            });
        }
    });
    let left: Vec<_> = std::fs::read_dir(&shared).unwrap().collect();
    assert!(left.is_empty(), "probe files left behind: {left:?}");
    std::fs::remove_dir(&shared).unwrap();
}
