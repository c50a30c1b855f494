//! Convergence after healing: one leader, and every member still alive
//! (voter or learner of the leader's membership; nodes removed or lost are
//! not members) applied the same entries to the same state, with every SDK
//! subscriber caught up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::stores;
use crate::cluster::{Hosts, Registry};
use crate::history::History;
use crate::workload::SdkView;

/// Whether the healed cluster agrees on everything.
pub fn converged(registry: &Registry, hosts: &Hosts, views: &[Arc<Mutex<SdkView>>]) -> bool {
    let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    let Some(lead) = reg
        .values()
        .map(|r| r.raft.status())
        .filter(|s| s.state == "leader")
        .max_by_key(|s| s.term)
    else {
        return false;
    };
    let members: Vec<u64> = lead
        .voters
        .iter()
        .chain(&lead.learners)
        .filter(|id| !hosts.retired.contains(id))
        .copied()
        .collect();
    let mut statuses = Vec::new();
    for id in &members {
        match reg.get(id) {
            Some(r) => statuses.push(r.raft.status()),
            None => return false, // a member that is down
        }
    }
    if statuses
        .iter()
        .any(|s| s.leader != Some(lead.id) || s.applied_index != lead.applied_index)
    {
        return false;
    }
    let digests: Vec<_> = members
        .iter()
        .filter_map(|id| hosts.disks.get(id))
        .map(|d| stores::state_digest(&d.engine))
        .collect();
    if digests.iter().any(|d| *d != digests[0]) {
        return false;
    }
    // SDKs must hold every change (their id counts changes, not blank
    // or membership entries) and the same flag versions.
    let Some((last_change, cluster_flags)) = reg.get(&lead.id).map(|r| {
        let st = r.raft.shared().read();
        let flags: BTreeMap<String, u64> = st
            .flags
            .flags()
            .map(|f| (f.key().to_owned(), f.flag().version))
            .collect();
        (st.last_change, flags)
    }) else {
        return false;
    };
    views.iter().all(|v| {
        let v = v.lock().unwrap_or_else(|p| p.into_inner());
        v.state_id.is_some_and(|id| id >= last_change) && v.flags == cluster_flags
    })
}

/// Where each node and SDK stands, for a failure message.
pub fn diagnose(
    registry: &Registry,
    hosts: &Hosts,
    views: &[Arc<Mutex<SdkView>>],
    history: &History,
) -> String {
    let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = format!(
        "live write done: {}; retired (lost or removed): {:?}; ",
        history.live_write_done(),
        hosts.retired
    );
    for (id, r) in reg.iter() {
        let s = r.raft.status();
        out += &format!(
            "n{id}: {} term {} leader {:?} voters {:?} learners {:?} last log {:?} commit {:?} applied {:?} digest {:?}; ",
            s.state,
            s.term,
            s.leader,
            s.voters,
            s.learners,
            s.last_log_index,
            s.commit_index,
            s.applied_index,
            hosts.disks.get(id).map(|d| stores::state_digest(&d.engine))
        );
    }
    for (i, v) in views.iter().enumerate() {
        let v = v.lock().unwrap_or_else(|p| p.into_inner());
        out += &format!(
            "sdk{i}: state {:?} with {} flags; ",
            v.state_id,
            v.flags.len()
        );
    }
    out
}
