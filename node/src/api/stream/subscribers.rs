//! Who holds `/v1/stream` open on this node: caps per token and per source
//! IP, and the end of every stream whose token is revoked.
//!
//! Each stream holds a [`Slot`] for as long as it is open. Slots are counted
//! by token (its secret's hash: a token revoked and created again under the
//! same name is another token) and by source IP; past either cap the stream
//! is refused with 429. While any slot is held, one watcher task per node
//! re-checks the tokens that hold streams each time the applied index moved
//! (every [`CHECK_EVERY`]), and ends the streams of a token that is gone or
//! whose role may no longer stream. Every node applies the revocation and
//! runs its own watcher, so followers' streams end too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::watch;
use vexil_raft::Role;
use vexil_raft::state::{Shared, State};

/// Streams one token may hold open on one node, by default. SDK tokens are
/// often shared by a whole fleet of servers, so this is generous; it bounds
/// what one leaked or misused token can hold.
pub const DEFAULT_PER_TOKEN: usize = crate::config::DEFAULTS.stream_max_per_token;
/// Streams one source IP may hold open on one node, by default (servers
/// behind one NAT share an address).
pub const DEFAULT_PER_IP: usize = crate::config::DEFAULTS.stream_max_per_ip;

/// The caps (`--stream-max-per-token`, `--stream-max-per-ip`); 0: no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCaps {
    pub per_token: usize,
    pub per_ip: usize,
}
/// How often the watcher looks for revoked tokens: a revoked token's
/// streams end within this (plus the time to apply the revocation).
pub const CHECK_EVERY: Duration = Duration::from_millis(200);

/// The role a token needs to open `/v1/stream` (and to keep it open).
pub const STREAM_ROLE: Role = Role::Sdk;

/// Whether the token whose secret hashes to `hash` may (still) stream.
pub fn may_stream(st: &State, hash: &str) -> bool {
    st.token_by_hash(hash)
        .is_some_and(|t| t.role.allows(STREAM_ROLE))
}

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The token holds this many streams already (the per-token cap).
    Token(usize),
    /// The source IP holds this many streams already (the per-IP cap).
    Ip(usize),
    /// The token was revoked (or may no longer stream) meanwhile.
    Revoked,
}

/// The node's stream subscribers.
#[derive(Debug)]
pub struct Subscribers {
    /// Cap per token (`--stream-max-per-token`); 0 means no cap.
    pub per_token: AtomicUsize,
    /// Cap per source IP (`--stream-max-per-ip`); 0 means no cap.
    pub per_ip: AtomicUsize,
    inner: Mutex<Registry>,
}

impl Default for Subscribers {
    fn default() -> Self {
        Subscribers {
            per_token: AtomicUsize::new(DEFAULT_PER_TOKEN),
            per_ip: AtomicUsize::new(DEFAULT_PER_IP),
            inner: Mutex::default(),
        }
    }
}

#[derive(Debug, Default)]
struct Registry {
    /// Open streams by token hash.
    tokens: HashMap<String, Holder>,
    /// Open streams by source IP.
    ips: HashMap<IpAddr, usize>,
    /// Whether the watcher task runs (it stops when no stream is open).
    watching: bool,
}

#[derive(Debug)]
struct Holder {
    count: usize,
    /// Set to `true` when the token may no longer stream.
    revoked: watch::Sender<bool>,
}

/// One open stream's place; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    subs: Arc<Subscribers>,
    hash: String,
    ip: Option<IpAddr>,
    revoked: watch::Receiver<bool>,
}

impl Slot {
    /// Resolves when the stream's token is revoked or may no longer stream.
    pub fn revoked(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.revoked.clone();
        async move {
            // A dropped sender cannot happen while the slot exists; end the
            // stream anyway if it does.
            let _ = rx.wait_for(|r| *r).await;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut reg = self.subs.lock();
        if let Some(h) = reg.tokens.get_mut(&self.hash) {
            h.count -= 1;
            if h.count == 0 {
                reg.tokens.remove(&self.hash);
            }
        }
        if let Some(ip) = self.ip
            && let Some(n) = reg.ips.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                reg.ips.remove(&ip);
            }
        }
    }
}

impl Subscribers {
    /// Sets the caps; streams already open are kept.
    pub fn set_caps(&self, caps: StreamCaps) {
        self.per_token.store(caps.per_token, Ordering::Relaxed);
        self.per_ip.store(caps.per_ip, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Open streams on this node held by the token whose secret hashes to
    /// `hash`.
    pub fn by_token(&self, hash: &str) -> usize {
        self.lock().tokens.get(hash).map_or(0, |h| h.count)
    }

    /// Takes a place for a stream of the token `hash` from `ip`, or says
    /// which cap refuses it. Must be called inside a Tokio runtime (it may
    /// start the watcher).
    pub fn admit(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        hash: String,
        ip: Option<IpAddr>,
    ) -> Result<Slot, Refused> {
        let per_token = self.per_token.load(Ordering::Relaxed);
        let per_ip = self.per_ip.load(Ordering::Relaxed);
        let revoked = {
            let mut reg = self.lock();
            let held = reg.tokens.get(&hash).map_or(0, |h| h.count);
            if per_token > 0 && held >= per_token {
                return Err(Refused::Token(per_token));
            }
            if let Some(ip) = ip {
                let held = reg.ips.get(&ip).copied().unwrap_or(0);
                if per_ip > 0 && held >= per_ip {
                    return Err(Refused::Ip(per_ip));
                }
                *reg.ips.entry(ip).or_default() += 1;
            }
            let holder = reg.tokens.entry(hash.clone()).or_insert_with(|| Holder {
                count: 0,
                revoked: watch::Sender::new(false),
            });
            holder.count += 1;
            let revoked = holder.revoked.subscribe();
            if !reg.watching {
                reg.watching = true;
                tokio::spawn(watch(Arc::downgrade(self), shared.clone()));
            }
            revoked
        };
        let slot = Slot {
            subs: self.clone(),
            hash,
            ip,
            revoked,
        };
        // Checked once the slot is registered: a revocation applied from
        // here on is the watcher's to see.
        if *slot.revoked.borrow() || !may_stream(&shared.read(), &slot.hash) {
            return Err(Refused::Revoked);
        }
        Ok(slot)
    }
}

/// Ends the streams of tokens that may no longer stream; stops when no
/// stream is open (the next one starts it again).
async fn watch(subs: Weak<Subscribers>, shared: Arc<Shared>) {
    let mut seen = None;
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(subs) = subs.upgrade() else { return };
        let applied = shared.read().applied;
        let holders: Vec<(String, watch::Sender<bool>)> = {
            let mut reg = subs.lock();
            if reg.tokens.is_empty() {
                reg.watching = false;
                return;
            }
            if seen == Some(applied) {
                continue;
            }
            reg.tokens
                .iter()
                .map(|(h, holder)| (h.clone(), holder.revoked.clone()))
                .collect()
        };
        seen = Some(applied);
        let st = shared.read();
        for (hash, revoked) in holders {
            if !may_stream(&st, &hash) {
                revoked.send_replace(true);
            }
        }
    }
}
