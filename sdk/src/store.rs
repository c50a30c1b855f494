//! The local copy of every flag and segment, and the rules for changing it.
//!
//! State carries the Raft log index it is at (`id`). A change event applies
//! only if its `prev_id` is at or below our `id`: then no change between
//! the two exists that we have not seen. Otherwise there is a gap and the
//! stream is restarted from our `id`. Events at or below `id` are
//! duplicates and are skipped; snapshots older than our state are ignored.

use std::collections::BTreeMap;
use std::sync::{RwLock, RwLockReadGuard};

use tokio::sync::broadcast;
use vexil_flags::FlagSet;
use vexil_flags::wire::{Change, ChangeEvent, StateSnapshot};

use crate::client::FlagChange;

/// The state evaluation reads.
#[derive(Debug, Default)]
pub(crate) struct Local {
    pub flags: FlagSet,
    /// The log index this state is at.
    pub id: u64,
    /// False until a snapshot (from a node or the cache) arrived.
    pub loaded: bool,
    /// The cluster the state came from (empty if the node did not say).
    pub cluster_id: String,
}

/// What applying a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// A new change, now part of our state.
    New,
    /// Already included in our state.
    Duplicate,
    /// An earlier change is missing: resynchronise.
    Gap,
}

#[derive(Debug)]
pub(crate) struct Store {
    local: RwLock<Local>,
    changes: broadcast::Sender<FlagChange>,
}

fn versions(set: &FlagSet) -> BTreeMap<String, u64> {
    set.flags()
        .map(|f| (f.key().to_owned(), f.flag().version))
        .collect()
}

impl Store {
    pub(crate) fn new() -> Store {
        Store {
            local: RwLock::new(Local::default()),
            changes: broadcast::channel(1024).0,
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Local> {
        self.local.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<FlagChange> {
        self.changes.subscribe()
    }

    pub(crate) fn id(&self) -> Option<u64> {
        let l = self.read();
        l.loaded.then_some(l.id)
    }

    /// The cluster our state came from, if known.
    pub(crate) fn cluster_id(&self) -> Option<String> {
        let l = self.read();
        (l.loaded && !l.cluster_id.is_empty()).then(|| l.cluster_id.clone())
    }

    /// Replaces the whole state, unless ours is newer and from the same
    /// cluster. Returns whether it did. A snapshot from another cluster (a
    /// restore from backup, whose indexes may repeat ours) always wins.
    pub(crate) fn replace(&self, snap: StateSnapshot) -> bool {
        let stale = |local: &Local| {
            let other_cluster = !snap.cluster_id.is_empty()
                && !local.cluster_id.is_empty()
                && snap.cluster_id != local.cluster_id;
            local.loaded && snap.id < local.id && !other_cluster
        };
        if stale(&self.read()) {
            return false;
        }
        // Compile outside the lock (10k flags take milliseconds), so
        // evaluations go on against the old state meanwhile; the flags are
        // shared with the snapshot, not copied.
        let mut flags = FlagSet::new();
        for f in &snap.flags {
            flags.upsert_flag(f.clone());
        }
        for s in &snap.segments {
            flags.upsert_segment(s.clone());
        }
        let after = versions(&flags);
        let mut local = self.local.write().unwrap_or_else(|p| p.into_inner());
        if stale(&local) {
            return false;
        }
        let cluster_id = if snap.cluster_id.is_empty() {
            std::mem::take(&mut local.cluster_id)
        } else {
            snap.cluster_id.clone()
        };
        let before = versions(&local.flags);
        *local = Local {
            flags,
            id: snap.id,
            loaded: true,
            cluster_id,
        };
        drop(local);
        for (key, v) in &after {
            if before.get(key) != Some(v) {
                let _ = self.changes.send(FlagChange {
                    key: key.clone(),
                    version: Some(*v),
                    id: snap.id,
                });
            }
        }
        for key in before.keys().filter(|k| !after.contains_key(*k)) {
            let _ = self.changes.send(FlagChange {
                key: key.clone(),
                version: None,
                id: snap.id,
            });
        }
        true
    }

    /// Applies one change event (see the module docs).
    pub(crate) fn apply(&self, ev: &ChangeEvent) -> Applied {
        let mut local = self.local.write().unwrap_or_else(|p| p.into_inner());
        if !local.loaded {
            return Applied::Gap;
        }
        if ev.id <= local.id {
            return Applied::Duplicate;
        }
        if ev.prev_id > local.id {
            return Applied::Gap;
        }
        let notice = match &ev.change {
            Change::FlagUpsert { flag } => {
                local.flags.upsert_flag(flag.clone());
                Some(FlagChange {
                    key: flag.key.clone(),
                    version: Some(flag.version),
                    id: ev.id,
                })
            }
            Change::FlagDelete { key } => {
                local.flags.remove_flag(key);
                Some(FlagChange {
                    key: key.clone(),
                    version: None,
                    id: ev.id,
                })
            }
            // A segment change can change any flag's result; it is not a
            // flag change of its own.
            Change::SegmentUpsert { segment } => {
                local.flags.upsert_segment(segment.clone());
                None
            }
            Change::SegmentDelete { key } => {
                local.flags.remove_segment(key);
                None
            }
        };
        local.id = ev.id;
        drop(local);
        if let Some(n) = notice {
            let _ = self.changes.send(n);
        }
        Applied::New
    }

    /// The whole state, for the cache file.
    pub(crate) fn snapshot(&self) -> Option<StateSnapshot> {
        let local = self.read();
        if !local.loaded {
            return None;
        }
        let mut flags: Vec<_> = local.flags.flags().map(|f| f.flag().clone()).collect();
        flags.sort_by(|a, b| a.key.cmp(&b.key));
        let mut segments: Vec<_> = local
            .flags
            .segments()
            .map(|s| s.segment().clone())
            .collect();
        segments.sort_by(|a, b| a.key.cmp(&b.key));
        Some(StateSnapshot {
            id: local.id,
            flags,
            segments,
            cluster_id: local.cluster_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use vexil_flags::Flag;

    fn flag(key: &str, version: u64) -> Arc<Flag> {
        let mut f: Flag = serde_json::from_value(serde_json::json!({
            "key": key, "kind": "boolean", "variations": [{"value": true}, {"value": false}],
            "off_variation": 1, "fallthrough": {"variation": 0}, "enabled": true
        }))
        .unwrap();
        f.version = version;
        Arc::new(f)
    }

    fn upsert(id: u64, prev_id: u64, key: &str, v: u64) -> ChangeEvent {
        ChangeEvent {
            id,
            prev_id,
            change: Change::FlagUpsert { flag: flag(key, v) },
        }
    }

    #[test]
    fn changes_apply_in_order_and_gaps_are_caught() {
        let store = Store::new();
        let mut rx = store.subscribe();
        assert_eq!(
            store.apply(&upsert(5, 0, "a", 1)),
            Applied::Gap,
            "nothing before a snapshot"
        );
        assert!(store.replace(StateSnapshot {
            id: 10,
            flags: vec![flag("a", 1)],
            segments: vec![],
            cluster_id: "c1".into(),
        }));
        assert_eq!(rx.try_recv().unwrap().key, "a");
        assert_eq!(store.apply(&upsert(9, 3, "a", 9)), Applied::Duplicate);
        assert_eq!(
            store.apply(&upsert(12, 8, "a", 2)),
            Applied::New,
            "prev 8 <= 10: nothing missed"
        );
        assert_eq!(
            store.apply(&upsert(15, 13, "a", 3)),
            Applied::Gap,
            "change 13 is missing"
        );
        assert_eq!(store.apply(&upsert(15, 12, "a", 3)), Applied::New);
        assert_eq!(store.id(), Some(15));
        assert_eq!(store.read().flags.get_flag("a").unwrap().flag().version, 3);
        assert!(
            !store.replace(StateSnapshot {
                id: 14,
                flags: vec![],
                segments: vec![],
                cluster_id: "c1".into(),
            }),
            "older snapshot ignored"
        );
        assert!(store.read().flags.get_flag("a").is_some());
        let del = ChangeEvent {
            id: 16,
            prev_id: 15,
            change: Change::FlagDelete { key: "a".into() },
        };
        assert_eq!(store.apply(&del), Applied::New);
        assert!(store.read().flags.get_flag("a").is_none());
        // A restored cluster (new id) may reuse our indexes with other
        // content: its snapshot replaces ours however old its index.
        assert!(store.replace(StateSnapshot {
            id: 11,
            flags: vec![flag("a", 7)],
            segments: vec![],
            cluster_id: "c2".into(),
        }));
        assert_eq!(store.id(), Some(11));
        assert_eq!(store.cluster_id().as_deref(), Some("c2"));
        assert_eq!(store.read().flags.get_flag("a").unwrap().flag().version, 7);
    }
}
