//! A fixed-size text buffer on the stack, so formatting a number for bucketing
//! or padding a semver ("1.2" → "1.2.0") never touches the heap.

use std::fmt;

/// Bytes written through [`fmt::Write`]; a write that would overflow fails
/// rather than truncating, so a caller never hashes or parses half a value.
#[derive(Debug)]
pub(crate) struct StackBuf<const N: usize> {
    /// The storage; only `bytes[..len]` is meaningful.
    bytes: [u8; N],
    /// How many bytes have been written.
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        StackBuf {
            bytes: [0; N],
            len: 0,
        }
    }

    /// The text written so far. Only whole `&str`s are ever copied in, so the
    /// bytes are always UTF-8; the fallback to `""` is unreachable.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let slot = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::StackBuf;
    use std::fmt::Write;

    #[test]
    fn writes_until_full_then_fails_without_truncating() {
        let mut buf = StackBuf::<4>::new();
        write!(buf, "ab").unwrap();
        assert!(write!(buf, "cde").is_err());
        assert_eq!(buf.as_str(), "ab");
        write!(buf, "cd").unwrap();
        assert_eq!(buf.as_str(), "abcd");
    }
}
