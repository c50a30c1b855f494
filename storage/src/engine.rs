//! The `Engine` trait: what `raft/` needs from a key-value store.

use std::fmt::Debug;
use std::sync::Arc;

use crate::Cf;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The device is full. Writes are refused; reads keep working.
    #[error("no space left on the data device: {0}")]
    NoSpace(String),
    /// Any other engine or filesystem failure.
    #[error("storage: {0}")]
    Io(String),
    /// Bytes on disk that do not decode: a bug or a damaged disk.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl StorageError {
    /// Builds the right variant from an engine message, spotting "no space".
    pub fn from_message(msg: String) -> Self {
        let lower = msg.to_ascii_lowercase();
        if lower.contains("no space") || lower.contains("nospace") || lower.contains("enospc") {
            StorageError::NoSpace(msg)
        } else {
            StorageError::Io(msg)
        }
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        if e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull {
            StorageError::NoSpace(e.to_string())
        } else {
            StorageError::Io(e.to_string())
        }
    }
}

impl From<StorageError> for std::io::Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NoSpace(m) => std::io::Error::new(std::io::ErrorKind::StorageFull, m),
            StorageError::Io(m) => std::io::Error::other(m),
            StorageError::Corrupt(m) => std::io::Error::new(std::io::ErrorKind::InvalidData, m),
        }
    }
}

/// How durable a write must be before `write` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsynced: survives power loss. Used for Raft log appends and votes.
    Sync,
    /// Written to the WAL but not fsynced: survives a process crash, and the
    /// next synced write makes it durable too (one shared WAL).
    Buffered,
    /// Not written to the WAL at all: a crash takes every column family
    /// back together to the last flush (RocksDB's atomic flush), never to a
    /// mix of older and newer writes. Only for state the caller rebuilds
    /// after a crash: the state machine, which re-applies the Raft log from
    /// its persisted applied index. [`Engine::persist`] makes it durable,
    /// and must run before the log it is rebuilt from is purged.
    ///
    /// Why: applied changes are several times the bytes of the log entry
    /// they come from (versions, audit, stored responses). In the one WAL,
    /// every log fsync also wrote them out; without them, 64 writers went
    /// from 4,120–4,449 to 4,673–5,111 acknowledged writes/s
    /// (docs/BENCHMARKS.md, replicated writes).
    Unlogged,
}

/// One mutation in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
    /// Deletes keys in `[from, to)`.
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

/// Mutations applied atomically: all or none survive a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// In order; later ops see earlier ones.
    pub ops: Vec<Op>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn put(&mut self, cf: Cf, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put(cf, key.into(), value.into()));
    }
    pub fn delete(&mut self, cf: Cf, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete(cf, key.into()));
    }
    pub fn delete_range(&mut self, cf: Cf, from: impl Into<Vec<u8>>, to: impl Into<Vec<u8>>) {
        self.ops.push(Op::DeleteRange(cf, from.into(), to.into()));
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    /// Appends another batch's ops after this one's.
    pub fn extend(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
    }
}

/// An ordered scan: `[start, end)`, forwards or backwards, at most `limit` items.
#[derive(Debug, Clone)]
pub struct Scan<'a> {
    pub start: &'a [u8],
    /// Exclusive upper bound; `None` scans to the end of the column family.
    pub end: Option<&'a [u8]>,
    /// Newest-first when true: starts just below `end`.
    pub reverse: bool,
    pub limit: usize,
}

impl<'a> Scan<'a> {
    /// Every key starting with `prefix`, forwards.
    pub fn prefix(prefix: &'a [u8], end_buf: &'a mut Vec<u8>, limit: usize) -> Scan<'a> {
        *end_buf = prefix_end(prefix);
        Scan {
            start: prefix,
            end: if end_buf.is_empty() {
                None
            } else {
                Some(end_buf.as_slice())
            },
            reverse: false,
            limit,
        }
    }
}

/// The smallest key greater than every key starting with `prefix`
/// (empty when there is none, i.e. the prefix is all `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    end
}

/// One key and its value.
pub type Pair = (Vec<u8>, Vec<u8>);
/// A key-value list returned by scans.
pub type Pairs = Vec<Pair>;
/// A pair tagged with its column family (exports, snapshots).
pub type Record = (Cf, Vec<u8>, Vec<u8>);

/// A visitor over key-value pairs; return `Ok(false)` to stop.
pub type Visitor<'a> = dyn FnMut(Cf, &[u8], &[u8]) -> Result<bool, StorageError> + 'a;

/// What `raft/` needs from a store. Implementations: [`crate::RocksEngine`] and
/// [`crate::MemEngine`].
pub trait Engine: Send + Sync + Debug + 'static {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Applies `batch` atomically.
    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<(), StorageError>;

    /// Makes every earlier logged write durable (fsyncs the shared WAL);
    /// [`Durability::Unlogged`] writes need [`Engine::persist`].
    fn sync(&self) -> Result<(), StorageError>;

    fn scan(&self, cf: Cf, scan: Scan<'_>) -> Result<Pairs, StorageError>;

    /// Visits every pair of `cfs` as of one consistent point in time.
    fn export(&self, cfs: &[Cf], visit: &mut Visitor<'_>) -> Result<(), StorageError>;

    /// Atomically replaces the whole content of `cfs` with `pairs`, durably.
    /// A crash leaves either the old content or the new, never a mix.
    fn replace(
        &self,
        cfs: &[Cf],
        pairs: &mut dyn Iterator<Item = Result<Record, StorageError>>,
    ) -> Result<(), StorageError>;

    /// The last pair of a column family, if any.
    fn last(&self, cf: Cf) -> Result<Option<Pair>, StorageError> {
        let mut found = self.scan(
            cf,
            Scan {
                start: &[],
                end: None,
                reverse: true,
                limit: 1,
            },
        )?;
        Ok(found.pop())
    }

    /// Makes every earlier write durable, [`Durability::Unlogged`] ones
    /// included (flushes every column family, atomically), and returns once
    /// it is. Slow (it writes files): for purges and shutdown, not per write.
    fn persist(&self) -> Result<(), StorageError> {
        self.sync()
    }

    /// Whether [`Engine::sync`] does real IO. When false, every write is
    /// already as durable as this engine gets, and callers skip the sync.
    fn needs_sync(&self) -> bool {
        true
    }

    /// Approximate bytes on disk, for metrics and benchmarks.
    fn size_on_disk(&self) -> u64 {
        0
    }

    /// Point-in-time copies of the whole store that copy no data, if this
    /// engine makes them. Without them, a snapshot is an export.
    fn checkpoints(&self) -> Option<Arc<dyn Checkpoints>> {
        None
    }
}

/// Named point-in-time copies of a whole [`Engine`], made without copying
/// data: RocksDB checkpoints, hard links to its immutable table and blob
/// files. A snapshot taken this way costs a flush, not an export of every
/// pair; the export happens only if a peer ever needs the snapshot sent.
pub trait Checkpoints: Send + Sync + Debug {
    /// Copies every column family as of now under `name` (replacing nothing:
    /// `name` must be new). Flushes the memtables first, so the engine's own
    /// state is also durable up to this point when it returns, and so is the
    /// copy.
    fn create(&self, name: &str) -> Result<(), StorageError>;

    /// Opens a copy for reading. `Ok(None)` if there is none by that name.
    fn open(&self, name: &str) -> Result<Option<Arc<dyn Engine>>, StorageError>;

    /// The copies' names, sorted.
    fn list(&self) -> Result<Vec<String>, StorageError>;

    /// Renames a copy atomically (the new name must be free).
    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError>;

    /// Deletes a copy; deleting one that does not exist is not an error.
    fn remove(&self, name: &str) -> Result<(), StorageError>;
}
