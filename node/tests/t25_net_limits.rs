//! What a client without credentials can make a node hold (issue 21): no
//! body is read before authentication, slow or idle connections are closed,
//! connections per IP are capped, and repeated failed authentication backs
//! off, and a response whose client stops reading is dropped. Each test starts one in-process node on 127.0.0.1 with small limits
//! and speaks raw HTTP/1 over TCP, to send headers without a body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vexil_node::net::dial::TcpDialer;
use vexil_node::net::guard::Backoff;
use vexil_node::net::limits::NetLimits;
use vexil_node::server::{self, AdminToken, Bootstrap, RunOptions};
use vexil_raft::{Member, RaftConfig};
use vexil_storage::{MemBlobStore, MemEngine};

const ADMIN: &str = "net-limits-admin-token-0123456789";
const SECRET: &str = "net-limits-cluster-secret";
/// The bound on every wait for an answer: far above the limits under test.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// A node's addresses; dropping it stops the node.
struct Node {
    api: String,
    peer: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Limits small enough to see in a test.
fn small() -> NetLimits {
    let mut net = NetLimits::default();
    for l in [&mut net.api, &mut net.peer] {
        l.per_ip = 8;
        l.total = 64;
        l.header_read = Duration::from_millis(300);
        l.idle = Duration::from_millis(600);
        l.write_stall = Duration::from_millis(600);
    }
    net.backoff = Backoff {
        failures: 3,
        window: Duration::from_secs(60),
    };
    net
}

async fn start(net: NetLimits) -> Node {
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let member = Member {
        peer_addr: peer.local_addr().unwrap().to_string(),
        client_addr: api.local_addr().unwrap().to_string(),
    };
    let (api_addr, peer_addr) = (member.client_addr.clone(), member.peer_addr.clone());
    let mut raft = RaftConfig::new(1, member);
    raft.heartbeat = Duration::from_millis(50);
    raft.election_timeout = (Duration::from_millis(150), Duration::from_millis(300));
    let opts = RunOptions {
        raft,
        engine: Arc::new(MemEngine::new()),
        blobs: Arc::new(MemBlobStore::new()),
        dialer: Arc::new(TcpDialer),
        cluster_secret: SECRET.into(),
        bootstrap: Bootstrap::Single,
        admin_token: AdminToken::Given(ADMIN.into()),
        data_dir: None,
        min_free_bytes: 0,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    server::run_with(opts, net, api, peer, async move {
        let _ = rx.await;
    })
    .await
    .unwrap();
    let node = Node {
        api: api_addr,
        peer: peer_addr,
        _stop: tx,
    };
    // `/readyz` needs no token: polling with the admin token before it
    // exists would count as failed authentication.
    poll_until(|| async { exchange(&node.api, &get("/readyz", None)).await == 200 }).await;
    node
}

/// Polls `ok` (every 20 ms, for at most [`ANSWER_WITHIN`]).
async fn poll_until<F: std::future::Future<Output = bool>>(mut ok: impl FnMut() -> F) {
    let started = Instant::now();
    while !ok().await {
        assert!(started.elapsed() < ANSWER_WITHIN, "timed out polling");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn get(path: &str, token: Option<&str>) -> String {
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    format!("GET {path} HTTP/1.1\r\nhost: x\r\n{auth}connection: close\r\n\r\n")
}

/// Sends `request` (headers only, or a whole request) on a new connection
/// and returns the answer's status (0 if the connection closed without one).
async fn exchange(addr: &str, request: &str) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    status(&mut s).await
}

/// The status of the next answer on `s`, or 0 if it closed first.
async fn status(s: &mut TcpStream) -> u16 {
    let mut buf = vec![0u8; 1024];
    let mut got = 0;
    let read = async {
        loop {
            match s.read(&mut buf[got..]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
            if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") || got == buf.len() {
                return;
            }
        }
    };
    tokio::time::timeout(ANSWER_WITHIN, read)
        .await
        .expect("no answer and no close");
    let head = String::from_utf8_lossy(&buf[..got]);
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Headers announcing a 1 GiB body, none of which is sent.
fn huge_post(path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: 1073741824\r\n{extra}\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t25_peer_requests_are_refused_before_their_body_is_read() {
    let node = start(small()).await;
    // Before the fix the handler waited for all 1 GiB before checking.
    for extra in ["", "x-vexil-cluster-secret: wrong-secret-0123456789\r\n"] {
        for path in ["/raft/append", "/raft/vote", "/raft/snapshot"] {
            let got = exchange(&node.peer, &huge_post(path, extra)).await;
            assert_eq!(got, 401, "{path} {extra:?}");
        }
    }
    // With the secret, a body over the route's limit is refused unread.
    let secret = format!("x-vexil-cluster-secret: {SECRET}\r\nx-vexil-to: 1\r\n");
    for path in ["/raft/vote", "/raft/write", "/raft/append"] {
        let got = exchange(&node.peer, &huge_post(path, &secret)).await;
        assert_eq!(got, 413, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t25_ofrep_without_a_token_is_refused_before_its_body() {
    let node = start(small()).await;
    // Under the 1 MiB API limit, so only authentication can refuse it early.
    let headers = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: 1000000\r\n\r\n"
        )
    };
    for path in ["/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/x"] {
        assert_eq!(exchange(&node.api, &headers(path)).await, 401, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t25_slow_and_idle_connections_are_closed() {
    let node = start(small()).await;
    for addr in [&node.api, &node.peer] {
        // Slowloris: headers started, never finished.
        let started = Instant::now();
        let got = exchange(addr, "GET /healthz HTTP/1.1\r\nhost: x\r\n").await;
        assert!(got == 0 || got == 408, "{got}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        // Idle: connected, nothing sent (hyper's header timer runs from
        // the connection's start for its first request).
        let started = Instant::now();
        assert_eq!(exchange(addr, "").await, 0);
        assert!(started.elapsed() >= Duration::from_millis(300));
        // Idle after a keep-alive request.
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let first = status(&mut s).await;
        assert!(first == 200 || first == 404, "{first}");
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(ANSWER_WITHIN, s.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "an idle keep-alive connection stayed open");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t25_connections_per_ip_are_capped() {
    let node = start(small()).await;
    let keep_alive = get("/healthz", None).replace("connection: close\r\n", "");
    let mut held = Vec::new();
    while held.len() < 8 {
        // Each answered once, so each is surely counted. (One may be
        // refused while the server is still closing `start`'s last poll.)
        let mut s = TcpStream::connect(&node.api).await.unwrap();
        s.write_all(keep_alive.as_bytes()).await.unwrap();
        match status(&mut s).await {
            200 => held.push(s),
            0 => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("{other}"),
        }
    }
    // The ninth is closed at accept, without an answer.
    assert_eq!(exchange(&node.api, &get("/healthz", None)).await, 0);
    // The peer port counts apart.
    assert_ne!(exchange(&node.peer, &get("/healthz", None)).await, 0);
    // A place freed is a place to take again.
    drop(held.pop());
    poll_until(|| async { exchange(&node.api, &get("/healthz", None)).await == 200 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t25_repeated_failed_authentication_backs_off_with_429() {
    let node = start(small()).await;
    let wrong = get("/v1/flags", Some("not-a-token-0123456789"));
    for _ in 0..3 {
        assert_eq!(exchange(&node.api, &wrong).await, 401);
    }
    // Counted in /metrics (before this address is backed off).
    let mut s = TcpStream::connect(&node.api).await.unwrap();
    s.write_all(get("/metrics", None).as_bytes()).await.unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    assert!(
        text.contains("vexil_auth_failures_total{port=\"api\",reason=\"wrong\"}"),
        "{text}"
    );
    // The fourth failure starts the back-off: every request from this
    // address, a valid token's included, gets 429 with Retry-After.
    assert_eq!(exchange(&node.api, &wrong).await, 401);
    let mut s = TcpStream::connect(&node.api).await.unwrap();
    s.write_all(get("/v1/me", Some(ADMIN)).as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: "),
        "{answer}"
    );
    // The peer port keeps its own count: a wrong secret is 401 there.
    let bad = "POST /raft/vote HTTP/1.1\r\nhost: x\r\nx-vexil-cluster-secret: nope\r\n\
               content-length: 0\r\n\r\n";
    for _ in 0..4 {
        assert_eq!(exchange(&node.peer, bad).await, 401);
    }
    assert_eq!(exchange(&node.peer, bad).await, 429);
}

/// `vexil_sse_subscribers` on `addr`'s `/metrics` (no token needed).
async fn sse_subscribers(addr: &str) -> u64 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(get("/metrics", None).as_bytes()).await.unwrap();
    let mut text = String::new();
    tokio::time::timeout(ANSWER_WITHIN, s.read_to_string(&mut text))
        .await
        .expect("no /metrics answer")
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("vexil_sse_subscribers "))
        .and_then(|v| v.trim().parse().ok())
        .expect("no vexil_sse_subscribers in /metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t25_a_stream_whose_client_stops_reading_is_closed_by_the_write_stall_timeout() {
    let mut net = small();
    net.api.write_stall = Duration::from_secs(1);
    let node = start(net).await;
    // About 8 MB of state: a snapshot larger than both sockets' buffers,
    // so writing it blocks once the client stops reading.
    let http = reqwest::Client::new();
    for i in 0..27 {
        let flag = serde_json::json!({
            "key": format!("big{i}"),
            "kind": "string",
            "variations": (0..10)
                .map(|v| serde_json::json!({"value": format!("{v}{}", "x".repeat(30_000))}))
                .collect::<Vec<_>>(),
            "off_variation": 0,
            "fallthrough": {"variation": 0},
        });
        let r = http
            .post(format!("http://{}/v1/flags", node.api))
            .bearer_auth(ADMIN)
            .json(&flag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    // A subscriber with a small receive window that never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(node.api.parse().unwrap()).await.unwrap();
    stalled
        .write_all(
            get("/v1/stream", Some(ADMIN))
                .replace("connection: close\r\n", "")
                .as_bytes(),
        )
        .await
        .unwrap();
    // Admitted: the status line arrives before the snapshot (read it, and
    // nothing more, so no poll has to catch the subscriber in time).
    let mut status = [0u8; 12];
    tokio::time::timeout(ANSWER_WITHIN, stalled.read_exact(&mut status))
        .await
        .expect("no answer to the stream request")
        .unwrap();
    assert_eq!(&status, b"HTTP/1.1 200", "the stream was not admitted");
    // Nothing is written to the cluster meanwhile, so nothing but the
    // stalled write can end the stream: the node drops it once the write
    // has made no progress for `write_stall` (1 s).
    poll_until(|| async { sse_subscribers(&node.api).await == 0 }).await;
    // The client, reading at last, gets what was buffered, then the end.
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(ANSWER_WITHIN, stalled.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the stalled connection stayed open");
    assert!(
        rest.len() < 8_000_000,
        "the whole snapshot was sent ({} bytes)",
        rest.len()
    );
}
