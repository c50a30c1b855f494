//! Networking: the HTTP/1 server loop both listeners run (`http`), with
//! its connection caps and timeouts (`limits`, `stall`) and the back-off
//! after failed authentication (`guard`); how we dial, and the peer RPC
//! client and server.

pub mod dial;
pub mod guard;
pub mod http;
pub mod limits;
pub mod peer_client;
pub mod peer_server;
pub mod stall;

/// The header that carries the cluster secret on every peer request.
pub const SECRET_HEADER: &str = "x-vexil-cluster-secret";

/// The header that names the node a peer request is meant for; a node with
/// another id answers 421 (`vexil_raft::Transport`). Requests without it
/// (from nodes older than this header) are served as before.
pub const TO_HEADER: &str = "x-vexil-to";

/// The IP address a request came from, put in every request's extensions by
/// [`http::serve`] when the listener knows one (TCP does; the simulation's
/// in-memory listener may not). Caps and back-off per source key on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);
