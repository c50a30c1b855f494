//! Blobs appear only when committed, on disk and in memory.

use std::io::{Read, Write};

use vexil_storage::{BlobStore, FsBlobStore, MemBlobStore};

fn stores() -> Vec<(Box<dyn BlobStore>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let fs = FsBlobStore::open(dir.path()).unwrap();
    vec![
        (Box::new(fs), dir),
        (Box::new(MemBlobStore::new()), tempfile::tempdir().unwrap()),
    ]
}

#[test]
fn t30_commit_makes_visible_and_drop_leaves_nothing() {
    for (s, _d) in stores() {
        let mut w = s.create("snap-1").unwrap();
        w.write_all(b"hello").unwrap();
        assert!(
            s.open("snap-1").unwrap().is_none(),
            "invisible before commit"
        );
        w.commit().unwrap();
        let mut r = s.open("snap-1").unwrap().unwrap();
        assert_eq!(r.len(), 5);
        let mut buf = String::new();
        r.read_to_string(&mut buf).unwrap();
        assert_eq!(buf, "hello");

        let mut abandoned = s.create("snap-2").unwrap();
        abandoned.write_all(b"half").unwrap();
        drop(abandoned);
        assert_eq!(s.list().unwrap(), vec!["snap-1".to_owned()]);
        s.remove("snap-1").unwrap();
        assert!(s.list().unwrap().is_empty());
    }
}

#[test]
fn t31_leftover_temp_files_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".tmp-snap-9-1-0"), b"torn").unwrap();
    let s = FsBlobStore::open(dir.path()).unwrap();
    assert!(s.list().unwrap().is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert!(
        s.create("../escape").is_err(),
        "names cannot leave the directory"
    );
}

#[test]
fn t32_rename_moves_a_committed_blob_over_the_target() {
    for (s, _d) in stores() {
        for (name, body) in [("staging-1", "new"), ("snap-2", "old")] {
            let mut w = s.create(name).unwrap();
            w.write_all(body.as_bytes()).unwrap();
            w.commit().unwrap();
        }
        s.rename("staging-1", "snap-2").unwrap();
        assert_eq!(s.list().unwrap(), vec!["snap-2".to_owned()]);
        let mut buf = String::new();
        s.open("snap-2")
            .unwrap()
            .unwrap()
            .read_to_string(&mut buf)
            .unwrap();
        assert_eq!(buf, "new");
        assert!(s.rename("staging-1", "snap-3").is_err(), "nothing to move");
    }
}

/// Snapshots and backups hold every token hash: only their owner reads them.
#[cfg(unix)]
#[test]
fn t33_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let s = FsBlobStore::open(dir.path()).unwrap();
    let mut w = s.create("backup-1").unwrap();
    w.write_all(b"secret hashes").unwrap();
    w.commit().unwrap();
    let mode = std::fs::metadata(dir.path().join("backup-1"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
}
