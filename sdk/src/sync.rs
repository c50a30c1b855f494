//! The background work: keep the local copy current, write the cache, send
//! metrics.
//!
//! Streaming: connect to one node's `/v1/stream` (with `Last-Event-ID` once
//! we have state), apply every event, and on any failure move to the next
//! node after an exponential backoff with jitter. When a node answers but its
//! stream fails, poll its `/v1/sdk/flags` instead until streaming works again.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use http_body_util::BodyExt;
use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use tokio::sync::watch;
use vexil_flags::wire::{ChangeEvent, StateSnapshot};

use crate::cache;
use crate::client::{Inner, Status};
use crate::http::{Http, HttpError};
use crate::store::Applied;

/// The header naming the cluster our state came from (see the node's feed).
const CLUSTER_HEADER: &str = "x-vexil-cluster-id";

/// Exponential backoff with "equal jitter": each wait is uniform in
/// `[d/2, d]`, and `d` doubles up to `max`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            next: initial,
        }
    }
    pub(crate) fn reset(&mut self) {
        self.next = self.initial;
    }
    pub(crate) fn wait(&mut self, rng: &mut impl Rng) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = d / 2;
        half + Duration::from_nanos(
            rng.random_range(0..=u64::try_from(half.as_nanos()).unwrap_or(u64::MAX)),
        )
    }
}

/// How one streaming attempt ended.
#[derive(Debug)]
enum Outcome {
    /// The stream worked for a while, then ended: reconnect promptly.
    Served(String),
    /// A change arrived whose predecessor we never saw: resume at once.
    Gap,
    /// The stream could not be used at all.
    Failed(String),
}

/// Loads the cache file, if configured: evaluation can start from it.
pub(crate) fn load_cache(inner: &Inner) {
    let Some(path) = &inner.config.cache_file else {
        return;
    };
    match cache::load(path) {
        Ok(Some((state, written_at))) => {
            inner.store.replace(state);
            inner.status.send_replace(Status::Stale {
                since: written_at,
                reason: "serving the cache file until a node answers".into(),
            });
        }
        Ok(None) => {}
        Err(e) => {
            let msg = format!("ignoring cache file {}: {e}", path.display());
            tracing::warn!("{msg}");
            *inner
                .cache_warning
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(msg);
        }
    }
}

fn mark_down(inner: &Inner, reason: String, tried_all: bool) {
    let loaded = inner.store.id().is_some();
    inner.status.send_modify(|s| {
        let next = match &*s {
            Status::Stale { since, .. } => Status::Stale {
                since: *since,
                reason,
            },
            _ if loaded => Status::Stale {
                since: Utc::now(),
                reason,
            },
            _ if tried_all => Status::Offline { reason },
            other => other.clone(),
        };
        *s = next;
    });
}

fn mark_ready(inner: &Inner) {
    inner.status.send_if_modified(|s| {
        let changed = *s != Status::Ready;
        *s = Status::Ready;
        changed
    });
}

/// Bytes of a body, failing when nothing (not even a keep-alive) arrives
/// within `read_timeout`.
fn body_bytes(
    body: hyper::body::Incoming,
    read_timeout: Duration,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        loop {
            match tokio::time::timeout(read_timeout, body.frame()).await {
                Err(_) => {
                    let e = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("nothing received for {read_timeout:?}"),
                    );
                    return Some((Err(e), None));
                }
                Ok(None) => return None,
                Ok(Some(Err(e))) => return Some((Err(std::io::Error::other(e.to_string())), None)),
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        return Some((Ok(data), Some(body)));
                    }
                }
            }
        }
    })
}

/// Regroups a body's chunks so that each one ends at a line break, holding
/// back a partial line until its end arrives.
///
/// `eventsource-stream` re-parses an unfinished line from its start on every
/// chunk (jpopesculian/eventsource-stream#11), which is quadratic in a long
/// line: a 10k-flag `snapshot` event is one line of several MB arriving in
/// thousands of chunks. Here each byte is scanned once.
fn whole_lines<S>(body: S) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>>
where
    S: futures::Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
{
    futures::stream::unfold(
        (Some(body), bytes::BytesMut::new()),
        |(body, mut pending)| async move {
            let mut body = body?;
            loop {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        let Some(end) = chunk.iter().rposition(|b| *b == b'\n' || *b == b'\r')
                        else {
                            pending.extend_from_slice(&chunk);
                            continue;
                        };
                        let out = if pending.is_empty() {
                            chunk.slice(..=end)
                        } else {
                            pending.extend_from_slice(&chunk[..=end]);
                            pending.split().freeze()
                        };
                        pending.extend_from_slice(&chunk[end + 1..]);
                        return Some((Ok(out), (Some(body), pending)));
                    }
                    Some(Err(e)) => return Some((Err(e), (None, pending))),
                    None if pending.is_empty() => return None,
                    None => {
                        let rest = pending.split().freeze();
                        return Some((Ok(rest), (None, pending)));
                    }
                }
            }
        },
    )
}

async fn stream_once(inner: &Inner, url: &str) -> Outcome {
    let last = inner.store.id().map(|i| i.to_string());
    let cluster = inner.store.cluster_id();
    let mut headers = vec![("accept", "text/event-stream")];
    if let Some(l) = &last {
        headers.push(("last-event-id", l.as_str()));
    }
    // Our ids mean something only in the cluster they came from.
    if let Some(c) = &cluster {
        headers.push((CLUSTER_HEADER, c.as_str()));
    }
    let timeout = inner.config.connect_timeout;
    let resp = match inner
        .http
        .send(
            http::Method::GET,
            &format!("{url}/v1/stream"),
            &headers,
            Bytes::new(),
            timeout,
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let resp = match Http::ok(resp, timeout).await {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if last.is_some() {
        // Resuming: the stream is live and will bring whatever we missed.
        mark_ready(inner);
    }
    let mut events = Box::pin(
        whole_lines(Box::pin(body_bytes(
            resp.into_body(),
            inner.config.read_timeout,
        )))
        .eventsource(),
    );
    let mut got_any = false;
    while let Some(ev) = events.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => return end(got_any, e.to_string()),
        };
        got_any = true;
        tracing::trace!(sdk = %inner.config.urls[0], node = %url, event = %ev.event, id = %ev.id, local = ?inner.store.id(), "event");
        match ev.event.as_str() {
            "snapshot" => match serde_json::from_str::<StateSnapshot>(&ev.data) {
                Ok(snap) => {
                    inner.store.replace(snap);
                    inner.dirty.notify_one();
                    mark_ready(inner);
                }
                Err(e) => return Outcome::Failed(format!("bad snapshot event: {e}")),
            },
            "change" => match serde_json::from_str::<ChangeEvent>(&ev.data) {
                Ok(change) => match inner.store.apply(&change) {
                    Applied::New => {
                        inner.dirty.notify_one();
                        mark_ready(inner);
                    }
                    Applied::Duplicate => {}
                    Applied::Gap => return Outcome::Gap,
                },
                Err(e) => return Outcome::Failed(format!("bad change event: {e}")),
            },
            _ => {}
        }
    }
    end(got_any, "the node closed the stream".into())
}

fn end(got_any: bool, reason: String) -> Outcome {
    if got_any {
        Outcome::Served(reason)
    } else {
        Outcome::Failed(reason)
    }
}

/// One poll of `/v1/sdk/flags`; `Ok` when the node answered.
async fn poll_once(inner: &Inner, url: &str) -> Result<(), HttpError> {
    let etag = inner.store.id().map(|i| format!("\"{i}\""));
    let cluster = inner.store.cluster_id();
    let mut headers: Vec<(&str, &str)> =
        etag.iter().map(|e| ("if-none-match", e.as_str())).collect();
    if let Some(c) = &cluster {
        headers.push((CLUSTER_HEADER, c.as_str()));
    }
    let timeout = inner.config.connect_timeout;
    let resp = inner
        .http
        .send(
            http::Method::GET,
            &format!("{url}/v1/sdk/flags"),
            &headers,
            Bytes::new(),
            timeout,
        )
        .await?;
    let resp = Http::ok(resp, timeout).await?;
    if resp.status() == http::StatusCode::NOT_MODIFIED {
        return Ok(());
    }
    let body = Http::body(resp, inner.config.read_timeout).await?;
    let snap: StateSnapshot =
        serde_json::from_slice(&body).map_err(|e| HttpError::Transport(e.to_string()))?;
    if inner.store.replace(snap) {
        inner.dirty.notify_one();
    }
    Ok(())
}

/// Sleeps unless shutdown comes first; returns false on shutdown.
async fn pause(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        biased;
        _ = shutdown.wait_for(|s| *s) => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// The streaming loop, until shutdown.
pub(crate) async fn run(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    let mut rng = match inner.config.seed {
        Some(s) => SmallRng::seed_from_u64(s),
        None => SmallRng::from_rng(&mut rand::rng()),
    };
    let urls = inner.config.urls.clone();
    let mut node = rng.random_range(0..urls.len());
    let mut backoff = Backoff::new(inner.config.backoff_initial, inner.config.backoff_max);
    let mut failed_in_row = 0usize;
    // Stream failures in a row on nodes whose polling endpoint worked.
    let mut polled_only = 0usize;
    loop {
        let url = &urls[node];
        inner.current.store(node, Ordering::Relaxed);
        let outcome = tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => return,
            o = stream_once(&inner, url) => o,
        };
        tracing::debug!(sdk = %urls[0], node = %url, ?outcome, local = ?inner.store.id(), "stream attempt ended");
        let wait = match outcome {
            Outcome::Gap => continue,
            Outcome::Served(reason) => {
                // It worked until now: reconnect promptly (to the next node);
                // the status turns stale only if that fails.
                failed_in_row = 0;
                polled_only = 0;
                backoff.reset();
                tracing::info!(node = %url, %reason, "stream ended; moving to the next node");
                backoff.wait(&mut rng)
            }
            Outcome::Failed(reason) => {
                failed_in_row += 1;
                match poll_once(&inner, url).await {
                    Ok(()) => {
                        mark_ready(&inner);
                        failed_in_row = 0;
                        polled_only += 1;
                        // Streams keep failing where polling works (a proxy
                        // that buffers SSE, say): poll on schedule, and try
                        // streaming again at each poll.
                        if polled_only >= 3 {
                            inner.config.poll_interval
                        } else {
                            backoff.wait(&mut rng)
                        }
                    }
                    Err(_) => {
                        tracing::debug!(node = %url, %reason, "node unavailable");
                        mark_down(&inner, reason, failed_in_row >= urls.len());
                        backoff.wait(&mut rng)
                    }
                }
            }
        };
        node = (node + 1) % urls.len();
        if !pause(wait, &mut shutdown).await {
            return;
        }
    }
}

/// Writes the cache file after changes, at most every 250 ms.
pub(crate) async fn write_cache(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    let Some(path) = inner.config.cache_file.clone() else {
        return;
    };
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => return,
            _ = inner.dirty.notified() => {}
        }
        if !pause(Duration::from_millis(250), &mut shutdown).await {
            return;
        }
        let Some(state) = inner.store.snapshot() else {
            continue;
        };
        let p = path.clone();
        match tokio::task::spawn_blocking(move || cache::store(&p, &state)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "could not write the cache file")
            }
            Err(e) => tracing::warn!(error = %e, "cache writer panicked"),
        }
    }
}

/// Sends the counts once; on failure they are kept for the next flush.
pub(crate) async fn flush_once(inner: &Inner) -> bool {
    let report = inner.counters.take();
    if report.flags.is_empty() {
        return true;
    }
    let Ok(body) = serde_json::to_vec(&report) else {
        return false;
    };
    let urls = &inner.config.urls;
    let start = inner.current.load(Ordering::Relaxed);
    for i in 0..urls.len() {
        let url = &urls[(start + i) % urls.len()];
        let sent = inner
            .http
            .send(
                http::Method::POST,
                &format!("{url}/v1/sdk/metrics"),
                &[("content-type", "application/json")],
                Bytes::from(body.clone()),
                inner.config.connect_timeout,
            )
            .await;
        if let Ok(resp) = sent
            && Http::ok(resp, inner.config.connect_timeout).await.is_ok()
        {
            return true;
        }
    }
    inner.counters.restore(report);
    false
}

/// Flushes metrics every interval, and once more at shutdown.
pub(crate) async fn flush_metrics(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if !pause(inner.config.metrics_flush_interval, &mut shutdown).await {
            return;
        }
        flush_once(&inner).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let waits: Vec<Duration> = (0..8).map(|_| b.wait(&mut rng)).collect();
        let caps = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (w, cap) in waits.iter().zip(caps) {
            let cap = Duration::from_millis(cap);
            assert!(
                *w >= cap / 2 && *w <= cap,
                "{w:?} not in [{:?}, {cap:?}]",
                cap / 2
            );
        }
        b.reset();
        assert!(b.wait(&mut rng) <= Duration::from_millis(100));
    }

    /// `text` as a body arriving in chunks of `size` bytes.
    fn body(
        text: &str,
        size: usize,
    ) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        let chunks: Vec<Result<Bytes, std::io::Error>> = text
            .as_bytes()
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::stream::iter(chunks)
    }

    /// Feeds `text` to `whole_lines` in chunks of `size` bytes.
    fn regroup(text: &str, size: usize) -> Vec<Bytes> {
        let out = whole_lines(body(text, size));
        futures::executor::block_on(out.map(|r| r.unwrap()).collect())
    }

    #[test]
    fn whole_lines_keeps_every_byte_and_ends_chunks_at_line_breaks() {
        let long = "x".repeat(300_000);
        let text = format!(
            "event: snapshot\r\nid: 7\r\ndata: {long}\r\n\r\n: keep-alive\n\nevent: change\rdata: {{}}\r\rtail"
        );
        for size in [1, 2, 3, 7, 4096, 65_536, text.len()] {
            let out = regroup(&text, size);
            let joined: Vec<u8> = out.iter().flat_map(|b| b.iter().copied()).collect();
            assert_eq!(joined, text.as_bytes(), "chunks of {size}");
            // Every chunk but the last (the unterminated tail) ends a line.
            let (last, rest) = out.split_last().unwrap();
            assert!(
                rest.iter().all(|c| matches!(c.last(), Some(b'\n' | b'\r'))),
                "chunks of {size}"
            );
            assert_eq!(&last[..], b"tail", "chunks of {size}");
            // The long line arrives whole, not in thousands of pieces.
            assert!(out.iter().any(|c| c.len() > long.len()), "chunks of {size}");
        }
    }

    #[test]
    fn whole_lines_through_the_parser_gives_the_same_events() {
        let long = "y".repeat(100_000);
        let text = format!(
            "event: snapshot\nid: 3\ndata: {long}\n\nevent: change\r\nid: 4\r\ndata: {{\"a\":1}}\r\n\r\n"
        );
        for size in [1, 5, 1000] {
            let events: Vec<_> = futures::executor::block_on(
                whole_lines(body(&text, size))
                    .eventsource()
                    .collect::<Vec<_>>(),
            );
            let events: Vec<_> = events.into_iter().map(|e| e.unwrap()).collect();
            assert_eq!(events.len(), 2, "chunks of {size}");
            assert_eq!(
                (events[0].event.as_str(), events[0].id.as_str()),
                ("snapshot", "3")
            );
            assert_eq!(events[0].data, long);
            assert_eq!(
                (
                    events[1].event.as_str(),
                    events[1].id.as_str(),
                    events[1].data.as_str()
                ),
                ("change", "4", "{\"a\":1}")
            );
        }
    }
}
