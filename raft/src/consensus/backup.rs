//! Backups and disaster recovery.
//!
//! A backup is a snapshot file (`storage::snapfile`: checksummed records)
//! of the state-machine families — flags, segments, versions, audit, token
//! hashes, idempotency records — with a [`BackupInfo`] as its metadata.
//!
//! Restoring seeds a fresh data directory so that it looks like a member of
//! a *new* cluster that has already applied the backup's log index: the log
//! is empty and purged up to that index, the membership is the new one, and
//! the cluster id is new. Every member of the new cluster restores the same
//! file with the same member list, so all start identical; log indexes,
//! versions and audit ids continue from the backup and never go backwards.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use openraft::alias::{LogIdOf, StoredMembershipOf};
use openraft::{LogId, Membership};
use serde::{Deserialize, Serialize};
use vexil_storage::blob::{BlobReader, BlobWriter};
use vexil_storage::snapfile::{self, SnapshotWriter};
use vexil_storage::{BlobStore, Cf, Durability, Engine, StorageError, WriteBatch};
use xxhash_rust::xxh3::Xxh3;

use super::{RaftNode, TypeConfig};
use crate::keys;
use crate::member::Member;

/// The format tag of backup files.
pub const FORMAT: &str = "vexil-backup/1";

/// What a backup holds; stored as the file's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackupInfo {
    pub format: String,
    pub created_at: DateTime<Utc>,
    /// The node that wrote it.
    pub node: u64,
    pub cluster_id: String,
    /// The log index (and term) the state is at.
    pub applied_index: u64,
    pub applied_term: u64,
    /// Flags: one per key in a project, however many environments
    /// configure it (`default`'s are counted by their `production` record,
    /// which every one of them has; other projects' by their definition).
    pub flags: u64,
    /// Segment records: one per key and environment.
    pub segments: u64,
    /// Stored versions (a derived record's version 1 is not stored until
    /// it changes, `crate::derived`).
    pub versions: u64,
    pub audit_entries: u64,
    pub tokens: u64,
    /// Records in the file.
    pub records: u64,
    /// Hex xxh3 of every flag, segment, version, audit and token record:
    /// equal hashes mean equal state.
    pub state_hash: String,
}

/// Why a restore was refused.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("the backup file is unusable: {0}")]
    BadFile(String),
    #[error("the data directory already holds data; restore needs an empty one")]
    NotEmpty,
    #[error("the member list is invalid: {0}")]
    Members(String),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// The records that make up the "state" of a backup's hash: flags,
/// segments, their histories, the audit log, tokens, and the projects,
/// environments, flag definitions and promotions kept in `meta`. The first release had
/// no `meta` records of these kinds, so its backups hash as they did.
fn hashed(cf: Cf, key: &[u8]) -> bool {
    match cf {
        Cf::Flags | Cf::Segments | Cf::History | Cf::Audit => true,
        Cf::Tokens => key.first() == Some(&keys::TOKEN_BY_NAME),
        Cf::Meta => matches!(
            key.first(),
            Some(
                &keys::META_PROJECT
                    | &keys::META_ENVIRONMENT
                    | &keys::META_DEFINITION
                    | &keys::META_PROMOTION
            )
        ),
        _ => false,
    }
}

/// Whether a record counts as one flag in [`BackupInfo::flags`].
fn is_flag(cf: Cf, key: &[u8]) -> bool {
    match cf {
        Cf::Flags => !key.contains(&b'/'),
        Cf::Meta => {
            key.first() == Some(&keys::META_DEFINITION) && !key[1..].starts_with(b"default/")
        }
        _ => false,
    }
}

/// Counts and hashes records as they stream past.
#[derive(Default)]
struct Tally {
    hash: Option<Xxh3>,
    flags: u64,
    segments: u64,
    versions: u64,
    audit: u64,
    tokens: u64,
}

impl Tally {
    fn add(&mut self, cf: Cf, k: &[u8], v: &[u8]) {
        if !hashed(cf, k) {
            return;
        }
        let h = self.hash.get_or_insert_with(Xxh3::new);
        h.update(&[cf.tag()]);
        h.update(&(k.len() as u64).to_le_bytes());
        h.update(k);
        h.update(&(v.len() as u64).to_le_bytes());
        h.update(v);
        if is_flag(cf, k) {
            self.flags += 1;
        }
        match cf {
            Cf::Segments => self.segments += 1,
            Cf::History => self.versions += 1,
            Cf::Audit if k.first() == Some(&keys::AUDIT_ENTRY) => self.audit += 1,
            Cf::Tokens => self.tokens += 1,
            _ => {}
        }
    }

    fn digest(&self) -> String {
        format!("{:016x}", self.hash.as_ref().map_or(0, |h| h.digest()))
    }
}

fn corrupt(e: impl ToString) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

/// The state hash of an engine's state machine (compare two stores).
pub fn state_hash(engine: &dyn Engine) -> Result<String, StorageError> {
    let mut t = Tally::default();
    engine.export(&Cf::STATE_MACHINE, &mut |cf, k, v| {
        t.add(cf, k, v);
        Ok(true)
    })?;
    Ok(t.digest())
}

impl RaftNode {
    /// Writes a consistent backup of this node's state to `out` (blocking).
    pub fn write_backup(
        &self,
        out: Box<dyn BlobWriter>,
        created_at: DateTime<Utc>,
    ) -> Result<BackupInfo, StorageError> {
        let engine = self.engine();
        let mut writer = SnapshotWriter::new(out)?;
        let mut tally = Tally::default();
        let mut applied: Option<LogIdOf<TypeConfig>> = None;
        let mut cluster_id = String::new();
        engine.export(&Cf::STATE_MACHINE, &mut |cf, k, v| {
            if cf == Cf::Meta && k == keys::META_APPLIED {
                applied = serde_json::from_slice(v).map_err(corrupt)?;
            }
            if cf == Cf::Meta && k == keys::META_CLUSTER_ID {
                cluster_id = serde_json::from_slice(v).map_err(corrupt)?;
            }
            tally.add(cf, k, v);
            writer.record(cf, k, v)?;
            Ok(true)
        })?;
        let mut info = BackupInfo {
            format: FORMAT.into(),
            created_at,
            node: self.id(),
            cluster_id,
            applied_index: applied.map_or(0, |l| l.index),
            applied_term: applied.map_or(0, |l| l.leader_id.term),
            flags: tally.flags,
            segments: tally.segments,
            versions: tally.versions,
            audit_entries: tally.audit,
            tokens: tally.tokens,
            records: 0,
            state_hash: tally.digest(),
        };
        let meta = serde_json::to_vec(&info).map_err(corrupt)?;
        info.records = writer.finish(&meta)?;
        Ok(info)
    }
}

/// Checks a backup file's checksum and returns what it holds.
pub fn verify_backup(reader: &mut dyn BlobReader) -> Result<BackupInfo, StorageError> {
    let (meta, records) = snapfile::verify(reader)?;
    let mut info: BackupInfo =
        serde_json::from_slice(&meta).map_err(|e| corrupt(format!("not a Vexil backup: {e}")))?;
    if info.format != FORMAT {
        return Err(corrupt(format!("unknown backup format {:?}", info.format)));
    }
    info.records = records;
    Ok(info)
}

/// The id of the cluster a restore creates: the same on every member that
/// restores the same file with the same members, new relative to the source.
fn new_cluster_id(info: &BackupInfo, members: &BTreeMap<u64, Member>) -> String {
    let mut h = Xxh3::new();
    h.update(info.cluster_id.as_bytes());
    h.update(info.state_hash.as_bytes());
    h.update(&info.applied_index.to_le_bytes());
    for (id, m) in members {
        h.update(&id.to_le_bytes());
        h.update(m.peer_addr.as_bytes());
    }
    format!("{:016x}", h.digest())
}

fn to_json<T: Serialize>(t: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(t).map_err(corrupt)
}

/// Seeds an empty store from a backup, as a member of a new cluster of
/// `members` (see the module docs).
pub fn restore_backup(
    engine: Arc<dyn Engine>,
    blobs: Arc<dyn BlobStore>,
    reader: &mut dyn BlobReader,
    members: BTreeMap<u64, Member>,
) -> Result<BackupInfo, RestoreError> {
    let info = verify_backup(reader).map_err(|e| RestoreError::BadFile(e.to_string()))?;
    for cf in Cf::ALL {
        if engine.last(cf)?.is_some() {
            return Err(RestoreError::NotEmpty);
        }
    }
    let voters: BTreeSet<u64> = members.keys().copied().collect();
    let membership = Membership::<u64, Member>::new(vec![voters], members.clone())
        .map_err(|e| RestoreError::Members(e.to_string()))?;
    {
        let mut records = snapfile::Records::new(reader)?;
        engine.replace(&Cf::STATE_MACHINE, &mut records)?;
    }
    // What was written is what the backup holds: the hash it reports is
    // then the restored store's, not only the file's.
    let restored = state_hash(engine.as_ref())?;
    if restored != info.state_hash {
        return Err(RestoreError::BadFile(format!(
            "the restored state hashes to {restored}, the backup says {}",
            info.state_hash
        )));
    }
    // Term 0: the new cluster's first leader (term >= 1) appends after it.
    let applied: LogIdOf<TypeConfig> = LogId::new_term_index(0, info.applied_index);
    let stored = StoredMembershipOf::<TypeConfig>::new(Some(applied), membership);
    // The backup's `last_at` and `last_change` carry over to the new cluster.
    let kept = crate::loader::read_applied(engine.as_ref())?;
    let mut b = WriteBatch::new();
    b.put(
        Cf::Meta,
        keys::META_APPLIED.to_vec(),
        super::state_machine::applied_record(&applied, kept)?,
    );
    b.put(Cf::Meta, keys::META_MEMBERSHIP.to_vec(), to_json(&stored)?);
    b.put(
        Cf::Meta,
        keys::META_CLUSTER_ID.to_vec(),
        to_json(&new_cluster_id(&info, &members))?,
    );
    b.put(
        Cf::RaftMeta,
        super::log_store::LAST_PURGED.to_vec(),
        to_json(&applied)?,
    );
    engine.write(b, Durability::Sync)?;
    // A snapshot at that index, so the new cluster can catch a member up.
    let state = crate::loader::load_state(engine.as_ref())?;
    let shared = Arc::new(crate::state::Shared::new(state, Default::default()));
    let sm = super::state_machine::StateMachine::new(engine, blobs, shared);
    sm.build_sync()
        .map_err(|e| RestoreError::Storage(StorageError::Io(e.to_string())))?;
    Ok(info)
}
