//! Adding and removing members at run time. Changes are serialized, run on
//! the leader, and refused when they would leave the cluster without a quorum.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::{ChangeMembers, Instant as _};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::RaftNode;
use crate::api::MembershipError;
use crate::member::Member;
use crate::transport::{Rpc, TransportError};

/// How long the leader waits for the new member's status before adding it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The body of a forwarded membership change.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum MembershipRequest {
    Add {
        id: u64,
        member: Member,
    },
    Remove {
        id: u64,
    },
    /// Leadership to `to`, or (`None`) away from `from`, the leader when
    /// the request was made, to the healthiest other voter.
    TransferLeader {
        to: Option<u64>,
        from: u64,
    },
}

fn failed(e: impl ToString) -> MembershipError {
    MembershipError::Failed(e.to_string())
}

impl RaftNode {
    /// Adds `id` as a learner, waits until it caught up, then makes it a voter.
    pub async fn add_member(&self, id: u64, member: Member) -> Result<(), MembershipError> {
        self.route_membership(MembershipRequest::Add { id, member })
            .await
    }

    /// Removes `id`. Removing the leader hands leadership over first.
    pub async fn remove_member(&self, id: u64) -> Result<(), MembershipError> {
        self.route_membership(MembershipRequest::Remove { id })
            .await
    }

    /// Moves leadership to `to` (or, given `None`, to the healthiest other
    /// voter) and waits until it moved. Returns the new leader. Useful before
    /// restarting the leader's machine: the cluster then skips an election
    /// timeout's worth of refused writes.
    pub async fn transfer_leader(&self, to: Option<u64>) -> Result<u64, MembershipError> {
        let from = match self.leader() {
            Some((id, _)) => id,
            None => self
                .wait_for_leader(Duration::from_secs(2))
                .await
                .ok_or(MembershipError::NoLeader)?,
        };
        self.route_membership(MembershipRequest::TransferLeader { to, from })
            .await?;
        // Answer once this node sees the new leader too, so that what the
        // caller reads next from it agrees.
        let wait = self.inner.config.election_timeout.1 * 4;
        let seen = self
            .inner
            .raft
            .wait(Some(wait))
            .metrics(
                |m| match to {
                    Some(to) => m.current_leader == Some(to),
                    None => m.current_leader.is_some_and(|l| l != from),
                },
                "new leader seen",
            )
            .await
            .map_err(|e| failed(format!("leadership did not move: {e}")))?;
        seen.current_leader.ok_or(MembershipError::NoLeader)
    }

    async fn route_membership(&self, req: MembershipRequest) -> Result<(), MembershipError> {
        let deadline = Instant::now() + self.inner.config.snapshot_timeout;
        loop {
            let result = match self.leader() {
                Some((leader, _)) if leader == self.id() => self.membership_local(&req).await,
                Some((id, member)) => self.forward_membership(id, &member.peer_addr, &req).await,
                None => Err(MembershipError::NoLeader),
            };
            match result {
                Err(MembershipError::NotLeader { .. } | MembershipError::NoLeader)
                    if Instant::now() < deadline =>
                {
                    self.wait_for_leader(Duration::from_secs(2)).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    }

    async fn forward_membership(
        &self,
        to: u64,
        addr: &str,
        req: &MembershipRequest,
    ) -> Result<(), MembershipError> {
        let body = serde_json::to_vec(req).map_err(failed)?;
        let raw = self
            .inner
            .transport
            .call(
                to,
                addr,
                Rpc::Membership,
                body,
                self.inner.config.snapshot_timeout,
            )
            .await
            .map_err(failed)?;
        serde_json::from_slice::<Result<(), MembershipError>>(&raw).map_err(failed)?
    }

    pub(super) async fn membership_local(
        &self,
        req: &MembershipRequest,
    ) -> Result<(), MembershipError> {
        if !self.is_leader() {
            return Err(MembershipError::NotLeader {
                leader: self.leader().map(|(id, _)| id),
            });
        }
        let _serial = self.inner.membership_lock.lock().await;
        match req {
            MembershipRequest::Add { id, member } => self.add_local(*id, member.clone()).await,
            MembershipRequest::Remove { id } => self.remove_local(*id).await,
            MembershipRequest::TransferLeader { to, from } => self.transfer_local(*to, *from).await,
        }
    }

    /// Voters that acked this leader recently, and the leader itself.
    fn healthy_voters(&self) -> BTreeSet<u64> {
        let m = self.metrics();
        let voters: BTreeSet<u64> = m.membership_config.membership().voter_ids().collect();
        let horizon = (self.inner.config.election_timeout.1 * 2).max(Duration::from_millis(500));
        let mut healthy: BTreeSet<u64> = m.heartbeat.as_ref().map_or_else(BTreeSet::new, |hb| {
            hb.iter()
                .filter(|(_, t)| t.as_ref().is_some_and(|t| t.elapsed() < horizon))
                .map(|(id, _)| *id)
                .collect()
        });
        healthy.insert(self.id());
        healthy.retain(|id| voters.contains(id));
        healthy
    }

    fn check_quorum_after(&self, voters: &BTreeSet<u64>) -> Result<(), MembershipError> {
        let healthy = self.healthy_voters().intersection(voters).count();
        let needed = voters.len() / 2 + 1;
        if voters.is_empty() || healthy < needed {
            return Err(MembershipError::WouldLoseQuorum {
                voters: voters.len(),
                healthy,
                needed,
            });
        }
        Ok(())
    }

    async fn add_local(&self, id: u64, member: Member) -> Result<(), MembershipError> {
        let voters = self.voters();
        if voters.contains(&id) {
            return Err(MembershipError::AlreadyMember(id));
        }
        // The newcomer counts as healthy once caught up; the rest must hold.
        let mut after = voters.clone();
        after.insert(id);
        let healthy = self.healthy_voters().len() + 1;
        let needed = after.len() / 2 + 1;
        if healthy < needed {
            return Err(MembershipError::WouldLoseQuorum {
                voters: after.len(),
                healthy,
                needed,
            });
        }
        // Who answers at the new address? Another member there (its address
        // in another spelling, or this node's own) would refuse every call
        // meant for `id`, and the add could only wait out its deadline:
        // refuse it now. No answer is no verdict: the node may be starting.
        let probe = self
            .inner
            .transport
            .call(
                id,
                &member.peer_addr,
                Rpc::Status,
                Vec::new(),
                PROBE_TIMEOUT,
            )
            .await;
        if let Err(TransportError::Misdirected { reason, .. }) = probe {
            return Err(MembershipError::WrongAddress {
                id,
                detail: format!("{} answers as another member ({reason})", member.peer_addr),
            });
        }
        let timeout = self.inner.config.snapshot_timeout;
        let deadline = Instant::now() + timeout;
        // Already a learner (an earlier add that did not catch up), under
        // other addresses: take the new ones, so that adding it again with
        // its address corrected is the fix. (Only learners get here; a
        // voter's addresses are never rewritten.)
        if self
            .members()
            .get(&id)
            .is_some_and(|known| *known != member)
        {
            self.change(ChangeMembers::SetNodes(BTreeMap::from([(
                id,
                member.clone(),
            )])))
            .await?;
        }
        // Not openraft's `blocking` wait: it counts a learner within
        // `replication_lag_threshold` (5,000) entries of the leader as caught
        // up, which a small cluster's log always is, even when the learner
        // never answered (a mistyped address). Promoting that one would
        // leave a joint configuration that can never commit, and every later
        // write waiting behind it.
        let left = deadline.saturating_duration_since(Instant::now());
        let added = match tokio::time::timeout(left, self.inner.raft.add_learner(id, member, false))
            .await
        {
            Err(_) => {
                return Err(MembershipError::CatchUp(format!(
                    "the learner entry was not committed within {timeout:?}"
                )));
            }
            Ok(Err(e)) => return Err(MembershipError::CatchUp(e.to_string())),
            Ok(Ok(added)) => added,
        };
        // Caught up: the learner holds everything up to its own addition.
        let needed = added.log_id.index();
        let left = deadline.saturating_duration_since(Instant::now());
        let caught_up = self
            .inner
            .raft
            .wait(Some(left))
            .metrics(
                |m| {
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(&id).cloned().flatten())
                        .is_some_and(|matched| matched.index() >= needed)
                },
                "learner caught up",
            )
            .await;
        if caught_up.is_err() {
            return Err(MembershipError::CatchUp(format!(
                "node {id} did not catch up within {timeout:?}; it stays a learner \
                 (check its peer address and that it runs, or remove it and add it again)"
            )));
        }
        let change = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
        self.change(change).await
    }

    async fn remove_local(&self, id: u64) -> Result<(), MembershipError> {
        let m = self.metrics();
        let membership = m.membership_config.membership().clone();
        if membership.get_node(&id).is_none() {
            return Err(MembershipError::NotMember(id));
        }
        let voters = self.voters();
        if !voters.contains(&id) {
            return self
                .change(ChangeMembers::RemoveNodes(BTreeSet::from([id])))
                .await;
        }
        let mut after = voters.clone();
        after.remove(&id);
        self.check_quorum_after(&after)?;
        if id == self.id() {
            return self.hand_over(&after).await;
        }
        self.change(ChangeMembers::RemoveVoters(BTreeSet::from([id])))
            .await
    }

    /// On the leader: `to` is already leading (it is this node), or
    /// leadership moves there; see [`RaftNode::transfer_leader`].
    async fn transfer_local(&self, to: Option<u64>, from: u64) -> Result<(), MembershipError> {
        let Some(to) = to else {
            if self.id() != from {
                return Ok(()); // it already moved away from `from`
            }
            let mut others = self.healthy_voters();
            others.remove(&self.id());
            if others.is_empty() {
                return Err(MembershipError::NoCandidate);
            }
            return self.hand_over(&others).await;
        };
        if to == self.id() {
            return Ok(());
        }
        let m = self.metrics();
        if m.membership_config.membership().get_node(&to).is_none() {
            return Err(MembershipError::NotMember(to));
        }
        if !self.voters().contains(&to) {
            return Err(MembershipError::NotVoter(to));
        }
        if !self.healthy_voters().contains(&to) {
            return Err(MembershipError::Unhealthy(to));
        }
        self.hand_over(&BTreeSet::from([to])).await
    }

    /// Transfers leadership to the healthiest of `candidates` and reports
    /// `NotLeader`, so the caller retries its request on the new leader.
    async fn hand_over(&self, candidates: &BTreeSet<u64>) -> Result<(), MembershipError> {
        let status = self.status();
        let matched: BTreeMap<u64, u64> = status
            .replication
            .unwrap_or_default()
            .into_iter()
            .map(|(id, l)| (id, l.unwrap_or(0)))
            .collect();
        let healthy = self.healthy_voters();
        let target = candidates
            .iter()
            .filter(|id| healthy.contains(id))
            .max_by_key(|id| matched.get(id).copied().unwrap_or(0))
            .copied()
            .ok_or(MembershipError::NoLeader)?;
        self.inner
            .raft
            .trigger()
            .transfer_leader(target)
            .await
            .map_err(failed)?;
        let wait = self.inner.config.election_timeout.1 * 4;
        let moved = self
            .inner
            .raft
            .wait(Some(wait))
            .metrics(
                |m| m.current_leader.is_some_and(|l| l != m.id),
                "leader moved",
            )
            .await;
        match moved {
            Ok(m) => Err(MembershipError::NotLeader {
                leader: m.current_leader,
            }),
            Err(e) => Err(failed(format!("leadership did not move: {e}"))),
        }
    }

    async fn change(&self, change: ChangeMembers<u64, Member>) -> Result<(), MembershipError> {
        let timeout = self.inner.config.snapshot_timeout;
        match tokio::time::timeout(timeout, self.inner.raft.change_membership(change, false)).await
        {
            Err(_) => Err(failed(format!("not committed within {timeout:?}"))),
            // Leadership moved during the change (say, while a big snapshot
            // went to the new member): the caller retries on the new leader.
            Ok(Err(openraft::errors::RaftError::APIError(
                openraft::errors::ClientWriteError::ForwardToLeader(f),
            ))) => Err(MembershipError::NotLeader {
                leader: f.leader_id,
            }),
            Ok(Err(e)) => Err(failed(e)),
            Ok(Ok(_)) => Ok(()),
        }
    }
}
