//! The HTTP client behind every client command: one node's URL and a
//! token, JSON in and out, errors typed by [`CliError`].
//!
//! Failures say what the operator can conclude: no connection (nothing was
//! sent), no answer in time (a change may still be made), or an answer
//! that is not a Vexil node's.

use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::{Client as Http, Request, RequestBuilder, Response};
use serde_json::Value;

use super::error::CliError;

/// How long one API call may take by default (`--timeout`; backups stream
/// without a deadline).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to one node.
#[derive(Debug, Clone)]
pub struct Client {
    http: Http,
    /// Without a trailing slash, e.g. `http://127.0.0.1:7070`.
    pub url: String,
    token: Option<String>,
    /// The limit on one API call.
    timeout: Duration,
}

impl Client {
    pub fn new(url: &str, token: Option<String>, timeout: Duration) -> Result<Client, CliError> {
        let url = url.trim_end_matches('/').to_owned();
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(CliError::Usage(format!(
                "--url {url:?} must start with http://"
            )));
        }
        let http = Http::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| CliError::local("building the HTTP client", e))?;
        Ok(Client {
            http,
            url,
            token,
            timeout,
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// What a transport failure of `method path` means for the operator.
    fn failed(&self, method: &Method, path: &str, e: &reqwest::Error) -> CliError {
        let change = *method != Method::GET;
        if e.is_timeout() && !e.is_connect() {
            CliError::NoAnswer {
                what: format!(
                    "no answer from {} to {method} {path} within {} (--timeout)",
                    self.url,
                    humantime::format_duration(self.timeout)
                ),
                change,
            }
        } else if e.is_connect() || e.is_builder() {
            CliError::Unreachable {
                url: self.url.clone(),
                message: chain(e),
            }
        } else {
            CliError::NoAnswer {
                what: format!(
                    "the connection to {} broke before {method} {path} was answered: {}",
                    self.url,
                    chain(e)
                ),
                change,
            }
        }
    }

    /// Sends a request; a non-2xx answer becomes [`CliError::Api`], or
    /// [`CliError::NotVexil`] when its body is not a Vexil error.
    pub fn send(&self, req: RequestBuilder) -> Result<Response, CliError> {
        let req: Request = req
            .build()
            .map_err(|e| CliError::Usage(format!("bad request to {}: {e}", self.url)))?;
        let method = req.method().clone();
        let path = req.url().path().to_owned();
        let resp = self
            .http
            .execute(req)
            .map_err(|e| self.failed(&method, &path, &e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let Some(code) = text("error") else {
            return Err(CliError::NotVexil {
                url: self.url.clone(),
                request: format!("{method} {path}"),
                status: status.to_string(),
                code: status.as_u16(),
            });
        };
        let mut message = text("message").unwrap_or_default();
        if status.as_u16() == 401 && self.token.is_none() {
            message = "no token given: pass one with --token or the VEXIL_TOKEN environment \
                variable (or `token` in the CLI config file)"
                .to_owned();
        }
        Err(CliError::Api {
            status: status.as_u16(),
            code,
            message,
            field: text("field"),
        })
    }

    /// A JSON call: `body` is sent as JSON, extra headers (`If-Match`) added.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Result<Value, CliError> {
        let mut req = self.request(method.clone(), path).timeout(self.timeout);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.send(req)?;
        let bytes = resp.bytes().map_err(|e| self.failed(&method, path, &e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::local("the node's answer is not JSON", e))
    }

    pub fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::GET, path, None, &[])
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.call(Method::POST, path, Some(body), &[])
    }

    pub fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::DELETE, path, None, &[])
    }

    /// A streamed GET with no overall deadline (backups).
    pub fn stream(&self, path: &str) -> Result<Response, CliError> {
        self.send(self.request(Method::GET, path))
    }

    /// Every item of a cursor-paged list (`{<field>: [...], next_cursor}`).
    pub fn all_pages(&self, path: &str, field: &str) -> Result<Vec<Value>, CliError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(c) => format!("{path}{sep}limit=1000&cursor={}", encode(c)),
                None => format!("{path}{sep}limit=1000"),
            };
            let page = self.get(&page_path)?;
            if let Some(items) = page.get(field).and_then(Value::as_array) {
                out.extend(items.iter().cloned());
            }
            cursor = page.get("next_cursor").and_then(|c| {
                c.as_str()
                    .map(str::to_owned)
                    .or_else(|| c.as_u64().map(|n| n.to_string()))
            });
            if cursor.is_none() {
                return Ok(out);
            }
        }
    }
}

/// An error with its causes (reqwest's own message is often just "error
/// sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Percent-encodes a path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
