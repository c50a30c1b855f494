//! openraft's network, carried by our [`Transport`].
//!
//! Every RPC has a deadline (openraft's hard TTL). A connection refused is
//! `Unreachable` (openraft backs off); anything else is a `Network` error.
//! A peer that stops answering, and one that answers again, is logged once
//! each ([`PeerHealth`]); openraft's own warnings, one per failed RPC (about
//! ten a second), are filtered out by the binary's default log filter.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::alias::{SnapshotOf, VoteOf};
use openraft::errors::{
    NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, RaftNetworkV2};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::TypeConfig;
use super::state_machine::SnapshotBlob;
use crate::member::Member;
use crate::transport::{Rpc, Transport, TransportError};

/// Makes one [`PeerClient`] per target.
#[derive(Debug, Clone)]
pub struct NetworkFactory {
    pub transport: Arc<dyn Transport>,
    /// How long a whole snapshot transfer may take.
    pub snapshot_timeout: Duration,
    /// Shared by every client, so each transition is logged once.
    pub health: Arc<PeerHealth>,
}

/// Each peer's last known reachability.
#[derive(Debug, Default)]
pub struct PeerHealth(std::sync::Mutex<std::collections::BTreeMap<u64, bool>>);

impl PeerHealth {
    fn record(&self, target: u64, addr: &str, failure: Option<&TransportError>) {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let was = seen.insert(target, failure.is_none());
        match (was, failure) {
            (Some(true) | None, Some(e)) => {
                tracing::warn!(peer = target, addr, "peer {target} is unreachable: {e}")
            }
            (Some(false), None) => {
                tracing::info!(peer = target, addr, "peer {target} answers again")
            }
            _ => {}
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &Member) -> Self::Network {
        PeerClient {
            target,
            addr: node.peer_addr.clone(),
            transport: self.transport.clone(),
            snapshot_timeout: self.snapshot_timeout,
            health: self.health.clone(),
        }
    }
}

/// Talks to one peer.
#[derive(Debug)]
pub struct PeerClient {
    /// The node's id, which it checks: see [`Transport`].
    target: u64,
    addr: String,
    transport: Arc<dyn Transport>,
    snapshot_timeout: Duration,
    health: Arc<PeerHealth>,
}

/// The header sent before a snapshot's bytes.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct SnapshotHeader {
    pub vote: VoteOf<TypeConfig>,
    pub meta: openraft::alias::SnapshotMetaOf<TypeConfig>,
}

fn to_rpc_error(e: TransportError) -> RPCError<TypeConfig> {
    match e {
        // A wrong address gets the same backoff as one nobody listens on.
        TransportError::Unreachable { .. } | TransportError::Misdirected { .. } => {
            RPCError::Unreachable(Unreachable::new(&e))
        }
        _ => RPCError::Network(NetworkError::new(&e)),
    }
}

impl PeerClient {
    async fn call<Req, Resp>(
        &self,
        rpc: Rpc,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let raw = self
            .transport
            .call(self.target, &self.addr, rpc, body, timeout)
            .await;
        self.health
            .record(self.target, &self.addr, raw.as_ref().err());
        let raw = raw.map_err(to_rpc_error)?;
        let res: Result<Resp, RaftError<TypeConfig>> =
            serde_json::from_slice(&raw).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        // A remote RaftError here means the peer's Raft is shutting down.
        res.map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotBlob;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Rpc::Append, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Rpc::Vote, &rpc, option.hard_ttl()).await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Rpc::TransferLeader, &req, option.hard_ttl())
            .await
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, SnapshotBlob>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let header = SnapshotHeader {
            vote,
            meta: snapshot.meta,
        };
        let header = serde_json::to_vec(&header)
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        // A checkpoint is written out as a file the first time a peer
        // needs it (an export: seconds at scale, so off the async
        // threads). Failing here, say because a newer snapshot replaced
        // it, is retried by openraft with the current one.
        let reader = tokio::task::spawn_blocking(move || snapshot.snapshot.into_reader())
            .await
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let send = self.transport.send_snapshot(
            self.target,
            &self.addr,
            header,
            reader,
            self.snapshot_timeout,
        );
        tokio::select! {
            biased;
            closed = cancel => Err(StreamingError::Closed(closed)),
            res = send => {
                let raw = res.map_err(|e| StreamingError::from(to_rpc_error(e)))?;
                let res: Result<SnapshotResponse<TypeConfig>, RaftError<TypeConfig>> =
                    serde_json::from_slice(&raw)
                        .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
                res.map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))
            }
        }
    }
}
