//! `BlobStore`: named files written atomically, for snapshots and backups.
//!
//! A blob becomes visible only when its writer commits: the bytes go to a
//! temporary name, are fsynced, renamed into place, and the directory is
//! fsynced. A crash mid-write leaves a temporary file that the next open
//! deletes, so a half-written snapshot never survives.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File};
use std::io::{self, BufWriter, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::StorageError;

/// Something readable and seekable, with a known length.
pub trait BlobReader: Read + Seek + Send + Debug {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A blob being written. Dropped without `commit`, it leaves nothing behind.
pub trait BlobWriter: Write + Send + Debug {
    /// Makes the blob durable and visible under its name, atomically.
    fn commit(self: Box<Self>) -> Result<(), StorageError>;
}

/// Named blobs. Implementations: [`FsBlobStore`] and [`MemBlobStore`].
pub trait BlobStore: Send + Sync + Debug + 'static {
    fn create(&self, name: &str) -> Result<Box<dyn BlobWriter>, StorageError>;
    fn open(&self, name: &str) -> Result<Option<Box<dyn BlobReader>>, StorageError>;
    /// Names of committed blobs, sorted.
    fn list(&self) -> Result<Vec<String>, StorageError>;
    fn remove(&self, name: &str) -> Result<(), StorageError>;
    /// Gives committed blob `from` the name `to` (replacing any blob of that
    /// name), atomically and durably.
    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError>;
}

const TMP_PREFIX: &str = ".tmp-";

/// Makes temporary names unique within the process.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Blobs as files in one directory.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    /// Holds committed blobs and, transiently, `.tmp-*` files.
    dir: PathBuf,
}

impl FsBlobStore {
    /// Opens `dir`, creating it, and deletes leftovers of interrupted writes.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        fs::create_dir_all(dir)?;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(FsBlobStore {
            dir: dir.to_owned(),
        })
    }

    fn check_name(name: &str) -> Result<(), StorageError> {
        check_name(name)
    }
}

/// Names are single path components that are not hidden: no `/`, no
/// leading `.` (which also rules out `..`).
pub(crate) fn check_name(name: &str) -> Result<(), StorageError> {
    if name.is_empty() || name.starts_with('.') || name.contains('/') {
        return Err(StorageError::Io(format!("invalid blob name {name:?}")));
    }
    Ok(())
}

#[derive(Debug)]
struct FsWriter {
    /// Buffered so small records don't each cost a syscall; taken on commit.
    file: Option<BufWriter<File>>,
    tmp: PathBuf,
    dest: PathBuf,
    dir: PathBuf,
}

impl Write for FsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("blob already committed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter for FsWriter {
    fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        let file = self
            .file
            .take()
            .ok_or_else(|| StorageError::Io("blob already committed".into()))?
            .into_inner()
            .map_err(|e| StorageError::from(e.into_error()))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.dest)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        // After a commit the temp name no longer exists; this only cleans up
        // abandoned writes.
        let _ = fs::remove_file(&self.tmp);
    }
}

#[derive(Debug)]
struct FsReader {
    file: File,
    len: u64,
}

impl Read for FsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}
impl Seek for FsReader {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}
impl BlobReader for FsReader {
    fn len(&self) -> u64 {
        self.len
    }
}

impl BlobStore for FsBlobStore {
    fn create(&self, name: &str) -> Result<Box<dyn BlobWriter>, StorageError> {
        Self::check_name(name)?;
        let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!("{TMP_PREFIX}{name}-{}-{seq}", std::process::id()));
        // Owner-only: a snapshot or backup holds every token hash.
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&tmp)?;
        Ok(Box::new(FsWriter {
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            tmp,
            dest: self.dir.join(name),
            dir: self.dir.clone(),
        }))
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn BlobReader>>, StorageError> {
        Self::check_name(name)?;
        match File::open(self.dir.join(name)) {
            Ok(file) => {
                let len = file.metadata()?.len();
                Ok(Some(Box::new(FsReader { file, len })))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn list(&self) -> Result<Vec<String>, StorageError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn remove(&self, name: &str) -> Result<(), StorageError> {
        Self::check_name(name)?;
        match fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        Self::check_name(from)?;
        Self::check_name(to)?;
        fs::rename(self.dir.join(from), self.dir.join(to))?;
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

/// Blobs in memory, shared by clones: the simulation's disk.
#[derive(Debug, Clone, Default)]
pub struct MemBlobStore {
    blobs: Arc<Mutex<BTreeMap<String, Arc<Vec<u8>>>>>,
}

impl MemBlobStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[derive(Debug)]
struct MemWriter {
    buf: Vec<u8>,
    name: String,
    blobs: Arc<Mutex<BTreeMap<String, Arc<Vec<u8>>>>>,
}

impl Write for MemWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for MemWriter {
    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let mut blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        blobs.insert(self.name.clone(), Arc::new(self.buf));
        Ok(())
    }
}

/// `Cursor` needs `AsRef<[u8]>`; `Arc<Vec<u8>>` only derefs to it.
#[derive(Debug, Clone)]
struct Shared(Arc<Vec<u8>>);
impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Debug)]
struct MemReader(Cursor<Shared>);

impl Read for MemReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
impl Seek for MemReader {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}
impl BlobReader for MemReader {
    fn len(&self) -> u64 {
        self.0.get_ref().0.len() as u64
    }
}

impl BlobStore for MemBlobStore {
    fn create(&self, name: &str) -> Result<Box<dyn BlobWriter>, StorageError> {
        Ok(Box::new(MemWriter {
            buf: Vec::new(),
            name: name.to_owned(),
            blobs: self.blobs.clone(),
        }))
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn BlobReader>>, StorageError> {
        let blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        Ok(blobs
            .get(name)
            .map(|b| Box::new(MemReader(Cursor::new(Shared(b.clone())))) as Box<dyn BlobReader>))
    }

    fn list(&self) -> Result<Vec<String>, StorageError> {
        let blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        Ok(blobs.keys().cloned().collect())
    }

    fn remove(&self, name: &str) -> Result<(), StorageError> {
        let mut blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        blobs.remove(name);
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let mut blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        let blob = blobs
            .remove(from)
            .ok_or_else(|| StorageError::Io(format!("no blob named {from:?}")))?;
        blobs.insert(to.to_owned(), blob);
        Ok(())
    }
}
