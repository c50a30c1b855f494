//! Writes and linearizable reads: served here when this node leads, or
//! forwarded to the leader over the peer transport.

use std::time::Duration;

use openraft::ReadPolicy;
use openraft::errors::{ClientWriteError, LinearizableReadError, RaftError};
use tokio::time::Instant;

use super::RaftNode;
use crate::api::{ReadError, WriteError};
use crate::command::{Command, Response};
use crate::transport::Rpc;

/// How long to wait for a leader before asking again, while one is elected.
const LEADER_POLL: Duration = Duration::from_millis(50);

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RaftNode {
    /// Commits `cmd` on a quorum and applies it, wherever the leader is.
    /// Retries across leader changes until the write timeout.
    pub async fn write(&self, mut cmd: Command) -> Result<Response, WriteError> {
        let needs = cmd.op.min_level();
        cmd.needs_level = (needs > crate::version::BASE).then_some(needs);
        let level = self.inner.shared.read().level();
        // `SetClusterLevel` is gated by asking the members instead.
        if needs > level && !matches!(cmd.op, crate::Op::SetClusterLevel { .. }) {
            return Err(WriteError::ClusterLevel { needs, level });
        }
        let timeout = self.inner.config.write_timeout;
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(if self.leader().is_some() {
                    WriteError::Timeout(ms(timeout))
                } else {
                    WriteError::NoLeader
                });
            }
            let result = match self.leader() {
                Some((id, _)) if id == self.id() => self.write_local(cmd.clone(), remaining).await,
                Some((id, member)) => {
                    let result = self
                        .forward_write(id, &member.peer_addr, &cmd, remaining)
                        .await;
                    if let Ok(resp) = &result {
                        // Read your writes: a client that wrote through this
                        // follower sees the write here next (a token it just
                        // created works, one it revoked does not). The write
                        // is committed either way, so a slow apply only ends
                        // the wait, never fails the write.
                        let left = deadline.saturating_duration_since(Instant::now());
                        self.wait_applied(resp.index, left.max(LEADER_POLL)).await;
                    }
                    result
                }
                None => {
                    self.await_leader(remaining).await;
                    continue;
                }
            };
            match result {
                // The leader moved under us: ask again (same request id, so
                // a write that did commit is not applied twice).
                Err(WriteError::NotLeader { .. }) | Err(WriteError::Forward(_)) => {
                    tokio::time::sleep(LEADER_POLL.min(remaining)).await;
                }
                other => return other,
            }
        }
    }

    /// Waits for a leader this node can address. A lagging node may know
    /// the new leader's id before the log entry that adds it to the
    /// membership: `wait_for_leader` then returns at once while `leader()`
    /// is still `None`, and a loop that only waited on it spun (100% CPU in
    /// production until the write timeout; a hang in the simulation, where
    /// time moves only when tasks yield: seeds 244 and 285). Sleep then.
    async fn await_leader(&self, remaining: Duration) {
        self.wait_for_leader(remaining.min(LEADER_POLL * 10)).await;
        if self.leader().is_none() {
            tokio::time::sleep(LEADER_POLL.min(remaining)).await;
        }
    }

    /// The leader's half of a write: stamp the time and propose.
    pub(super) async fn write_local(
        &self,
        mut cmd: Command,
        timeout: Duration,
    ) -> Result<Response, WriteError> {
        self.check_quorum()?;
        cmd.at = (self.inner.config.clock)();
        match tokio::time::timeout(timeout, self.inner.raft.client_write(cmd)).await {
            Err(_) => Err(WriteError::Timeout(ms(timeout))),
            Ok(Ok(resp)) => Ok(resp.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(WriteError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Ok(Err(RaftError::APIError(e))) => Err(WriteError::Forward(e.to_string())),
            Ok(Err(RaftError::Fatal(f))) => Err(WriteError::Stopped(f.to_string())),
        }
    }

    async fn forward_write(
        &self,
        to: u64,
        addr: &str,
        cmd: &Command,
        timeout: Duration,
    ) -> Result<Response, WriteError> {
        let body = serde_json::to_vec(cmd).map_err(|e| WriteError::Forward(e.to_string()))?;
        let raw = self
            .inner
            .transport
            .call(to, addr, Rpc::Write, body, timeout)
            .await
            .map_err(|e| match e {
                crate::transport::TransportError::Timeout { after, .. } => {
                    WriteError::Timeout(ms(after))
                }
                other => WriteError::Forward(other.to_string()),
            })?;
        serde_json::from_slice::<Result<Response, WriteError>>(&raw)
            .map_err(|e| WriteError::Forward(e.to_string()))?
    }

    /// Refuses a write up front when this leader has lost its majority, so
    /// the client learns at once instead of after the write timeout.
    fn check_quorum(&self) -> Result<(), WriteError> {
        let (voters, reachable) = self.reachable_voters();
        if reachable * 2 > voters {
            Ok(())
        } else {
            Err(WriteError::NoQuorum { reachable, voters })
        }
    }

    /// A linearizable read barrier: returns once this node's state includes
    /// every write acknowledged before the call. Returns the read index.
    pub async fn read_barrier(&self) -> Result<u64, ReadError> {
        let timeout = self.inner.config.write_timeout;
        let deadline = Instant::now() + timeout;
        let index = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let asked = match self.leader() {
                Some((id, _)) if id == self.id() => self.read_index_local(remaining).await,
                Some((id, member)) => {
                    self.forward_read_index(id, &member.peer_addr, remaining)
                        .await
                }
                None if remaining.is_zero() => return Err(ReadError::NoLeader),
                None => {
                    self.await_leader(remaining).await;
                    continue;
                }
            };
            match asked {
                // The leader moved (or this node's idea of it is stale, as
                // right after a restart): ask again while time remains.
                Err(ReadError::NotLeader { .. }) | Err(ReadError::Forward(_))
                    if !deadline.saturating_duration_since(Instant::now()).is_zero() =>
                {
                    tokio::time::sleep(LEADER_POLL.min(remaining)).await;
                }
                other => break other?,
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if self.wait_applied(index, remaining.max(LEADER_POLL)).await {
            Ok(index)
        } else {
            Err(ReadError::Timeout(ms(timeout)))
        }
    }

    async fn forward_read_index(
        &self,
        to: u64,
        addr: &str,
        timeout: Duration,
    ) -> Result<u64, ReadError> {
        let raw = self
            .inner
            .transport
            .call(to, addr, Rpc::ReadIndex, Vec::new(), timeout)
            .await
            .map_err(|e| ReadError::Forward(e.to_string()))?;
        serde_json::from_slice::<Result<u64, ReadError>>(&raw)
            .map_err(|e| ReadError::Forward(e.to_string()))?
    }

    /// The leader's half: confirm leadership with a quorum, return the index
    /// a reader must have applied.
    pub(super) async fn read_index_local(&self, timeout: Duration) -> Result<u64, ReadError> {
        let fut = self.inner.raft.get_read_log_id(ReadPolicy::ReadIndex);
        match tokio::time::timeout(timeout, fut).await {
            Err(_) => Err(ReadError::NoQuorum(format!(
                "no quorum answered within {} ms",
                ms(timeout)
            ))),
            Ok(Ok((read, _applied))) => Ok(read.index()),
            Ok(Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f)))) => {
                Err(ReadError::NotLeader {
                    leader: f.leader_id,
                })
            }
            // openraft's own message dumps the whole membership config.
            Ok(Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(q)))) => {
                Err(ReadError::NoQuorum(format!(
                    "only {:?} of the voters {:?} answered",
                    q.got,
                    self.voters()
                )))
            }
            Ok(Err(RaftError::Fatal(f))) => Err(ReadError::Stopped(f.to_string())),
        }
    }
}
