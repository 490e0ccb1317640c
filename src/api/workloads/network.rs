//! `/nodes/{id}/bridges` and `/nodes/{id}/zerotiers`: a node's bridges and the ZeroTier networks it joins, with
//! 0-orchestrator's paths and fields. Changes go through jobs (see `workloads`); a ZeroTier network is shown as
//! the node reports it (`zerotier-cli listnetworks -j`).

use serde::Serialize;
use serde_json::{Value, json};
use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, shapes, with_ctx, workloads};
use crate::model::network::{BridgeSetting, BridgeSpec, ZerotierJoin};
use crate::model::{Role, Workload};

/// A bridge as 0-orchestrator shows it, plus ours (`node`, `state`, `job`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BridgeView {
    pub name: String,
    pub hwaddr: Option<String>,
    pub network_mode: String,
    pub nat: bool,
    pub setting: BridgeSetting,
    /// `up` once the node has it, else `down`.
    pub status: &'static str,
    pub node: String,
    pub state: String,
    pub job: String,
}

fn bridge_view(ctx: &Ctx, bridge: Workload<BridgeSpec>) -> Result<BridgeView, ApiError> {
    let observed = workloads::observed(ctx, &bridge)?;
    let state = workloads::state(ctx, &bridge, observed.as_ref())?;
    let spec = bridge.spec;
    Ok(BridgeView {
        name: spec.name,
        hwaddr: spec.hwaddr,
        network_mode: spec.network_mode,
        nat: spec.nat,
        setting: spec.setting,
        status: if observed.is_some() { "up" } else { "down" },
        node: bridge.node,
        state,
        job: bridge.job,
    })
}

/// The networks the node reports (`zerotier.list`), or none when it does not answer.
async fn joined(ctx: &Ctx, node: &str) -> Vec<Value> {
    workloads::reported(ctx, node, async |client| client.zerotier_networks().await).await
}

/// The node's own entry for the network, with our `state` and `job`; `REQUESTING_CONFIGURATION` until it has one.
fn zerotier_view(ctx: &Ctx, zerotier: Workload<ZerotierJoin>, joined: &[Value]) -> Result<Value, ApiError> {
    let observed = workloads::observed(ctx, &zerotier)?;
    let state = workloads::state(ctx, &zerotier, observed.as_ref())?;
    let nwid = zerotier.spec.nwid;
    let view = joined
        .iter()
        .find(|network| network["nwid"] == nwid.as_str())
        .cloned()
        .unwrap_or_else(|| json!({"nwid": nwid, "status": "REQUESTING_CONFIGURATION", "assignedAddresses": []}));
    let mut view = shapes::zerotier(view);
    view["state"] = json!(state);
    view["job"] = json!(zerotier.job);
    Ok(view)
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list_bridges(node: String) [with_ctx(ctx), caller()],
    create_bridge(node: String) [with_ctx(ctx), caller(), raw_body()],
    get_bridge(node: String, bridge: String) [with_ctx(ctx), caller()],
    delete_bridge(node: String, bridge: String) [with_ctx(ctx), caller()],
    list_zerotiers(node: String) [with_ctx(ctx), caller()],
    join_zerotier(node: String) [with_ctx(ctx), caller(), raw_body()],
    get_zerotier(node: String, nwid: String) [with_ctx(ctx), caller()],
    leave_zerotier(node: String, nwid: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listBridges", get, path = "/nodes/{id}/bridges", tag = "network",
    responses((status = 200, body = [BridgeView])))]
pub(crate) async fn list_bridges(node: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    workloads::list_response::<BridgeSpec, _>(&ctx, &node, &[], |bridge| bridge_view(&ctx, bridge))
}

#[utoipa::path(operation_id = "createBridge", post, path = "/nodes/{id}/bridges", tag = "network",
    request_body = BridgeSpec,
    responses((status = 201, body = BridgeView, headers(("Location" = String))),
        (status = 202), (status = 409, description = "Name or subnet taken", body = ErrorBody)))]
pub(crate) async fn create_bridge(node: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let spec: BridgeSpec = caller.body(&ctx, Role::Operator, body)?;
    workloads::require_node(&ctx, &node)?;
    if let Some(subnet) = spec.subnet() {
        let taken = workloads::list::<BridgeSpec>(&ctx, &node, &[])?
            .into_iter()
            .find(|other| other.spec.subnet().is_some_and(|s| s.0 == subnet.0) && other.spec.name != spec.name);
        if let Some(other) = taken {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "cidr_in_use",
                format!("bridge '{}' already uses {}", other.spec.name, other.spec.setting.cidr),
            )
            .with_field("setting.cidr"));
        }
    }
    workloads::create_response(&ctx, &node, Vec::new(), spec, async |bridge| bridge_view(&ctx, bridge)).await
}

#[utoipa::path(operation_id = "getBridge", get, path = "/nodes/{id}/bridges/{bridge}", tag = "network",
    responses((status = 200, body = BridgeView)))]
pub(crate) async fn get_bridge(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let bridge = workloads::find::<BridgeSpec>(&ctx, &node, &[], &name)?;
    Ok(warp::reply::json(&bridge_view(&ctx, bridge.value)?).into_response())
}

#[utoipa::path(operation_id = "deleteBridge", delete, path = "/nodes/{id}/bridges/{bridge}", tag = "network",
    responses((status = 204, description = "Deleted, or did not exist"), (status = 202)))]
pub(crate) async fn delete_bridge(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    workloads::delete::<BridgeSpec>(&ctx, &node, &[], &name).await
}

#[utoipa::path(operation_id = "listZerotiers", get, path = "/nodes/{id}/zerotiers", tag = "network",
    responses((status = 200, description = "0-orchestrator's `Zerotier` (as `zerotier-cli listnetworks -j`)", body = [Object])))]
pub(crate) async fn list_zerotiers(node: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    workloads::require_node(&ctx, &node)?;
    let joined = joined(&ctx, &node).await;
    workloads::list_response::<ZerotierJoin, _>(&ctx, &node, &[], |zerotier| zerotier_view(&ctx, zerotier, &joined))
}

#[utoipa::path(operation_id = "joinZerotier", post, path = "/nodes/{id}/zerotiers", tag = "network",
    request_body = ZerotierJoin,
    responses((status = 201, description = "Joined", body = Object, headers(("Location" = String))),
        (status = 202), (status = 409, body = ErrorBody)))]
pub(crate) async fn join_zerotier(node: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let mut spec: ZerotierJoin = caller.body(&ctx, Role::Operator, body)?;
    spec.nwid = spec.nwid.to_ascii_lowercase();
    workloads::create_response(&ctx, &node, Vec::new(), spec, async |zerotier| {
        zerotier_view(&ctx, zerotier, &joined(&ctx, &node).await)
    })
    .await
}

#[utoipa::path(operation_id = "getZerotier", get, path = "/nodes/{id}/zerotiers/{nwid}", tag = "network",
    responses((status = 200, body = Object)))]
pub(crate) async fn get_zerotier(node: String, nwid: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let zerotier = workloads::find::<ZerotierJoin>(&ctx, &node, &[], &nwid.to_ascii_lowercase())?;
    let joined = joined(&ctx, &node).await;
    Ok(warp::reply::json(&zerotier_view(&ctx, zerotier.value, &joined)?).into_response())
}

#[utoipa::path(operation_id = "leaveZerotier", delete, path = "/nodes/{id}/zerotiers/{nwid}", tag = "network",
    responses((status = 204, description = "Left, or was not a member"), (status = 202)))]
pub(crate) async fn leave_zerotier(node: String, nwid: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    workloads::delete::<ZerotierJoin>(&ctx, &node, &[], &nwid.to_ascii_lowercase()).await
}
