//! A tiny HTTP client for the workload, over the simulated network.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use vexil_node::net::dial::DialConnector;

use crate::net::SimDialer;

/// The admin token every simulated cluster starts with.
pub const ADMIN: &str = "simulated-admin-token-0123456789";

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ok {
        status: u16,
        body: Value,
        /// `X-Vexil-Unchanged: true`: the write changed nothing (a toggle
        /// to the state the flag already has answers, after a read
        /// barrier, with the flag as it is).
        unchanged: bool,
    },
    /// No answer in time, or the connection broke: the outcome is unknown.
    Unknown(String),
}

#[derive(Clone)]
pub struct Api {
    client: Client<DialConnector, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Api")
    }
}

impl Api {
    pub fn new(timeout: Duration) -> Api {
        let client =
            Client::builder(TokioExecutor::new()).build(DialConnector(Arc::new(SimDialer)));
        Api { client, timeout }
    }

    pub async fn call(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&Value>,
    ) -> Reply {
        let mut req = http::Request::builder()
            .method(method)
            .uri(url)
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let Ok(req) = req.body(Full::new(body)) else {
            return Reply::Unknown("bad request".into());
        };
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let unchanged = resp
                .headers()
                .get("x-vexil-unchanged")
                .is_some_and(|v| v.as_bytes() == b"true");
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok::<_, String>(Reply::Ok {
                status,
                body,
                unchanged,
            })
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Reply::Unknown(e),
            Err(_) => Reply::Unknown("timed out".into()),
        }
    }
}
