//! The Raft log and vote on an [`Engine`]: the `log` and `raft_meta` families.
//!
//! Appends and votes are fsynced before openraft is told they are durable.
//! With a disk engine the fsync runs on a blocking thread and the append's
//! callback fires when it completes; with the in-memory engine it fires at once.
//!
//! The newest entries are also kept in memory ([`TAIL_CACHE`]): every entry
//! is read back right after it is appended, by each replication stream and
//! by apply, and serving those reads from memory skips a RocksDB iterator and
//! a JSON decode each time (TiKV keeps an entry cache for the same reason).

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vexil_storage::engine::Scan;
use vexil_storage::{Cf, Durability, Engine, WriteBatch};

use super::TypeConfig;

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
pub(super) const LAST_PURGED: &[u8] = b"last_purged";

/// How many of the newest entries are kept in memory. Replication and apply
/// read an entry within moments of its append, so a few thousand cover
/// them even under load; a follower catching up from further back reads
/// the engine. At ~1 KiB an entry, a few MiB per node.
pub const TAIL_CACHE: usize = 4096;

/// The log store. Clones share the engine and the tail.
#[derive(Debug, Clone)]
pub struct LogStore {
    engine: Arc<dyn Engine>,
    tail: Arc<Mutex<Tail>>,
}

/// The end of the log.
#[derive(Debug, Default)]
struct Tail {
    /// Index of the last entry (or of the last purged one when the log is
    /// empty): `append` checks each new entry follows it.
    last: Option<u64>,
    /// The newest entries, contiguous and ending at `last` (or empty), as
    /// written to the engine: a copy, never the only one.
    cached: VecDeque<EntryOf<TypeConfig>>,
}

impl Tail {
    /// The cached entries in `[start, end)`, or `None` when the range starts
    /// before the cache (the caller reads the engine).
    fn get(&self, start: u64, end: Option<u64>) -> Option<Vec<EntryOf<TypeConfig>>> {
        let first = self.cached.front()?.index();
        if start < first {
            return None;
        }
        let skip = usize::try_from(start - first).unwrap_or(usize::MAX);
        Some(
            self.cached
                .iter()
                .skip(skip)
                .take_while(|e| end.is_none_or(|end| e.index() < end))
                .cloned()
                .collect(),
        )
    }

    /// Forgets entries at or after `from`.
    fn truncate_from(&mut self, from: u64) {
        while self.cached.back().is_some_and(|e| e.index() >= from) {
            self.cached.pop_back();
        }
    }

    /// Forgets entries at or before `upto`.
    fn purge_upto(&mut self, upto: u64) {
        while self.cached.front().is_some_and(|e| e.index() <= upto) {
            self.cached.pop_front();
        }
    }
}

fn io_err(e: impl ToString) -> io::Error {
    io::Error::other(e.to_string())
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Decodes a log entry. One this release cannot read (a command a newer
/// release added) is an error naming the cluster level it needs, which
/// stops the Raft core there: the entry is never skipped, so this node
/// never diverges; `server::serve` then ends the process with the message.
fn decode_entry(bytes: &[u8]) -> io::Result<EntryOf<TypeConfig>> {
    serde_json::from_slice(bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, unreadable(bytes, &e)))
}

/// Why `bytes`, a log entry, does not decode, in an operator's words.
fn unreadable(bytes: &[u8], e: &serde_json::Error) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return format!("a log entry is not JSON: {e}");
    };
    let index = v["log_id"]["index"]
        .as_u64()
        .map_or(String::new(), |i| format!(" {i}"));
    let Some(cmd) = find_command(&v) else {
        return format!("log entry{index} does not decode: {e}");
    };
    let op = cmd["op"]["type"].as_str().unwrap_or("?");
    let supported = crate::version::SUPPORTED;
    match cmd["needs_level"].as_u64() {
        Some(needs) if needs > u64::from(supported) => format!(
            "log entry{index} holds a command this release cannot read ({op}): it needs \
             cluster level {needs}, and this release supports up to {supported}. Run the \
             newer release this cluster was upgraded to; going back to this one means \
             restoring a backup taken before the upgrade ({e})"
        ),
        _ => format!("log entry{index} holds a command this release cannot read ({op}): {e}"),
    }
}

/// The command inside an entry's JSON: the object with a request id and
/// an op, wherever openraft's layout puts it.
fn find_command(v: &serde_json::Value) -> Option<&serde_json::Value> {
    match v {
        serde_json::Value::Object(o) if o.contains_key("request_id") && o.contains_key("op") => {
            Some(v)
        }
        serde_json::Value::Object(o) => o.values().find_map(find_command),
        _ => None,
    }
}

fn encode<T: Serialize>(t: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(t).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl LogStore {
    pub fn open(engine: Arc<dyn Engine>) -> io::Result<Self> {
        let store = LogStore {
            engine,
            tail: Arc::new(Mutex::new(Tail::default())),
        };
        let last = match store.engine.last(Cf::Log).map_err(io_err)? {
            Some((_, v)) => Some(decode_entry(&v)?.index()),
            None => store
                .get_meta::<LogIdOf<TypeConfig>>(LAST_PURGED)?
                .map(|l| l.index()),
        };
        store.tail().last = last;
        Ok(store)
    }

    fn tail(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get_meta<T: DeserializeOwned>(&self, k: &[u8]) -> io::Result<Option<T>> {
        match self.engine.get(Cf::RaftMeta, k).map_err(io_err)? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(&self, k: &[u8], v: &T, d: Durability) -> io::Result<()> {
        let mut b = WriteBatch::new();
        b.put(Cf::RaftMeta, k.to_vec(), encode(v)?);
        self.engine.write(b, d).map_err(io::Error::from)
    }

    /// Makes earlier writes durable, off the async threads when it costs IO.
    async fn sync(&self) -> io::Result<()> {
        if !self.engine.needs_sync() {
            return Ok(());
        }
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.sync())
            .await
            .map_err(io_err)?
            .map_err(io::Error::from)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<TypeConfig>>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(x) => x.checked_add(1),
            Bound::Excluded(x) => Some(*x),
            Bound::Unbounded => None,
        };
        if end.is_some_and(|e| e <= start) {
            return Ok(Vec::new());
        }
        if let Some(entries) = self.tail().get(start, end) {
            return Ok(entries);
        }
        let (s, e) = (key(start), end.map(key));
        let pairs = self
            .engine
            .scan(
                Cf::Log,
                Scan {
                    start: &s,
                    end: e.as_ref().map(|e| e.as_slice()),
                    reverse: false,
                    limit: usize::MAX,
                },
            )
            .map_err(io_err)?;
        pairs.iter().map(|(_, v)| decode_entry(v)).collect()
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<TypeConfig>>, io::Error> {
        self.get_meta(VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id: Option<LogIdOf<TypeConfig>> = self.get_meta(LAST_PURGED)?;
        let last_log_id = match self.engine.last(Cf::Log).map_err(io_err)? {
            Some((_, v)) => Some(decode_entry(&v)?.log_id()),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> Result<(), io::Error> {
        self.put_meta(VOTE, vote, Durability::Buffered)?;
        self.sync().await
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogIdOf<TypeConfig>>,
    ) -> Result<(), io::Error> {
        // Not fsynced: losing it only means re-learning the commit index.
        self.put_meta(COMMITTED, &committed, Durability::Buffered)
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<TypeConfig>>, io::Error> {
        Ok(self
            .get_meta::<Option<LogIdOf<TypeConfig>>>(COMMITTED)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::new();
        {
            let mut tail = self.tail();
            let mut next = tail.last;
            let mut appended = Vec::new();
            for entry in entries {
                let index = entry.index();
                if let Some(last) = next.filter(|last| index != last + 1) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("log must stay contiguous: entry {index} after {last}"),
                    ));
                }
                batch.put(Cf::Log, key(index).to_vec(), encode(&entry)?);
                appended.push(entry);
                next = Some(index);
            }
            // Written (readable) before returning, as openraft requires;
            // durable when the callback fires.
            self.engine
                .write(batch, Durability::Buffered)
                .map_err(io::Error::from)?;
            if tail.last != tail.cached.back().map(|e| e.index()) {
                // The cache must end at the last entry: after a restart or
                // a purge of everything it starts again here.
                tail.cached.clear();
            }
            tail.last = next;
            tail.cached.extend(appended);
            let excess = tail.cached.len().saturating_sub(TAIL_CACHE);
            tail.cached.drain(..excess);
        }
        if !self.engine.needs_sync() {
            callback.io_completed(Ok(()));
            return Ok(());
        }
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || {
            callback.io_completed(engine.sync().map_err(io::Error::from));
        });
        Ok(())
    }

    async fn truncate_after(
        &mut self,
        last_log_id: Option<LogIdOf<TypeConfig>>,
    ) -> Result<(), io::Error> {
        let from = last_log_id.as_ref().map_or(0, |l| l.index() + 1);
        let mut b = WriteBatch::new();
        b.delete_range(Cf::Log, key(from).to_vec(), key(u64::MAX).to_vec());
        self.engine
            .write(b, Durability::Buffered)
            .map_err(io::Error::from)?;
        let purged = self
            .get_meta::<LogIdOf<TypeConfig>>(LAST_PURGED)?
            .map(|l| l.index());
        let mut tail = self.tail();
        tail.truncate_from(from);
        tail.last = last_log_id.map(|l| l.index()).or(purged);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> Result<(), io::Error> {
        // No flush here: openraft purges only what a snapshot covers, and
        // the state machine made that durable when it built the snapshot
        // (`StateMachine::build_sync`) or installed it (`Engine::replace`
        // is synced). (Were it not, openraft would recover from the snapshot
        // itself: `t16` kills a node after a purge.) openraft awaits this on
        // its core loop, so it stays cheap.
        // Record the purge point first: entries at or below it are ignored
        // by openraft even if the range delete below is lost in a crash.
        self.put_meta(LAST_PURGED, &log_id, Durability::Buffered)?;
        let mut b = WriteBatch::new();
        b.delete_range(Cf::Log, key(0).to_vec(), key(log_id.index() + 1).to_vec());
        self.engine
            .write(b, Durability::Buffered)
            .map_err(io::Error::from)?;
        let mut tail = self.tail();
        tail.purge_upto(log_id.index());
        if tail.last.is_none_or(|t| t < log_id.index()) {
            tail.last = Some(log_id.index());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::blank_ent;
    use vexil_storage::MemEngine;

    use super::*;

    #[test]
    fn an_entry_of_a_newer_release_names_the_level_it_needs() {
        let cmd = crate::Command {
            request_id: "r".into(),
            actor: "admin".into(),
            at: chrono::Utc::now(),
            op: crate::Op::DeleteProject {
                key: "web".into(),
                expected_version: None,
            },
            needs_level: Some(crate::version::SUPPORTED + 1),
        };
        let mut entry = blank_ent::<TypeConfig>(3, 1, 42);
        entry.payload = openraft::EntryPayload::Normal(cmd);
        let json = serde_json::to_string(&entry).unwrap();
        assert!(decode_entry(json.as_bytes()).is_ok());
        let future = json.replace("delete_project", "from_the_future");
        let err = decode_entry(future.as_bytes()).unwrap_err().to_string();
        let needs = format!("needs cluster level {}", crate::version::SUPPORTED + 1);
        assert!(err.contains("log entry 42"), "{err}");
        assert!(err.contains("(from_the_future)"), "{err}");
        assert!(err.contains(&needs), "{err}");
        // An entry without a level (a bug, not an upgrade) still says what it holds.
        let bare = future.replace(
            &format!(",\"needs_level\":{}", crate::version::SUPPORTED + 1),
            "",
        );
        let err = decode_entry(bare.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("(from_the_future)") && !err.contains("needs cluster level"),
            "{err}"
        );
    }

    fn ids(entries: &[EntryOf<TypeConfig>]) -> Vec<(u64, u64)> {
        entries
            .iter()
            .map(|e| (e.log_id().committed_leader_id().term, e.index()))
            .collect()
    }

    async fn append(store: &mut LogStore, term: u64, indexes: std::ops::RangeInclusive<u64>) {
        let entries = indexes.map(|i| blank_ent::<TypeConfig>(term, 1, i));
        store
            .append(entries, IOFlushed::noop())
            .await
            .expect("append");
    }

    /// Reads through the cache (`cached`) and straight from the engine (a
    /// fresh store on the same engine has an empty cache) must agree.
    async fn same(cached: &mut LogStore, engine: &Arc<dyn Engine>, start: u64, end: u64) {
        let mut cold = LogStore::open(engine.clone()).expect("open");
        let a = cached
            .try_get_log_entries(start..end)
            .await
            .expect("cached");
        let b = cold.try_get_log_entries(start..end).await.expect("engine");
        assert_eq!(ids(&a), ids(&b), "entries {start}..{end}");
    }

    #[tokio::test]
    async fn the_tail_cache_agrees_with_the_engine_through_truncate_and_purge() {
        let engine: Arc<dyn Engine> = Arc::new(MemEngine::new());
        let mut store = LogStore::open(engine.clone()).expect("open");
        let last = TAIL_CACHE as u64 + 100;
        append(&mut store, 1, 1..=last).await;
        assert_eq!(store.tail().cached.len(), TAIL_CACHE);
        assert_eq!(store.tail().cached.front().map(|e| e.index()), Some(101));
        for (start, end) in [(1, last + 1), (90, 120), (101, 110), (last - 5, last + 10)] {
            same(&mut store, &engine, start, end).await;
        }
        let tail = store.try_get_log_entries(last - 2..).await.expect("read");
        assert_eq!(ids(&tail), vec![(1, last - 2), (1, last - 1), (1, last)]);

        // A new leader overwrites the last entries with its own.
        store
            .truncate_after(Some(log_id(1, last - 3)))
            .await
            .expect("truncate");
        append(&mut store, 2, last - 2..=last).await;
        same(&mut store, &engine, last - 5, last + 1).await;
        let tail = store.try_get_log_entries(last - 3..).await.expect("read");
        assert_eq!(
            ids(&tail),
            vec![(1, last - 3), (2, last - 2), (2, last - 1), (2, last)]
        );

        // A purge drops entries from both.
        store.purge(log_id(2, last - 1)).await.expect("purge");
        same(&mut store, &engine, 1, last + 1).await;
        let all = store.try_get_log_entries(..).await.expect("read");
        assert_eq!(ids(&all), vec![(2, last)]);

        // After everything is purged, appends start a new cache.
        store.purge(log_id(2, last)).await.expect("purge");
        append(&mut store, 3, last + 1..=last + 2).await;
        same(&mut store, &engine, 0, last + 10).await;
        assert_eq!(store.tail().cached.len(), 2);
    }

    fn log_id(term: u64, index: u64) -> LogIdOf<TypeConfig> {
        openraft::testing::log_id::<TypeConfig>(term, 1, index)
    }
}
