//! The snapshot file format: every pair of some column families, plus opaque
//! metadata, with a checksum over the whole file.
//!
//! ```text
//! "VXSNAP01"                                   magic, 8 bytes
//! { tag u8, klen u32, key, vlen u32, value }*  one record per pair (LE lengths)
//! 0xFF                                         end of records
//! meta                                         caller's metadata (JSON)
//! meta_len u32, count u64, checksum u64        footer; checksum = xxh3-64 of all bytes before it
//! ```
//!
//! Readers verify the record count and checksum before they report success,
//! so a torn or corrupted file is refused rather than half-applied. Snapshots
//! sent between nodes and backups share this format.

use std::io::{self, Read, SeekFrom, Write};

use xxhash_rust::xxh3::Xxh3;

use crate::blob::{BlobReader, BlobWriter};
use crate::engine::Record;
use crate::{Cf, StorageError};

const MAGIC: &[u8; 8] = b"VXSNAP01";
const END: u8 = 0xFF;
const FOOTER: u64 = 4 + 8 + 8;
/// No key or value we write comes near this; a larger length means damage.
const MAX_RECORD: usize = 64 << 20;

/// The running xxh3 of a file (a newtype so that owners can derive Debug).
struct Checksum(Xxh3);

impl std::fmt::Debug for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checksum")
    }
}

/// Writes records, then the footer on [`SnapshotWriter::finish`].
#[derive(Debug)]
pub struct SnapshotWriter {
    out: Box<dyn BlobWriter>,
    /// Running checksum of everything written so far.
    hash: Checksum,
    count: u64,
}

impl SnapshotWriter {
    pub fn new(out: Box<dyn BlobWriter>) -> Result<Self, StorageError> {
        let mut w = SnapshotWriter {
            out,
            hash: Checksum(Xxh3::new()),
            count: 0,
        };
        w.put(MAGIC)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.hash.0.update(bytes);
        self.out.write_all(bytes)?;
        Ok(())
    }

    fn put_len(&mut self, len: usize) -> Result<(), StorageError> {
        let len = u32::try_from(len)
            .map_err(|_| StorageError::Corrupt(format!("record of {len} bytes is too large")))?;
        self.put(&len.to_le_bytes())
    }

    pub fn record(&mut self, cf: Cf, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.put(&[cf.tag()])?;
        self.put_len(key.len())?;
        self.put(key)?;
        self.put_len(value.len())?;
        self.put(value)?;
        self.count += 1;
        Ok(())
    }

    /// Writes the metadata and footer, and commits the blob atomically.
    pub fn finish(mut self, meta: &[u8]) -> Result<u64, StorageError> {
        self.put(&[END])?;
        self.put(meta)?;
        self.put_len(meta.len())?;
        self.put(&self.count.to_le_bytes())?;
        let checksum = self.hash.0.digest();
        self.out.write_all(&checksum.to_le_bytes())?;
        self.out.commit()?;
        Ok(self.count)
    }
}

fn corrupt(msg: impl Into<String>) -> StorageError {
    StorageError::Corrupt(msg.into())
}

fn read_u32(r: &mut (impl Read + ?Sized)) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut (impl Read + ?Sized)) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Reads only the metadata, from the footer.
pub fn read_meta(reader: &mut dyn BlobReader) -> Result<Vec<u8>, StorageError> {
    let len = reader.len();
    if len < MAGIC.len() as u64 + 1 + FOOTER {
        return Err(corrupt(format!(
            "not a Vexil snapshot or backup file: {len} bytes is shorter than any"
        )));
    }
    reader.seek(SeekFrom::Start(len - FOOTER))?;
    let meta_len = u64::from(read_u32(reader)?);
    let meta_start = (len - FOOTER)
        .checked_sub(meta_len)
        .ok_or_else(|| corrupt("snapshot footer names more metadata than the file holds"))?;
    reader.seek(SeekFrom::Start(meta_start))?;
    let mut meta = vec![0u8; meta_len as usize];
    reader.read_exact(&mut meta)?;
    reader.seek(SeekFrom::Start(0))?;
    Ok(meta)
}

/// Iterates the records; the last item is an error if the count or the
/// checksum does not match. Call [`Records::meta`] after exhausting it.
#[derive(Debug)]
pub struct Records<'a> {
    reader: io::BufReader<&'a mut dyn BlobReader>,
    hash: Checksum,
    count: u64,
    /// Set once the end marker and footer have been read and verified.
    meta: Option<Vec<u8>>,
    failed: bool,
}

impl<'a> Records<'a> {
    pub fn new(reader: &'a mut dyn BlobReader) -> Result<Self, StorageError> {
        reader.seek(SeekFrom::Start(0))?;
        let mut r = Records {
            reader: io::BufReader::with_capacity(1 << 20, reader),
            hash: Checksum(Xxh3::new()),
            count: 0,
            meta: None,
            failed: false,
        };
        let mut magic = [0u8; 8];
        let not_ours =
            || corrupt("not a Vexil snapshot or backup file (it does not start with VXSNAP01)");
        r.take_exact(&mut magic).map_err(|_| not_ours())?;
        if &magic != MAGIC {
            return Err(not_ours());
        }
        Ok(r)
    }

    /// The metadata, once every record was read and verified.
    pub fn meta(&self) -> Option<&[u8]> {
        self.meta.as_deref()
    }

    fn take_exact(&mut self, buf: &mut [u8]) -> Result<(), StorageError> {
        self.reader
            .read_exact(buf)
            .map_err(|e| corrupt(format!("the snapshot or backup file is cut short: {e}")))?;
        self.hash.0.update(buf);
        Ok(())
    }

    fn take_vec(&mut self) -> Result<Vec<u8>, StorageError> {
        let mut len = [0u8; 4];
        self.take_exact(&mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_RECORD {
            return Err(corrupt(format!(
                "record of {len} bytes exceeds the {MAX_RECORD}-byte limit"
            )));
        }
        let mut v = vec![0u8; len];
        self.take_exact(&mut v)?;
        Ok(v)
    }

    fn next_record(&mut self) -> Result<Option<Record>, StorageError> {
        let mut tag = [0u8; 1];
        self.take_exact(&mut tag)?;
        if tag[0] == END {
            self.finish()?;
            return Ok(None);
        }
        let cf = Cf::from_tag(tag[0]).ok_or_else(|| corrupt(format!("unknown tag {}", tag[0])))?;
        let key = self.take_vec()?;
        let value = self.take_vec()?;
        self.count += 1;
        Ok(Some((cf, key, value)))
    }

    fn finish(&mut self) -> Result<(), StorageError> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest)?;
        let footer_start = rest
            .len()
            .checked_sub(FOOTER as usize)
            .ok_or_else(|| corrupt("snapshot footer truncated"))?;
        let (body, footer) = rest.split_at(footer_start);
        let meta_len = body.len();
        self.hash.0.update(body);
        let mut f = footer;
        let stored_len = read_u32(&mut f)? as usize;
        self.hash.0.update(&footer[..4]);
        let count = read_u64(&mut f)?;
        self.hash.0.update(&footer[4..12]);
        let checksum = read_u64(&mut f)?;
        if stored_len != meta_len || count != self.count {
            return Err(corrupt(format!(
                "snapshot holds {} records, footer says {count}",
                self.count
            )));
        }
        if checksum != self.hash.0.digest() {
            return Err(corrupt("snapshot checksum mismatch"));
        }
        self.meta = Some(body.to_vec());
        Ok(())
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.meta.is_some() {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Verifies a whole file and returns its metadata and record count.
pub fn verify(reader: &mut dyn BlobReader) -> Result<(Vec<u8>, u64), StorageError> {
    let mut records = Records::new(reader)?;
    let mut n = 0u64;
    for r in records.by_ref() {
        r?;
        n += 1;
    }
    let meta = records
        .meta()
        .ok_or_else(|| corrupt("snapshot ended early"))?
        .to_vec();
    Ok((meta, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobStore, MemBlobStore};

    fn sample(store: &MemBlobStore) {
        let mut w = SnapshotWriter::new(store.create("s").unwrap()).unwrap();
        w.record(Cf::Flags, b"a", b"1").unwrap();
        w.record(Cf::Audit, b"e1", &[7u8; 300]).unwrap();
        assert_eq!(w.finish(b"{\"m\":1}").unwrap(), 2);
    }

    #[test]
    fn round_trip_and_meta() {
        let store = MemBlobStore::new();
        sample(&store);
        let mut r = store.open("s").unwrap().unwrap();
        assert_eq!(read_meta(r.as_mut()).unwrap(), b"{\"m\":1}");
        let (meta, n) = verify(r.as_mut()).unwrap();
        assert_eq!((meta.as_slice(), n), (&b"{\"m\":1}"[..], 2));
        let recs: Vec<_> = Records::new(r.as_mut())
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(recs[0], (Cf::Flags, b"a".to_vec(), b"1".to_vec()));
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let store = MemBlobStore::new();
        sample(&store);
        let mut bytes = Vec::new();
        store
            .open("s")
            .unwrap()
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x5a;
            let mut w = store.create("bad").unwrap();
            w.write_all(&bad).unwrap();
            w.commit().unwrap();
            let mut r = store.open("bad").unwrap().unwrap();
            assert!(
                verify(r.as_mut()).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
        let mut w = store.create("short").unwrap();
        w.write_all(&bytes[..bytes.len() / 2]).unwrap();
        w.commit().unwrap();
        assert!(verify(store.open("short").unwrap().unwrap().as_mut()).is_err());
    }

    /// A file that is not a backup at all (a config file, a JSON export)
    /// is called that, not "truncated".
    #[test]
    fn a_file_that_is_not_a_backup_is_named_so() {
        let store = MemBlobStore::new();
        for (name, body) in [("tiny", &b"{}"[..]), ("text", &b"flags:\n  - key: a\n"[..])] {
            let mut w = store.create(name).unwrap();
            w.write_all(body).unwrap();
            w.commit().unwrap();
            let err = verify(store.open(name).unwrap().unwrap().as_mut()).unwrap_err();
            assert!(
                err.to_string()
                    .contains("not a Vexil snapshot or backup file"),
                "{name}: {err}"
            );
        }
    }
}
