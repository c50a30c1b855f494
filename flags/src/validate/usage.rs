//! The state's limits ([`MAX_FLAGS`], [`MAX_SEGMENTS`], [`MAX_STATE_BYTES`]):
//! whether one more flag or segment, or a bigger one, still fits.
//!
//! **Where this runs, and why not in apply.** The check reads the state of
//! the node that received the write (its [`Catalog`]), like every other
//! input rule. Applying a log entry must never depend on a limit: a node of
//! an older release, or this release replaying entries written before the
//! limit, would apply differently and the replicas would diverge; and an
//! entry already in the log must still apply. So the limit is a guard at
//! the edge, not an invariant of the state machine: concurrent writes
//! through different nodes can overshoot it by the writes in flight
//! (bounded by the request rate), and a node whose mirror lags checks an
//! older state. That is enough for its job, to keep editors from filling
//! every node's memory.

use serde::Serialize;

use super::{Catalog, FieldError, code};
use crate::limits::{MAX_FLAGS, MAX_SEGMENTS, MAX_STATE_BYTES};

/// What a state holds, as the limits count it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateUsage {
    /// Flags.
    pub flags: usize,
    /// Segments.
    pub segments: usize,
    /// Flags and segments as JSON plus their compiled regexes, in bytes
    /// (see [`MAX_STATE_BYTES`]).
    pub bytes: usize,
}

/// A flag or segment in the state, by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored<'a> {
    /// The flag with this key.
    Flag(&'a str),
    /// The segment with this key.
    Segment(&'a str),
}

/// How many bytes `value` takes as JSON, without building the JSON.
pub(crate) fn json_bytes<T: Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and our types always serialise.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Whether the state, with `stored` replaced by a value of `bytes`, fits.
pub(super) fn fits(stored: Stored<'_>, bytes: usize, catalog: &dyn Catalog) -> Option<FieldError> {
    let usage = catalog.usage_except(stored)?;
    let (what, count, max) = match stored {
        Stored::Flag(_) => ("flags", usage.flags, MAX_FLAGS),
        Stored::Segment(_) => ("segments", usage.segments, MAX_SEGMENTS),
    };
    if count >= max {
        let msg = format!(
            "the state holds {count} {what}, the most it may; delete {what} no longer used first"
        );
        return Some(FieldError::new("key", code::STATE_FULL, msg));
    }
    let total = usage.bytes.saturating_add(bytes);
    if total > MAX_STATE_BYTES {
        let msg = format!(
            "the state would take {total} bytes (flags and segments as JSON plus compiled \
             regexes), over its limit of {MAX_STATE_BYTES}; delete flags or segments no \
             longer used first"
        );
        return Some(FieldError::new("key", code::STATE_FULL, msg));
    }
    None
}
