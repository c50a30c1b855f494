//! The HTTP client behind every client command: one node's URL and a
//! token, JSON in and out, errors typed by [`CliError`].

use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use serde_json::Value;

use super::error::CliError;

/// How long one API call may take (backups stream without a deadline).
const TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to one node.
#[derive(Debug, Clone)]
pub struct Client {
    http: Http,
    /// Without a trailing slash, e.g. `http://127.0.0.1:7070`.
    pub url: String,
    token: Option<String>,
}

impl Client {
    pub fn new(url: &str, token: Option<String>) -> Result<Client, CliError> {
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
        Ok(Client { http, url, token })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> CliError {
        CliError::Unreachable {
            url: self.url.clone(),
            message: e.to_string(),
        }
    }

    /// Sends a request; a non-2xx answer becomes [`CliError::Api`].
    pub fn send(&self, req: RequestBuilder) -> Result<Response, CliError> {
        let resp = req.send().map_err(|e| self.unreachable(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap_or(Value::Null);
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        Err(CliError::Api {
            status,
            code: text("error").unwrap_or_else(|| status.to_string()),
            message: text("message").unwrap_or_default(),
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
        let mut req = self.request(method, path).timeout(TIMEOUT);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.send(req)?;
        let bytes = resp.bytes().map_err(|e| self.unreachable(&e))?;
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
