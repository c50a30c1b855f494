//! `RocksEngine`: one RocksDB with a column family per [`Cf`] and one shared WAL.
//!
//! Raft appends and votes go through the WAL and are fsynced (grouped, see
//! [`Engine::sync`]). State-machine applies skip the WAL
//! ([`Durability::Unlogged`]): with atomic flush, a crash takes them back
//! to the last flush, every column family together, and the node re-applies
//! the log from the applied index that flush recorded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, IteratorMode,
    Options, ReadOptions, WriteOptions,
};

use crate::engine::{Checkpoints, Pairs, Record, Scan, Visitor};
use crate::{Cf, Durability, Engine, Op, StorageError, WriteBatch};

/// The on-disk engine.
#[derive(Clone)]
pub struct RocksEngine {
    /// Shared with snapshot builders running on blocking threads.
    db: Arc<DB>,
    /// Where the database lives, for error messages and size reports.
    path: PathBuf,
    /// Lets concurrent `sync` calls share one fsync.
    group: Arc<SyncGroup>,
    /// Where checkpoints go, if this store makes them.
    checkpoints: Option<Arc<RocksCheckpoints>>,
}

/// Group commit for [`Engine::sync`]. Raft appends each ask for a sync, and
/// several arrive while one fsync is under way; without this each queued
/// caller would fsync again. A caller whose writes were already in the WAL
/// when a completed fsync began has nothing left to wait for.
#[derive(Debug, Default)]
struct SyncGroup {
    /// Writes that have returned (counted after RocksDB accepted them).
    written: AtomicU64,
    /// How many writes the last completed fsync covered; held while syncing.
    synced: Mutex<u64>,
}

impl std::fmt::Debug for RocksEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksEngine")
            .field("path", &self.path)
            .finish()
    }
}

fn err(e: rocksdb::Error) -> StorageError {
    StorageError::from_message(e.into_string())
}

impl RocksEngine {
    /// The database's options and its column families' options: the same
    /// for the live store and for reading a checkpoint of it.
    fn options() -> (Options, Vec<ColumnFamilyDescriptor>) {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts.set_write_buffer_size(WRITE_BUFFER);
        opts.set_max_background_jobs(2);
        // Unlogged writes (the state machine's) are durable only once
        // flushed; flushing every column family together keeps what a crash
        // leaves a consistent prefix of the writes (`Durability::Unlogged`).
        opts.set_atomic_flush(true);
        let cfs = Cf::ALL.iter().map(|cf| {
            let mut cf_opts = Options::default();
            cf_opts.set_compression_type(DBCompressionType::Lz4);
            // Flushes write L0 uncompressed and compaction compresses what
            // it writes below: an L0 file lives only until the next
            // compaction, and LZ4 at flush was a fifth of the flush
            // thread's time under load. (With dynamic level sizes, the
            // entries after the first apply from the base level down.)
            cf_opts.set_compression_per_level(&[
                DBCompressionType::None,
                DBCompressionType::Lz4,
                DBCompressionType::Lz4,
                DBCompressionType::Lz4,
                DBCompressionType::Lz4,
                DBCompressionType::Lz4,
                DBCompressionType::Lz4,
            ]);
            cf_opts.set_write_buffer_size(WRITE_BUFFER);
            if matches!(cf, Cf::Log | Cf::History | Cf::Audit) {
                // Write-once values (log entries, versions, audit records)
                // go to blob files when flushed, so compaction moves only
                // the keys and a pointer instead of rewriting every value
                // at every level. No blob GC: these values are never
                // overwritten, so GC would only copy live blobs again; a
                // blob file is deleted once no table file points into it,
                // which is how purged log entries go.
                cf_opts.set_enable_blob_files(true);
                cf_opts.set_min_blob_size(MIN_BLOB);
                // Blobs are never rewritten, so they are compressed when
                // written or never. Log entries are purged after the next
                // snapshot: not worth the CPU. Versions and audit records
                // are kept: worth it.
                cf_opts.set_blob_compression_type(if *cf == Cf::Log {
                    DBCompressionType::None
                } else {
                    DBCompressionType::Lz4
                });
            }
            if *cf != Cf::Log {
                // Point reads that mostly miss skip a table whose bloom
                // filter says no, instead of searching it. The log is read
                // by range.
                let mut table = BlockBasedOptions::default();
                table.set_bloom_filter(10.0, false);
                cf_opts.set_block_based_table_factory(&table);
            }
            if matches!(cf, Cf::Meta | Cf::History) {
                // Every write looks up its request id, and every create its
                // version 1, which are almost never there: a memtable bloom
                // filter answers those without a skip-list search. Only
                // here: every insert pays to fill the filter (a tenth of an
                // apply's memtable time), and the other families are not
                // point-read on the write path.
                cf_opts.set_memtable_prefix_bloom_ratio(0.02);
                cf_opts.set_memtable_whole_key_filtering(true);
            }
            ColumnFamilyDescriptor::new(cf.name(), cf_opts)
        });
        (opts, cfs.collect())
    }

    /// Opens (or creates) the database under `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(path)?;
        let (opts, cfs) = Self::options();
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(err)?;
        Ok(RocksEngine {
            db: Arc::new(db),
            path: path.to_owned(),
            group: Arc::default(),
            checkpoints: None,
        })
    }

    /// Keeps [`Checkpoints`] of this database in `dir`, which must be on
    /// the same file system (a checkpoint is hard links; across file
    /// systems RocksDB would copy every file).
    pub fn with_checkpoints(mut self, dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir)?;
        self.checkpoints = Some(Arc::new(RocksCheckpoints {
            db: self.db.clone(),
            dir: dir.to_owned(),
        }));
        Ok(self)
    }

    /// Opens a database (a checkpoint) for reading only.
    fn open_read_only(path: &Path) -> Result<Self, StorageError> {
        let (opts, cfs) = Self::options();
        let db = DB::open_cf_descriptors_read_only(&opts, path, cfs, false).map_err(err)?;
        Ok(RocksEngine {
            db: Arc::new(db),
            path: path.to_owned(),
            group: Arc::default(),
            checkpoints: None,
        })
    }

    fn cf(&self, cf: Cf) -> Result<&ColumnFamily, StorageError> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| StorageError::Corrupt(format!("column family {} missing", cf.name())))
    }

    fn to_batch(&self, batch: WriteBatch) -> Result<rocksdb::WriteBatch, StorageError> {
        let mut out = rocksdb::WriteBatch::default();
        for op in batch.ops {
            match op {
                Op::Put(cf, k, v) => out.put_cf(self.cf(cf)?, k, v),
                Op::Delete(cf, k) => out.delete_cf(self.cf(cf)?, k),
                Op::DeleteRange(cf, from, to) => out.delete_range_cf(self.cf(cf)?, from, to),
            }
        }
        Ok(out)
    }
}

/// Memtable size per column family. Atomic flush flushes them all when the
/// first one fills. Each apply inserts ~12 keys at scattered places in the
/// skip lists, and a smaller memtable is a shallower list that stays in
/// cache: 8 MiB wrote 5% more per second than 32 MiB at 64 writers
/// (docs/BENCHMARKS.md), while 4 MiB flushed and compacted too often.
const WRITE_BUFFER: usize = 8 << 20;

/// Values at least this long are kept in blob files (where enabled above);
/// index entries and small records stay in the table files.
const MIN_BLOB: u64 = 256;

/// Read-ahead for [`Engine::export`]'s sequential scans.
const EXPORT_READAHEAD: usize = 4 << 20;

/// Every key we write starts with a byte below 0xff, so this bounds them all.
const MAX_KEY: [u8; 1] = [0xff];

impl Engine for RocksEngine {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.db.get_cf(self.cf(cf)?, key).map_err(err)
    }

    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<(), StorageError> {
        let batch = self.to_batch(batch)?;
        let mut wo = WriteOptions::default();
        wo.set_sync(durability == Durability::Sync);
        wo.disable_wal(durability == Durability::Unlogged);
        self.db.write_opt(batch, &wo).map_err(err)?;
        if durability != Durability::Unlogged {
            self.group.written.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    fn persist(&self) -> Result<(), StorageError> {
        let cfs = Cf::ALL
            .iter()
            .map(|cf| self.cf(*cf))
            .collect::<Result<Vec<_>, _>>()?;
        let mut fo = rocksdb::FlushOptions::default();
        fo.set_wait(true);
        self.db.flush_cfs_opt(&cfs, &fo).map_err(err)?;
        self.sync()
    }

    fn sync(&self) -> Result<(), StorageError> {
        // Every write that returned before this call is counted in `needed`.
        let needed = self.group.written.load(Ordering::SeqCst);
        let mut synced = self.group.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= needed {
            // An fsync that began after those writes has completed.
            return Ok(());
        }
        // Read before the fsync starts: all of these are in the WAL already.
        let covered = self.group.written.load(Ordering::SeqCst);
        self.db.flush_wal(true).map_err(err)?;
        *synced = covered;
        Ok(())
    }

    fn scan(&self, cf: Cf, scan: Scan<'_>) -> Result<Pairs, StorageError> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(scan.start.to_vec());
        if let Some(end) = scan.end {
            ro.set_iterate_upper_bound(end.to_vec());
        }
        let mode = if scan.reverse {
            IteratorMode::End
        } else {
            IteratorMode::Start
        };
        let mut out = Vec::new();
        for item in self.db.iterator_cf_opt(self.cf(cf)?, ro, mode) {
            if out.len() >= scan.limit {
                break;
            }
            let (k, v) = item.map_err(err)?;
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    fn export(&self, cfs: &[Cf], visit: &mut Visitor<'_>) -> Result<(), StorageError> {
        let snapshot = self.db.snapshot();
        for &cf in cfs {
            // A whole-family scan (snapshots, backups, start-up): read ahead
            // in large sequential chunks, and keep these blocks out of the
            // cache that serves the live point reads.
            let mut ro = ReadOptions::default();
            ro.fill_cache(false);
            ro.set_readahead_size(EXPORT_READAHEAD);
            for item in snapshot.iterator_cf_opt(self.cf(cf)?, ro, IteratorMode::Start) {
                let (k, v) = item.map_err(err)?;
                if !visit(cf, &k, &v)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn replace(
        &self,
        cfs: &[Cf],
        pairs: &mut dyn Iterator<Item = Result<Record, StorageError>>,
    ) -> Result<(), StorageError> {
        let mut batch = rocksdb::WriteBatch::default();
        for &cf in cfs {
            let handle = self.cf(cf)?;
            batch.delete_range_cf(handle, &[][..], &MAX_KEY[..]);
            // Keys at or past MAX_KEY are not expected, but must not survive either.
            let mut ro = ReadOptions::default();
            ro.set_iterate_lower_bound(MAX_KEY.to_vec());
            for item in self.db.iterator_cf_opt(handle, ro, IteratorMode::Start) {
                let (k, _) = item.map_err(err)?;
                batch.delete_cf(handle, k);
            }
        }
        for pair in pairs {
            let (cf, k, v) = pair?;
            if !cfs.contains(&cf) {
                return Err(StorageError::Corrupt(format!(
                    "replace got a pair for {} outside the replaced families",
                    cf.name()
                )));
            }
            batch.put_cf(self.cf(cf)?, k, v);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo).map_err(err)
    }

    fn size_on_disk(&self) -> u64 {
        dir_size(&self.path)
    }

    fn checkpoints(&self) -> Option<Arc<dyn Checkpoints>> {
        self.checkpoints.clone().map(|c| c as Arc<dyn Checkpoints>)
    }
}

/// RocksDB checkpoints of one database, each a directory under `dir`.
struct RocksCheckpoints {
    db: Arc<DB>,
    dir: PathBuf,
}

impl std::fmt::Debug for RocksCheckpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksCheckpoints")
            .field("dir", &self.dir)
            .finish()
    }
}

impl RocksCheckpoints {
    fn path(&self, name: &str) -> Result<PathBuf, StorageError> {
        crate::blob::check_name(name)?;
        Ok(self.dir.join(name))
    }
}

impl Checkpoints for RocksCheckpoints {
    fn create(&self, name: &str) -> Result<(), StorageError> {
        let path = self.path(name)?;
        // RocksDB refuses an existing directory; one left by a crash in the
        // middle of a create is incomplete, so it goes.
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        // Flushes every memtable first (atomic flush: every column family
        // at one point), then links the live files and copies the small
        // ones (manifest, options, the WAL's tail), fsynced.
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(&path))
            .map_err(err)?;
        sync_dir(&self.dir)
    }

    fn open(&self, name: &str) -> Result<Option<Arc<dyn Engine>>, StorageError> {
        let path = self.path(name)?;
        if !path.is_dir() {
            return Ok(None);
        }
        Ok(Some(Arc::new(RocksEngine::open_read_only(&path)?)))
    }

    fn list(&self) -> Result<Vec<String>, StorageError> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir()
                && let Some(name) = entry.file_name().to_str()
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        std::fs::rename(self.path(from)?, self.path(to)?)?;
        sync_dir(&self.dir)
    }

    fn remove(&self, name: &str) -> Result<(), StorageError> {
        match std::fs::remove_dir_all(self.path(name)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Makes a directory's entries (a rename, a new child) durable.
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}
