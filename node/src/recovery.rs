//! Recovering from lost admin tokens: `vexil recover-admin-token` on a
//! stopped node's data directory writes a new secret there, and the node,
//! when it next starts, creates an admin token with it through Raft.
//!
//! The token is made like any other write (replicated, and audited as the
//! creation of a token named `recovered-<8 hex digits>` by `system`, the
//! node acting on the operator's file), never by editing one node's store,
//! which would leave that node's state different from the others'. (Its own
//! actor name would need every node to accept a new actor in apply: a
//! change to replicated behaviour, which waits for the cluster version.) So the node must
//! rejoin a cluster with a quorum for the token to appear. Whoever can write
//! a node's data directory already holds every token hash and the cluster
//! secret: the command gives them nothing new, and the audit log shows its
//! use.

use std::path::{Path, PathBuf};

use vexil_raft::{Op, Role};

use crate::api::AppState;
use crate::api::error::ApiError;

/// The file, in the data directory, that holds a recovery secret.
pub const RECOVERY_FILE: &str = "recovery-admin-token";

/// The offline command: writes a new admin secret into `data_dir` (0600)
/// and returns the file's path. Refuses a directory that holds no store,
/// and one whose store is open in a running node.
pub fn prepare(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let db = data_dir.join("db");
    if !db.join("CURRENT").exists() {
        anyhow::bail!(
            "{} holds no Vexil store (no db/): give the --data-dir of a node that has run",
            data_dir.display()
        );
    }
    // Opening the store takes its lock: this fails while a node runs on it.
    match vexil_storage::RocksEngine::open(&db) {
        Ok(engine) => drop(engine),
        Err(e) if e.to_string().contains("lock") => anyhow::bail!(
            "a running node is using {}: stop it first (the token is created when it starts again)",
            data_dir.display()
        ),
        Err(e) => anyhow::bail!("cannot open the store in {}: {e}", data_dir.display()),
    }
    let secret = crate::api::tokens::new_secret(Role::Admin);
    let path = data_dir.join(RECOVERY_FILE);
    crate::server::write_secret_file(&path, &secret)?;
    Ok(path)
}

/// At start: if a recovery secret waits in `data_dir` and no token has its
/// hash yet, creates an admin token with it once the cluster has a leader.
/// Retries until it is committed; the request id comes from the hash, so a
/// retry, or a second start, creates it once.
pub async fn apply_pending(app: AppState, data_dir: PathBuf) {
    let path = data_dir.join(RECOVERY_FILE);
    let Ok(secret) = std::fs::read_to_string(&path) else {
        return;
    };
    let secret = secret.trim().to_owned();
    let hash = vexil_raft::hash_secret(&secret);
    let name = format!("recovered-{}", &hex_prefix(&hash));
    loop {
        if app.raft.shared().read().token_by_hash(&hash).is_some() {
            return;
        }
        if app.raft.leader().is_some() {
            let op = Op::CreateToken {
                name: name.clone(),
                role: Role::Admin,
                secret_hash: hash.clone(),
            };
            let request = format!("recovery:{name}");
            match app.commit_as_system(&request, op).await {
                Ok(_) => {
                    tracing::warn!(
                        token = %name,
                        file = %path.display(),
                        "created an admin token from a recovery file (audited as created by `system`)"
                    );
                    return;
                }
                Err(ApiError {
                    error: "already_exists",
                    ..
                }) => return,
                Err(e) => tracing::info!(error = %e.message, "recovery token not created yet"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

fn hex_prefix(hash: &str) -> String {
    hash.chars().take(8).collect()
}
