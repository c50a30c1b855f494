//! The last-known-good cache file.
//!
//! Written atomically (temp file, fsync, rename) with a checksum over the
//! state's bytes. A file that is not ours, is damaged, or fails its checksum
//! is reported and ignored, never trusted.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vexil_flags::wire::StateSnapshot;

const FORMAT: &str = "vexil-sdk-cache";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    written_at: DateTime<Utc>,
    /// Hex xxh3-64 of `state`'s bytes.
    checksum: String,
    /// The state as a JSON string, so the checksum covers exact bytes.
    state: String,
}

/// Why a cache file was not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a Vexil SDK cache file: {0}")]
    Foreign(String),
    #[error("damaged: {0}")]
    Damaged(String),
}

fn checksum(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// Loads a cache file; `Ok(None)` when there is none.
pub(crate) fn load(path: &Path) -> Result<Option<(StateSnapshot, DateTime<Utc>)>, CacheError> {
    let raw = match std::fs::read(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let file: File =
        serde_json::from_slice(&raw).map_err(|e| CacheError::Foreign(e.to_string()))?;
    if file.format != FORMAT || file.version != VERSION {
        return Err(CacheError::Foreign(format!(
            "format {:?} version {}",
            file.format, file.version
        )));
    }
    if checksum(file.state.as_bytes()) != file.checksum {
        return Err(CacheError::Damaged("checksum mismatch".into()));
    }
    let state =
        serde_json::from_str(&file.state).map_err(|e| CacheError::Damaged(e.to_string()))?;
    Ok(Some((state, file.written_at)))
}

/// Writes `state` to `path` atomically.
pub(crate) fn store(path: &Path, state: &StateSnapshot) -> std::io::Result<()> {
    let state = serde_json::to_string(state)?;
    let file = File {
        format: FORMAT.into(),
        version: VERSION,
        written_at: Utc::now(),
        checksum: checksum(state.as_bytes()),
        state,
    };
    let bytes = serde_json::to_vec(&file)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> StateSnapshot {
        StateSnapshot {
            id: 7,
            flags: vec![],
            segments: vec![],
            cluster_id: "c1".into(),
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        assert!(load(&path).unwrap().is_none());
        store(&path, &state()).unwrap();
        assert_eq!(load(&path).unwrap().unwrap().0.id, 7);

        let mut raw = std::fs::read_to_string(&path).unwrap();
        raw = raw.replace("\\\"id\\\":7", "\\\"id\\\":8");
        std::fs::write(&path, &raw).unwrap();
        assert!(matches!(load(&path), Err(CacheError::Damaged(_))));

        std::fs::write(&path, b"{\"hello\": \"world\"}").unwrap();
        assert!(matches!(load(&path), Err(CacheError::Foreign(_))));
        std::fs::write(&path, b"\x00\x01garbage").unwrap();
        assert!(matches!(load(&path), Err(CacheError::Foreign(_))));
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temp files left behind");
    }
}
