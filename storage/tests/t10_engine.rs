//! The same contract, checked against both engines.

use vexil_storage::engine::Scan;
use vexil_storage::{Cf, Durability, Engine, MemEngine, RocksEngine, WriteBatch};

fn engines() -> Vec<(Box<dyn Engine>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let rocks = RocksEngine::open(&dir.path().join("db")).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    vec![(Box::new(rocks), dir), (Box::new(MemEngine::new()), dir2)]
}

fn fill(engine: &dyn Engine) {
    let mut b = WriteBatch::new();
    for i in 0u64..10 {
        b.put(Cf::Log, i.to_be_bytes().to_vec(), format!("v{i}"));
    }
    b.put(Cf::Flags, "a", "1");
    engine.write(b, Durability::Sync).unwrap();
}

fn keys(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u64> {
    pairs
        .iter()
        .map(|(k, _)| u64::from_be_bytes(k.as_slice().try_into().unwrap()))
        .collect()
}

#[test]
fn t10_get_put_delete() {
    for (e, _d) in engines() {
        fill(e.as_ref());
        assert_eq!(e.get(Cf::Flags, b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            e.get(Cf::Segments, b"a").unwrap(),
            None,
            "families are separate"
        );
        let mut b = WriteBatch::new();
        b.delete(Cf::Flags, "a");
        e.write(b, Durability::Buffered).unwrap();
        assert_eq!(e.get(Cf::Flags, b"a").unwrap(), None);
    }
}

#[test]
fn t11_scan_bounds_and_direction() {
    for (e, _d) in engines() {
        fill(e.as_ref());
        let (s, t) = (3u64.to_be_bytes(), 7u64.to_be_bytes());
        let fwd = e
            .scan(
                Cf::Log,
                Scan {
                    start: &s,
                    end: Some(&t),
                    reverse: false,
                    limit: 100,
                },
            )
            .unwrap();
        assert_eq!(keys(&fwd), vec![3, 4, 5, 6]);
        let rev = e
            .scan(
                Cf::Log,
                Scan {
                    start: &s,
                    end: Some(&t),
                    reverse: true,
                    limit: 2,
                },
            )
            .unwrap();
        assert_eq!(keys(&rev), vec![6, 5]);
        let last = e.last(Cf::Log).unwrap().unwrap();
        assert_eq!(last.1, b"v9".to_vec());
        assert!(e.last(Cf::Audit).unwrap().is_none());
    }
}

#[test]
fn t12_delete_range_is_half_open() {
    for (e, _d) in engines() {
        fill(e.as_ref());
        let mut b = WriteBatch::new();
        b.delete_range(
            Cf::Log,
            2u64.to_be_bytes().to_vec(),
            8u64.to_be_bytes().to_vec(),
        );
        e.write(b, Durability::Sync).unwrap();
        let all = e
            .scan(
                Cf::Log,
                Scan {
                    start: &[],
                    end: None,
                    reverse: false,
                    limit: 100,
                },
            )
            .unwrap();
        assert_eq!(keys(&all), vec![0, 1, 8, 9]);
    }
}

#[test]
fn t13_replace_swaps_whole_families() {
    for (e, _d) in engines() {
        fill(e.as_ref());
        let mut b = WriteBatch::new();
        b.put(Cf::Flags, "old", "x");
        b.put(Cf::Tokens, "t", "y");
        e.write(b, Durability::Sync).unwrap();
        let mut fresh = vec![Ok((Cf::Flags, b"new".to_vec(), b"z".to_vec()))].into_iter();
        e.replace(&[Cf::Flags, Cf::Tokens], &mut fresh).unwrap();
        assert_eq!(e.get(Cf::Flags, b"old").unwrap(), None);
        assert_eq!(e.get(Cf::Flags, b"a").unwrap(), None);
        assert_eq!(e.get(Cf::Tokens, b"t").unwrap(), None);
        assert_eq!(e.get(Cf::Flags, b"new").unwrap(), Some(b"z".to_vec()));
        assert!(
            e.get(Cf::Log, &0u64.to_be_bytes()).unwrap().is_some(),
            "log untouched"
        );
        let mut bad = vec![Ok((Cf::Log, b"k".to_vec(), b"v".to_vec()))].into_iter();
        assert!(
            e.replace(&[Cf::Flags], &mut bad).is_err(),
            "foreign family refused"
        );
    }
}

#[test]
fn t14_export_visits_in_order_and_can_stop() {
    for (e, _d) in engines() {
        fill(e.as_ref());
        let mut seen = Vec::new();
        e.export(&[Cf::Flags, Cf::Log], &mut |cf, k, _| {
            seen.push((cf, k.to_vec()));
            Ok(seen.len() < 4)
        })
        .unwrap();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0], (Cf::Flags, b"a".to_vec()));
        assert_eq!(seen[1].0, Cf::Log);
    }
}

#[test]
fn t20_rocks_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = RocksEngine::open(dir.path()).unwrap();
        fill(&e);
    }
    let e = RocksEngine::open(dir.path()).unwrap();
    assert_eq!(e.get(Cf::Flags, b"a").unwrap(), Some(b"1".to_vec()));
    assert!(e.size_on_disk() > 0);
}

#[test]
fn t21_large_values_go_to_blob_files_and_read_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let value = |cf: Cf, i: u32| format!("{}-{i}-{}", cf.name(), "x".repeat(600)).into_bytes();
    let families = [Cf::Log, Cf::History, Cf::Audit, Cf::Flags];
    {
        let e = RocksEngine::open(dir.path()).unwrap();
        let mut b = WriteBatch::new();
        for cf in families {
            for i in 0..200u32 {
                b.put(cf, i.to_be_bytes().to_vec(), value(cf, i));
            }
        }
        // A short value stays in the table file, next to the long ones.
        b.put(Cf::Audit, "short", "1");
        e.write(b, Durability::Unlogged).unwrap();
        e.persist().unwrap();
    }
    let blobs = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|f| f.as_ref().unwrap().path().extension() == Some("blob".as_ref()))
        .count();
    assert!(blobs > 0, "the flush wrote no blob file");

    let e = RocksEngine::open(dir.path()).unwrap();
    for cf in families {
        assert_eq!(
            e.get(cf, &7u32.to_be_bytes()).unwrap(),
            Some(value(cf, 7)),
            "{}",
            cf.name()
        );
    }
    assert_eq!(e.get(Cf::Audit, b"short").unwrap(), Some(b"1".to_vec()));
    let mut seen = 0;
    e.export(&families, &mut |cf, k, v| {
        let i = u32::from_be_bytes(k.try_into().unwrap_or([0xff; 4]));
        if k != b"short" {
            assert_eq!(v, value(cf, i).as_slice());
            seen += 1;
        }
        Ok(true)
    })
    .unwrap();
    assert_eq!(seen, 800);
}

#[test]
fn t22_a_checkpoint_is_the_store_as_of_its_creation_and_survives_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let big = |i: u32| format!("audit-{i}-{}", "y".repeat(600)).into_bytes();
    let copies = dir.path().join("checkpoints");
    {
        let e = RocksEngine::open(&dir.path().join("db"))
            .unwrap()
            .with_checkpoints(&copies)
            .unwrap();
        assert!(MemEngine::new().checkpoints().is_none());
        let checkpoints = e.checkpoints().expect("configured");
        // Unlogged writes (the state machine's) are in the copy: creating
        // it flushes them. Long values go to blob files, which it links.
        let mut b = WriteBatch::new();
        b.put(Cf::Flags, "a", "1");
        for i in 0..50u32 {
            b.put(Cf::Audit, i.to_be_bytes().to_vec(), big(i));
        }
        e.write(b, Durability::Unlogged).unwrap();
        checkpoints.create("staging-0").unwrap();
        // Later writes are not.
        let mut b = WriteBatch::new();
        b.put(Cf::Flags, "a", "2");
        b.put(Cf::Flags, "b", "1");
        e.write(b, Durability::Unlogged).unwrap();
        checkpoints.rename("staging-0", "snap-1").unwrap();
        assert_eq!(checkpoints.list().unwrap(), vec!["snap-1".to_owned()]);
        assert!(checkpoints.open("snap-0").unwrap().is_none());
        assert!(checkpoints.create("../escape").is_err());

        let copy = checkpoints.open("snap-1").unwrap().unwrap();
        assert_eq!(copy.get(Cf::Flags, b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(copy.get(Cf::Flags, b"b").unwrap(), None);
        assert_eq!(e.get(Cf::Flags, b"a").unwrap(), Some(b"2".to_vec()));
        let mut audit = 0;
        copy.export(&[Cf::Audit], &mut |_, k, v| {
            let i = u32::from_be_bytes(k.try_into().unwrap());
            assert_eq!(v, big(i).as_slice());
            audit += 1;
            Ok(true)
        })
        .unwrap();
        assert_eq!(audit, 50);
        // A copy is read-only.
        let mut b = WriteBatch::new();
        b.put(Cf::Flags, "c", "1");
        assert!(copy.write(b, Durability::Sync).is_err());
    }
    // The store's own files compact and go; the copy keeps its own links,
    // and a reopened store finds it again.
    let e = RocksEngine::open(&dir.path().join("db"))
        .unwrap()
        .with_checkpoints(&copies)
        .unwrap();
    let checkpoints = e.checkpoints().unwrap();
    let copy = checkpoints.open("snap-1").unwrap().unwrap();
    assert_eq!(copy.get(Cf::Flags, b"a").unwrap(), Some(b"1".to_vec()));
    drop(copy);
    checkpoints.remove("snap-1").unwrap();
    checkpoints.remove("snap-1").unwrap();
    assert!(checkpoints.list().unwrap().is_empty());
}
