//! Running a node: open its stores, start Raft, join or bootstrap the
//! cluster, and serve the API and peer listeners until shutdown.
//!
//! [`run`] is generic over listeners and takes its stores and dialer as
//! arguments, so the binary (TCP, RocksDB) and the simulation (turmoil,
//! in-memory) drive the same code. [`serve`] is the binary's wrapper.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::serve::Listener;
use tokio::net::TcpListener;
use vexil_raft::{Member, Op, RaftConfig, RaftNode, Role};
use vexil_storage::{BlobStore, Engine, FsBlobStore, RocksEngine};

use crate::api::error::ApiError;
use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::net::dial::{Dialer, TcpDialer};
use crate::net::guard::AuthGuard;
use crate::net::http::Serving;
use crate::net::limits::{NetLimits, RemoteIp};
use crate::net::peer_client::PeerTransport;
use crate::net::peer_server::{self, PeerState};

/// How a node with empty stores becomes part of a cluster.
#[derive(Debug, Clone)]
pub enum Bootstrap {
    /// Become a one-node cluster (the embedded default).
    Single,
    /// Found a new cluster with these members (same list on every member).
    Initial(BTreeMap<u64, Member>),
    /// Wait to be added by an existing cluster.
    Join,
}

/// Where the first admin token comes from.
#[derive(Debug, Clone)]
pub enum AdminToken {
    /// `--admin-token`.
    Given(String),
    /// Generate one, print it once and write it to this file (mode 0600).
    GenerateInto(PathBuf),
}

/// Everything [`run`] needs besides its listeners.
#[derive(Debug)]
pub struct RunOptions {
    pub raft: RaftConfig,
    pub engine: Arc<dyn Engine>,
    pub blobs: Arc<dyn BlobStore>,
    pub dialer: Arc<dyn Dialer>,
    pub cluster_secret: String,
    pub bootstrap: Bootstrap,
    pub admin_token: AdminToken,
    /// Checked for free space before writes; `None` in the simulation.
    pub data_dir: Option<PathBuf>,
    pub min_free_bytes: u64,
}

/// A running node, for tests and the simulation.
#[derive(Debug, Clone)]
pub struct Running {
    pub raft: RaftNode,
    pub app: AppState,
}

/// Starts Raft and returns once the node is initialized (or waiting to join).
/// The listeners serve in spawned tasks until `shutdown` resolves, with the
/// default caps and timeouts ([`NetLimits::default`]) and no back-off after
/// failed authentication: the simulation and the in-process tests fail
/// authentication from one address on purpose, many times.
pub async fn run<A, P>(
    opts: RunOptions,
    api_listener: A,
    peer_listener: P,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(Running, tokio::task::JoinHandle<()>)>
where
    A: Listener,
    P: Listener,
    A::Addr: std::fmt::Debug + RemoteIp,
    P::Addr: std::fmt::Debug + RemoteIp,
{
    let mut net = NetLimits::default();
    net.backoff.failures = 0;
    run_with(opts, net, api_listener, peer_listener, shutdown).await
}

/// [`run`] with the listeners' caps, timeouts and back-off given.
pub async fn run_with<A, P>(
    opts: RunOptions,
    net: NetLimits,
    api_listener: A,
    peer_listener: P,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(Running, tokio::task::JoinHandle<()>)>
where
    A: Listener,
    P: Listener,
    A::Addr: std::fmt::Debug + RemoteIp,
    P::Addr: std::fmt::Debug + RemoteIp,
{
    let transport = Arc::new(PeerTransport::new(
        opts.dialer.clone(),
        &opts.cluster_secret,
    ));
    let id = opts.raft.id;
    let me = opts.raft.member.clone();
    let raft = RaftNode::start(opts.raft, opts.engine, opts.blobs, transport)
        .await
        .context("starting raft")?;
    let app = AppState::new(
        raft.clone(),
        opts.data_dir.clone(),
        opts.min_free_bytes,
        &opts.cluster_secret,
    );

    // Initialize before serving peers, so no leader can reach this node
    // while it decides whether it is new.
    if raft.is_initialized().await {
        check_restart(&app, id, &me, &opts.bootstrap, &opts.admin_token)?;
    } else {
        match &opts.bootstrap {
            Bootstrap::Single => raft.initialize(BTreeMap::from([(id, me)])).await?,
            Bootstrap::Initial(members) => {
                let peers = members
                    .iter()
                    .map(|(id, m)| (*id, m.peer_addr.clone()))
                    .collect();
                crate::config::check_initial_member(&peers, id, &me.peer_addr)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                raft.initialize(members.clone()).await?
            }
            Bootstrap::Join => tracing::info!("waiting to be added to a cluster"),
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let peer_router = peer_server::router(PeerState {
        raft: raft.clone(),
        secret: opts.cluster_secret.clone().into(),
        usage: app.usage.clone(),
    });
    // Each listener counts its own connections and failures, so a flood on
    // the API port never takes the peer port's budget.
    let peer_serving = Serving {
        limits: net.peer,
        guard: Arc::new(AuthGuard::new("peer", net.backoff)),
    };
    let api_serving = Serving {
        limits: net.api,
        guard: Arc::new(AuthGuard::new("api", net.backoff)),
    };
    let mut rx = stop_rx.clone();
    let peer_task = tokio::spawn(async move {
        let stop = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        crate::net::http::serve(peer_listener, peer_router, peer_serving, stop).await;
    });

    tokio::spawn(bootstrap_admin_token(app.clone(), opts.admin_token));
    tokio::spawn(raise_cluster_level(app.clone(), stop_rx.clone()));
    if let Some(dir) = opts.data_dir.clone() {
        tokio::spawn(crate::recovery::apply_pending(app.clone(), dir));
    }

    let api_router = api::router(app.clone());
    let mut rx = stop_rx.clone();
    let api_task = tokio::spawn(async move {
        let stop = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        crate::net::http::serve(api_listener, api_router, api_serving, stop).await;
    });

    let raft_for_stop = raft.clone();
    let app_for_stop = app.clone();
    let done = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: closing streams, draining requests");
        app_for_stop.close_streams();
        raft_for_stop.stop_membership_changes("this node is shutting down");
        let _ = stop_tx.send(true);
        let _ = api_task.await;
        let _ = peer_task.await;
        raft_for_stop.shutdown().await;
    });
    Ok((Running { raft, app }, done))
}

/// How often a leader checks whether every member supports a higher
/// cluster level (`vexil_raft::version`).
const LEVEL_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Raises the cluster level once every member runs this release (only the
/// leader acts; elsewhere a check is a read of the local state), then makes
/// sure project `default` exists. Stops once both are done, or when the
/// node stops.
async fn raise_cluster_level(app: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match app.raft.raise_cluster_level().await {
            Ok(level) if level >= vexil_raft::version::SUPPORTED => {
                if seed_default_project(&app).await {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "could not raise the cluster level yet"),
        }
        tokio::select! {
            () = tokio::time::sleep(LEVEL_CHECK) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The request id of the entry that creates project `default`: a leader
/// that retries after losing its answer gets the first one.
const SEED_REQUEST: &str = "vexil:seed-default-project";

/// Creates project `default` with its three environments, as `system`,
/// once the cluster level allows projects: in a new cluster within a
/// second of its first election, and in an upgraded one once its last
/// member runs this release. The flags and segments already stored are
/// that project's `production`. True once it exists (or existed: it is
/// never created twice, though it cannot be deleted anyway).
async fn seed_default_project(app: &AppState) -> bool {
    use vexil_flags::scope::{DEFAULT_PROJECT, default_environments, default_project};
    if app
        .raft
        .shared()
        .read()
        .projects
        .contains_key(DEFAULT_PROJECT)
    {
        return true;
    }
    let engine = app.raft.engine();
    let kind = vexil_raft::query::Versioned::Project;
    if let Ok(Some(_)) =
        vexil_raft::query::version(engine.as_ref(), app.raft.shared(), kind, DEFAULT_PROJECT, 1)
    {
        return true;
    }
    if !app.raft.is_leader() {
        return false;
    }
    let op = Op::CreateProject {
        project: default_project(),
        environments: default_environments(DEFAULT_PROJECT),
    };
    match app.commit_as_system(SEED_REQUEST, op).await {
        Ok(_) => {
            tracing::info!("created project default (development, staging, production)");
            true
        }
        Err(e) => {
            tracing::debug!(error = %e.message, "could not create project default yet");
            false
        }
    }
}

/// A restart: the store decides who this node is. Options that only shape a
/// new cluster are ignored, and said so; an advertised peer address that
/// differs from the one the cluster recorded is refused, since no member
/// would ever reach this node (a node alone in its cluster records the new
/// address instead).
fn check_restart(
    app: &AppState,
    id: u64,
    me: &Member,
    bootstrap: &Bootstrap,
    admin_token: &AdminToken,
) -> anyhow::Result<()> {
    let raft = &app.raft;
    let members = raft.members();
    if let Some(recorded) = members.get(&id)
        && recorded.peer_addr != me.peer_addr
        && members.len() == 1
    {
        // Alone in its cluster: nobody dials the old address; record the
        // new one so that a node added later learns it.
        tracing::info!(
            was = %recorded.peer_addr,
            now = %me.peer_addr,
            "this one-node cluster moved its peer address; recording the new one"
        );
        let raft = raft.clone();
        let me = me.clone();
        tokio::spawn(async move {
            if let Err(e) = raft.record_sole_member(me).await {
                tracing::warn!(error = %e, "could not record the new peer address");
            }
        });
    } else if let Some(recorded) = members.get(&id)
        && recorded.peer_addr != me.peer_addr
    {
        anyhow::bail!(
            "this data directory belongs to node {id} at peer address {}, but this node would \
             be reached at {}: start it with --peer-listen (or --advertise-peer) {} so the \
             other members can reach it, or remove node {id} from the cluster and add it again \
             at the new address",
            recorded.peer_addr,
            me.peer_addr,
            recorded.peer_addr,
        );
    }
    match bootstrap {
        Bootstrap::Initial(_) => {
            tracing::info!("--initial-cluster ignored: this data directory already holds a cluster")
        }
        Bootstrap::Join => {
            tracing::info!("--join ignored: this data directory already holds a cluster")
        }
        Bootstrap::Single => {}
    }
    if let AdminToken::Given(secret) = admin_token
        && app
            .token_hasher
            .find(raft.shared(), secret, |_| ())
            .is_err()
    {
        tracing::warn!(
            "--admin-token is used only when a cluster is first formed, and this token is \
             not one of this cluster's tokens: it will get 401 (to recover a lost admin \
             token, see docs/OPERATIONS.md)"
        );
    }
    Ok(())
}

/// The request id of the first admin token: every node uses the same one,
/// so the token is created once however many nodes try.
const BOOTSTRAP_REQUEST: &str = "bootstrap:admin-token";

/// Creates the first admin token once the cluster has a leader and no token,
/// and marks the node ready for `/readyz` once a token is applied here.
async fn bootstrap_admin_token(app: AppState, source: AdminToken) {
    // Hashed once, and only if needed: a chosen secret's salted hash
    // costs tens of milliseconds.
    let mut chosen: Option<String> = None;
    loop {
        if !app.raft.shared().read().tokens.is_empty() {
            app.tokens_ready
                .store(true, std::sync::atomic::Ordering::Release);
            return;
        }
        if app.raft.is_leader() {
            if let (AdminToken::Given(secret), None) = (&source, &chosen) {
                chosen = Some(crate::secrets::blocking(|| {
                    crate::secrets::TokenHasher::hash_chosen(secret)
                }));
            }
            match create_admin_token(&app, &source, chosen.as_deref()).await {
                // Applied here before the write returns (read your writes).
                Ok(()) => continue,
                Err(e) => {
                    tracing::warn!(error = %e.message, "could not create the first admin token yet")
                }
            }
        }
        // Short: `/readyz` waits for this loop to see the token.
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// `chosen_hash` is the hash of a `Given` secret, salted
/// (`secrets::TokenHasher`). It needs no cluster level: a node of an older
/// release applies the record alike (the hash is a string) and only cannot
/// verify it; the first members of a new cluster run this release.
async fn create_admin_token(
    app: &AppState,
    source: &AdminToken,
    chosen_hash: Option<&str>,
) -> Result<(), ApiError> {
    let (secret_hash, file) = match (source, chosen_hash) {
        (AdminToken::Given(_), Some(hash)) => (hash.to_owned(), None),
        (AdminToken::Given(s), None) => (crate::secrets::TokenHasher::hash_chosen(s), None),
        (AdminToken::GenerateInto(path), _) => {
            let secret = api::tokens::new_secret(Role::Admin);
            // Written before the commit: a token that exists must be
            // recoverable.
            write_secret_file(path, &secret).map_err(|e| ApiError::internal(e.to_string()))?;
            (vexil_raft::hash_secret(&secret), Some(path))
        }
    };
    let op = Op::CreateToken {
        name: "admin".into(),
        role: Role::Admin,
        secret_hash,
    };
    match app.commit_as_system(BOOTSTRAP_REQUEST, op).await {
        Ok(_) => {
            if let Some(path) = file {
                // The path, not the token: stdout often ends up in a
                // journal that other users can read.
                println!(
                    "Vexil generated the first admin token and saved it in {}",
                    path.display()
                );
            }
            tracing::info!("first admin token created");
            Ok(())
        }
        Err(e) if e.error == "already_exists" => Ok(()),
        Err(e) => {
            if let Some(path) = file {
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
    }
}

/// Writes a secret readable by its owner only.
pub fn write_secret_file(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(secret.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// Reads the cluster secret from the data dir, creating one for a single
/// node that was given none.
fn cluster_secret(config: &ServeConfig) -> anyhow::Result<String> {
    if let Some(s) = &config.cluster_secret {
        return Ok(s.clone());
    }
    let path = config.data_dir.join("cluster-secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        return Ok(s.trim().to_owned());
    }
    let secret = hex::encode(rand::random::<[u8; 24]>());
    write_secret_file(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

/// The binary's entry point: RocksDB under `--data-dir`, TCP listeners.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Raises the soft open-file limit to the hard one, then fits the
    // connection caps under it (or refuses to start, naming the option).
    let fds = crate::net::limits::fd_limit();
    let net = config.net_limits(fds)?;
    tracing::info!(open_files = ?fds, api = net.api.total, peer = net.peer.total, "connection caps");
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    // The store holds every token hash: owner-only, whatever the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) =
            std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
        {
            tracing::warn!(dir = %config.data_dir.display(), error = %e, "cannot make the data directory owner-only (0700)");
        }
    }
    // A node restarted right after SIGKILL (systemd, `vexil-cluster restart`)
    // may start while the old process is still exiting and holds the lock:
    // wait a few seconds for it before calling the directory taken.
    let open = || {
        RocksEngine::open(&config.data_dir.join("db"))
            .and_then(|e| e.with_checkpoints(&config.data_dir.join("checkpoints")))
    };
    let lock_wait = std::time::Instant::now();
    let mut opened = open();
    while matches!(&opened, Err(e) if e.to_string().contains("lock file"))
        && lock_wait.elapsed() < std::time::Duration::from_secs(5)
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        opened = open();
    }
    let engine = opened.map_err(|e| {
        // RocksDB's own words are "While lock file: …/LOCK: Resource
        // temporarily unavailable".
        if e.to_string().contains("lock file") {
            anyhow::anyhow!(
                "another process is using the data directory {} (is another vexil node \
                     running on it?)",
                config.data_dir.display()
            )
        } else {
            anyhow::Error::new(e).context(format!(
                "opening the store in {}",
                config.data_dir.display()
            ))
        }
    })?;
    let blobs = FsBlobStore::open(&config.data_dir.join("snapshots"))?;
    let api_listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", config.listen))?;
    let peer_listener = TcpListener::bind(config.peer_listen)
        .await
        .with_context(|| format!("cannot listen on {} (--peer-listen)", config.peer_listen))?;
    let member = Member {
        peer_addr: config.advertise_peer.clone(),
        client_addr: config.advertise_client.clone(),
    };
    let mut raft = RaftConfig::new(config.id, member);
    raft.heartbeat = config.heartbeat;
    raft.election_timeout = config.election_timeout;
    raft.snapshot_every = config.snapshot_every;
    raft.keep_logs = config.keep_logs;
    raft.write_timeout = config.write_timeout;
    let bootstrap = match (&config.initial_cluster, config.join) {
        (_, true) => Bootstrap::Join,
        (Some(members), false) => Bootstrap::Initial(
            members
                .iter()
                .map(|(id, peer)| {
                    let client = if *id == config.id {
                        config.advertise_client.clone()
                    } else {
                        String::new()
                    };
                    (
                        *id,
                        Member {
                            peer_addr: peer.clone(),
                            client_addr: client,
                        },
                    )
                })
                .collect(),
        ),
        (None, false) => Bootstrap::Single,
    };
    let admin_token = match &config.admin_token {
        Some(t) => AdminToken::Given(t.clone()),
        None => AdminToken::GenerateInto(config.data_dir.join("admin-token")),
    };
    let engine = Arc::new(engine);
    let opts = RunOptions {
        raft,
        engine: engine.clone(),
        blobs: Arc::new(blobs),
        dialer: Arc::new(TcpDialer),
        cluster_secret: cluster_secret(&config)?,
        bootstrap,
        admin_token,
        data_dir: Some(config.data_dir.clone()),
        min_free_bytes: config.min_free_bytes,
    };
    tracing::info!(id = config.id, listen = %config.listen, peer = %config.peer_listen, "vexil starting");
    let (running, done) = run_with(opts, net, api_listener, peer_listener, shutdown).await?;
    running.app.subscribers.set_caps(config.stream_caps);
    if let Some(schedule) = config.backup.clone() {
        tracing::info!(dir = %schedule.dir.display(), every = ?schedule.every, keep = schedule.keep, "scheduled backups on");
        crate::schedule::spawn(running.raft.clone(), schedule);
    }
    // A Raft core that stopped on an error (an entry this release cannot
    // read, a failed disk) ends the process with its reason, rather than
    // leaving a node that answers 503 forever. Its store is as after a
    // crash, which a restart handles.
    tokio::select! {
        r = done => r.context("shutting down")?,
        why = running.raft.fatal() => {
            tracing::error!(%why, "the Raft core stopped; this node stops");
            anyhow::bail!("the Raft core stopped: {why}");
        }
    }
    // Applied state is written unlogged (`Durability::Unlogged`): flushed
    // here, a restart does not re-apply the log since the last flush.
    tokio::task::spawn_blocking(move || engine.persist())
        .await
        .context("flushing the store")?
        .context("flushing the store")?;
    Ok(())
}
