//! The peer RPC client: our [`Transport`] over HTTP/1.1 with keep-alive.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use vexil_raft::transport::SNAPSHOT_PATH;
use vexil_raft::{Rpc, Transport, TransportError};
use vexil_storage::blob::BlobReader;

use super::dial::{DialConnector, Dialer};
use super::{SECRET_HEADER, TO_HEADER};

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// Bytes per chunk when streaming a snapshot.
const CHUNK: usize = 1 << 20;

/// Sends peer RPCs, carrying the cluster secret.
#[derive(Debug, Clone)]
pub struct PeerTransport {
    client: Client<DialConnector, Body>,
    /// Sent in [`SECRET_HEADER`] on every request.
    secret: Arc<str>,
}

impl PeerTransport {
    pub fn new(dialer: Arc<dyn Dialer>, secret: &str) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(DialConnector(dialer));
        PeerTransport {
            client,
            secret: secret.into(),
        }
    }

    async fn post(
        client: Client<DialConnector, Body>,
        secret: Arc<str>,
        (to, addr): (u64, String),
        path: &'static str,
        body: Body,
    ) -> Result<Vec<u8>, TransportError> {
        let req = http::Request::post(format!("http://{addr}{path}"))
            .header(SECRET_HEADER, &*secret)
            .header(TO_HEADER, to)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| TransportError::Network {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        let resp = client.request(req).await.map_err(|e| {
            if e.is_connect() {
                TransportError::Unreachable {
                    addr: addr.clone(),
                    reason: with_causes(&e),
                }
            } else {
                TransportError::Network {
                    addr: addr.clone(),
                    reason: with_causes(&e),
                }
            }
        })?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| TransportError::Network {
                addr: addr.clone(),
                reason: e.to_string(),
            })?
            .to_bytes();
        if status == http::StatusCode::MISDIRECTED_REQUEST {
            return Err(TransportError::Misdirected {
                addr,
                to,
                reason: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        if !status.is_success() {
            return Err(TransportError::Network {
                addr,
                reason: format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
            });
        }
        Ok(bytes.to_vec())
    }

    fn with_timeout(
        &self,
        to: u64,
        addr: &str,
        timeout: Duration,
        path: &'static str,
        body: Body,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        let (client, secret, addr) = (self.client.clone(), self.secret.clone(), addr.to_owned());
        Box::pin(async move {
            match tokio::time::timeout(
                timeout,
                Self::post(client, secret, (to, addr.clone()), path, body),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(TransportError::Timeout {
                    addr,
                    after: timeout,
                }),
            }
        })
    }
}

fn full(bytes: Vec<u8>) -> Body {
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The snapshot body: `[u32 header length][header][snapshot file]`, streamed
/// a chunk at a time so a large snapshot never sits whole in memory. Reads
/// happen on the sending task (a chunk is about a millisecond of disk), which
/// keeps the simulation deterministic.
fn snapshot_body(header: Vec<u8>, data: Box<dyn BlobReader>) -> Body {
    let mut first = u32::try_from(header.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes()
        .to_vec();
    first.extend_from_slice(&header);
    let stream = futures::stream::unfold(
        (Some(first), data, false),
        |(first, mut data, done)| async move {
            if done {
                return None;
            }
            if let Some(f) = first {
                return Some((Ok(Frame::data(Bytes::from(f))), (None, data, false)));
            }
            let mut buf = vec![0u8; CHUNK];
            match data.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Frame::data(Bytes::from(buf))), (None, data, false)))
                }
                Err(e) => Some((Err(e), (None, data, true))),
            }
        },
    );
    StreamBody::new(stream).boxed_unsync()
}

impl Transport for PeerTransport {
    fn call(
        &self,
        to: u64,
        addr: &str,
        rpc: Rpc,
        body: Vec<u8>,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        self.with_timeout(to, addr, timeout, rpc.path(), full(body))
    }

    fn send_snapshot(
        &self,
        to: u64,
        addr: &str,
        header: Vec<u8>,
        data: Box<dyn BlobReader>,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        let body = snapshot_body(header, data);
        self.with_timeout(to, addr, timeout, SNAPSHOT_PATH, body)
    }
}

/// An error and its causes: hyper's own words ("client error (Connect)")
/// do not say what an operator needs ("Connection refused").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
