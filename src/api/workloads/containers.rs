//! `/nodes/{id}/containers`: 0-orchestrator's container resources. Each change writes the desired record and a
//! job (see `workloads`); reads come from the store, merged with what the engine last observed.

use serde::Serialize;
use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx, workloads};
use crate::model::storage::FilesystemSpec;
use crate::model::{Container, ContainerNic, ContainerSpec, CoreSystem, JobAction, Role, Spec};

/// A container as 0-orchestrator's `Container` shows it, plus ours (`node`, `state`, `job`, `coreId`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerView {
    pub name: String,
    pub hostname: String,
    pub flist: String,
    /// 0-orchestrator's GET spells it in lower case.
    #[serde(rename = "initprocesses")]
    pub init_processes: Vec<CoreSystem>,
    pub filesystems: Vec<String>,
    pub nics: Vec<ContainerNic>,
    pub host_networking: bool,
    pub ports: Vec<String>,
    pub storage: String,
    /// 0-orchestrator's status: `running` or `halted`.
    #[schema(example = "running")]
    pub status: &'static str,
    pub zerotiernodeid: String,
    pub node: String,
    /// Richer than `status`: `creating`, `starting`, `stopping`, `deleting` while a job applies a change.
    pub state: String,
    /// The job applying the latest change (`/jobs/{job}`).
    pub job: String,
    /// 0-core's id for it on the node, while it exists there.
    pub core_id: Option<u64>,
}

fn view(ctx: &Ctx, container: Container) -> Result<ContainerView, ApiError> {
    let observed = workloads::observed(ctx, &container)?;
    let running = observed.as_ref().is_some_and(|o| o.status == "running");
    let state = match workloads::state(ctx, &container, observed.as_ref())? {
        absent if absent == "absent" => "halted".to_owned(),
        state => state,
    };
    let spec = container.spec;
    Ok(ContainerView {
        name: spec.name,
        hostname: spec.hostname,
        flist: spec.flist,
        init_processes: spec.init_processes,
        filesystems: spec.filesystems,
        nics: spec.nics,
        host_networking: spec.host_networking,
        ports: spec.ports,
        storage: spec.storage,
        status: if running { "running" } else { "halted" },
        zerotiernodeid: String::new(),
        node: container.node,
        state,
        job: container.job,
        core_id: observed.and_then(|o| o.core_id),
    })
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list(node: String) [with_ctx(ctx), caller()],
    create(node: String) [with_ctx(ctx), caller(), raw_body()],
    get(node: String, name: String) [with_ctx(ctx), caller()],
    delete(node: String, name: String) [with_ctx(ctx), caller()],
    update(node: String, name: String) [with_ctx(ctx), caller(), raw_body()],
    start(node: String, name: String) [with_ctx(ctx), caller()],
    stop(node: String, name: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listContainers", get, path = "/nodes/{id}/containers", tag = "containers",
    responses((status = 200, body = [ContainerView])))]
pub(crate) async fn list(node: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    workloads::list_response::<ContainerSpec, _>(&ctx, &node, &[], |container| view(&ctx, container))
}

#[utoipa::path(operation_id = "createContainer", post, path = "/nodes/{id}/containers", tag = "containers",
    request_body = ContainerSpec,
    responses(
        (status = 201, description = "Running on the node", body = ContainerView,
            headers(("Location" = String, description = "URL of the container"))),
        (status = 202, description = "Accepted; the node has not finished yet: follow the job"),
        (status = 400, description = "Invalid field, or an flist the node cannot fetch", body = ErrorBody),
        (status = 409, description = "Name or host port in use", body = ErrorBody)))]
pub(crate) async fn create(node: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let spec: ContainerSpec = caller.body(&ctx, Role::Operator, body)?;
    workloads::require_node(&ctx, &node)?;
    spec.validate()?;
    // Each filesystem to mount must exist on the node: a typo is a 400, not a container without its data.
    for (i, entry) in spec.filesystems.iter().enumerate() {
        let (pool, filesystem) = entry.split_once(':').unwrap_or_default();
        if workloads::find::<FilesystemSpec>(&ctx, &node, &[pool.to_owned()], filesystem).is_err() {
            return Err(ApiError::bad_request(
                "unknown_filesystem",
                format!("filesystem '{filesystem}' does not exist in pool '{pool}' on node '{node}'"),
            )
            .with_field(format!("filesystems[{i}]")));
        }
    }
    workloads::create_response(&ctx, &node, Vec::new(), spec, async |container| view(&ctx, container)).await
}

#[utoipa::path(operation_id = "getContainer", get, path = "/nodes/{id}/containers/{name}", tag = "containers",
    responses((status = 200, body = ContainerView)))]
pub(crate) async fn get(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let record = workloads::find::<ContainerSpec>(&ctx, &node, &[], &name)?;
    Ok(warp::reply::json(&view(&ctx, record.value)?).into_response())
}

#[utoipa::path(operation_id = "deleteContainer", delete, path = "/nodes/{id}/containers/{name}", tag = "containers",
    responses((status = 204, description = "Deleted, or did not exist (as in 0-orchestrator)"),
        (status = 202),
        (status = 404, description = "Unknown node", body = ErrorBody)))]
pub(crate) async fn delete(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    workloads::delete::<ContainerSpec>(&ctx, &node, &[], &name).await
}

/// 0-orchestrator's `ContainerUpdate`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerUpdate {
    pub nics: Vec<ContainerNic>,
}

#[utoipa::path(operation_id = "updateContainer", put, path = "/nodes/{id}/containers/{name}", tag = "containers",
    request_body = ContainerUpdate,
    responses((status = 204, description = "The container has these NICs now (or will, at its next start)"),
        (status = 202), (status = 409, description = "Being deleted", body = ErrorBody)))]
pub(crate) async fn update(node: String, name: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let update: ContainerUpdate = caller.body(&ctx, Role::Operator, body)?;
    let record = workloads::find::<ContainerSpec>(&ctx, &node, &[], &name)?;
    if record.value.deleting {
        let message = format!("container '{name}' is being deleted");
        return Err(ApiError::new(StatusCode::CONFLICT, "being_deleted", message));
    }
    let mut spec = record.value.spec.clone();
    spec.nics = update.nics;
    spec.validate()?;
    match workloads::change(&ctx, record, JobAction::Update, |c| c.spec = spec).await? {
        Some(accepted) => Ok(accepted),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[utoipa::path(operation_id = "startContainer", post, path = "/nodes/{id}/containers/{name}/start", tag = "containers",
    responses((status = 201, description = "Running (as in 0-orchestrator)"),
        (status = 202),
        (status = 409, description = "Being deleted", body = ErrorBody)))]
pub(crate) async fn start(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    power(node, name, ctx, caller, true).await
}

#[utoipa::path(operation_id = "stopContainer", post, path = "/nodes/{id}/containers/{name}/stop", tag = "containers",
    responses((status = 204, description = "Stopped"), (status = 202),
        (status = 409, description = "Being deleted", body = ErrorBody)))]
pub(crate) async fn stop(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    power(node, name, ctx, caller, false).await
}

async fn power(node: String, name: String, ctx: Ctx, caller: Caller, running: bool) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let record = workloads::find::<ContainerSpec>(&ctx, &node, &[], &name)?;
    if record.value.deleting {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "being_deleted",
            format!("container '{name}' is being deleted"),
        ));
    }
    let action = if running { JobAction::Start } else { JobAction::Stop };
    let path = record.value.path();
    match workloads::change(&ctx, record, action, |c| c.running = running).await? {
        Some(accepted) => Ok(accepted),
        None if running => {
            let mut response = StatusCode::CREATED.into_response();
            crate::api::set_header(&mut response, warp::http::header::LOCATION, &path);
            Ok(response)
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
