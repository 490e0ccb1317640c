//! `/health/nodes`: node health as the reference serves it — per node its overall status
//! (`NodeHealthCheck{id, hostname, status}`), and per node its checks (`HealthCheck[]`). The checks are the
//! heartbeat's (`engine/health.rs`); this only reads them.

use serde::Serialize;
use warp::Reply;

use crate::api::caller::caller;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx};
use crate::model::health::{HealthCheck, HealthStatus, NodeHealth};
use crate::model::{Node, NodeStatus, Role};

/// The reference's `NodeHealthCheck`: a node and its worst check (`SKIPPED` until it was first checked).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NodeHealthCheck {
    pub id: String,
    pub hostname: String,
    pub status: HealthStatus,
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list() [with_ctx(ctx), caller()],
    node(id: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listNodesHealth", get, path = "/health/nodes", tag = "health",
    responses((status = 200, body = [NodeHealthCheck])))]
pub(crate) async fn list(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let mut answer = Vec::new();
    for node in ctx.store.all::<Node>()? {
        let health = ctx.store.get::<NodeHealth>(&node.id)?;
        let observed = ctx.store.get::<NodeStatus>(&node.id)?.map(|s| s.value.hostname);
        answer.push(NodeHealthCheck {
            hostname: observed.filter(|h| !h.is_empty()).unwrap_or(node.hostname),
            status: health.map_or(HealthStatus::Skipped, |h| h.value.status()),
            id: node.id,
        });
    }
    Ok(warp::reply::json(&answer).into_response())
}

#[utoipa::path(operation_id = "getNodeHealth", get, path = "/health/nodes/{id}", tag = "health",
    params(("id" = String, Path, description = "Node id")),
    responses(
        (status = 200, description = "The node's checks (none until its first heartbeat)", body = [HealthCheck])))]
pub(crate) async fn node(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    if ctx.store.get::<Node>(&id)?.is_none() {
        return Err(ApiError::not_found("node", &id));
    }
    let checks = ctx
        .store
        .get::<NodeHealth>(&id)?
        .map(|h| h.value.checks)
        .unwrap_or_default();
    Ok(warp::reply::json(&checks).into_response())
}
