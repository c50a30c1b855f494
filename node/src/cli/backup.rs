//! `vexil backup --to FILE`, `vexil backup --verify FILE` and
//! `vexil restore FILE --data-dir DIR --id N --initial-cluster …`.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use vexil_raft::{BackupInfo, Member};
use vexil_storage::blob::BlobReader;
use vexil_storage::{BlobStore, FsBlobStore, RocksEngine};

use super::output::{self, Format, Progress, outln};
use super::{CliError, Ctx};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Save a consistent backup, taken through the node at --url, to FILE
    /// (admin token; written to a temp name and renamed when complete).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "verify",
        conflicts_with = "verify"
    )]
    pub to: Option<PathBuf>,
    /// Check FILE's checksum and print what it holds.
    #[arg(long, value_name = "FILE")]
    pub verify: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file.
    pub file: PathBuf,
    /// The new member's data directory (must hold no store yet).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The new member's id.
    #[arg(long)]
    pub id: u64,
    /// Every member of the new cluster, `1=host:port,…` (peer addresses), the
    /// same on every member. Omitted: a one-node cluster whose peer address
    /// is `vexil serve`'s default, `ID=127.0.0.1:7071`.
    #[arg(long)]
    pub initial_cluster: Option<String>,
}

/// Splits a path into its directory (as a blob store) and file name.
fn blob_path(file: &Path) -> Result<(FsBlobStore, String), CliError> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CliError::Usage(format!("{} is not a file name", file.display())))?
        .to_owned();
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((FsBlobStore::open(&dir)?, name))
}

/// A backup file, read in place. (Opening it through an `FsBlobStore` on
/// its directory would create that directory and delete the `.tmp-*` files
/// of backups being written there.)
#[derive(Debug)]
struct BackupFile {
    file: std::fs::File,
    len: u64,
}

impl Read for BackupFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for BackupFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}

impl BlobReader for BackupFile {
    fn len(&self) -> u64 {
        self.len
    }
}

/// Opens a backup to read; a file that cannot be read is a usage error.
fn open_backup(file: &Path) -> Result<Box<dyn BlobReader>, CliError> {
    let opened = std::fs::File::open(file).and_then(|f| {
        let meta = f.metadata()?;
        if meta.is_dir() {
            return Err(std::io::Error::other("it is a directory"));
        }
        Ok(BackupFile {
            file: f,
            len: meta.len(),
        })
    });
    match opened {
        Ok(reader) => Ok(Box::new(reader)),
        Err(e) => Err(CliError::input(file, &e)),
    }
}

/// Prints a backup's description.
fn print_info(format: Format, info: &BackupInfo, heading: &str) -> Result<(), CliError> {
    match format {
        Format::Json => output::json(&serde_json::to_value(info).unwrap_or_default()),
        Format::Table => {
            outln!("{heading}")?;
            let rows = [
                ("format", info.format.clone()),
                ("created_at", info.created_at.to_rfc3339()),
                ("node", info.node.to_string()),
                ("cluster_id", info.cluster_id.clone()),
                ("applied_index", info.applied_index.to_string()),
                ("applied_term", info.applied_term.to_string()),
                ("flags", info.flags.to_string()),
                ("segments", info.segments.to_string()),
                ("versions", info.versions.to_string()),
                ("audit_entries", info.audit_entries.to_string()),
                ("tokens", info.tokens.to_string()),
                ("records", info.records.to_string()),
                ("state_hash", info.state_hash.clone()),
            ];
            for (k, v) in rows {
                outln!("  {k:<14} {v}")?;
            }
            Ok(())
        }
    }
}

/// `vexil backup --to FILE`.
pub fn backup(ctx: &Ctx, args: &BackupArgs) -> Result<(), CliError> {
    let Some(file) = &args.to else {
        return Err(CliError::Usage("give --to FILE or --verify FILE".into()));
    };
    let mut resp = ctx.client.stream("/v1/backup")?;
    let (store, name) = blob_path(file)?;
    let mut out = store.create(&name)?;
    let mut progress = Progress::new("backup", resp.content_length().unwrap_or(0), true);
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        let n = resp
            .read(&mut buf)
            .map_err(|e| CliError::local("the backup stream broke", e))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| CliError::local(&file.display().to_string(), e))?;
        total += n as u64;
        progress.set(total);
    }
    progress.finish();
    out.commit()?;
    // A stream cut short fails here, and the file is removed.
    let info = match store.open(&name)? {
        Some(mut r) => vexil_raft::verify_backup(r.as_mut()),
        None => return Err(CliError::Local(format!("{} vanished", file.display()))),
    };
    let info = info.map_err(|e| {
        let _ = store.remove(&name);
        CliError::Local(format!("the backup is incomplete or damaged: {e}"))
    })?;
    print_info(
        ctx.format,
        &info,
        &format!("wrote {} ({total} bytes)", file.display()),
    )
}

/// `vexil backup --verify FILE` (offline).
pub fn verify(args: &BackupArgs, format: Format) -> Result<(), CliError> {
    let Some(file) = &args.verify else {
        return Err(CliError::Usage("give --verify FILE".into()));
    };
    let mut reader = open_backup(file)?;
    let info = vexil_raft::verify_backup(reader.as_mut())
        .map_err(|e| CliError::Local(format!("{}: {e}", file.display())))?;
    print_info(format, &info, &format!("{}: checksum OK", file.display()))
}

/// A reader that reports its position to a progress bar.
#[derive(Debug)]
struct Counting {
    inner: Box<dyn BlobReader>,
    progress: Progress,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(pos) = self.inner.stream_position() {
            self.progress.set(pos);
        }
        Ok(n)
    }
}

impl Seek for Counting {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl BlobReader for Counting {
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

/// `vexil restore` (offline): seeds `--data-dir` as in `vexil serve`'s layout.
pub fn restore(args: &RestoreArgs) -> Result<(), CliError> {
    let list = args
        .initial_cluster
        .clone()
        .unwrap_or_else(|| format!("{}={}", args.id, crate::config::DEFAULTS.peer_listen));
    let peers =
        crate::config::parse_initial_cluster(&list).map_err(|e| CliError::Usage(e.to_string()))?;
    let my_peer = peers.get(&args.id).cloned().unwrap_or_default();
    if !peers.contains_key(&args.id) {
        return Err(CliError::Usage(format!(
            "--initial-cluster does not list this node's --id {}",
            args.id
        )));
    }
    // Client addresses are not known here; each node reports its own when
    // it serves, as on a first start with --initial-cluster.
    let members: BTreeMap<u64, Member> = peers
        .into_iter()
        .map(|(id, peer_addr)| {
            let member = Member {
                peer_addr,
                client_addr: String::new(),
            };
            (id, member)
        })
        .collect();
    let reader = open_backup(&args.file)?;
    let len = reader.len();
    let mut reader = Counting {
        inner: reader,
        progress: Progress::new("restore", len, true),
    };
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| CliError::local(&args.data_dir.display().to_string(), e))?;
    let engine = RocksEngine::open(&args.data_dir.join("db"))?
        .with_checkpoints(&args.data_dir.join("checkpoints"))?;
    let blobs = FsBlobStore::open(&args.data_dir.join("snapshots"))?;
    let info = vexil_raft::restore_backup(Arc::new(engine), Arc::new(blobs), &mut reader, members)
        .map_err(|e| match e {
            vexil_raft::RestoreError::NotEmpty => {
                CliError::Usage(format!("{}: {e}", args.data_dir.display()))
            }
            other => CliError::Local(other.to_string()),
        })?;
    reader.progress.finish();
    print_info(
        Format::Table,
        &info,
        &format!(
            "restored {} into {} as node {}; start it with `vexil serve --id {} --data-dir {} \
             --peer-listen {my_peer}` (or --advertise-peer {my_peer}: the address the member \
             list gives it, which the node checks), its --listen address, and the cluster secret",
            args.file.display(),
            args.data_dir.display(),
            args.id,
            args.id,
            args.data_dir.display()
        ),
    )
}
