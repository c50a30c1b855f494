//! A small HTTP/1.1 client over a pluggable [`Connector`], so the same SDK
//! runs over TCP or over the simulation's network.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A byte stream to a node.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Opens a stream to `host:port`.
pub trait Connector: Send + Sync + Debug + 'static {
    fn connect(&self, addr: &str) -> BoxFuture<'static, io::Result<Box<dyn Io>>>;
}

/// Plain TCP.
#[derive(Debug, Clone, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect(&self, addr: &str) -> BoxFuture<'static, io::Result<Box<dyn Io>>> {
        let addr = addr.to_owned();
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(&addr).await?;
            s.set_nodelay(true)?;
            Ok(Box::new(s) as Box<dyn Io>)
        })
    }
}

pub(crate) struct Stream(Box<dyn Io>);

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}
impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}
impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

#[derive(Clone)]
pub(crate) struct Dial(Arc<dyn Connector>);

impl tower_service::Service<http::Uri> for Dial {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let c = self.0.clone();
        Box::pin(async move {
            let authority = uri
                .authority()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "url has no host"))?
                .to_string();
            Ok(TokioIo::new(Stream(c.connect(&authority).await?)))
        })
    }
}

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Transport(String),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
}

/// The SDK's HTTP client.
#[derive(Clone)]
pub(crate) struct Http {
    client: Client<Dial, Full<Bytes>>,
    token: Arc<str>,
}

impl Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

impl Http {
    pub(crate) fn new(connector: Arc<dyn Connector>, token: &str) -> Http {
        Http {
            client: Client::builder(TokioExecutor::new()).build(Dial(connector)),
            token: token.into(),
        }
    }

    fn request(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<http::Request<Full<Bytes>>, HttpError> {
        let mut req = http::Request::builder().method(method).uri(url).header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", self.token),
        );
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(Full::new(body))
            .map_err(|e| HttpError::Transport(e.to_string()))
    }

    /// Sends a request; answers its head within `timeout`.
    pub(crate) async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        timeout: std::time::Duration,
    ) -> Result<http::Response<Incoming>, HttpError> {
        let req = self.request(method, url, headers, body)?;
        match tokio::time::timeout(timeout, self.client.request(req)).await {
            Err(_) => Err(HttpError::Timeout(timeout)),
            Ok(Err(e)) => Err(HttpError::Transport(e.to_string())),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    /// Reads a whole body within `timeout`.
    pub(crate) async fn body(
        resp: http::Response<Incoming>,
        timeout: std::time::Duration,
    ) -> Result<Bytes, HttpError> {
        match tokio::time::timeout(timeout, resp.into_body().collect()).await {
            Err(_) => Err(HttpError::Timeout(timeout)),
            Ok(Err(e)) => Err(HttpError::Transport(e.to_string())),
            Ok(Ok(b)) => Ok(b.to_bytes()),
        }
    }

    /// Fails on a non-2xx answer, reading its body for the message.
    pub(crate) async fn ok(
        resp: http::Response<Incoming>,
        timeout: std::time::Duration,
    ) -> Result<http::Response<Incoming>, HttpError> {
        let status = resp.status();
        if status.is_success() || status == http::StatusCode::NOT_MODIFIED {
            return Ok(resp);
        }
        let body = Self::body(resp, timeout).await.unwrap_or_default();
        Err(HttpError::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).chars().take(300).collect(),
        })
    }
}
