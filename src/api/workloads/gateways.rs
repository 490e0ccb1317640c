//! `/nodes/{id}/gws`: gateways, with 0-orchestrator's paths, fields and codes — create, list, get, replace
//! (`PUT` with the reference's `GW`), delete, start (201), stop, migrate to another node (200). Every change is
//! the desired record plus a job (see `workloads`); the engine applies it to the gateway's container. The parts of
//! a gateway (forwards, DHCP hosts, proxies, advanced configs) are in `gateway_parts`.

use serde::Serialize;
use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx, workloads};
use crate::model::gateway::{GatewayCreate, GatewaySpec, GatewayUpdate, GwNic, HttpProxy, PortForward};
use crate::model::{Job, JobAction, Node, Role, Spec, Workload};

/// 0-orchestrator's `ListGW` and `GetGW` (one shape: the list also tells each gateway's status), plus ours
/// (`node`, `state`, `job`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GatewayView {
    pub name: String,
    pub domain: String,
    pub nics: Vec<GwNic>,
    pub portforwards: Vec<PortForward>,
    pub httpproxies: Vec<HttpProxy>,
    /// `running` or `halted`.
    #[schema(example = "running")]
    pub status: String,
    /// Whether the firewall and the HTTP proxy run on the operator's own configurations.
    pub advanced: AdvancedView,
    pub node: String,
    pub state: String,
    pub job: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdvancedView {
    pub firewall: bool,
    pub http: bool,
}

pub(super) fn view(ctx: &Ctx, gateway: Workload<GatewaySpec>) -> Result<GatewayView, ApiError> {
    let observed = workloads::observed(ctx, &gateway)?;
    let state = workloads::state(ctx, &gateway, observed.as_ref())?;
    let running = observed.is_some_and(|observed| observed.status == "running");
    let spec = gateway.spec;
    Ok(GatewayView {
        name: spec.name,
        domain: spec.gateway.domain,
        nics: spec.gateway.nics,
        portforwards: spec.gateway.portforwards,
        httpproxies: spec.gateway.httpproxies,
        status: if running { "running" } else { "halted" }.into(),
        advanced: AdvancedView {
            firewall: spec.advanced.firewall.is_some(),
            http: spec.advanced.http.is_some(),
        },
        node: gateway.node,
        state,
        job: gateway.job,
    })
}

/// The gateway `name` on `node`, unless it is being deleted or moved (409): what every change starts from.
pub(super) fn find_changeable(
    ctx: &Ctx,
    node: &str,
    name: &str,
) -> Result<crate::store::Versioned<Workload<GatewaySpec>>, ApiError> {
    let record = workloads::find::<GatewaySpec>(ctx, node, &[], name)?;
    if record.value.deleting || record.value.moved_from.is_some() {
        let message = format!("gateway '{name}' is being deleted or moved");
        return Err(ApiError::new(StatusCode::CONFLICT, "busy", message));
    }
    Ok(record)
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list(node: String) [with_ctx(ctx), caller()],
    create(node: String) [with_ctx(ctx), caller(), raw_body()],
    get_gateway(node: String, name: String) [with_ctx(ctx), caller()],
    update(node: String, name: String) [with_ctx(ctx), caller(), raw_body()],
    delete(node: String, name: String) [with_ctx(ctx), caller()],
    start(node: String, name: String) [with_ctx(ctx), caller()],
    stop(node: String, name: String) [with_ctx(ctx), caller()],
    migrate(node: String, name: String) [with_ctx(ctx), caller(), raw_body()],
];

#[utoipa::path(operation_id = "listGateways", get, path = "/nodes/{id}/gws", tag = "gateways",
    responses((status = 200, body = [GatewayView])))]
pub(crate) async fn list(node: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    workloads::list_response::<GatewaySpec, _>(&ctx, &node, &[], |gateway| view(&ctx, gateway))
}

#[utoipa::path(operation_id = "createGateway", post, path = "/nodes/{id}/gws", tag = "gateways",
    request_body = GatewayCreate,
    responses((status = 201, body = GatewayView, headers(("Location" = String))),
        (status = 202),
        (status = 400, description = "Invalid field, or a configuration the gateway refuses", body = ErrorBody),
        (status = 409, description = "Name taken, or a forward on a port in use", body = ErrorBody)))]
pub(crate) async fn create(node: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let create: GatewayCreate = caller.body(&ctx, Role::Operator, body)?;
    let spec = GatewaySpec::from(create);
    workloads::create_response(&ctx, &node, Vec::new(), spec, async |gateway| view(&ctx, gateway)).await
}

#[utoipa::path(operation_id = "getGateway", get, path = "/nodes/{id}/gws/{gwname}", tag = "gateways",
    responses((status = 200, body = GatewayView)))]
pub(crate) async fn get_gateway(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let gateway = workloads::find::<GatewaySpec>(&ctx, &node, &[], &name)?;
    Ok(warp::reply::json(&view(&ctx, gateway.value)?).into_response())
}

/// Validates `spec` as changed by `change`, writes it with an update job and answers 204 (or 202).
pub(super) async fn change(
    ctx: &Ctx,
    node: &str,
    name: &str,
    change: impl FnOnce(&mut GatewaySpec) -> Result<(), ApiError>,
) -> Result<Option<warp::reply::Response>, ApiError> {
    let record = find_changeable(ctx, node, name)?;
    let mut spec = record.value.spec.clone();
    change(&mut spec)?;
    spec.validate()?;
    workloads::change(ctx, record, JobAction::Update, |gateway| gateway.spec = spec).await
}

#[utoipa::path(operation_id = "updateGateway", put, path = "/nodes/{id}/gws/{gwname}", tag = "gateways",
    request_body = GatewayUpdate,
    responses((status = 204, description = "Updated"), (status = 202),
        (status = 409, description = "Being deleted or moved, or a forward on a port in use", body = ErrorBody)))]
pub(crate) async fn update(node: String, name: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let update: GatewayUpdate = caller.body(&ctx, Role::Operator, body)?;
    let changed = change(&ctx, &node, &name, |spec| {
        spec.change(|gateway, _| *gateway = update);
        Ok(())
    })
    .await?;
    Ok(changed.unwrap_or_else(|| StatusCode::NO_CONTENT.into_response()))
}

#[utoipa::path(operation_id = "deleteGateway", delete, path = "/nodes/{id}/gws/{gwname}", tag = "gateways",
    responses((status = 204, description = "Deleted, or did not exist"), (status = 202)))]
pub(crate) async fn delete(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    workloads::delete::<GatewaySpec>(&ctx, &node, &[], &name).await
}

#[utoipa::path(operation_id = "startGateway", post, path = "/nodes/{id}/gws/{gwname}/start", tag = "gateways",
    responses((status = 201, description = "Started", body = GatewayView), (status = 202), (status = 409, description = "Being deleted or moved", body = ErrorBody)))]
pub(crate) async fn start(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    power(&ctx, &node, &name, true).await
}

#[utoipa::path(operation_id = "stopGateway", post, path = "/nodes/{id}/gws/{gwname}/stop", tag = "gateways",
    responses((status = 204, description = "Stopped (its container is gone)"), (status = 202), (status = 409, description = "Being deleted or moved", body = ErrorBody)))]
pub(crate) async fn stop(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    power(&ctx, &node, &name, false).await
}

/// Start (201 with the gateway, as the reference) or stop (204).
async fn power(ctx: &Ctx, node: &str, name: &str, running: bool) -> HandlerResult {
    let record = find_changeable(ctx, node, name)?;
    let action = if running { JobAction::Start } else { JobAction::Stop };
    if let Some(accepted) = workloads::change(ctx, record, action, |gateway| gateway.running = running).await? {
        return Ok(accepted);
    }
    if !running {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let gateway = workloads::find::<GatewaySpec>(ctx, node, &[], name)?;
    let body = warp::reply::json(&view(ctx, gateway.value)?);
    Ok(warp::reply::with_status(body, StatusCode::CREATED).into_response())
}

/// 0-orchestrator's `MigrateGW`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayMigrate {
    /// The node to move the gateway to.
    pub node: String,
}

#[utoipa::path(operation_id = "migrateGateway", post, path = "/nodes/{id}/gws/{gwname}/migrate", tag = "gateways",
    request_body = GatewayMigrate,
    responses((status = 200, description = "The gateway runs on the other node", body = GatewayView),
        (status = 202),
        (status = 400, description = "Unknown node, or the one it is on", body = ErrorBody),
        (status = 409, description = "Being changed; the other node has a gateway with this name", body = ErrorBody)))]
pub(crate) async fn migrate(node: String, name: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let request: GatewayMigrate = caller.body(&ctx, Role::Operator, body)?;
    let record = find_changeable(&ctx, &node, &name)?;
    if request.node == node {
        let message = format!("gateway '{name}' is already on node '{node}'");
        return Err(ApiError::bad_request("invalid_field", message).with_field("node"));
    }
    if ctx.store.get::<Node>(&request.node)?.is_none() {
        let message = format!("node '{}' does not exist", request.node);
        return Err(ApiError::bad_request("unknown_node", message).with_field("node"));
    }
    if ctx
        .store
        .get::<Job>(&record.value.job)?
        .is_some_and(|job| !job.value.state.finished())
    {
        let message = format!("gateway '{name}' is being changed; try again when its job is done");
        return Err(ApiError::new(StatusCode::CONFLICT, "busy", message));
    }
    // The record moves: a new one on the target remembers the source; the engine builds the gateway there, then
    // removes it (container and record) from the source.
    let mut spec = record.value.spec.clone();
    spec.before_change = None;
    let mut moved = Workload::new(&request.node, Vec::new(), spec);
    moved.running = record.value.running;
    moved.moved_from = Some(node.clone());
    let job = Job::new(
        GatewaySpec::COLLECTION,
        JobAction::Migrate,
        &request.node,
        &moved.key,
        &moved.path(),
    );
    moved.job = job.id.clone();
    let key = moved.key.clone();
    ctx.insert(moved, "node").await?;
    tracing::info!(gateway = %name, from = %node, to = %request.node, "gateway migration requested");
    if let Some(accepted) = crate::api::resources::jobs::submit(&ctx, job).await? {
        return Ok(accepted);
    }
    let gateway = ctx
        .store
        .get::<Workload<GatewaySpec>>(&key)?
        .ok_or_else(|| ApiError::not_found("gateway", &name))?;
    Ok(warp::reply::json(&view(&ctx, gateway.value)?).into_response())
}
