//! `/v1/cluster`: members and their health (viewer), membership changes and
//! leadership transfer (admin).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use vexil_raft::command::ClusterChange;
use vexil_raft::{Member, Op, Role};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, Caller};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/cluster", get(view))
        .route("/v1/cluster/members", post(add))
        .route("/v1/cluster/members/{id}", delete(remove))
        .route("/v1/cluster/leader", post(transfer_leader))
}

#[utoipa::path(get, path = "/v1/cluster", tag = "cluster", security(("bearer" = [])),
    responses((status = 200, description = "Every member's role, indexes, lag and health", body = vexil_raft::ClusterView)))]
async fn view(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require_role(Role::Viewer)?;
    Ok(Json(state.raft.cluster_view().await).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddBody {
    id: u64,
    peer_addr: String,
    client_addr: String,
}

fn host_port(field: &str, v: &str) -> ApiResult<()> {
    match v.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => Ok(()),
        _ => Err(ApiError::bad_request(
            field,
            format!("{v:?} is not host:port"),
        )),
    }
}

#[utoipa::path(post, path = "/v1/cluster/members", tag = "cluster", security(("bearer" = [])),
    request_body = AddBody,
    responses(
        (status = 200, description = "Added as a voter once caught up", body = crate::openapi::schemas::MemberAdded),
        (status = 400, description = "A bad id or address", body = ApiError),
        (status = 409, description = "Already a voter (`already_member`), or another member answers at this peer address, in any spelling (`address_in_use`)", body = ApiError),
        (status = 503, description = "It did not catch up in time and stays a learner, or there is no leader (`membership_failed`, `no_leader`)", body = ApiError),
    ))]
async fn add(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AddBody>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    if body.id == 0 {
        return Err(ApiError::bad_request("id", "node ids start at 1"));
    }
    host_port("peer_addr", &body.peer_addr)?;
    host_port("client_addr", &body.client_addr)?;
    // Another member's address under a new id would have the leader
    // replicate to that member twice over (or to itself); it refuses such
    // calls, so the add could only time out. Say so at once instead.
    if let Some((other, _)) = state
        .raft
        .members()
        .into_iter()
        .find(|(id, m)| *id != body.id && m.peer_addr == body.peer_addr)
    {
        return Err(ApiError::conflict(
            "address_in_use",
            format!(
                "{} is node {other}'s peer address; give node {} its own",
                body.peer_addr, body.id
            ),
        ));
    }
    let member = Member {
        peer_addr: body.peer_addr,
        client_addr: body.client_addr,
    };
    state.raft.add_member(body.id, member.clone()).await?;
    let change = ClusterChange::MemberAdd {
        id: body.id,
        peer_addr: member.peer_addr,
        client_addr: member.client_addr,
    };
    let audit_id = audit(&state, &caller, &headers, change).await;
    Ok(Json(json!({
        "added": body.id,
        "audit_id": audit_id,
        "cluster": state.raft.cluster_view().await,
    }))
    .into_response())
}

#[utoipa::path(delete, path = "/v1/cluster/members/{id}", tag = "cluster", security(("bearer" = [])),
    params(("id" = u64, Path, description = "The node id")),
    responses(
        (status = 200, description = "Removed", body = crate::openapi::schemas::MemberRemoved),
        (status = 404, description = "Not a member", body = ApiError),
        (status = 409, description = "Removing it would lose quorum (`would_lose_quorum`)", body = ApiError),
    ))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("id", format!("{id:?} is not a node id")))?;
    state.raft.remove_member(id).await?;
    let audit_id = audit(
        &state,
        &caller,
        &headers,
        ClusterChange::MemberRemove { id },
    )
    .await;
    Ok(Json(json!({ "removed": id, "audit_id": audit_id })).into_response())
}

/// Audits a committed membership or leadership change as `caller`, in the
/// entry after it (openraft's membership entries carry no application
/// data). Returns the audit entry's id. Until every member runs this
/// release (cluster level 2, `vexil_raft::version`) nothing is audited and
/// the log line is the only record; a failed audit write is logged too:
/// the change itself is committed either way, and the answer says so.
async fn audit(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    change: ClusterChange,
) -> Option<u64> {
    let action = change.action();
    let node = change.node();
    let level = state.raft.shared().read().level();
    if level < vexil_raft::version::CLUSTER_AUDIT {
        tracing::info!(
            action,
            node,
            actor = %caller.name,
            "not audited: the cluster is at level {level} until every member runs this release"
        );
        return None;
    }
    match state
        .write(caller, headers, Op::AuditCluster { change })
        .await
    {
        Ok((_, index)) => Some(index),
        Err(e) => {
            tracing::warn!(action, node, actor = %caller.name, error = %e.message, "the change is committed, but its audit entry could not be written");
            None
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    /// The voter to lead; absent: the healthiest voter other than the
    /// current leader.
    #[serde(default)]
    to: Option<u64>,
}

#[utoipa::path(post, path = "/v1/cluster/leader", tag = "cluster", security(("bearer" = [])),
    request_body = TransferBody,
    responses(
        (status = 200, description = "Leadership moved; the new leader and the cluster", body = crate::openapi::schemas::LeaderMoved),
        (status = 404, description = "`to` is not a member", body = ApiError),
        (status = 409, description = "`to` is a learner (`not_a_voter`), has not answered the leader recently (`unhealthy`), or no other voter can take over (`no_candidate`)", body = ApiError),
    ))]
async fn transfer_leader(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TransferBody>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    if body.to == Some(0) {
        return Err(ApiError::bad_request("to", "node ids start at 1"));
    }
    let from = state.raft.leader().map(|(id, _)| id);
    let leader = state.raft.transfer_leader(body.to).await?;
    tracing::info!(leader, actor = %caller.name, "leadership transferred");
    let audit_id = if from == Some(leader) {
        None
    } else {
        let change = ClusterChange::LeaderTransfer { from, to: leader };
        audit(&state, &caller, &headers, change).await
    };
    Ok(Json(json!({
        "leader": leader,
        "audit_id": audit_id,
        "cluster": state.raft.cluster_view().await,
    }))
    .into_response())
}
