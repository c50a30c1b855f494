//! The state machine on an [`Engine`]: applies entries through `apply/`,
//! builds and installs snapshots.
//!
//! A snapshot is a checksummed snapshot file (`storage::snapfile`) in the
//! [`BlobStore`], or, when the engine makes [`Checkpoints`], a checkpoint
//! under the same name: building one then costs a flush and some hard
//! links instead of an export of the whole state (272 MB at 100,000
//! writes, built on every node while it serves writes). A checkpoint is
//! written out as a snapshot file only when a peer needs it sent, and that
//! file is kept beside it for the next peer.

use std::io::{self, Seek};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use vexil_storage::blob::BlobReader;
use vexil_storage::snapfile::{self, SnapshotWriter};
use vexil_storage::{BlobStore, Cf, Checkpoints, Durability, Engine, StorageError, WriteBatch};

use super::TypeConfig;
use crate::apply::{Effect, apply_command, commit_effects};
use crate::command::Response;
use crate::counters::RaftCounters;
use crate::keys;
use crate::loader::{AppliedMeta, load_state, read_applied};
use crate::state::Shared;

/// Lowers the calling thread's CPU priority (nice 10; on Linux, niceness
/// is per thread). Failing only costs write throughput during the build, so
/// the error is ignored.
fn lower_priority() {
    let _ = rustix::process::setpriority_process(None, 10);
}

/// The `applied` meta record: the log id, with the mirror's `last_at` and
/// `last_change` beside it, so that each apply writes one meta key, not
/// three. Readers that want only the log id (openraft's `applied_state`, the
/// snapshot and backup builders) parse it as `Option<LogId>`, which ignores
/// the two extra fields; [`read_applied`] reads all three. `meta.index` is
/// not written: the log id carries it.
pub(crate) fn applied_record(
    log_id: &LogIdOf<TypeConfig>,
    meta: AppliedMeta,
) -> Result<Vec<u8>, StorageError> {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        log_id: &'a LogIdOf<TypeConfig>,
        last_at: i64,
        last_change: u64,
    }
    serde_json::to_vec(&Out {
        log_id,
        last_at: meta.last_at_ms,
        last_change: meta.last_change,
    })
    .map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// A snapshot, ready to read: a snapshot file, or a checkpoint to be
/// written out as one when it is read.
#[derive(Debug)]
pub struct SnapshotBlob {
    /// Its name in the node's [`BlobStore`] (and [`Checkpoints`]).
    pub name: String,
    source: Source,
}

#[derive(Debug)]
enum Source {
    File(Box<dyn BlobReader>),
    /// A checkpoint of this state machine's engine, by the same name.
    Checkpoint(StateMachine),
}

impl SnapshotBlob {
    /// A snapshot file.
    pub fn file(name: String, reader: Box<dyn BlobReader>) -> Self {
        SnapshotBlob {
            name,
            source: Source::File(reader),
        }
    }

    /// The snapshot file. A checkpoint is written out first, unless that
    /// was done before: this blocks for the time of an export.
    pub fn into_reader(self) -> io::Result<Box<dyn BlobReader>> {
        match self.source {
            Source::File(reader) => Ok(reader),
            Source::Checkpoint(sm) => sm.materialize(&self.name),
        }
    }
}

/// Snapshot blobs are named so that sorting by name sorts by log index.
pub fn snapshot_name(index: u64, seq: u64) -> String {
    format!("snap-{index:020}-{seq:06}")
}

/// The state machine. Clones share everything (the builder is a clone).
#[derive(Debug, Clone)]
pub struct StateMachine {
    engine: Arc<dyn Engine>,
    blobs: Arc<dyn BlobStore>,
    shared: Arc<Shared>,
    /// Makes snapshot names unique within this process.
    seq: Arc<AtomicU64>,
    /// The engine's checkpoints, if it makes them.
    checkpoints: Option<Arc<dyn Checkpoints>>,
    /// One checkpoint written out at a time: two peers asking at once
    /// share the file.
    materializing: Arc<std::sync::Mutex<()>>,
    /// Held to pick a snapshot and open it, and to replace or delete one,
    /// so that a snapshot is never deleted between being chosen and being
    /// opened. (openraft builds snapshots while it reads the current one,
    /// and a failed read of the current snapshot stops the node.)
    choosing: Arc<std::sync::Mutex<()>>,
}

/// Which store holds a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Checkpoint,
}

fn io_err(e: impl ToString) -> io::Error {
    io::Error::other(e.to_string())
}

fn json<T: serde::Serialize>(t: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(t).map_err(io_err)
}

impl StateMachine {
    pub fn new(engine: Arc<dyn Engine>, blobs: Arc<dyn BlobStore>, shared: Arc<Shared>) -> Self {
        let checkpoints = engine.checkpoints();
        StateMachine {
            engine,
            blobs,
            shared,
            seq: Arc::new(AtomicU64::new(0)),
            checkpoints,
            materializing: Arc::default(),
            choosing: Arc::default(),
        }
    }

    /// Runs blocking engine work off the async threads when it costs IO.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(StateMachine) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let me = self.clone();
        if !self.engine.needs_sync() {
            return f(me);
        }
        tokio::task::spawn_blocking(move || f(me))
            .await
            .map_err(io_err)?
    }

    /// Runs `f` on a thread of its own at a lower CPU priority: building a
    /// snapshot exports the whole state (hundreds of MB at scale), and it
    /// should take the time writes leave over, not compete with them.
    async fn in_background<T: Send + 'static>(
        &self,
        f: impl FnOnce(StateMachine) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let me = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("vexil-snapshot".into())
            .spawn(move || {
                lower_priority();
                let _ = tx.send(f(me));
            })?;
        rx.await.map_err(io_err)?
    }

    /// The newest snapshot's name, and where it is. A checkpoint that was
    /// written out has a file by the same name, which is preferred.
    fn newest_snapshot(&self) -> io::Result<Option<(String, Kind)>> {
        let file = self
            .blobs
            .list()
            .map_err(io_err)?
            .into_iter()
            .rfind(|n| n.starts_with("snap-"));
        let checkpoint = match &self.checkpoints {
            Some(c) => c
                .list()
                .map_err(io_err)?
                .into_iter()
                .rfind(|n| n.starts_with("snap-")),
            None => None,
        };
        Ok(match (file, checkpoint) {
            (Some(f), Some(c)) if c > f => Some((c, Kind::Checkpoint)),
            (Some(f), _) => Some((f, Kind::File)),
            (None, Some(c)) => Some((c, Kind::Checkpoint)),
            (None, None) => None,
        })
    }

    /// Deletes every snapshot but `keep`: files and checkpoints. (Staging
    /// copies a crash left are removed by the next checkpoint build.)
    fn remove_snapshots_except(&self, keep: &str) -> io::Result<()> {
        for name in self.blobs.list().map_err(io_err)? {
            if name.starts_with("snap-") && name != keep {
                self.blobs.remove(&name).map_err(io_err)?;
            }
        }
        if let Some(checkpoints) = &self.checkpoints {
            for name in checkpoints.list().map_err(io_err)? {
                if name.starts_with("snap-") && name != keep {
                    checkpoints.remove(&name).map_err(io_err)?;
                }
            }
        }
        Ok(())
    }

    /// Takes a snapshot of everything applied: a checkpoint if the engine
    /// makes them, else a snapshot file of every state-machine pair.
    pub(super) fn build_sync(&self) -> io::Result<(SnapshotMetaOf<TypeConfig>, String)> {
        self.engine.sync().map_err(io_err)?;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let staging = format!("staging-{seq}");
        let (meta, name) = match &self.checkpoints {
            Some(checkpoints) => {
                // A build that a crash interrupted left its staging copy:
                // openraft runs one build at a time, so any is stale.
                for stale in checkpoints.list().map_err(io_err)? {
                    if stale.starts_with("staging-") {
                        checkpoints.remove(&stale).map_err(io_err)?;
                    }
                }
                // Flushes every column family (so the state is durable up
                // to the checkpoint, as a purge behind it needs), and the
                // checkpoint is durable when this returns.
                checkpoints.create(&staging).map_err(io_err)?;
                let meta = snapshot_meta(self.open_checkpoint(&staging)?.as_ref())?;
                // Writes applied since are unlogged; the log that
                // rebuilds them is not purged past this snapshot.
                self.engine.persist().map_err(io_err)?;
                let name = snapshot_name(meta_index(&meta), seq);
                let _choosing = self.choose();
                // `seq` restarts with the process: a snapshot at the same
                // index taken before a restart can hold this name. It is
                // of the same state; a directory is not renamed over.
                checkpoints.remove(&name).map_err(io_err)?;
                checkpoints.rename(&staging, &name).map_err(io_err)?;
                self.remove_snapshots_except(&name)?;
                (meta, name)
            }
            None => {
                let meta = export_snapshot(self.engine.as_ref(), self.blobs.as_ref(), &staging)?;
                // The state machine writes unlogged and is rebuilt from
                // the log after a crash, and openraft purges the log up to
                // this snapshot once it has it: make everything exported
                // here durable first. On this (snapshot builder) thread,
                // not in `LogStore::purge`, which openraft awaits on its
                // core loop: a flush there stalled every write for
                // ~0.6-1 s per snapshot at 64 writers.
                self.engine.persist().map_err(io_err)?;
                // Staged under a temporary name so that the final name
                // can carry the index, known only after the export.
                let name = snapshot_name(meta_index(&meta), seq);
                let _choosing = self.choose();
                self.blobs.rename(&staging, &name).map_err(io_err)?;
                self.remove_snapshots_except(&name)?;
                (meta, name)
            }
        };
        Ok((meta, name))
    }

    fn choose(&self) -> std::sync::MutexGuard<'_, ()> {
        // Nothing guarded can be left half done by a panic.
        self.choosing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens checkpoint `name` for reading.
    fn open_checkpoint(&self, name: &str) -> io::Result<Arc<dyn Engine>> {
        self.checkpoints
            .as_ref()
            .map(|c| c.open(name))
            .transpose()
            .map_err(io_err)?
            .flatten()
            .ok_or_else(|| io_err(format!("snapshot {name} is gone (a newer one replaced it)")))
    }

    /// Writes checkpoint `name` out as the snapshot file `name`, unless
    /// that was done before, and opens the file.
    fn materialize(&self, name: &str) -> io::Result<Box<dyn BlobReader>> {
        let _one = self.materializing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reader) = self.blobs.open(name).map_err(io_err)? {
            return Ok(reader);
        }
        // Opening reads the copy's file list and opens its tables; a newer
        // snapshot may delete it after that (a blob file not yet opened
        // then fails the export, and openraft retries with the newer one).
        let copy = {
            let _choosing = self.choose();
            self.open_checkpoint(name)?
        };
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let staging = format!("staging-{seq}");
        export_snapshot(copy.as_ref(), self.blobs.as_ref(), &staging)?;
        self.blobs.rename(&staging, name).map_err(io_err)?;
        tracing::info!(snapshot = %name, "wrote checkpoint out as a snapshot file");
        self.open_blob(name).map(|b| b.into_reader())?
    }

    fn open_blob(&self, name: &str) -> io::Result<SnapshotBlob> {
        let reader = self
            .blobs
            .open(name)
            .map_err(io_err)?
            .ok_or_else(|| io_err(format!("snapshot {name} missing")))?;
        Ok(SnapshotBlob::file(name.to_owned(), reader))
    }

    /// Replaces the state with the snapshot's pairs, atomically.
    fn install_sync(&self, meta: SnapshotMetaOf<TypeConfig>, blob: SnapshotBlob) -> io::Result<()> {
        let name = blob.name.clone();
        let mut reader = blob.into_reader()?;
        {
            let mut records = snapfile::Records::new(reader.as_mut()).map_err(io_err)?;
            self.engine
                .replace(&Cf::STATE_MACHINE, &mut records)
                .map_err(io_err)?;
        }
        // The sender's pairs already hold these; writing them again makes
        // the installed state agree with the metadata openraft acts on.
        // The mirror's values stored beside the log id come from the pairs.
        let applied = match &meta.last_log_id {
            Some(log_id) => {
                let kept = read_applied(self.engine.as_ref()).map_err(io_err)?;
                applied_record(log_id, kept).map_err(io_err)?
            }
            None => json(&meta.last_log_id)?,
        };
        let mut b = WriteBatch::new();
        b.put(Cf::Meta, keys::META_APPLIED.to_vec(), applied);
        b.put(
            Cf::Meta,
            keys::META_MEMBERSHIP.to_vec(),
            json(&meta.last_membership)?,
        );
        self.engine.write(b, Durability::Sync).map_err(io_err)?;
        // Keep the file as our current snapshot (it normally arrived straight
        // into our blob store; copy it when it came from elsewhere).
        if self.blobs.open(&name).map_err(io_err)?.is_none() {
            reader.seek(io::SeekFrom::Start(0))?;
            let mut out = self.blobs.create(&name).map_err(io_err)?;
            io::copy(&mut reader, &mut out)?;
            out.commit().map_err(io_err)?;
        }
        let state = load_state(self.engine.as_ref()).map_err(io_err)?;
        {
            let mut current = self.shared.write();
            *current = state;
            self.shared.reset(current.applied);
        }
        let _choosing = self.choose();
        self.remove_snapshots_except(&name)
    }
}

/// The log id a snapshot ends at, as an index.
fn meta_index(meta: &SnapshotMetaOf<TypeConfig>) -> u64 {
    meta.last_log_id.as_ref().map_or(0, |l| l.index())
}

/// Where a state is: its applied log id and membership (a snapshot's
/// metadata, when the state is a snapshot's).
fn snapshot_meta(engine: &dyn Engine) -> io::Result<SnapshotMetaOf<TypeConfig>> {
    fn read<T: serde::de::DeserializeOwned>(
        engine: &dyn Engine,
        key: &[u8],
    ) -> io::Result<Option<T>> {
        match engine.get(Cf::Meta, key).map_err(io_err)? {
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(io_err),
            None => Ok(None),
        }
    }
    Ok(SnapshotMetaOf::<TypeConfig> {
        last_log_id: read(engine, keys::META_APPLIED)?.flatten(),
        last_membership: read(engine, keys::META_MEMBERSHIP)?.unwrap_or_default(),
    })
}

/// Writes every state-machine pair of `engine` to the new blob `staging`,
/// with the metadata they hold, and returns that metadata.
fn export_snapshot(
    engine: &dyn Engine,
    blobs: &dyn BlobStore,
    staging: &str,
) -> io::Result<SnapshotMetaOf<TypeConfig>> {
    let mut writer = SnapshotWriter::new(blobs.create(staging).map_err(io_err)?).map_err(io_err)?;
    let mut applied: Option<LogIdOf<TypeConfig>> = None;
    let mut membership = StoredMembershipOf::<TypeConfig>::default();
    engine
        .export(&Cf::STATE_MACHINE, &mut |cf, k, v| {
            if cf == Cf::Meta && k == keys::META_APPLIED {
                applied =
                    serde_json::from_slice(v).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            }
            if cf == Cf::Meta && k == keys::META_MEMBERSHIP {
                membership =
                    serde_json::from_slice(v).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            }
            writer.record(cf, k, v)?;
            Ok(true)
        })
        .map_err(io_err)?;
    let meta = SnapshotMetaOf::<TypeConfig> {
        last_log_id: applied,
        last_membership: membership,
    };
    writer.finish(&json(&meta)?).map_err(io_err)?;
    Ok(meta)
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotBlob;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, SnapshotBlob>, io::Error> {
        let (meta, name) = if self.engine.needs_sync() {
            self.in_background(|sm| sm.build_sync()).await?
        } else {
            self.build_sync()?
        };
        RaftCounters::bump(&self.shared.counters.snapshots_built);
        let snapshot = if self.checkpoints.is_some() {
            SnapshotBlob {
                name: name.clone(),
                source: Source::Checkpoint(self.clone()),
            }
        } else {
            self.open_blob(&name)?
        };
        tracing::info!(snapshot = %name, "built snapshot");
        Ok(SnapshotOf::<TypeConfig, SnapshotBlob> { meta, snapshot })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotBlob;
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
        let state = snapshot_meta(self.engine.as_ref())?;
        Ok((state.last_log_id, state.last_membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let started = std::time::Instant::now();
            let log_id = entry.log_id();
            let index = log_id.index();
            let mut batch = WriteBatch::new();
            let mut meta = {
                let state = self.shared.read();
                AppliedMeta {
                    index,
                    last_at_ms: state.last_at_ms,
                    last_change: state.last_change,
                }
            };
            let mut outcome = None;
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Membership(m) => {
                    // The cluster's id: derived from its first membership's
                    // member ids and peer addresses, which every member of a
                    // new cluster is given alike (not the log id, which names
                    // the node that wrote the entry, nor client addresses,
                    // which each knows only of itself), so all compute the
                    // same one.
                    let members_json = json(
                        &m.nodes()
                            .map(|(id, member)| (*id, member.peer_addr.as_str()))
                            .collect::<Vec<_>>(),
                    )?;
                    let stored = StoredMembershipOf::<TypeConfig>::new(Some(log_id), m);
                    let stored_json = json(&stored)?;
                    if self
                        .engine
                        .get(Cf::Meta, keys::META_CLUSTER_ID)
                        .map_err(io_err)?
                        .is_none()
                    {
                        let id = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&members_json));
                        batch.put(Cf::Meta, keys::META_CLUSTER_ID.to_vec(), json(&id)?);
                    }
                    batch.put(Cf::Meta, keys::META_MEMBERSHIP.to_vec(), stored_json);
                }
                EntryPayload::Normal(cmd) => {
                    let applied = {
                        let state = self.shared.read();
                        apply_command(self.engine.as_ref(), &state, index, &cmd).map_err(io_err)?
                    };
                    // The persisted last change is the unscoped feed's
                    // (`default`/`production`): other environments' feeds
                    // start from a snapshot after a restart.
                    let changes_feed = applied.effects.iter().any(Effect::changes_legacy_feed);
                    if changes_feed {
                        meta.last_change = index;
                    }
                    for effect in &applied.effects {
                        if let Effect::LastAt(ms) = effect {
                            meta.last_at_ms = meta.last_at_ms.max(*ms);
                        }
                    }
                    batch.extend(applied.batch);
                    outcome = Some((applied.response, applied.effects));
                }
            }
            batch.put(
                Cf::Meta,
                keys::META_APPLIED.to_vec(),
                applied_record(&log_id, meta).map_err(io_err)?,
            );
            // Unlogged: the log this entry came from is the durable copy, and
            // a crash re-applies from the last flush (`Durability::Unlogged`;
            // the snapshot builder persists the state before openraft may
            // purge the entries that rebuild it).
            self.engine
                .write(batch, Durability::Unlogged)
                .map_err(io::Error::from)?;
            let (response, effects) =
                outcome.unwrap_or_else(|| (Response::internal(index), Vec::new()));
            commit_effects(&self.shared, index, effects);
            self.shared.counters.apply.observe(started.elapsed());
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: SnapshotBlob,
    ) -> Result<(), io::Error> {
        let meta = meta.clone();
        tracing::info!(snapshot = %snapshot.name, "installing snapshot");
        self.blocking(move |sm| sm.install_sync(meta, snapshot))
            .await?;
        RaftCounters::bump(&self.shared.counters.snapshots_installed);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, SnapshotBlob>>, io::Error> {
        self.blocking(|sm| {
            let _choosing = sm.choose();
            let Some((name, kind)) = sm.newest_snapshot()? else {
                return Ok(None);
            };
            let (meta, snapshot) = match kind {
                Kind::File => {
                    let mut reader = sm.open_blob(&name)?.into_reader()?;
                    let raw = snapfile::read_meta(reader.as_mut()).map_err(io_err)?;
                    let meta = serde_json::from_slice(&raw).map_err(io_err)?;
                    (meta, SnapshotBlob::file(name, reader))
                }
                Kind::Checkpoint => {
                    let meta = snapshot_meta(sm.open_checkpoint(&name)?.as_ref())?;
                    let snapshot = SnapshotBlob {
                        name,
                        source: Source::Checkpoint(sm.clone()),
                    };
                    (meta, snapshot)
                }
            };
            Ok(Some(SnapshotOf::<TypeConfig, SnapshotBlob> {
                meta,
                snapshot,
            }))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use openraft::LogId;
    use vexil_storage::{Cf, Durability, Engine, MemEngine, WriteBatch};

    use super::{TypeConfig, applied_record};
    use crate::keys;
    use crate::loader::{AppliedMeta, read_applied};

    fn put(engine: &MemEngine, pairs: &[(&[u8], &str)]) {
        let mut b = WriteBatch::new();
        for (k, v) in pairs {
            b.put(Cf::Meta, k.to_vec(), v.as_bytes().to_vec());
        }
        engine.write(b, Durability::Sync).expect("write");
    }

    #[test]
    fn the_applied_record_holds_the_mirror_values_and_still_reads_as_a_log_id() {
        let engine = MemEngine::new();
        assert_eq!(read_applied(&engine).expect("read"), AppliedMeta::default());

        let log_id: openraft::alias::LogIdOf<TypeConfig> = LogId::new_term_index(3, 42);
        let meta = AppliedMeta {
            index: 42,
            last_at_ms: 1_700_000_000_123,
            last_change: 40,
        };
        let record = applied_record(&log_id, meta).expect("encode");
        let as_log_id: Option<openraft::alias::LogIdOf<TypeConfig>> =
            serde_json::from_slice(&record).expect("decodes as Option<LogId>");
        assert_eq!(as_log_id, Some(log_id));

        // Stale keys from before the move are ignored once the record has
        // the values.
        let record = String::from_utf8(record).expect("utf-8");
        put(
            &engine,
            &[
                (keys::META_APPLIED, &record),
                (keys::META_LAST_AT, "5"),
                (keys::META_LAST_CHANGE, "6"),
            ],
        );
        assert_eq!(read_applied(&engine).expect("read"), meta);
    }

    #[test]
    fn a_store_from_before_the_move_reads_its_own_keys() {
        let engine = MemEngine::new();
        let old = serde_json::to_string(&Some(LogId::<
            openraft::alias::CommittedLeaderIdOf<TypeConfig>,
        >::new_term_index(2, 9)))
        .expect("encode");
        put(
            &engine,
            &[
                (keys::META_APPLIED, &old),
                (keys::META_LAST_AT, "1700000000999"),
                (keys::META_LAST_CHANGE, "7"),
            ],
        );
        assert_eq!(
            read_applied(&engine).expect("read"),
            AppliedMeta {
                index: 9,
                last_at_ms: 1_700_000_000_999,
                last_change: 7,
            }
        );
    }

    #[test]
    fn lower_priority_lowers_only_the_calling_thread() {
        let before = rustix::process::getpriority_process(None).expect("getpriority");
        let inside = std::thread::spawn(|| {
            super::lower_priority();
            rustix::process::getpriority_process(None).expect("getpriority")
        })
        .join()
        .expect("thread");
        assert_eq!(
            inside,
            before.max(10),
            "the snapshot thread runs at nice 10"
        );
        assert_eq!(
            rustix::process::getpriority_process(None).expect("getpriority"),
            before,
            "other threads keep their priority"
        );
    }

    /// A RocksDB store with checkpoints holding `n` pairs in the flags
    /// family, applied to `index`.
    fn rocks_with_flags(
        dir: &std::path::Path,
        n: u32,
        index: u64,
    ) -> std::sync::Arc<dyn vexil_storage::Engine> {
        let engine = vexil_storage::RocksEngine::open(&dir.join("db"))
            .and_then(|e| e.with_checkpoints(&dir.join("checkpoints")))
            .expect("open");
        let mut b = WriteBatch::new();
        for i in 0..n {
            b.put(Cf::Flags, format!("flag-{i}"), format!("{{\"i\":{i}}}"));
        }
        let log_id: openraft::alias::LogIdOf<TypeConfig> = LogId::new_term_index(1, index);
        let applied = applied_record(&log_id, AppliedMeta::default()).expect("encode");
        b.put(Cf::Meta, keys::META_APPLIED.to_vec(), applied);
        engine.write(b, Durability::Unlogged).expect("write");
        std::sync::Arc::new(engine)
    }

    fn machine(
        engine: std::sync::Arc<dyn vexil_storage::Engine>,
        dir: &std::path::Path,
    ) -> super::StateMachine {
        let blobs = vexil_storage::FsBlobStore::open(&dir.join("snapshots")).expect("blobs");
        // Snapshots do not read the mirror: an empty one will do (the
        // pairs below are not real flags).
        let shared = std::sync::Arc::new(crate::state::Shared::new(
            crate::state::State::default(),
            Default::default(),
        ));
        super::StateMachine::new(engine, std::sync::Arc::new(blobs), shared)
    }

    fn snapshot_files(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("snapshots"))
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_checkpoint_snapshot_is_written_out_once_when_read_and_survives_a_restart() {
        use openraft::storage::RaftStateMachine;

        let dir = tempfile::tempdir().expect("tempdir");
        let engine = rocks_with_flags(dir.path(), 300, 42);
        let mut sm = machine(engine.clone(), dir.path());
        let (meta, name) = sm.build_sync().expect("build");
        assert_eq!(meta.last_log_id.map(|l| l.index), Some(42));
        // Built as a checkpoint: no snapshot file yet.
        assert!(snapshot_files(dir.path()).is_empty());
        let checkpoints = engine.checkpoints().expect("checkpoints");
        assert_eq!(checkpoints.list().expect("list"), vec![name.clone()]);

        // Later writes are not in it.
        let mut b = WriteBatch::new();
        b.put(Cf::Flags, "later", "{}");
        engine.write(b, Durability::Unlogged).expect("write");

        let current = sm.get_current_snapshot().await.expect("get").expect("some");
        assert_eq!(current.meta, meta);
        let mut reader = current.snapshot.into_reader().expect("write out");
        assert_eq!(snapshot_files(dir.path()), vec![name.clone()]);
        let (file_meta, records) =
            vexil_storage::snapfile::verify(reader.as_mut()).expect("a valid snapshot file");
        let file_meta: openraft::alias::SnapshotMetaOf<TypeConfig> =
            serde_json::from_slice(&file_meta).expect("meta");
        assert_eq!(file_meta, meta);
        let mut flags = 0;
        engine
            .checkpoints()
            .and_then(|c| c.open(&name).ok().flatten())
            .expect("copy")
            .export(&[Cf::Flags], &mut |_, k, _| {
                assert_ne!(k, b"later");
                flags += 1;
                Ok(true)
            })
            .expect("export");
        assert_eq!(flags, 300);
        assert!(records > 300, "every state-machine pair: {records}");

        // The next reader gets the file, and so does a restarted node.
        let again = sm.get_current_snapshot().await.expect("get").expect("some");
        assert_eq!(again.snapshot.name, name);
        assert!(matches!(again.snapshot.source, super::Source::File(_)));
        drop(sm);
        let mut sm = machine(engine.clone(), dir.path());
        let after = sm.get_current_snapshot().await.expect("get").expect("some");
        assert_eq!(after.meta, meta);
        assert!(matches!(after.snapshot.source, super::Source::File(_)));

        // A restarted node numbers its snapshots from 0 again: one at the
        // same index takes the same name, and replaces the old one.
        let mut b = WriteBatch::new();
        b.delete(Cf::Flags, "later");
        engine.write(b, Durability::Unlogged).expect("write");
        let (_, same) = sm.build_sync().expect("build at the same index");
        assert_eq!(same, name);
        let rebuilt = sm.get_current_snapshot().await.expect("get").expect("some");
        assert_eq!(rebuilt.meta, meta);

        // A newer snapshot replaces both the checkpoint and its file.
        let mut b = WriteBatch::new();
        let log_id: openraft::alias::LogIdOf<TypeConfig> = LogId::new_term_index(1, 50);
        b.put(
            Cf::Meta,
            keys::META_APPLIED.to_vec(),
            applied_record(&log_id, AppliedMeta::default()).expect("encode"),
        );
        engine.write(b, Durability::Unlogged).expect("write");
        let (newer, newer_name) = sm.build_sync().expect("build");
        assert_eq!(newer.last_log_id.map(|l| l.index), Some(50));
        assert_eq!(checkpoints.list().expect("list"), vec![newer_name]);
        assert!(snapshot_files(dir.path()).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_current_snapshot_can_be_read_while_newer_ones_replace_it() {
        use openraft::storage::RaftStateMachine;

        let dir = tempfile::tempdir().expect("tempdir");
        let engine = rocks_with_flags(dir.path(), 50, 1);
        let mut sm = machine(engine.clone(), dir.path());
        sm.build_sync().expect("first build");
        let builder = {
            let sm = sm.clone();
            std::thread::spawn(move || {
                for index in 2..40u64 {
                    let mut b = WriteBatch::new();
                    let log_id: openraft::alias::LogIdOf<TypeConfig> =
                        LogId::new_term_index(1, index);
                    b.put(
                        Cf::Meta,
                        keys::META_APPLIED.to_vec(),
                        applied_record(&log_id, AppliedMeta::default()).expect("encode"),
                    );
                    engine.write(b, Durability::Unlogged).expect("write");
                    sm.build_sync().expect("build");
                }
            })
        };
        // openraft reads the current snapshot while the builder replaces it
        // (and deletes the one before): every read must succeed.
        let mut reads = 0;
        let mut last = 0;
        while !builder.is_finished() {
            let current = sm
                .get_current_snapshot()
                .await
                .expect("the current snapshot reads")
                .expect("some");
            let index = current.meta.last_log_id.map_or(0, |l| l.index);
            assert!(index >= last, "went back from {last} to {index}");
            last = index;
            reads += 1;
        }
        builder.join().expect("builder");
        assert!(reads > 0);
        let current = sm
            .get_current_snapshot()
            .await
            .expect("read")
            .expect("some");
        assert_eq!(current.meta.last_log_id.map(|l| l.index), Some(39));
    }
}
