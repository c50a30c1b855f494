//! Scheduled local backups (`serve --backup-dir DIR --backup-every 1h
//! --backup-keep 24`): every interval the node writes a consistent backup of
//! its own state to `DIR/vexil-<node>-<UTC time>.backup` (written to a temp
//! name, fsynced and renamed, so a file with that name is complete), then
//! deletes the oldest of its backups beyond the newest `keep`.
//!
//! Each node backs up its own replica: no leader is needed, so backups go on
//! during an outage. A follower's backup is as of its applied index.

use std::path::PathBuf;
use std::time::Duration;

use vexil_raft::{BackupInfo, RaftNode};
use vexil_storage::{BlobStore, FsBlobStore, StorageError};

/// Where, how often and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSchedule {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: usize,
}

/// This node's backup files start with this.
fn prefix(node: u64) -> String {
    format!("vexil-{node}-")
}

/// Writes one backup now and prunes old ones (blocking).
pub fn backup_once(
    raft: &RaftNode,
    schedule: &BackupSchedule,
) -> Result<(String, BackupInfo), StorageError> {
    let store = FsBlobStore::open(&schedule.dir)?;
    let at = (raft.config().clock)();
    let name = format!(
        "{}{}.backup",
        prefix(raft.id()),
        at.format("%Y%m%dT%H%M%S%.3fZ")
    );
    let info = raft.write_backup(store.create(&name)?, at)?;
    let mine: Vec<String> = store
        .list()?
        .into_iter()
        .filter(|n| n.starts_with(&prefix(raft.id())) && n.ends_with(".backup"))
        .collect();
    // Names sort by time.
    let excess = mine.len().saturating_sub(schedule.keep);
    for old in &mine[..excess] {
        store.remove(old)?;
    }
    Ok((name, info))
}

/// Backs up every `schedule.every` until the runtime stops.
pub fn spawn(raft: RaftNode, schedule: BackupSchedule) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(schedule.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate: skip it
        loop {
            tick.tick().await;
            let (r, s) = (raft.clone(), schedule.clone());
            match tokio::task::spawn_blocking(move || backup_once(&r, &s)).await {
                Ok(Ok((name, info))) => tracing::info!(
                    file = %name,
                    applied_index = info.applied_index,
                    flags = info.flags,
                    "scheduled backup written"
                ),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, dir = %schedule.dir.display(), "scheduled backup failed")
                }
                Err(e) => tracing::error!(error = %e, "scheduled backup task failed"),
            }
        }
    })
}
