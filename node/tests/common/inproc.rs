//! One node in this process: in-memory stores, real HTTP on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use vexil_node::net::dial::TcpDialer;
use vexil_node::server::{self, AdminToken, Bootstrap, RunOptions, Running};
use vexil_raft::{Member, RaftConfig};
use vexil_storage::{MemBlobStore, MemEngine};

pub const ADMIN: &str = "inproc-admin-token-0123456789";

/// A running in-process node and its base URL.
pub struct Node {
    pub url: String,
    pub running: Running,
    pub http: reqwest::Client,
    /// Dropping it shuts the node down.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Ends when the shutdown finished.
    done: Option<tokio::task::JoinHandle<()>>,
}

impl Node {
    pub async fn start() -> Node {
        Self::start_with(vexil_raft::state::FeedConfig::default()).await
    }

    pub async fn start_with(feed: vexil_raft::state::FeedConfig) -> Node {
        Self::start_on(
            feed,
            Arc::new(MemEngine::new()),
            Arc::new(MemBlobStore::new()),
        )
        .await
    }

    /// Starts a node on the given stores, which may hold an earlier node's
    /// state (a restart).
    pub async fn start_on(
        feed: vexil_raft::state::FeedConfig,
        engine: Arc<MemEngine>,
        blobs: Arc<MemBlobStore>,
    ) -> Node {
        Self::start_configured(engine, blobs, |raft| raft.feed = feed).await
    }

    /// Starts a node on the given stores, after `configure` adjusted its
    /// Raft settings.
    pub async fn start_configured(
        engine: Arc<MemEngine>,
        blobs: Arc<MemBlobStore>,
        configure: impl FnOnce(&mut RaftConfig),
    ) -> Node {
        let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let member = Member {
            peer_addr: peer.local_addr().unwrap().to_string(),
            client_addr: api.local_addr().unwrap().to_string(),
        };
        let url = format!("http://{}", member.client_addr);
        let mut raft = RaftConfig::new(1, member);
        raft.heartbeat = Duration::from_millis(50);
        raft.election_timeout = (Duration::from_millis(150), Duration::from_millis(300));
        configure(&mut raft);
        let opts = RunOptions {
            raft,
            engine,
            blobs,
            dialer: Arc::new(TcpDialer),
            cluster_secret: "inproc-cluster-secret".into(),
            bootstrap: Bootstrap::Single,
            admin_token: AdminToken::Given(ADMIN.into()),
            data_dir: None,
            min_free_bytes: 0,
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (running, done) = server::run(opts, api, peer, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let node = Node {
            url,
            running,
            http,
            stop: Some(tx),
            done: Some(done),
        };
        // Ready for a test once its token works and the node has created
        // project `default` (a new cluster's first entries), so that every
        // test starts from the same log.
        for _ in 0..400 {
            if node.get("/v1/me", ADMIN).await.status() == 200
                && node.get("/v1/projects/default", ADMIN).await.status() == 200
            {
                return node;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the first admin token or project default never appeared");
    }

    /// Starts a graceful shutdown and waits (at most `limit`) for it to end.
    /// Returns whether it ended in time.
    #[allow(dead_code)]
    pub async fn shutdown(&mut self, limit: Duration) -> bool {
        self.stop.take();
        match self.done.take() {
            Some(done) => tokio::time::timeout(limit, done).await.is_ok(),
            None => true,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, Some(ADMIN), Some(body))
            .await
    }

    /// Creates a token with `role`, returning its secret.
    pub async fn token(&self, name: &str, role: &str) -> String {
        let r = self
            .post(
                "/v1/tokens",
                &serde_json::json!({"name": name, "role": role}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let v: serde_json::Value = r.json().await.unwrap();
        v["secret"].as_str().unwrap().to_owned()
    }
}
