//! The serving half of the peer RPCs: decode, call Raft, encode.

use openraft::Snapshot;
use openraft::errors::{Fatal, RaftError};
use serde::Serialize;
use vexil_storage::blob::BlobWriter;
use vexil_storage::snapfile;

use super::membership::MembershipRequest;
use super::network::SnapshotHeader;
use super::state_machine::{SnapshotBlob, snapshot_name};
use super::{RaftNode, TypeConfig};
use crate::api::{ReadError, WriteError};
use crate::command::Command;
use crate::transport::Rpc;

/// Makes received snapshot names unique within the process.
static RECEIVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1_000_000);

/// A peer request that could not be decoded: answered with HTTP 400.
#[derive(Debug, thiserror::Error)]
#[error("bad peer request: {0}")]
pub struct BadRequest(pub String);

fn encode<T: Serialize>(t: &T) -> Vec<u8> {
    // Serialising our own types cannot fail (a test round-trips every
    // error variant); if it ever does, say so loudly: the caller reports
    // the empty body as a decode error.
    serde_json::to_vec(t).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialise a peer RPC reply");
        Vec::new()
    })
}

fn decode<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, BadRequest> {
    serde_json::from_slice(body).map_err(|e| BadRequest(e.to_string()))
}

/// A snapshot being received: write the body into `writer`, commit it,
/// then call [`RaftNode::install_received_snapshot`].
#[derive(Debug)]
pub struct IncomingSnapshot {
    pub writer: Box<dyn BlobWriter>,
    name: String,
    header: SnapshotHeader,
}

impl RaftNode {
    /// Serves one peer RPC; the reply is the JSON body to send back.
    pub async fn handle_rpc(&self, rpc: Rpc, body: &[u8]) -> Result<Vec<u8>, BadRequest> {
        let raft = &self.inner.raft;
        Ok(match rpc {
            Rpc::Append => encode(&raft.append_entries(decode(body)?).await),
            Rpc::Vote => encode(&raft.vote(decode(body)?).await),
            Rpc::TransferLeader => {
                let res: Result<_, RaftError<TypeConfig>> = raft
                    .handle_transfer_leader(decode(body)?)
                    .await
                    .map_err(|e: Fatal<TypeConfig>| RaftError::Fatal(e));
                encode(&res)
            }
            Rpc::Write => {
                let cmd: Command = decode(body)?;
                if cmd.actor == crate::SYSTEM_ACTOR && !cmd.op.is_node_action() {
                    return Err(BadRequest(format!(
                        "a forwarded write carries its caller's token name; {} is not something \
                         a node does as {}",
                        cmd.op,
                        crate::SYSTEM_ACTOR
                    )));
                }
                let res: Result<_, WriteError> = if self.is_leader() {
                    self.write_local(cmd, self.inner.config.write_timeout).await
                } else {
                    Err(WriteError::NotLeader {
                        leader: self.leader().map(|(id, _)| id),
                    })
                };
                encode(&res)
            }
            Rpc::ReadIndex => {
                let res: Result<u64, ReadError> =
                    self.read_index_local(self.inner.config.write_timeout).await;
                encode(&res)
            }
            Rpc::Status => encode(&self.status()),
            Rpc::Membership => {
                let req: MembershipRequest = decode(body)?;
                encode(&self.membership_local(&req).await)
            }
        })
    }

    /// Starts receiving a snapshot announced by `header`.
    pub fn receive_snapshot(&self, header: &[u8]) -> Result<IncomingSnapshot, BadRequest> {
        let header: SnapshotHeader = decode(header)?;
        let index = header.meta.last_log_id.as_ref().map_or(0, |l| l.index);
        let seq = RECEIVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = snapshot_name(index, seq);
        let writer = self
            .inner
            .blobs
            .create(&name)
            .map_err(|e| BadRequest(e.to_string()))?;
        Ok(IncomingSnapshot {
            writer,
            name,
            header,
        })
    }

    /// Verifies a fully received snapshot and installs it. A damaged file is
    /// refused (the leader will send it again), never handed to Raft.
    pub async fn install_received_snapshot(
        &self,
        incoming: IncomingSnapshot,
    ) -> Result<Vec<u8>, BadRequest> {
        let IncomingSnapshot {
            writer,
            name,
            header,
        } = incoming;
        writer.commit().map_err(|e| BadRequest(e.to_string()))?;
        let blobs = self.inner.blobs.clone();
        let open = |name: &str| {
            blobs
                .open(name)
                .map_err(|e| BadRequest(e.to_string()))?
                .ok_or_else(|| BadRequest(format!("snapshot {name} vanished")))
        };
        let mut reader = open(&name)?;
        if let Err(e) = snapfile::verify(reader.as_mut()) {
            let _ = self.inner.blobs.remove(&name);
            return Err(BadRequest(format!("received snapshot is damaged: {e}")));
        }
        let snapshot = Snapshot {
            meta: header.meta,
            snapshot: SnapshotBlob::file(name.clone(), open(&name)?),
        };
        let res = self
            .inner
            .raft
            .install_full_snapshot(header.vote, snapshot)
            .await
            .map_err(RaftError::<TypeConfig>::Fatal);
        Ok(encode(&res))
    }
}
