//! The change feed at scale: N raw SSE subscribers on a follower; each write
//! at the leader is timed from its acknowledgement to its arrival at every
//! subscriber. Also the follower's resident memory per subscriber.
//!
//! The subscribers share this machine's CPU with the node they measure, and
//! on loopback the node's send path also pays for waking the receiving
//! process. So they are as cheap as we can make them: one thread reading
//! every socket through one `mio` poll, and after each round of reads it
//! sleeps [`COALESCE`] before polling again. Data that lands meanwhile waits
//! in the socket (no wakeup for the sender to pay); its arrival is stamped
//! when it is read, so the pause only ever makes a latency larger. Remote
//! SDKs, each on its own machine, cost the node neither the wakeup nor the
//! CPU.

use std::io::{ErrorKind, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::common::{cluster, flag, histogram, http, ms, part_row, rss_kib, table};

/// Connections opened at once: more overflows the node's accept backlog,
/// and the dropped SYNs come back only after a one-second retransmit.
const CONNECTING: usize = 256;

/// The receiving thread's pause between rounds of reads.
const COALESCE: Duration = Duration::from_micros(500);

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The benchmark write a `change` event carries, from its `"key":"feed-{i}"`.
fn write_number(block: &[u8]) -> Option<usize> {
    let at = find(block, b"\"feed-")? + b"\"feed-".len();
    let digits = block.get(at..)?;
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(digits.get(..len)?).ok()?.parse().ok()
}

/// Takes every complete event (ending in a blank line) off the front of
/// `buf` and returns the benchmark writes among them. The body is chunked,
/// and each event is one chunk; the framing between chunks (`\r\n`, the
/// size, `\r\n`) never contains a blank line, so it only pads the next
/// block and splitting on `\n\n` still finds every event.
fn take_events(buf: &mut Vec<u8>, mut each: impl FnMut(usize)) {
    let mut start = 0;
    while let Some(end) = find(&buf[start..], b"\n\n") {
        let block = &buf[start..start + end + 2];
        start += end + 2;
        if find(block, b"event: change").is_some()
            && let Some(i) = write_number(block)
        {
            each(i);
        }
    }
    buf.drain(..start);
}

/// Opens one subscription over plain TCP (retrying) and returns it once the
/// first `snapshot` event has arrived, with any bytes read past it.
async fn open(addr: &str, token: &str) -> anyhow::Result<(std::net::TcpStream, Vec<u8>)> {
    let request = format!(
        "GET /v1/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    let mut tries = 0;
    loop {
        tries += 1;
        match open_once(addr, &request).await {
            Ok(opened) => return Ok(opened),
            Err(e) if tries >= 10 => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn open_once(addr: &str, request: &str) -> anyhow::Result<(std::net::TcpStream, Vec<u8>)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(4096);
    let mut head_checked = false;
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            anyhow::bail!("stream closed before its snapshot");
        }
        if !head_checked && let Some(end) = find(&buf, b"\r\n\r\n") {
            let status = buf.split(|b| *b == b'\n').next().unwrap_or_default();
            anyhow::ensure!(
                find(status, b" 200 ").is_some(),
                "stream: {}",
                String::from_utf8_lossy(status).trim()
            );
            buf.drain(..end + 4);
            head_checked = true;
        }
        if head_checked
            && let Some(at) = find(&buf, b"event: snapshot")
            && let Some(end) = find(&buf[at..], b"\n\n")
        {
            buf.drain(..at + end + 2);
            return Ok((stream.into_std()?, buf));
        }
    }
}

/// What the receiving thread shares with the benchmark's driver.
#[derive(Default)]
struct Progress {
    /// `change` events of benchmark writes received, over all subscribers.
    seen: AtomicUsize,
    /// Subscriptions that ended (the node closed them, or a read failed).
    ended: AtomicUsize,
    stop: AtomicBool,
}

/// The receiving thread: registers each opened subscription, reads them all,
/// and returns, per write, the instant its event was read on each one.
fn receive(
    opened: mpsc::Receiver<(std::net::TcpStream, Vec<u8>)>,
    writes: usize,
    progress: &Progress,
) -> anyhow::Result<Vec<Vec<Instant>>> {
    let mut poll = mio::Poll::new()?;
    let mut events = mio::Events::with_capacity(1024);
    let mut subs: Vec<Option<(mio::net::TcpStream, Vec<u8>)>> = Vec::new();
    let mut arrivals = vec![Vec::new(); writes];
    let mut scratch = vec![0u8; 16 * 1024];
    while !progress.stop.load(Ordering::Relaxed) {
        while let Ok((stream, buf)) = opened.try_recv() {
            let mut stream = mio::net::TcpStream::from_std(stream);
            poll.registry().register(
                &mut stream,
                mio::Token(subs.len()),
                mio::Interest::READABLE,
            )?;
            subs.push(Some((stream, buf)));
        }
        poll.poll(&mut events, Some(Duration::from_millis(20)))?;
        if events.is_empty() {
            continue;
        }
        for event in &events {
            let Some(slot) = subs.get_mut(event.token().0) else {
                continue;
            };
            let Some((stream, buf)) = slot.as_mut() else {
                continue;
            };
            let mut open = true;
            loop {
                match stream.read(&mut scratch) {
                    Ok(0) => {
                        open = false;
                        break;
                    }
                    Ok(n) => {
                        let now = Instant::now();
                        buf.extend_from_slice(&scratch[..n]);
                        take_events(buf, |i| {
                            if let Some(times) = arrivals.get_mut(i) {
                                times.push(now);
                                progress.seen.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        open = false;
                        break;
                    }
                }
            }
            if !open {
                *slot = None;
                progress.ended.fetch_add(1, Ordering::Relaxed);
            }
        }
        std::thread::sleep(COALESCE);
    }
    Ok(arrivals)
}

/// Opens `n` subscriptions to `addr` and hands each to the receiving thread
/// once it has its first snapshot; returns when all have.
async fn connect_all(
    addr: &str,
    token: &str,
    n: usize,
    to_receiver: mpsc::Sender<(std::net::TcpStream, Vec<u8>)>,
) -> anyhow::Result<()> {
    let connecting = Arc::new(Semaphore::new(CONNECTING));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (addr, token) = (addr.to_owned(), token.to_owned());
        let (connecting, to_receiver) = (connecting.clone(), to_receiver.clone());
        tasks.spawn(async move {
            let _permit = connecting.acquire().await?;
            let opened = open(&addr, &token)
                .await
                .map_err(|e| anyhow::anyhow!("subscriber {i}: {e:#}"))?;
            to_receiver
                .send(opened)
                .map_err(|_| anyhow::anyhow!("the receiving thread stopped"))
        });
    }
    let started = Instant::now();
    let all = tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        anyhow::Ok(())
    })
    .await;
    anyhow::ensure!(all.is_ok(), "not every subscriber connected within 300 s");
    all.unwrap_or(Ok(()))?;
    eprintln!("{n} subscribers connected in {:.1?}", started.elapsed());
    Ok(())
}

pub async fn run(
    bin: &Path,
    dir: &Path,
    subscribers: usize,
    writes: usize,
    interval_ms: u64,
) -> anyhow::Result<()> {
    let mut c = cluster(bin, dir, "feed", 3, &[]).await?;
    let leader = tokio::task::block_in_place(|| c.wait_leader(Duration::from_secs(30)))?;
    let follower = *c
        .nodes
        .keys()
        .find(|id| **id != leader)
        .ok_or_else(|| anyhow::anyhow!("no follower"))?;
    let token = c.spec.admin_token.clone();
    let client = http();
    let (leader_url, follower_url) = (c.url(leader), c.url(follower));
    for _ in 0..200 {
        if client
            .get(format!("{follower_url}/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = c.nodes.get(&follower).and_then(|n| n.pid).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(pid);
    let progress = Arc::new(Progress::default());
    let (to_receiver, opened) = mpsc::channel();
    let receiver = {
        let progress = progress.clone();
        std::thread::spawn(move || receive(opened, writes, &progress))
    };
    let follower_addr = follower_url.trim_start_matches("http://").to_owned();
    let connected = connect_all(&follower_addr, &token, subscribers, to_receiver).await;
    if let Err(e) = connected {
        progress.stop.store(true, Ordering::Relaxed);
        return Err(e);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);
    eprintln!("follower {follower} (pid {pid}) RSS {rss_before} KiB -> {rss_after} KiB");
    let mut acks = Vec::new();
    for i in 0..writes {
        let r = client
            .post(format!("{leader_url}/v1/flags"))
            .bearer_auth(&token)
            .json(&flag(&format!("feed-{i}")))
            .send()
            .await?;
        acks.push(Instant::now());
        anyhow::ensure!(r.status() == 201, "write failed: {}", r.status());
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
    }
    // Wait until every subscriber saw every write (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    while progress.seen.load(Ordering::Relaxed) < writes * subscribers && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    progress.stop.store(true, Ordering::Relaxed);
    let arrivals = tokio::task::spawn_blocking(move || receiver.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the receiving thread panicked"))??;
    let ended = progress.ended.load(Ordering::Relaxed);
    if ended > 0 {
        eprintln!("{ended} subscriptions ended before the last write arrived");
    }
    let mut h = histogram();
    let mut missing = 0usize;
    for (ack, times) in acks.iter().zip(&arrivals) {
        missing += subscribers.saturating_sub(times.len());
        for t in times {
            let _ = h.record(t.saturating_duration_since(*ack).as_micros() as u64);
        }
    }
    let (p50, p99, max) = ms(&h);
    let per_sub = (rss_after.saturating_sub(rss_before)) as f64 / subscribers as f64;
    table(
        &format!(
            "Change feed: {subscribers} SSE subscribers on a follower, {writes} writes at the leader, one per {interval_ms} ms"
        ),
        &[
            "subscribers",
            "propagation p50 ms",
            "p99 ms",
            "max ms",
            "missed",
            "follower RSS before → after",
            "per subscriber",
        ],
        &[vec![
            subscribers.to_string(),
            format!("{p50:.1}"),
            format!("{p99:.1}"),
            format!("{max:.1}"),
            missing.to_string(),
            format!("{} → {} MiB", rss_before / 1024, rss_after / 1024),
            format!("{per_sub:.1} KiB"),
        ]],
    );
    println!();
    let m = |metric: &str, v: String| part_row("feed", metric, &v, "–", "–");
    m(
        &format!("{subscribers} subscribers on a follower: ack → arrival p50 ms"),
        format!("{p50:.1}"),
    );
    m("ack → arrival p99 ms (goal ≤ 100)", format!("{p99:.1}"));
    m("ack → arrival max ms", format!("{max:.1}"));
    m(
        &format!(
            "(write, subscriber) pairs missed of {}",
            writes * subscribers
        ),
        missing.to_string(),
    );
    m(
        "follower RSS per subscriber KiB (goal ≤ 16)",
        format!("{per_sub:.1}"),
    );
    tokio::task::spawn_blocking(move || c.down()).await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{find, take_events, write_number};

    #[test]
    fn a_change_event_names_its_benchmark_write() {
        let block = b"event: change\nid: 7\ndata: {\"key\":\"feed-12\",\"on\":true}\n\n";
        assert_eq!(write_number(block), Some(12));
        assert_eq!(
            write_number(b"event: change\ndata: {\"key\":\"other\"}\n\n"),
            None
        );
        assert_eq!(write_number(b"data: {\"key\":\"feed-\"}\n\n"), None);
        assert_eq!(find(b"ab\n\ncd\n\n", b"\n\n"), Some(2));
        assert_eq!(find(b"ab", b"\n\n"), None);
    }

    #[test]
    fn events_are_found_between_chunk_frames_and_across_reads() {
        // Two chunks as hyper frames them, the second cut short mid-read.
        let mut buf = b"2d\r\nevent: change\nid: 4\ndata: {\"key\":\"feed-3\"}\n\n\r\n2e\r\nevent: change\nid: 5\ndata: {\"key\":\"feed-".to_vec();
        let mut seen = Vec::new();
        take_events(&mut buf, |i| seen.push(i));
        assert_eq!(seen, [3]);
        // The rest of the second event arrives; a keep-alive follows.
        buf.extend_from_slice(b"14\"}\n\n\r\nd\r\n:keep-alive\n\n\r\n");
        take_events(&mut buf, |i| seen.push(i));
        assert_eq!(seen, [3, 14]);
        assert_eq!(buf, b"\r\n");
    }
}
