//! Adding and removing members at run time. Changes run on the leader, one
//! at a time (a second one is refused at once, `InProgress`), and are refused
//! when they would leave the cluster without a quorum. "Healthy" for that
//! guard means *answering now*: each counted voter acked a heartbeat sent
//! after the request arrived ([`RaftNode::answering_now`]). A recent ack is
//! not enough: a follower killed a moment ago still has one, and a removal
//! counted on it leaves a joint configuration that can never commit.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::alias::InstantOf;
use openraft::{ChangeMembers, Instant as _};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{RaftNode, TypeConfig};
use crate::api::{MembershipError, WriteError};
use crate::command::{ClusterChange, Command, Op, SYSTEM_ACTOR};
use crate::member::Member;
use crate::transport::{Rpc, TransportError};
use crate::version;

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

impl MembershipRequest {
    fn describe(&self) -> String {
        match self {
            MembershipRequest::Add { id, .. } => format!("adding node {id}"),
            MembershipRequest::Remove { id } => format!("removing node {id}"),
            MembershipRequest::TransferLeader { to: Some(to), .. } => {
                format!("moving leadership to node {to}")
            }
            MembershipRequest::TransferLeader { to: None, from } => {
                format!("moving leadership away from node {from}")
            }
        }
    }
}

/// The change the leader is running: what a refused second change is told,
/// and how a pending add is cancelled.
#[derive(Debug)]
pub(super) struct Pending {
    what: String,
    /// The node a pending add is adding: removing it cancels the add.
    adding: Option<u64>,
    /// A short step of Vexil's own (raising the cluster level): a change
    /// asked for meanwhile waits for it instead of being refused.
    brief: bool,
    cancel: tokio::sync::watch::Sender<Option<String>>,
}

/// Clears the pending change when its request ends, however it ends.
struct PendingGuard<'a>(&'a RaftNode);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        *self.0.pending() = None;
    }
}

fn failed(e: impl ToString) -> MembershipError {
    MembershipError::Failed(e.to_string())
}

/// The voter sets of the latest membership (two during a change), for
/// messages.
fn voter_sets(m: &openraft::RaftMetrics<TypeConfig>) -> Vec<String> {
    m.membership_config
        .membership()
        .get_joint_config()
        .iter()
        .map(ids)
        .collect()
}

/// "{1, 3}" rather than Rust's debug format, for messages.
fn ids(set: &BTreeSet<u64>) -> String {
    let list: Vec<String> = set.iter().map(u64::to_string).collect();
    format!("{{{}}}", list.join(", "))
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

    /// A one-member cluster restarted at other addresses: records them, once
    /// this node leads (at once, being the only voter). Nobody else dials the
    /// old ones, and a node added later must learn the new ones. Only for a
    /// cluster of this node alone: in a larger one a member cannot move its
    /// own address (the others would lose it), and the node refuses to start.
    pub async fn record_sole_member(&self, member: Member) -> Result<(), MembershipError> {
        let members = self.members();
        if members.len() != 1 || !members.contains_key(&self.id()) {
            return Err(failed(
                "only a one-member cluster records new addresses itself",
            ));
        }
        let wait = self.inner.config.write_timeout;
        if self.wait_for_leader(wait).await != Some(self.id()) {
            return Err(MembershipError::NoLeader);
        }
        let _serial = self.inner.membership_lock.lock().await;
        self.change(ChangeMembers::SetNodes(BTreeMap::from([(
            self.id(),
            member,
        )])))
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
        if let Some(reason) = self.inner.stopping.borrow().clone() {
            return Err(MembershipError::Cancelled(reason));
        }
        let _serial = match self.inner.membership_lock.try_lock() {
            Ok(serial) => serial,
            Err(_) => self.wait_turn(req).await?,
        };
        let (cancel, mut cancelled) = tokio::sync::watch::channel(None);
        *self.pending() = Some(Pending {
            what: req.describe(),
            adding: match req {
                MembershipRequest::Add { id, .. } => Some(*id),
                _ => None,
            },
            brief: false,
            cancel,
        });
        let _clear = PendingGuard(self);
        let mut stopping = self.inner.stopping.subscribe();
        let run = async {
            match req {
                MembershipRequest::Add { id, member } => self.add_local(*id, member.clone()).await,
                MembershipRequest::Remove { id } => self.remove_local(*id).await,
                MembershipRequest::TransferLeader { to, from } => {
                    self.transfer_local(*to, *from).await
                }
            }
        };
        tokio::select! {
            result = run => result,
            Ok(why) = cancelled.wait_for(Option::is_some) => {
                Err(MembershipError::Cancelled(why.clone().unwrap_or_default()))
            }
            Ok(why) = stopping.wait_for(Option::is_some) => {
                Err(MembershipError::Cancelled(why.clone().unwrap_or_default()))
            }
        }
    }

    /// Another change holds the lock. Two things may wait for it: any
    /// change, when the holder is a brief step of Vexil's own (raising the
    /// cluster level), and removing the node a pending add is adding, which
    /// cancels that add (the add gives up at once, so the wait is short).
    /// Anything else is refused now rather than queued behind a change that
    /// may take minutes.
    async fn wait_turn(
        &self,
        req: &MembershipRequest,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, MembershipError> {
        let in_progress = |what: &str| {
            MembershipError::InProgress(format!(
                "another membership change is in progress ({what}); only one runs at a \
                 time: retry when it ends, or cancel a pending add by removing that node"
            ))
        };
        let what = {
            let pending = self.pending();
            let Some(p) = pending.as_ref() else {
                return Err(in_progress("one that is just ending"));
            };
            match req {
                _ if p.brief => p.what.clone(),
                MembershipRequest::Remove { id } if p.adding == Some(*id) => {
                    tracing::info!(node = id, "cancelling the pending add of node {id}");
                    let _ = p.cancel.send(Some(format!(
                        "adding node {id} was cancelled by its removal"
                    )));
                    p.what.clone()
                }
                _ => return Err(in_progress(&p.what)),
            }
        };
        tokio::time::timeout(Duration::from_secs(10), self.inner.membership_lock.lock())
            .await
            .map_err(|_| in_progress(&what))
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Option<Pending>> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Raises the cluster level ([`crate::version`]) to what this release
    /// supports, when this node leads and every member (voter or learner)
    /// says it supports it too. Holds the membership lock while it asks
    /// and commits, so that no member of an older release joins between the
    /// two; skips the round when a membership change is running. Returns
    /// the cluster's level afterwards.
    pub async fn raise_cluster_level(&self) -> Result<u32, WriteError> {
        let level = self.inner.shared.read().level();
        if level >= version::SUPPORTED || !self.is_leader() {
            return Ok(level);
        }
        let Ok(_serial) = self.inner.membership_lock.try_lock() else {
            return Ok(level);
        };
        let (cancel, _) = tokio::sync::watch::channel(None);
        *self.pending() = Some(Pending {
            what: format!("raising the cluster level to {}", version::SUPPORTED),
            adding: None,
            brief: true,
            cancel,
        });
        let _clear = PendingGuard(self);
        if self
            .metrics()
            .membership_config
            .membership()
            .get_joint_config()
            .len()
            > 1
        {
            return Ok(level);
        }
        let members = self.members();
        let asks = members
            .iter()
            .map(|(id, member)| self.member_status(*id, &member.peer_addr));
        let behind: Vec<String> = futures::future::join_all(asks)
            .await
            .into_iter()
            .zip(members.keys())
            .filter_map(|(answer, id)| match answer {
                Ok(s) if s.level >= version::SUPPORTED => None,
                Ok(s) => Some(format!("node {id} supports level {}", s.level)),
                Err(e) => Some(format!("node {id} did not answer ({e})")),
            })
            .collect();
        if !behind.is_empty() {
            tracing::debug!(?behind, "the cluster level stays at {level}");
            return Ok(level);
        }
        let cmd = Command {
            request_id: format!("sys:cluster-level:{}", version::SUPPORTED),
            actor: SYSTEM_ACTOR.into(),
            at: (self.inner.config.clock)(),
            needs_level: None,
            op: Op::SetClusterLevel {
                level: version::SUPPORTED,
            },
        };
        self.write(cmd).await?;
        let now = self.inner.shared.read().level();
        tracing::info!(
            level = now,
            "every member runs this release: the cluster level is {now}"
        );
        Ok(now)
    }

    /// Cancels a running membership change and refuses new ones, with
    /// `reason`: a node shutting down must not wait minutes for a learner to
    /// catch up (systemd sends SIGKILL after 30 s). A change already
    /// proposed to the log still commits or not as Raft decides.
    pub fn stop_membership_changes(&self, reason: &str) {
        let _ = self.inner.stopping.send(Some(reason.to_owned()));
    }

    /// The voters (this leader included) that acknowledged a heartbeat sent
    /// after this call began: each is answering *now*. Waits up to the
    /// maximum election timeout for the acks, so a dead voter costs the
    /// caller that long, once.
    async fn answering_now(&self) -> BTreeSet<u64> {
        let since = InstantOf::<TypeConfig>::now();
        let voters = self.voters();
        let fresh = |m: &openraft::RaftMetrics<TypeConfig>| -> BTreeSet<u64> {
            let mut acked: BTreeSet<u64> = m
                .heartbeat
                .iter()
                .flatten()
                .filter(|(_, sent)| sent.as_ref().is_some_and(|sent| **sent >= since))
                .map(|(id, _)| *id)
                .collect();
            acked.insert(self.id());
            acked.retain(|id| voters.contains(id));
            acked
        };
        if self.inner.raft.trigger().heartbeat().await.is_ok() {
            let wait = self
                .inner
                .config
                .election_timeout
                .1
                .max(self.inner.config.heartbeat * 4);
            let _ = self
                .inner
                .raft
                .wait(Some(wait))
                .metrics(
                    |m| fresh(m) == voters,
                    "every voter acked a fresh heartbeat",
                )
                .await;
        }
        fresh(&self.metrics())
    }

    /// Refuses unless a quorum of each of `configs` answers now (a change
    /// passes through a joint configuration that needs both the old and the
    /// new voters' quorums). `extra` counts as answering: a learner that
    /// has just caught up.
    async fn require_quorums(
        &self,
        configs: &[&BTreeSet<u64>],
        extra: Option<u64>,
    ) -> Result<(), MembershipError> {
        let mut answering = self.answering_now().await;
        answering.extend(extra);
        for voters in configs {
            let healthy = voters.intersection(&answering).count();
            let needed = voters.len() / 2 + 1;
            if voters.is_empty() || healthy < needed {
                let silent: BTreeSet<u64> = voters.difference(&answering).copied().collect();
                tracing::warn!(
                    voters = %ids(voters),
                    silent = %ids(&silent),
                    "membership change refused: it would lose quorum"
                );
                return Err(MembershipError::WouldLoseQuorum {
                    voters: voters.len(),
                    healthy,
                    needed,
                });
            }
        }
        Ok(())
    }

    /// Refuses while the log holds a membership change that is not
    /// committed: openraft would refuse too, with its internals in the
    /// message.
    fn require_committed_membership(&self) -> Result<(), MembershipError> {
        let m = self.metrics();
        let effective = m.membership_config.log_id().map(|l| l.index);
        let committed = m.committed_membership_config.log_id().map(|l| l.index);
        if effective > committed {
            let configs = voter_sets(&m);
            return Err(MembershipError::InProgress(format!(
                "the membership change at log index {} (voters {}) is not committed yet; it \
                 commits once a quorum of each of those voter sets answers (bring back the \
                 voters that are down)",
                effective.unwrap_or(0),
                configs.join(" and "),
            )));
        }
        Ok(())
    }

    /// Finishes a joint configuration that outlived its change: openraft
    /// leaves one when the leader loses leadership (or its lease) between
    /// the two steps of `change_membership`, and it stays committed with no
    /// change in progress, so `require_committed_membership` lets it by.
    /// No new change may start from it: openraft applies a change to the
    /// joint's *last* voter set, so on a leader that only the outgoing set
    /// holds, the first step commits a joint without that leader and
    /// openraft's own second step then trips `debug_assert!(is_leader)` in
    /// `ReplicationHandler::append_membership` (chaos seed 577); and the
    /// quorum guard would count `voters()`, the union of both sets, not the
    /// sets openraft uses. The empty change is openraft's own second step
    /// (the joint becomes its last set). A leader that set does not hold
    /// hands over to a voter it holds first, and the caller retries there.
    ///
    /// Finishing needs a quorum of the incoming set answering now, like any
    /// change (`would_lose_quorum` otherwise, not a wait for the deadline).
    /// What it completes was reported failed to whoever asked for it, so
    /// it is audited here, as `system` ([`Self::audit_finished`]).
    async fn finish_joint(&self) -> Result<(), MembershipError> {
        let m = self.metrics();
        let configs = m.membership_config.membership().get_joint_config();
        if configs.len() < 2 {
            return Ok(());
        }
        let joint_at = m.membership_config.log_id().map_or(0, |l| l.index);
        let outgoing = configs.first().cloned().unwrap_or_default();
        let incoming = configs.last().cloned().unwrap_or_default();
        if !incoming.contains(&self.id()) {
            tracing::info!(
                voters = %ids(&incoming),
                "a joint configuration that removes this leader is left: handing over first"
            );
            return self.hand_over(&incoming).await;
        }
        self.require_quorums(&[&incoming], None).await?;
        tracing::info!(
            voters = %ids(&incoming),
            "finishing the joint configuration an interrupted change left"
        );
        self.change(ChangeMembers::AddVoterIds(BTreeSet::new()))
            .await?;
        self.audit_finished(joint_at, &outgoing, &incoming).await;
        Ok(())
    }

    /// Audits, as `system`, the voters that finishing the joint configuration
    /// at log index `joint_at` added and removed. Nothing is audited below
    /// the cluster level that has `AuditCluster`; a failed audit write is
    /// logged (the change is committed either way).
    async fn audit_finished(
        &self,
        joint_at: u64,
        outgoing: &BTreeSet<u64>,
        incoming: &BTreeSet<u64>,
    ) {
        if self.inner.shared.read().level() < version::CLUSTER_AUDIT {
            return;
        }
        let members = self.members();
        let added = incoming
            .difference(outgoing)
            .map(|id| ClusterChange::MemberAdd {
                id: *id,
                peer_addr: members
                    .get(id)
                    .map(|m| m.peer_addr.clone())
                    .unwrap_or_default(),
                client_addr: members
                    .get(id)
                    .map(|m| m.client_addr.clone())
                    .unwrap_or_default(),
            });
        let removed = outgoing
            .difference(incoming)
            .map(|id| ClusterChange::MemberRemove { id: *id });
        for change in added.chain(removed).collect::<Vec<_>>() {
            let cmd = Command {
                request_id: format!(
                    "sys:finish-joint:{joint_at}:{}:{}",
                    change.action(),
                    change.node()
                ),
                actor: SYSTEM_ACTOR.into(),
                at: (self.inner.config.clock)(),
                needs_level: None,
                op: Op::AuditCluster { change },
            };
            if let Err(e) = self.write(cmd).await {
                tracing::warn!(error = %e, "could not audit the finished joint configuration");
            }
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

    async fn add_local(&self, id: u64, member: Member) -> Result<(), MembershipError> {
        self.require_committed_membership()?;
        // First, so that re-adding the node of an interrupted add finishes
        // that add rather than meeting its half-done joint configuration.
        self.finish_joint().await?;
        let voters = self.voters();
        if voters.contains(&id) {
            return Err(MembershipError::AlreadyMember(id));
        }
        // The newcomer counts once caught up; the rest must answer now.
        let mut after = voters.clone();
        after.insert(id);
        self.require_quorums(&[&voters, &after], Some(id)).await?;
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
        let cluster_level = self.inner.shared.read().level();
        if let Ok(raw) = &probe
            && let Ok(status) = serde_json::from_slice::<crate::api::NodeStatus>(raw)
            && status.level < cluster_level
        {
            return Err(MembershipError::ReleaseTooOld {
                id,
                level: status.level,
                cluster_level,
            });
        }
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
        // Minutes may have passed: check again that the old voters and the
        // new set (with the learner, which just proved itself) answer now.
        let voters = self.voters();
        let mut after = voters.clone();
        after.insert(id);
        self.require_quorums(&[&voters, &after], Some(id)).await?;
        let change = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
        self.change(change).await
    }

    async fn remove_local(&self, id: u64) -> Result<(), MembershipError> {
        let m = self.metrics();
        let membership = m.membership_config.membership().clone();
        if membership.get_node(&id).is_none() {
            return Err(MembershipError::NotMember(id));
        }
        self.require_committed_membership()?;
        self.finish_joint().await?;
        if !self.members().contains_key(&id) {
            return Ok(()); // the joint configuration just finished removed it
        }
        let voters = self.voters();
        if !voters.contains(&id) {
            return self
                .change(ChangeMembers::RemoveNodes(BTreeSet::from([id])))
                .await;
        }
        let mut after = voters.clone();
        after.remove(&id);
        self.require_quorums(&[&voters, &after], None).await?;
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
            // This node leads: "no leader" would send the caller round in
            // circles until its deadline.
            .ok_or(MembershipError::NoCandidate)?;
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
        use openraft::errors::{ChangeMembershipError, ClientWriteError, RaftError};
        let timeout = self.inner.config.snapshot_timeout;
        let what = format!("{change:?}");
        tracing::info!(change = %what, "proposing a membership change");
        match tokio::time::timeout(timeout, self.inner.raft.change_membership(change, false)).await
        {
            Err(_) => {
                let configs = voter_sets(&self.metrics());
                tracing::error!(change = %what, "membership change not committed within {timeout:?}");
                Err(MembershipError::NotCommitted(format!(
                    "the change was proposed but not committed within {timeout:?}: the log holds \
                     voters {}, and it commits once a quorum of each answers; writes wait \
                     until then (GET /v1/cluster shows who is down)",
                    configs.join(" and ")
                )))
            }
            // Leadership moved during the change (say, while a big snapshot
            // went to the new member): the caller retries on the new leader.
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(MembershipError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(_),
            )))) => {
                self.require_committed_membership()?;
                Err(MembershipError::InProgress(
                    "a membership change is not committed yet; retry when it is".into(),
                ))
            }
            Ok(Err(e)) => Err(failed(e)),
            Ok(Ok(_)) => {
                tracing::info!(change = %what, "membership change committed");
                Ok(())
            }
        }
    }
}
