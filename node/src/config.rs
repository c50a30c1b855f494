//! `vexil serve` options: one [`DEFAULTS`] source feeds clap and `Default`,
//! and [`ServeArgs::validate`] turns raw options into a checked [`ServeConfig`]
//! or an error naming the bad option.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::net::guard::Backoff;
use crate::net::limits::{FD_RESERVE, ListenerLimits, NetLimits};
use crate::schedule::BackupSchedule;

pub mod file;

/// Every default, in one place.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub id: u64,
    pub data_dir: &'static str,
    pub listen: &'static str,
    pub peer_listen: &'static str,
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub snapshot_every: u64,
    pub keep_logs: u64,
    pub write_timeout_ms: u64,
    pub min_free_mb: u64,
    pub backup_every: &'static str,
    pub backup_keep: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub peer_max_connections: usize,
    pub peer_max_connections_per_ip: usize,
    pub header_read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub write_stall_timeout_ms: u64,
    pub auth_failure_limit: u32,
    pub auth_failure_window_secs: u64,
    pub stream_max_per_token: usize,
    pub stream_max_per_ip: usize,
}

/// The shortest `--backup-every` accepted.
pub const MIN_BACKUP_EVERY: Duration = Duration::from_secs(1);

pub const DEFAULTS: Defaults = Defaults {
    id: 1,
    data_dir: "vexil-data",
    listen: "127.0.0.1:7070",
    peer_listen: "127.0.0.1:7071",
    heartbeat_ms: 100,
    election_timeout_min_ms: 400,
    election_timeout_max_ms: 800,
    snapshot_every: 100_000,
    keep_logs: 1_000,
    write_timeout_ms: 5_000,
    min_free_mb: 64,
    backup_every: "1h",
    backup_keep: 24,
    max_connections: 0,
    max_connections_per_ip: 1024,
    // Every node of a cluster on one host dials from the same address, and
    // each concurrent forwarded write is a connection of its own.
    peer_max_connections: 2048,
    peer_max_connections_per_ip: 512,
    header_read_timeout_ms: 10_000,
    idle_timeout_ms: 60_000,
    write_stall_timeout_ms: 30_000,
    auth_failure_limit: 20,
    auth_failure_window_secs: 60,
    stream_max_per_token: 1000,
    stream_max_per_ip: 256,
};

/// The shortest timeout of the listeners accepted.
const MIN_NET_TIMEOUT_MS: u64 = 100;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Options of `vexil serve`. Each also reads from a `VEXIL_…` variable.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// A TOML file of these options, keys named as the flags without `--`
    /// (`data-dir = "/var/lib/vexil"`). Flags and `VEXIL_…` variables
    /// override it; an unknown key or a bad value refuses to start.
    #[arg(long, env = "VEXIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id, unique in the cluster (1, 2, 3 …).
    #[arg(long, env = "VEXIL_ID", default_value_t = DEFAULTS.id)]
    pub id: u64,
    /// Where the RocksDB store, snapshots and the first admin token live.
    #[arg(long, env = "VEXIL_DATA_DIR", default_value = DEFAULTS.data_dir)]
    pub data_dir: PathBuf,
    /// Address for the API, the change feed and the UI.
    #[arg(long, env = "VEXIL_LISTEN", default_value = DEFAULTS.listen)]
    pub listen: String,
    /// Address for Raft traffic between nodes.
    #[arg(long, env = "VEXIL_PEER_LISTEN", default_value = DEFAULTS.peer_listen)]
    pub peer_listen: String,
    /// host:port clients should use for this node (defaults to --listen).
    #[arg(long, env = "VEXIL_ADVERTISE_CLIENT")]
    pub advertise_client: Option<String>,
    /// host:port peers should use for this node (defaults to --peer-listen).
    #[arg(long, env = "VEXIL_ADVERTISE_PEER")]
    pub advertise_peer: Option<String>,
    /// Members of a new cluster, `1=host:port,2=host:port,…` (peer addresses);
    /// every member starts with the same list. Ignored on restart.
    #[arg(long, env = "VEXIL_INITIAL_CLUSTER")]
    pub initial_cluster: Option<String>,
    /// Start empty and wait to be added with `POST /v1/cluster/members`.
    #[arg(long, env = "VEXIL_JOIN", default_value_t = false)]
    pub join: bool,
    /// Shared secret every peer request must carry. Required for clusters of
    /// more than one node; a single node generates one into its data dir.
    #[arg(long, env = "VEXIL_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<String>,
    /// The first admin token's secret, used on the cluster's first start only.
    /// Without it Vexil generates one and writes it to <data-dir>/admin-token.
    #[arg(long, env = "VEXIL_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Log lines as text (coloured only on a terminal) or as JSON objects.
    #[arg(long, env = "VEXIL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Raft heartbeat interval.
    #[arg(long, env = "VEXIL_HEARTBEAT_MS", default_value_t = DEFAULTS.heartbeat_ms)]
    pub heartbeat_ms: u64,
    /// The shortest wait without a leader's heartbeat before a follower
    /// stands for election (each wait is drawn between min and max).
    #[arg(long, env = "VEXIL_ELECTION_TIMEOUT_MIN_MS", default_value_t = DEFAULTS.election_timeout_min_ms)]
    pub election_timeout_min_ms: u64,
    /// The longest such wait; also how long a membership change waits for
    /// every voter to ack a fresh heartbeat.
    #[arg(long, env = "VEXIL_ELECTION_TIMEOUT_MAX_MS", default_value_t = DEFAULTS.election_timeout_max_ms)]
    pub election_timeout_max_ms: u64,
    /// Build a snapshot (and purge the log behind it) every N entries.
    #[arg(long, env = "VEXIL_SNAPSHOT_EVERY", default_value_t = DEFAULTS.snapshot_every)]
    pub snapshot_every: u64,
    /// Log entries kept behind the latest snapshot.
    #[arg(long, env = "VEXIL_KEEP_LOGS", default_value_t = DEFAULTS.keep_logs)]
    pub keep_logs: u64,
    /// How long a write may wait for commit before answering 503.
    #[arg(long, env = "VEXIL_WRITE_TIMEOUT_MS", default_value_t = DEFAULTS.write_timeout_ms)]
    pub write_timeout_ms: u64,
    /// Refuse writes while the data directory has less free space than this.
    #[arg(long, env = "VEXIL_MIN_FREE_MB", default_value_t = DEFAULTS.min_free_mb)]
    pub min_free_mb: u64,
    /// Write a local consistent backup into this directory every
    /// --backup-every, keeping the newest --backup-keep.
    #[arg(long, env = "VEXIL_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Interval of scheduled backups (`90s`, `15m`, `1h`, `1d`; at least 1s).
    #[arg(long, env = "VEXIL_BACKUP_EVERY", default_value = DEFAULTS.backup_every)]
    pub backup_every: String,
    /// Scheduled backups kept (the oldest are deleted); at least 1.
    #[arg(long, env = "VEXIL_BACKUP_KEEP", default_value_t = DEFAULTS.backup_keep)]
    pub backup_keep: usize,
    /// Connections the API port keeps open at once; more are closed at
    /// accept. 0: the open-file limit, less what files and the peer port need.
    #[arg(long, env = "VEXIL_MAX_CONNECTIONS", default_value_t = DEFAULTS.max_connections)]
    pub max_connections: usize,
    /// Connections the API port keeps open at once from one IP address.
    #[arg(long, env = "VEXIL_MAX_CONNECTIONS_PER_IP", default_value_t = DEFAULTS.max_connections_per_ip)]
    pub max_connections_per_ip: usize,
    /// Connections the peer port keeps open at once (its own budget, apart
    /// from the API's).
    #[arg(long, env = "VEXIL_PEER_MAX_CONNECTIONS", default_value_t = DEFAULTS.peer_max_connections)]
    pub peer_max_connections: usize,
    /// Connections the peer port keeps open at once from one IP address.
    #[arg(long, env = "VEXIL_PEER_MAX_CONNECTIONS_PER_IP", default_value_t = DEFAULTS.peer_max_connections_per_ip)]
    pub peer_max_connections_per_ip: usize,
    /// A request's headers must arrive within this time of their first byte.
    #[arg(long, env = "VEXIL_HEADER_READ_TIMEOUT_MS", default_value_t = DEFAULTS.header_read_timeout_ms)]
    pub header_read_timeout_ms: u64,
    /// A connection with no request in flight for this long is closed.
    #[arg(long, env = "VEXIL_IDLE_TIMEOUT_MS", default_value_t = DEFAULTS.idle_timeout_ms)]
    pub idle_timeout_ms: u64,
    /// A response write (SSE included) that makes no progress for this long
    /// closes the connection.
    #[arg(long, env = "VEXIL_WRITE_STALL_TIMEOUT_MS", default_value_t = DEFAULTS.write_stall_timeout_ms)]
    pub write_stall_timeout_ms: u64,
    /// Wrong tokens or cluster secrets allowed from one IP address within
    /// --auth-failure-window-secs; one more gets 429 for every request from
    /// it for that window. 0 turns the back-off off.
    #[arg(long, env = "VEXIL_AUTH_FAILURE_LIMIT", default_value_t = DEFAULTS.auth_failure_limit)]
    pub auth_failure_limit: u32,
    /// The window of --auth-failure-limit, and how long the back-off lasts.
    #[arg(long, env = "VEXIL_AUTH_FAILURE_WINDOW_SECS", default_value_t = DEFAULTS.auth_failure_window_secs)]
    pub auth_failure_window_secs: u64,
    /// `/v1/stream` subscribers one token may hold open on this node; one
    /// more gets 429. 0: no cap.
    #[arg(long, env = "VEXIL_STREAM_MAX_PER_TOKEN", default_value_t = DEFAULTS.stream_max_per_token)]
    pub stream_max_per_token: usize,
    /// `/v1/stream` subscribers one IP address may hold open on this node;
    /// one more gets 429. 0: no cap.
    #[arg(long, env = "VEXIL_STREAM_MAX_PER_IP", default_value_t = DEFAULTS.stream_max_per_ip)]
    pub stream_max_per_ip: usize,
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub id: u64,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub peer_listen: SocketAddr,
    pub advertise_client: String,
    pub advertise_peer: String,
    /// Peer addresses by id, when bootstrapping a new multi-node cluster.
    pub initial_cluster: Option<BTreeMap<u64, String>>,
    pub join: bool,
    pub cluster_secret: Option<String>,
    pub admin_token: Option<String>,
    pub log_format: LogFormat,
    pub heartbeat: Duration,
    pub election_timeout: (Duration, Duration),
    pub snapshot_every: u64,
    pub keep_logs: u64,
    pub write_timeout: Duration,
    pub min_free_bytes: u64,
    /// Scheduled backups, when `--backup-dir` is set.
    pub backup: Option<BackupSchedule>,
    /// The listeners' caps and timeouts; the API's total is 0 until
    /// [`ServeConfig::net_limits`] sets it from the open-file limit.
    pub net: NetLimits,
    /// Caps on `/v1/stream` subscribers.
    pub stream_caps: crate::api::stream::subscribers::StreamCaps,
}

/// An invalid option: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --{field}: {message}")]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        message: message.into(),
    }
}

fn addr(field: &'static str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse()
        .map_err(|e| bad(field, format!("{s:?} is not host:port with an IP ({e})")))
}

fn advertised(
    field: &'static str,
    given: &Option<String>,
    bound: SocketAddr,
) -> Result<String, ConfigError> {
    match given {
        Some(a)
            if a.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) =>
        {
            Ok(a.clone())
        }
        Some(a) => Err(bad(field, format!("{a:?} is not host:port"))),
        None if bound.ip().is_unspecified() => Err(bad(
            field,
            format!(
                "required when listening on {bound}: other nodes cannot dial an unspecified address"
            ),
        )),
        None => Ok(bound.to_string()),
    }
}

/// A new cluster's member list must name this node at the address the
/// others will dial. Checked only when the store is new: a restarted node
/// ignores `--initial-cluster`.
pub fn check_initial_member(
    members: &BTreeMap<u64, String>,
    id: u64,
    advertise_peer: &str,
) -> Result<(), ConfigError> {
    match members.get(&id) {
        None => Err(bad(
            "initial-cluster",
            format!("does not list this node's --id {id}"),
        )),
        Some(p) if p != advertise_peer => Err(bad(
            "initial-cluster",
            format!("lists node {id} at {p}, but its --advertise-peer is {advertise_peer}"),
        )),
        Some(_) => Ok(()),
    }
}

/// Parses `1=host:port,2=host:port`.
pub fn parse_initial_cluster(s: &str) -> Result<BTreeMap<u64, String>, ConfigError> {
    let field = "initial-cluster";
    let mut out: BTreeMap<u64, String> = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, peer) = part
            .split_once('=')
            .ok_or_else(|| bad(field, format!("{part:?} is not id=host:port")))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| bad(field, format!("{id:?} is not a node id")))?;
        if id == 0 {
            return Err(bad(field, "node ids start at 1"));
        }
        let peer = peer.trim();
        match peer.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
            Some((_, port)) if !port.is_empty() => {
                return Err(bad(
                    field,
                    format!("{peer:?}: {port:?} is not a port (1 to 65535)"),
                ));
            }
            _ => return Err(bad(field, format!("{peer:?} is not host:port"))),
        }
        if let Some((other, _)) = out.iter().find(|(_, p)| p.as_str() == peer) {
            return Err(bad(
                field,
                format!(
                    "nodes {other} and {id} are both at {peer}: each needs its own peer address"
                ),
            ));
        }
        if out.insert(id, peer.to_owned()).is_some() {
            return Err(bad(field, format!("node {id} is listed twice")));
        }
    }
    if out.is_empty() {
        return Err(bad(field, "lists no members"));
    }
    Ok(out)
}

impl ServeArgs {
    /// Checks every option and their combinations.
    pub fn validate(&self) -> Result<ServeConfig, ConfigError> {
        if self.id == 0 {
            return Err(bad("id", "node ids start at 1"));
        }
        let listen = addr("listen", &self.listen)?;
        let peer_listen = addr("peer-listen", &self.peer_listen)?;
        if listen == peer_listen {
            return Err(bad("peer-listen", "must differ from --listen"));
        }
        let advertise_client = advertised("advertise-client", &self.advertise_client, listen)?;
        let advertise_peer = advertised("advertise-peer", &self.advertise_peer, peer_listen)?;
        let initial_cluster = match &self.initial_cluster {
            Some(s) if self.join => {
                let _ = s;
                return Err(bad("join", "cannot be combined with --initial-cluster"));
            }
            // Whether the list names this node at its advertised address is
            // checked when the store turns out to be new (`server::run`): a
            // restarted node ignores the list.
            Some(s) => Some(parse_initial_cluster(s)?),
            None => None,
        };
        let multi = self.join || initial_cluster.as_ref().is_some_and(|m| m.len() > 1);
        match &self.cluster_secret {
            Some(s) if s.len() < 16 => {
                return Err(bad("cluster-secret", "must be at least 16 characters"));
            }
            None if multi => {
                return Err(bad(
                    "cluster-secret",
                    "is required to run or join a cluster of more than one node",
                ));
            }
            _ => {}
        }
        if self
            .admin_token
            .as_ref()
            .is_some_and(|t| !(16..=1024).contains(&t.len()))
        {
            return Err(bad("admin-token", "must be 16 to 1024 characters long"));
        }
        if self.heartbeat_ms == 0 || self.heartbeat_ms >= self.election_timeout_min_ms {
            return Err(bad(
                "heartbeat-ms",
                "must be above 0 and below --election-timeout-min-ms",
            ));
        }
        if self.election_timeout_min_ms >= self.election_timeout_max_ms {
            return Err(bad(
                "election-timeout-max-ms",
                "must be above --election-timeout-min-ms",
            ));
        }
        if self.snapshot_every == 0 {
            return Err(bad("snapshot-every", "must be at least 1"));
        }
        if self.write_timeout_ms < 100 {
            return Err(bad("write-timeout-ms", "must be at least 100"));
        }
        let backup = self.backup_schedule()?;
        let net = self.net()?;
        Ok(ServeConfig {
            id: self.id,
            data_dir: self.data_dir.clone(),
            listen,
            peer_listen,
            advertise_client,
            advertise_peer,
            initial_cluster,
            join: self.join,
            cluster_secret: self.cluster_secret.clone(),
            admin_token: self.admin_token.clone(),
            log_format: self.log_format,
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            election_timeout: (
                Duration::from_millis(self.election_timeout_min_ms),
                Duration::from_millis(self.election_timeout_max_ms),
            ),
            snapshot_every: self.snapshot_every,
            keep_logs: self.keep_logs,
            write_timeout: Duration::from_millis(self.write_timeout_ms),
            min_free_bytes: self.min_free_mb.saturating_mul(1 << 20),
            backup,
            net,
            stream_caps: crate::api::stream::subscribers::StreamCaps {
                per_token: self.stream_max_per_token,
                per_ip: self.stream_max_per_ip,
            },
        })
    }

    fn net(&self) -> Result<NetLimits, ConfigError> {
        let at_least_one = |field, n: usize| {
            if n == 0 {
                Err(bad(field, "must be at least 1"))
            } else {
                Ok(n)
            }
        };
        at_least_one("max-connections-per-ip", self.max_connections_per_ip)?;
        at_least_one("peer-max-connections", self.peer_max_connections)?;
        at_least_one(
            "peer-max-connections-per-ip",
            self.peer_max_connections_per_ip,
        )?;
        if self.peer_max_connections_per_ip > self.peer_max_connections {
            return Err(bad(
                "peer-max-connections-per-ip",
                "must not exceed --peer-max-connections",
            ));
        }
        if self.max_connections != 0 && self.max_connections_per_ip > self.max_connections {
            return Err(bad(
                "max-connections-per-ip",
                "must not exceed --max-connections",
            ));
        }
        let timeout = |field, ms: u64| {
            if ms < MIN_NET_TIMEOUT_MS {
                Err(bad(field, format!("must be at least {MIN_NET_TIMEOUT_MS}")))
            } else {
                Ok(Duration::from_millis(ms))
            }
        };
        let header_read = timeout("header-read-timeout-ms", self.header_read_timeout_ms)?;
        let idle = timeout("idle-timeout-ms", self.idle_timeout_ms)?;
        let write_stall = timeout("write-stall-timeout-ms", self.write_stall_timeout_ms)?;
        if self.auth_failure_window_secs == 0 {
            return Err(bad("auth-failure-window-secs", "must be at least 1"));
        }
        let listener = |per_ip, total| ListenerLimits {
            per_ip,
            total,
            header_read,
            idle,
            write_stall,
        };
        Ok(NetLimits {
            api: listener(self.max_connections_per_ip, self.max_connections),
            peer: listener(self.peer_max_connections_per_ip, self.peer_max_connections),
            backoff: Backoff {
                failures: self.auth_failure_limit,
                window: Duration::from_secs(self.auth_failure_window_secs),
            },
        })
    }

    fn backup_schedule(&self) -> Result<Option<BackupSchedule>, ConfigError> {
        let every = humantime::parse_duration(&self.backup_every).map_err(|e| {
            bad(
                "backup-every",
                format!("{:?} is not a duration: {e}", self.backup_every),
            )
        })?;
        if every < MIN_BACKUP_EVERY {
            return Err(bad("backup-every", "must be at least 1s"));
        }
        if self.backup_keep == 0 {
            return Err(bad("backup-keep", "must be at least 1"));
        }
        Ok(self.backup_dir.as_ref().map(|dir| BackupSchedule {
            dir: dir.clone(),
            every,
            keep: self.backup_keep,
        }))
    }
}

impl ServeConfig {
    /// The listeners' limits with the API's total set: `--max-connections`,
    /// or (at 0) what the open-file limit `fds` leaves once [`FD_RESERVE`]
    /// and the peer port's budget are taken. Refuses totals the limit
    /// cannot hold, since the node would then fail with EMFILE instead.
    pub fn net_limits(&self, fds: Option<u64>) -> Result<NetLimits, ConfigError> {
        let mut net = self.net;
        let peer = net.peer.total as u64;
        let Some(fds) = fds else {
            if net.api.total == 0 {
                net.api.total = 65_536;
            }
            return Ok(net);
        };
        let room = fds.saturating_sub(FD_RESERVE).saturating_sub(peer);
        if net.api.total == 0 {
            if room < 64 {
                return Err(bad(
                    "max-connections",
                    format!(
                        "the open-file limit is {fds}: with {FD_RESERVE} kept for files and \
                         --peer-max-connections {peer}, {room} would remain for the API port; \
                         raise the limit (`ulimit -n`, systemd's LimitNOFILE) or lower \
                         --peer-max-connections"
                    ),
                ));
            }
            net.api.total = usize::try_from(room).unwrap_or(usize::MAX);
            net.api.per_ip = net.api.per_ip.min(net.api.total);
        } else if net.api.total as u64 > room {
            return Err(bad(
                "max-connections",
                format!(
                    "{} plus --peer-max-connections {peer} does not fit the open-file limit \
                     {fds} less {FD_RESERVE} kept for files: at most {room}",
                    net.api.total
                ),
            ));
        }
        Ok(net)
    }

    /// Checks what `validate` cannot without touching the disk: that the
    /// backup directory can be created and written.
    pub fn check_dirs(&self) -> Result<(), ConfigError> {
        if let Some(b) = &self.backup {
            // Named per node and process: nodes that share one backup
            // directory and start together must not remove each other's.
            let probe = b.dir.join(format!(
                ".vexil-write-test-{}-{}",
                self.id,
                std::process::id()
            ));
            std::fs::create_dir_all(&b.dir)
                .and_then(|()| std::fs::write(&probe, b"ok"))
                .and_then(|()| std::fs::remove_file(&probe))
                .map_err(|e| {
                    bad(
                        "backup-dir",
                        format!("{} is not writable: {e}", b.dir.display()),
                    )
                })?;
        }
        Ok(())
    }
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs {
            config: None,
            id: DEFAULTS.id,
            data_dir: PathBuf::from(DEFAULTS.data_dir),
            listen: DEFAULTS.listen.into(),
            peer_listen: DEFAULTS.peer_listen.into(),
            advertise_client: None,
            advertise_peer: None,
            initial_cluster: None,
            join: false,
            cluster_secret: None,
            admin_token: None,
            log_format: LogFormat::Text,
            heartbeat_ms: DEFAULTS.heartbeat_ms,
            election_timeout_min_ms: DEFAULTS.election_timeout_min_ms,
            election_timeout_max_ms: DEFAULTS.election_timeout_max_ms,
            snapshot_every: DEFAULTS.snapshot_every,
            keep_logs: DEFAULTS.keep_logs,
            write_timeout_ms: DEFAULTS.write_timeout_ms,
            min_free_mb: DEFAULTS.min_free_mb,
            backup_dir: None,
            backup_every: DEFAULTS.backup_every.into(),
            backup_keep: DEFAULTS.backup_keep,
            max_connections: DEFAULTS.max_connections,
            max_connections_per_ip: DEFAULTS.max_connections_per_ip,
            peer_max_connections: DEFAULTS.peer_max_connections,
            peer_max_connections_per_ip: DEFAULTS.peer_max_connections_per_ip,
            header_read_timeout_ms: DEFAULTS.header_read_timeout_ms,
            idle_timeout_ms: DEFAULTS.idle_timeout_ms,
            write_stall_timeout_ms: DEFAULTS.write_stall_timeout_ms,
            auth_failure_limit: DEFAULTS.auth_failure_limit,
            auth_failure_window_secs: DEFAULTS.auth_failure_window_secs,
            stream_max_per_token: DEFAULTS.stream_max_per_token,
            stream_max_per_ip: DEFAULTS.stream_max_per_ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs::default()
    }

    #[test]
    fn defaults_are_valid_single_node() {
        let c = args().validate().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7070");
        assert_eq!(c.advertise_peer, "127.0.0.1:7071");
        assert!(c.initial_cluster.is_none());
    }

    #[test]
    fn each_bad_option_is_named() {
        type Mutation = Box<dyn Fn(&mut ServeArgs)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|a| a.id = 0), "id"),
            (Box::new(|a| a.listen = "nope".into()), "listen"),
            (
                Box::new(|a| a.peer_listen = a.listen.clone()),
                "peer-listen",
            ),
            (
                Box::new(|a| a.listen = "0.0.0.0:7070".into()),
                "advertise-client",
            ),
            (
                Box::new(|a| a.initial_cluster = Some("1=127.0.0.1:7071,2=x:1".into())),
                "cluster-secret",
            ),
            (
                Box::new(|a| a.initial_cluster = Some("1=127.0.0.1:99999".into())),
                "initial-cluster",
            ),
            (
                Box::new(|a| {
                    a.initial_cluster = Some("1=127.0.0.1:7071,2=127.0.0.1:7071".into());
                }),
                "initial-cluster",
            ),
            (
                Box::new(|a| a.initial_cluster = Some("1=:7071".into())),
                "initial-cluster",
            ),
            (
                Box::new(|a| a.initial_cluster = Some("1=a:1,1=b:2".into())),
                "initial-cluster",
            ),
            (
                Box::new(|a| {
                    a.join = true;
                    a.initial_cluster = Some("1=127.0.0.1:7071".into());
                }),
                "join",
            ),
            (
                Box::new(|a| a.admin_token = Some("short".into())),
                "admin-token",
            ),
            (
                Box::new(|a| a.admin_token = Some("x".repeat(1025))),
                "admin-token",
            ),
            (Box::new(|a| a.heartbeat_ms = 1000), "heartbeat-ms"),
            (Box::new(|a| a.backup_every = "soon".into()), "backup-every"),
            (Box::new(|a| a.backup_every = "10ms".into()), "backup-every"),
            (Box::new(|a| a.backup_keep = 0), "backup-keep"),
            (
                Box::new(|a| a.max_connections_per_ip = 0),
                "max-connections-per-ip",
            ),
            (
                Box::new(|a| a.peer_max_connections_per_ip = 5000),
                "peer-max-connections-per-ip",
            ),
            (
                Box::new(|a| a.header_read_timeout_ms = 5),
                "header-read-timeout-ms",
            ),
            (Box::new(|a| a.idle_timeout_ms = 0), "idle-timeout-ms"),
            (
                Box::new(|a| a.write_stall_timeout_ms = 1),
                "write-stall-timeout-ms",
            ),
            (
                Box::new(|a| a.auth_failure_window_secs = 0),
                "auth-failure-window-secs",
            ),
            (
                Box::new(|a| a.election_timeout_max_ms = 100),
                "election-timeout-max-ms",
            ),
        ];
        for (mutate, field) in cases {
            let mut a = args();
            mutate(&mut a);
            let err = a.validate().unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn connection_totals_fit_the_open_file_limit() {
        let c = args().validate().unwrap();
        let net = c.net_limits(Some(1 << 20)).unwrap();
        let peer = DEFAULTS.peer_max_connections as u64;
        assert_eq!(net.api.total as u64, (1 << 20) - FD_RESERVE - peer);
        let err = c.net_limits(Some(1024)).unwrap_err();
        assert_eq!(err.field, "max-connections", "{err}");
        let mut a = args();
        a.max_connections = 100_000;
        let err = a.validate().unwrap().net_limits(Some(65_536)).unwrap_err();
        assert_eq!(err.field, "max-connections", "{err}");
        assert!(a.validate().unwrap().net_limits(None).is_ok());
    }

    #[test]
    fn a_new_cluster_must_list_this_node_at_its_address() {
        let members = parse_initial_cluster("1=127.0.0.1:7071,2=127.0.0.1:7171").unwrap();
        assert!(check_initial_member(&members, 1, "127.0.0.1:7071").is_ok());
        let err = check_initial_member(&members, 3, "127.0.0.1:7271").unwrap_err();
        assert!(err.to_string().contains("does not list"), "{err}");
        let err = check_initial_member(&members, 1, "127.0.0.1:9999").unwrap_err();
        assert!(err.to_string().contains("127.0.0.1:9999"), "{err}");
    }

    #[test]
    fn three_node_cluster_parses() {
        let mut a = args();
        a.cluster_secret = Some("0123456789abcdef".into());
        a.initial_cluster = Some("1=127.0.0.1:7071, 2=127.0.0.1:7171,3=127.0.0.1:7271".into());
        let c = a.validate().unwrap();
        assert_eq!(c.initial_cluster.unwrap().len(), 3);
    }
}
