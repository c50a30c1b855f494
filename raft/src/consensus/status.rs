//! What this node knows about itself and the cluster.

use std::time::Duration;

use futures::future::join_all;
use openraft::{Instant as _, ServerState};

use super::RaftNode;
use crate::api::{ClusterView, MemberView, NodeStatus};
use crate::transport::Rpc;

impl RaftNode {
    /// Acks older than this mean a follower is not reachable right now.
    fn ack_horizon(&self) -> Duration {
        (self.inner.config.election_timeout.1 * 2).max(Duration::from_millis(500))
    }

    /// Whether a quorum acknowledged this leader recently.
    pub(super) fn quorum_fresh(&self) -> bool {
        let m = self.metrics();
        match &m.last_quorum_acked {
            Some(t) => t.elapsed() < self.ack_horizon(),
            // Just elected: the election itself was a quorum's answer.
            None => true,
        }
    }

    /// (voters, voters that acked recently, counting this leader), for the
    /// first voter set that lacks a majority of recent acks, or for the
    /// whole membership if none does. During a membership change the log
    /// holds a joint configuration, and a write commits only with a quorum
    /// of *each* of its voter sets: a majority of all voters is not enough.
    pub(super) fn reachable_voters(&self) -> (usize, usize) {
        let m = self.metrics();
        let membership = m.membership_config.membership();
        let all: Vec<u64> = membership.voter_ids().collect();
        if self.quorum_fresh() {
            return (all.len(), all.len());
        }
        let horizon = self.ack_horizon();
        let acked = |set: &mut dyn Iterator<Item = u64>| -> (usize, usize) {
            let mut total = 0;
            let mut fresh = 0;
            for id in set {
                total += 1;
                let recent = id == self.id()
                    || m.heartbeat.as_ref().is_some_and(|hb| {
                        hb.get(&id)
                            .is_some_and(|t| t.as_ref().is_some_and(|t| t.elapsed() < horizon))
                    });
                fresh += usize::from(recent);
            }
            (total, fresh)
        };
        for config in membership.get_joint_config() {
            let (voters, reachable) = acked(&mut config.iter().copied());
            if reachable * 2 <= voters {
                return (voters, reachable);
            }
        }
        acked(&mut all.into_iter())
    }

    /// A leader that has not heard from a quorum recently (of each voter
    /// set, during a membership change): it cannot commit, so it will refuse
    /// writes and should not look ready. `None` unless this node leads.
    pub fn leader_without_quorum(&self) -> Option<(usize, usize)> {
        if !self.is_leader() {
            return None;
        }
        let (voters, reachable) = self.reachable_voters();
        (reachable * 2 <= voters).then_some((reachable, voters))
    }

    /// Whether this node was removed from the cluster. Its own log may not
    /// say so: the leader stops replicating to a removed node, often before
    /// it has sent the entry that leaves it out, and the node then stays a
    /// candidate with no leader. So a node without a leader also asks the
    /// other members it knows: a member that has a leader and a membership
    /// without this node settles it. (A node waiting to join knows no
    /// membership at all, and is not "removed".)
    pub async fn is_removed(&self) -> bool {
        let m = self.metrics();
        let membership = m.membership_config.membership();
        if membership.nodes().next().is_none() {
            return false;
        }
        if membership.get_node(&self.id()).is_none() {
            return true;
        }
        if m.current_leader.is_some() {
            return false;
        }
        let others: Vec<(u64, String)> = membership
            .nodes()
            .filter(|(id, _)| **id != self.id())
            .map(|(id, n)| (*id, n.peer_addr.clone()))
            .collect();
        let asks = others
            .iter()
            .map(|(id, addr)| self.member_status(*id, addr));
        join_all(asks).await.into_iter().flatten().any(|s| {
            s.leader.is_some() && !s.members.is_empty() && !s.members.contains_key(&self.id())
        })
    }

    /// This node's own status.
    pub fn status(&self) -> NodeStatus {
        let m = self.metrics();
        let membership = m.membership_config.membership();
        let state = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        NodeStatus {
            id: self.id(),
            state: state.into(),
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            commit_index: m
                .local_committed
                .as_ref()
                .or(m.cluster_committed.as_ref())
                .map(|l| l.index),
            applied_index: m.last_applied.as_ref().map(|l| l.index),
            snapshot_index: m.snapshot.as_ref().map(|l| l.index),
            purged_index: m.purged.as_ref().map(|l| l.index),
            member: self.inner.config.member.clone(),
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            members: membership.nodes().map(|(id, n)| (*id, n.clone())).collect(),
            replication: m.replication.as_ref().map(|r| {
                r.iter()
                    .map(|(id, l)| (*id, l.as_ref().map(|l| l.index)))
                    .collect()
            }),
            subscribers: self.inner.shared.subscribers(),
            level: crate::version::SUPPORTED,
            cluster_level: self.inner.shared.read().level(),
        }
    }

    /// Asks one member for its status (this node answers for itself).
    pub async fn member_status(&self, id: u64, peer_addr: &str) -> Result<NodeStatus, String> {
        if id == self.id() {
            return Ok(self.status());
        }
        let timeout = self.inner.config.rpc_timeout.min(Duration::from_secs(1));
        let raw = self
            .inner
            .transport
            .call(id, peer_addr, Rpc::Status, Vec::new(), timeout)
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&raw).map_err(|e| e.to_string())
    }

    /// Every member with its role, indexes, lag and health.
    pub async fn cluster_view(&self) -> ClusterView {
        let me = self.status();
        let calls = me.members.iter().map(|(id, member)| async move {
            (
                *id,
                member.clone(),
                self.member_status(*id, &member.peer_addr).await,
            )
        });
        let answers = join_all(calls).await;
        let commit = answers
            .iter()
            .filter_map(|(_, _, s)| s.as_ref().ok())
            .filter(|s| s.state == "leader")
            .filter_map(|s| s.commit_index)
            .max()
            .or(me.commit_index);
        let members = answers
            .into_iter()
            .map(|(id, member, status)| {
                let role = if me.voters.contains(&id) {
                    "voter"
                } else {
                    "learner"
                };
                let (ok, err) = match status {
                    Ok(s) => (Some(s), None),
                    Err(e) => (None, Some(e)),
                };
                let client_addr = match &ok {
                    Some(s) if member.client_addr.is_empty() => s.member.client_addr.clone(),
                    _ => member.client_addr.clone(),
                };
                MemberView {
                    id,
                    role: role.into(),
                    peer_addr: member.peer_addr,
                    client_addr,
                    is_leader: me.leader == Some(id),
                    healthy: ok.is_some(),
                    term: ok.as_ref().map(|s| s.term),
                    commit_index: ok.as_ref().and_then(|s| s.commit_index),
                    applied_index: ok.as_ref().and_then(|s| s.applied_index),
                    last_log_index: ok.as_ref().and_then(|s| s.last_log_index),
                    snapshot_index: ok.as_ref().and_then(|s| s.snapshot_index),
                    purged_index: ok.as_ref().and_then(|s| s.purged_index),
                    lag: ok
                        .as_ref()
                        .and_then(|s| Some(commit?.saturating_sub(s.applied_index.unwrap_or(0)))),
                    level: ok.as_ref().map(|s| s.level),
                    error: err,
                }
            })
            .collect();
        ClusterView {
            node: self.id(),
            cluster_id: self.cluster_id(),
            leader: me.leader,
            term: me.term,
            level: me.cluster_level,
            members,
        }
    }
}
