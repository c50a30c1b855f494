//! What one listener allows: how many connections (per source IP and in
//! all), and how long a connection may take to send its headers, sit idle
//! between requests, or stall a response it does not read.
//!
//! The API and peer listeners each get their own [`ListenerLimits`] and their
//! own [`ConnCounter`], so a flood on the API port never takes the peer
//! port's connections (and Raft keeps its quorum), and the two totals stay
//! below the process's file-descriptor limit ([`fd_limit`]) with room left
//! for RocksDB, snapshots and backups.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::guard::Backoff;

/// The source IP of an accepted connection, when the listener knows one.
/// TCP does; a listener without IP addresses (a Unix socket) answers `None`,
/// and its connections then meet only the listener's total cap.
pub trait RemoteIp {
    fn remote_ip(&self) -> Option<IpAddr>;
}

impl RemoteIp for SocketAddr {
    fn remote_ip(&self) -> Option<IpAddr> {
        Some(self.ip())
    }
}

/// The caps and timeouts of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections open at once from one IP; one more is closed at accept.
    pub per_ip: usize,
    /// Connections open at once on this listener.
    pub total: usize,
    /// Time from a request's first byte to the end of its headers (hyper's
    /// `header_read_timeout`): slowloris ends here.
    pub header_read: Duration,
    /// A connection with no request in flight for this long is closed: an
    /// idle keep-alive connection, or one that never sends a whole request.
    pub idle: Duration,
    /// A response write that makes no progress for this long closes the
    /// connection (a client that stopped reading, SSE included).
    pub write_stall: Duration,
}

/// Both listeners' limits and the failed-authentication back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetLimits {
    pub api: ListenerLimits,
    pub peer: ListenerLimits,
    pub backoff: Backoff,
}

impl Default for NetLimits {
    /// The defaults of `vexil serve` with a fixed total (the binary derives
    /// the API's total from the fd limit instead).
    fn default() -> Self {
        let d = &crate::config::DEFAULTS;
        let timeouts = |per_ip, total| ListenerLimits {
            per_ip,
            total,
            header_read: Duration::from_millis(d.header_read_timeout_ms),
            idle: Duration::from_millis(d.idle_timeout_ms),
            write_stall: Duration::from_millis(d.write_stall_timeout_ms),
        };
        NetLimits {
            api: timeouts(d.max_connections_per_ip, 8192),
            peer: timeouts(d.peer_max_connections_per_ip, d.peer_max_connections),
            backoff: Backoff {
                failures: d.auth_failure_limit,
                window: Duration::from_secs(d.auth_failure_window_secs),
            },
        }
    }
}

/// File descriptors kept for everything but connections: RocksDB's files,
/// snapshots, backups, logs and outgoing peer connections.
pub const FD_RESERVE: u64 = 512;

/// Raises the soft `RLIMIT_NOFILE` to the hard one and returns it (`None`
/// when unlimited or unknown).
pub fn fd_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(error = %e, "could not raise the open-file limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Counts one listener's open connections, per IP and in all.
#[derive(Debug)]
pub struct ConnCounter {
    per_ip: usize,
    total: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    PerIp,
    Total,
}

/// One open connection; dropping it (when the connection ends) frees its place.
#[derive(Debug)]
pub struct ConnSlot {
    counter: Arc<ConnCounter>,
    ip: Option<IpAddr>,
}

impl ConnCounter {
    pub fn new(limits: &ListenerLimits) -> Arc<Self> {
        Arc::new(ConnCounter {
            per_ip: limits.per_ip,
            total: limits.total,
            open: Mutex::default(),
        })
    }

    /// A place for a new connection from `ip`, unless a cap is reached.
    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<ConnSlot, Refused> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.total {
            return Err(Refused::Total);
        }
        if let Some(ip) = ip {
            let n = open.by_ip.entry(ip).or_default();
            if *n >= self.per_ip {
                return Err(Refused::PerIp);
            }
            *n += 1;
        }
        open.total += 1;
        Ok(ConnSlot {
            counter: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut open = self
            .counter
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(n) = open.by_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                open.by_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_ip_and_in_all_and_frees_on_drop() {
        let limits = ListenerLimits {
            per_ip: 2,
            total: 3,
            ..NetLimits::default().api
        };
        let c = ConnCounter::new(&limits);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = c.admit(Some(a)).unwrap();
        let _a2 = c.admit(Some(a)).unwrap();
        assert_eq!(c.admit(Some(a)).unwrap_err(), Refused::PerIp);
        let _b1 = c.admit(Some(b)).unwrap();
        assert_eq!(c.admit(None).unwrap_err(), Refused::Total);
        drop(a1);
        assert_eq!(c.open(), 2);
        assert!(c.admit(Some(a)).is_ok());
    }
}
