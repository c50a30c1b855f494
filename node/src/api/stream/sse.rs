//! The bytes `/v1/stream` sends, encoded once and shared by every subscriber.
//!
//! **Why the snapshot stays one SSE event.** The Rust SDK (`sdk/src/sync.rs`)
//! and any client built on `EventSource` expect one `snapshot` event holding
//! the whole state, so the wire format is unchanged. What changes is who
//! owns its bytes: the JSON of the flags and segments (the bulk of the
//! event) is encoded once per state into a [`SnapshotBody`] that every
//! subscriber starting from that state shares through an `Arc`, and a
//! subscriber's body hands it to hyper in slices of at most [`CHUNK`] bytes,
//! pulled one at a time as the socket takes them. Each slice is a `Bytes`
//! that points into the shared body (no copy). So a subscriber that stops
//! reading owns a few small frames and a reference, never a copy of the
//! state: 5,000 stalled subscribers of a 500 KB state hold one 500 KB body,
//! not 2.5 GB. (Splitting the snapshot into several events would bound it
//! too, but every SDK would have to learn a new event.)
//!
//! Only the event's head (`event:`, `id:` and the JSON's `"id"`) and tail
//! (`"cluster_id"`) are per subscriber, so subscribers at different applied
//! indexes still share the body while no flag or segment changed.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use vexil_flags::wire::{ChangeEvent, StateSnapshot};
use vexil_flags::{Flag, Segment};

/// The largest slice of a snapshot handed to hyper at once.
pub const CHUNK: usize = 16 << 10;

/// The comment sent when a stream has been idle for the keep-alive interval
/// (what axum's `KeepAlive::text("keep-alive")` sent before).
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// `"flags":[…],"segments":[…]`: the shared middle of a snapshot event.
#[derive(Debug)]
pub struct SnapshotBody {
    bytes: Vec<u8>,
}

impl SnapshotBody {
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// A slice of a shared body; a `Bytes` made from it keeps the body alive
/// without copying it.
struct Slice(Arc<SnapshotBody>, Range<usize>);

impl AsRef<[u8]> for Slice {
    fn as_ref(&self) -> &[u8] {
        self.0.bytes.get(self.1.clone()).unwrap_or_default()
    }
}

/// One subscriber's snapshot event, handed out frame by frame: its own
/// head, the shared body in [`CHUNK`]s, its own tail.
#[derive(Debug)]
pub struct SnapshotFrames {
    head: Option<Bytes>,
    body: Option<Arc<SnapshotBody>>,
    /// How much of `body` was handed out.
    at: usize,
    tail: Option<Bytes>,
}

impl SnapshotFrames {
    /// The shared body, while some of it is still to be sent.
    pub fn body(&self) -> Option<&Arc<SnapshotBody>> {
        self.body.as_ref()
    }
}

impl Iterator for SnapshotFrames {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if let Some(head) = self.head.take() {
            return Some(head);
        }
        if let Some(body) = &self.body {
            let end = body.len().min(self.at + CHUNK);
            let slice = Bytes::from_owner(Slice(body.clone(), self.at..end));
            self.at = end;
            if end >= body.len() {
                // The last slice holds the body from here on, until hyper
                // has written it.
                self.body = None;
            }
            if !slice.is_empty() {
                return Some(slice);
            }
        }
        self.tail.take()
    }
}

/// The encodings shared by every subscriber of this node: the latest change
/// event and the latest snapshot body.
#[derive(Debug, Default)]
pub struct Encoded {
    /// The latest change as an SSE event: a write fans out to thousands of
    /// streams on a node, and serialising it once per stream was most of
    /// the fan-out's cost.
    change: Mutex<Option<(Arc<ChangeEvent>, Bytes)>>,
    /// The latest snapshot body and the flags and segments it encodes
    /// (compared by pointer: a changed flag is a new `Arc`).
    snapshot: Mutex<Option<SnapshotCache>>,
    /// Snapshot bodies encoded so far (a cache miss each).
    pub snapshots_encoded: AtomicU64,
}

#[derive(Debug)]
struct SnapshotCache {
    flags: Vec<Arc<Flag>>,
    segments: Vec<Arc<Segment>>,
    body: Arc<SnapshotBody>,
}

fn same<T>(a: &[Arc<T>], b: &[Arc<T>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

impl Encoded {
    /// The SSE `change` event for `c`.
    pub fn change(&self, c: &Arc<ChangeEvent>) -> Bytes {
        let mut last = self.change.lock().unwrap_or_else(PoisonError::into_inner);
        // Every subscriber gets the same `Arc` from the broadcast.
        if let Some((seen, bytes)) = &*last
            && Arc::ptr_eq(seen, c)
        {
            return bytes.clone();
        }
        let bytes = match serde_json::to_vec(&**c) {
            Ok(json) => {
                let mut out = format!("event: change\nid: {}\ndata: ", c.id).into_bytes();
                out.extend_from_slice(&json);
                out.extend_from_slice(b"\n\n");
                Bytes::from(out)
            }
            Err(_) => Bytes::from_static(b": unserializable change\n\n"),
        };
        *last = Some((c.clone(), bytes.clone()));
        bytes
    }

    /// The SSE `snapshot` event for `s`, sharing the body of the last
    /// snapshot when its flags and segments are the same.
    pub fn snapshot(&self, s: &StateSnapshot) -> SnapshotFrames {
        let body = {
            let mut cache = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
            match &*cache {
                Some(c) if same(&c.flags, &s.flags) && same(&c.segments, &s.segments) => {
                    Some(c.body.clone())
                }
                _ => {
                    // Encoded under the lock: subscribers arriving together
                    // wait for one encoding rather than each making their own.
                    let body = encode_body(s).map(Arc::new);
                    self.snapshots_encoded.fetch_add(1, Ordering::Relaxed);
                    *cache = body.clone().map(|body| SnapshotCache {
                        flags: s.flags.clone(),
                        segments: s.segments.clone(),
                        body,
                    });
                    body
                }
            }
        };
        let Some(body) = body else {
            return SnapshotFrames {
                head: None,
                body: None,
                at: 0,
                tail: Some(Bytes::from_static(b": unserializable snapshot\n\n")),
            };
        };
        let head = format!("event: snapshot\nid: {0}\ndata: {{\"id\":{0},", s.id);
        let tail = if s.cluster_id.is_empty() {
            "}\n\n".to_owned()
        } else {
            // A JSON string of a string cannot fail.
            let id = serde_json::to_string(&s.cluster_id).unwrap_or_default();
            format!(",\"cluster_id\":{id}}}\n\n")
        };
        SnapshotFrames {
            head: Some(Bytes::from(head)),
            body: Some(body),
            at: 0,
            tail: Some(Bytes::from(tail)),
        }
    }
}

/// `"flags":[…],"segments":[…]`, as serde writes those fields of a
/// [`StateSnapshot`].
fn encode_body(s: &StateSnapshot) -> Option<SnapshotBody> {
    let mut bytes = b"\"flags\":".to_vec();
    serde_json::to_writer(&mut bytes, &s.flags).ok()?;
    bytes.extend_from_slice(b",\"segments\":");
    serde_json::to_writer(&mut bytes, &s.segments).ok()?;
    Some(SnapshotBody { bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(key: &str, padding: usize) -> Arc<Flag> {
        let json = serde_json::json!({
            "key": key,
            "kind": "string",
            "variations": [{"value": "x".repeat(padding)}, {"value": "b"}],
            "off_variation": 1,
            "fallthrough": {"variation": 0},
            "enabled": true,
        });
        Arc::new(serde_json::from_value(json).unwrap())
    }

    fn snapshot(id: u64, cluster_id: &str, flags: Vec<Arc<Flag>>) -> StateSnapshot {
        StateSnapshot {
            id,
            flags,
            segments: Vec::new(),
            cluster_id: cluster_id.into(),
        }
    }

    fn concat(frames: SnapshotFrames) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut largest = 0;
        for f in frames {
            largest = largest.max(f.len());
            out.extend_from_slice(&f);
        }
        (out, largest)
    }

    #[test]
    fn the_chunked_snapshot_is_the_event_serde_would_write() {
        let encoded = Encoded::default();
        let flags: Vec<_> = (0..20).map(|i| flag(&format!("f{i}"), 5_000)).collect();
        for cluster in ["", "c-1\"quoted"] {
            let s = snapshot(7, cluster, flags.clone());
            let (bytes, largest) = concat(encoded.snapshot(&s));
            let want = format!(
                "event: snapshot\nid: 7\ndata: {}\n\n",
                serde_json::to_string(&s).unwrap()
            );
            assert_eq!(String::from_utf8(bytes).unwrap(), want);
            assert!(largest <= CHUNK, "a frame of {largest} bytes");
        }
    }

    /// A subscriber that stopped reading holds a reference to the one
    /// shared body and the frames it was handed, whatever the state's size.
    #[test]
    fn stalled_subscribers_share_one_body() {
        let encoded = Encoded::default();
        let flags: Vec<_> = (0..50).map(|i| flag(&format!("f{i}"), 10_000)).collect();
        let mut stalled = Vec::new();
        for id in 1..=100 {
            // Different applied indexes, same flags: one body.
            let mut frames = encoded.snapshot(&snapshot(id, "c", flags.clone()));
            let head = frames.next().unwrap();
            let first = frames.next().unwrap();
            assert!(head.len() < 100 && first.len() == CHUNK);
            stalled.push((frames, head, first));
        }
        assert_eq!(encoded.snapshots_encoded.load(Ordering::Relaxed), 1);
        let body = stalled[0].0.body().unwrap().clone();
        assert!(body.len() > 500_000, "{}", body.len());
        // The cache, each subscriber's cursor and the slice it was handed,
        // and ours: nothing else owns the body.
        assert_eq!(Arc::strong_count(&body), 1 + 2 * stalled.len() + 1);
        // What a subscriber owns besides the shared body: a head and a
        // pending tail (the slices point into the body).
        let owned: usize = stalled
            .iter()
            .map(|(f, h, _)| h.len() + f.tail.as_ref().map_or(0, Bytes::len))
            .sum::<usize>()
            / stalled.len();
        assert!(owned < 128, "{owned} bytes per subscriber");
        // A changed flag is a new body.
        let mut changed = flags.clone();
        changed[0] = flag("f0", 3);
        let _ = encoded.snapshot(&snapshot(101, "c", changed));
        assert_eq!(encoded.snapshots_encoded.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_change_is_encoded_once() {
        let encoded = Encoded::default();
        let c = Arc::new(ChangeEvent {
            id: 9,
            prev_id: 4,
            change: vexil_flags::wire::Change::FlagDelete { key: "k".into() },
        });
        let a = encoded.change(&c);
        let b = encoded.change(&c);
        assert_eq!(a.as_ptr(), b.as_ptr());
        let text = String::from_utf8(a.to_vec()).unwrap();
        assert_eq!(
            text,
            format!(
                "event: change\nid: 9\ndata: {}\n\n",
                serde_json::to_string(&*c).unwrap()
            )
        );
    }
}
