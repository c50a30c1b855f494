//! The in-memory mirror of the state machine and the change feed it drives.
//!
//! Every node keeps its flags and segments compiled in memory (for evaluation,
//! validation and the stream) and its tokens by hash (for authentication).
//! The applier updates the mirror under the write lock and publishes feed
//! events under that same lock, so a subscriber that takes a snapshot under
//! the read lock misses no change and sees none twice.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::broadcast;
use vexil_flags::wire::{Change, ChangeEvent, StateSnapshot};
use vexil_flags::{Flag, FlagSet, Segment};

use crate::records::TokenRecord;

/// The mirror: what every read on this node is served from.
#[derive(Debug, Default)]
pub struct State {
    /// Compiled flags and segments.
    pub flags: FlagSet,
    /// Tokens by name.
    pub tokens: BTreeMap<String, TokenRecord>,
    /// Token name by secret hash, for authentication.
    pub token_hashes: HashMap<String, String>,
    /// The last applied log index (0 before the first).
    pub applied: u64,
    /// The `at` of the last audited change, in ms: audit time never goes back.
    pub last_at_ms: i64,
    /// The log index of the last flag or segment change (the feed's last id).
    pub last_change: u64,
    /// Request-id generations below this one are deleted (0 when unknown,
    /// e.g. after a restart, which deletes them again, a no-op). Not
    /// persisted: lookups read only the current and the previous
    /// generation, so it never changes a result.
    pub requests_pruned_below: u64,
    /// The newest log index of a request id kept in the layout before
    /// generations (`None` once there are none): those are still read
    /// while inside the window, then deleted.
    pub legacy_requests_until: Option<u64>,
    /// The cluster's feature level (`crate::version`), 0 read as 1.
    pub cluster_level: u32,
    /// Projects by key.
    pub projects: BTreeMap<String, vexil_flags::Project>,
    /// Environments by `project/environment`, so one project's are
    /// adjacent.
    pub environments: BTreeMap<String, vexil_flags::Environment>,
    /// The compiled flags and segments of every environment but
    /// `default`'s `production` (which is [`State::flags`]), by
    /// `project/environment`.
    pub scoped: BTreeMap<String, FlagSet>,
    /// Flag definitions by `project/key`.
    pub definitions: BTreeMap<String, vexil_flags::FlagDefinition>,
}

impl State {
    /// Every flag and segment of `default`'s `production` (the routes
    /// without a project), sorted by key.
    pub fn snapshot(&self) -> StateSnapshot {
        self.snapshot_of(crate::keys::LEGACY_ENV)
    }

    /// Every flag and segment of environment `env`, sorted by key.
    pub fn snapshot_of(&self, env: &str) -> StateSnapshot {
        let Some(set) = self.set(env) else {
            return StateSnapshot {
                id: self.applied,
                flags: Vec::new(),
                segments: Vec::new(),
                cluster_id: String::new(),
            };
        };
        let mut flags: Vec<Arc<Flag>> = set.flags().map(|f| f.flag().clone()).collect();
        flags.sort_by(|a, b| a.key.cmp(&b.key));
        let mut segments: Vec<Arc<Segment>> = set.segments().map(|s| s.segment().clone()).collect();
        segments.sort_by(|a, b| a.key.cmp(&b.key));
        StateSnapshot {
            id: self.applied,
            flags,
            segments,
            cluster_id: String::new(),
        }
    }

    /// The flags and segments of environment `env` (`project/environment`),
    /// if it has any.
    pub fn set(&self, env: &str) -> Option<&FlagSet> {
        if env == crate::keys::LEGACY_ENV {
            Some(&self.flags)
        } else {
            self.scoped.get(env)
        }
    }

    /// The flags and segments of `env`, created empty on first use.
    pub(crate) fn set_mut(&mut self, env: &str) -> &mut FlagSet {
        if env == crate::keys::LEGACY_ENV {
            &mut self.flags
        } else {
            self.scoped.entry(env.to_owned()).or_default()
        }
    }

    /// The definitions of `project`'s flags, in key order.
    pub fn definitions_of(&self, project: &str) -> Vec<&vexil_flags::FlagDefinition> {
        let prefix = format!("{project}/");
        self.definitions
            .range(prefix.clone()..)
            .take_while(|(id, _)| id.starts_with(&prefix))
            .map(|(_, d)| d)
            .collect()
    }

    /// The token record whose secret hashes to `hash` (a record's `hash`,
    /// with or without [`crate::records::SCOPED_HASH_PREFIX`]).
    pub fn token_by_hash(&self, hash: &str) -> Option<&TokenRecord> {
        let digest = hash
            .strip_prefix(crate::records::SCOPED_HASH_PREFIX)
            .unwrap_or(hash);
        self.token_hashes
            .get(digest)
            .and_then(|n| self.tokens.get(n))
    }

    /// The cluster's feature level ([`crate::version`]).
    pub fn level(&self) -> u32 {
        self.cluster_level.max(crate::version::BASE)
    }

    /// The environments of `project`, in their display order (then key).
    pub fn environments_of(&self, project: &str) -> Vec<&vexil_flags::Environment> {
        let prefix = format!("{project}/");
        let mut envs: Vec<&vexil_flags::Environment> = self
            .environments
            .range(prefix.clone()..)
            .take_while(|(id, _)| id.starts_with(&prefix))
            .map(|(_, e)| e)
            .collect();
        envs.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.key.cmp(&b.key)));
        envs
    }

    /// Number of admin tokens (the last one cannot be revoked).
    /// Admin tokens that reach every project: the ones that can manage
    /// tokens, so the last of them cannot be revoked.
    pub fn admin_count(&self) -> usize {
        self.tokens
            .values()
            .filter(|t| t.role == crate::records::Role::Admin && t.scope.is_none())
            .count()
    }
}

/// What a feed subscriber receives.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    Change(Arc<ChangeEvent>),
    /// The whole state was replaced (a snapshot was installed): send a fresh
    /// snapshot.
    Reset,
}

/// How a subscription starts.
#[derive(Debug)]
pub enum Start {
    /// Send this snapshot first.
    Snapshot(StateSnapshot),
    /// The client's `Last-Event-ID` is covered: send these events first.
    Resume(Vec<Arc<ChangeEvent>>),
}

/// A live subscription: first `start`, then whatever `rx` yields. When `rx`
/// reports `Lagged`, the subscriber fell behind its buffer and must be dropped.
#[derive(Debug)]
pub struct Subscription {
    pub start: Start,
    pub rx: broadcast::Receiver<FeedEvent>,
}

/// Sizes of the feed's buffers.
#[derive(Debug, Clone, Copy)]
pub struct FeedConfig {
    /// Recent changes kept for `Last-Event-ID` resume.
    pub ring: usize,
    /// Events a subscriber may fall behind before it is dropped.
    pub per_subscriber: usize,
    /// How often an idle stream gets a keep-alive comment.
    pub keep_alive: std::time::Duration,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            ring: 4096,
            per_subscriber: 1024,
            keep_alive: std::time::Duration::from_secs(15),
        }
    }
}

/// The mirror plus the feed, shared by the applier and every reader.
#[derive(Debug)]
pub struct Shared {
    state: RwLock<State>,
    /// Recent change events, oldest first; guarded by `state`'s lock order
    /// (always taken after it).
    ring: std::sync::Mutex<VecDeque<Arc<ChangeEvent>>>,
    tx: broadcast::Sender<FeedEvent>,
    /// The feeds of every other environment, by `project/environment`.
    scoped: std::sync::Mutex<HashMap<String, ScopedFeed>>,
    config: FeedConfig,
    /// Snapshot counts and apply latency, read by the node's `/metrics`.
    pub counters: crate::counters::RaftCounters,
}

impl Shared {
    pub fn new(state: State, config: FeedConfig) -> Self {
        warn_over_budget(&state.flags);
        let (tx, _) = broadcast::channel(config.per_subscriber.max(1));
        Shared {
            state: RwLock::new(state),
            ring: std::sync::Mutex::new(VecDeque::with_capacity(config.ring)),
            tx,
            scoped: Default::default(),
            config,
            counters: Default::default(),
        }
    }

    /// Read access to the mirror. Hold it briefly: the applier waits for it,
    /// and so, once the applier waits, does every other reader
    /// (authentication included). Never evaluate under it: take
    /// [`Shared::flags`].
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A snapshot of the compiled flags and segments, to evaluate on
    /// without the lock: an O(1) clone (see [`FlagSet`]), taken under the
    /// read lock, which is released before this returns. Changes applied
    /// meanwhile copy the maps rather than wait for the evaluation.
    pub fn flags(&self) -> FlagSet {
        self.read().flags.clone()
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of live feed subscribers on this node.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Number of live subscribers of environment `env`'s feed on this node.
    pub fn subscribers_of(&self, env: &str) -> usize {
        if env == crate::keys::LEGACY_ENV {
            return self.subscribers();
        }
        let feeds = self.scoped.lock().unwrap_or_else(|p| p.into_inner());
        feeds.get(env).map_or(0, |f| f.tx.receiver_count())
    }

    /// Publishes a change in environment `env`; call with the state write
    /// lock held. Each environment has a feed of its own: a subscriber of
    /// one never sees another's changes.
    pub(crate) fn publish(&self, state: &mut State, env: &str, id: u64, change: Change) {
        if env != crate::keys::LEGACY_ENV {
            let mut feeds = self.scoped.lock().unwrap_or_else(|p| p.into_inner());
            let feed = feeds
                .entry(env.to_owned())
                .or_insert_with(|| ScopedFeed::new(&self.config, state.applied));
            let event = Arc::new(ChangeEvent {
                id,
                prev_id: feed.last_change,
                change,
            });
            feed.last_change = id;
            if feed.ring.len() >= self.config.ring {
                feed.ring.pop_front();
            }
            feed.ring.push_back(event.clone());
            let _ = feed.tx.send(FeedEvent::Change(event));
            return;
        }
        let event = Arc::new(ChangeEvent {
            id,
            prev_id: state.last_change,
            change,
        });
        state.last_change = id;
        {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            if ring.len() >= self.config.ring {
                ring.pop_front();
            }
            ring.push_back(event.clone());
        }
        // No receivers is fine: nobody is listening.
        let _ = self.tx.send(FeedEvent::Change(event));
    }

    /// Drops the resume rings and tells subscribers to start over; call
    /// with the state write lock held, after replacing the state, whose
    /// applied index is `applied`.
    pub(crate) fn reset(&self, applied: u64) {
        self.ring.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let _ = self.tx.send(FeedEvent::Reset);
        let mut feeds = self.scoped.lock().unwrap_or_else(|p| p.into_inner());
        for feed in feeds.values_mut() {
            // The senders stay: their subscribers get a fresh snapshot
            // and then this feed's changes, as the unscoped ones do.
            feed.ring.clear();
            feed.last_change = applied;
            let _ = feed.tx.send(FeedEvent::Reset);
        }
    }

    /// The id of the last change published on environment `env`'s feed
    /// (the applied index when it has had none since this node started).
    pub fn last_change_of(&self, env: &str) -> u64 {
        let state = self.read();
        if env == crate::keys::LEGACY_ENV {
            return state.last_change;
        }
        let feeds = self.scoped.lock().unwrap_or_else(|p| p.into_inner());
        feeds
            .get(env)
            .map_or(state.applied, |feed| feed.last_change)
    }

    /// Subscribes to the unscoped feed (`default`/`production`), resuming
    /// after `last_event_id` when the ring covers it.
    pub fn subscribe(&self, last_event_id: Option<u64>) -> Subscription {
        let state = self.read();
        let rx = self.tx.subscribe();
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let start =
            match last_event_id.and_then(|id| resume_from(&state, &ring, id, state.last_change)) {
                Some(events) => Start::Resume(events),
                None => Start::Snapshot(state.snapshot()),
            };
        Subscription { start, rx }
    }

    /// Subscribes to environment `env`'s feed (`project/environment`).
    pub fn subscribe_env(&self, env: &str, last_event_id: Option<u64>) -> Subscription {
        if env == crate::keys::LEGACY_ENV {
            return self.subscribe(last_event_id);
        }
        let state = self.read();
        let mut feeds = self.scoped.lock().unwrap_or_else(|p| p.into_inner());
        let feed = feeds
            .entry(env.to_owned())
            .or_insert_with(|| ScopedFeed::new(&self.config, state.applied));
        let rx = feed.tx.subscribe();
        let start = match last_event_id
            .and_then(|id| resume_from(&state, &feed.ring, id, feed.last_change))
        {
            Some(events) => Start::Resume(events),
            None => Start::Snapshot(state.snapshot_of(env)),
        };
        Subscription { start, rx }
    }
}

/// The feed of one environment other than `default`/`production`, made
/// when first published to or subscribed to. Its last change is not
/// persisted: after a restart it starts at the applied index, so a resume
/// from before then gets a snapshot.
#[derive(Debug)]
struct ScopedFeed {
    ring: VecDeque<Arc<ChangeEvent>>,
    tx: broadcast::Sender<FeedEvent>,
    last_change: u64,
}

impl ScopedFeed {
    fn new(config: &FeedConfig, applied: u64) -> Self {
        let (tx, _) = broadcast::channel(config.per_subscriber.max(1));
        ScopedFeed {
            ring: VecDeque::new(),
            tx,
            last_change: applied,
        }
    }
}

/// Logs, once at start-up, each stored flag or segment whose regexes are
/// over the budget (written before it existed): it loads, but its
/// `matches` clauses from that pattern on never match.
fn warn_over_budget(flags: &FlagSet) {
    for f in flags.flags() {
        if let Some(why) = f.over_budget() {
            tracing::warn!(flag = f.key(), "regexes over the budget never match: {why}");
        }
    }
    for s in flags.segments() {
        if let Some(why) = s.over_budget() {
            tracing::warn!(
                segment = s.key(),
                "regexes over the budget never match: {why}"
            );
        }
    }
}

/// The events after `id`, if nothing between `id` and now is missing.
fn resume_from(
    state: &State,
    ring: &VecDeque<Arc<ChangeEvent>>,
    id: u64,
    last_change: u64,
) -> Option<Vec<Arc<ChangeEvent>>> {
    if id > state.applied {
        return None; // from the future: not ours to vouch for
    }
    if id >= last_change {
        return Some(Vec::new()); // nothing changed since
    }
    let first = ring.front()?;
    if first.prev_id > id {
        return None; // the ring no longer reaches back that far
    }
    Some(ring.iter().filter(|e| e.id > id).cloned().collect())
}
