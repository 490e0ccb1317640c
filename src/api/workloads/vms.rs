//! `/nodes/{id}/vms`: virtual machines, with 0-orchestrator's paths, fields and codes (power actions and updates
//! answer 204). Create, start, stop, shutdown and delete go through jobs (see `workloads`); pause and resume are
//! imperative calls to the node, and a VM's live state (`paused`) and VNC port are read from the node.

use serde::Serialize;
use serde_json::Value;
use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, shapes, with_ctx, workloads};
use crate::model::vm::{NicLink, VmMedia, VmSpec, VmUpdate};
use crate::model::{JobAction, Node, Role, Spec, Workload};
use crate::store::Expect;

/// A VM's disk: 0-orchestrator's `VDiskLink`, plus, while the VM runs, the URL its domain opens the vdisk by
/// (on the VM's NBD server).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VmDiskView {
    pub vdiskid: String,
    pub max_i_ops: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "nbd+unix:///vd1?socket=/mnt/containers/3/server.socket.vm1")]
    pub url: Option<String>,
}

/// 0-orchestrator's `VM`, plus ours (`node`, `state`, `job`, a disk's `url`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VmView {
    pub id: String,
    pub memory: u64,
    pub cpu: u32,
    pub nics: Vec<NicLink>,
    pub disks: Vec<VmDiskView>,
    /// `running`, `paused`, `halted` (or `deploying`, `starting`, `halting` while a job works on it).
    #[schema(example = "running")]
    pub status: String,
    /// The VNC port, -1 when the VM is not running.
    pub vnc: i64,
    pub node: String,
    pub state: String,
    pub job: String,
}

/// The node's domains (`kvm.list`); empty when the node does not answer (the view falls back to the store).
async fn domains(ctx: &Ctx, node: &str) -> Vec<Value> {
    workloads::reported(ctx, node, async |client| client.domains().await).await
}

fn view(ctx: &Ctx, vm: Workload<VmSpec>, domains: &[Value]) -> Result<VmView, ApiError> {
    let observed = workloads::observed(ctx, &vm)?;
    let state = workloads::state(ctx, &vm, observed.as_ref())?;
    let domain = domains.iter().find(|domain| domain["name"] == vm.spec.id.as_str());
    let status = match (state.as_str(), domain) {
        ("creating", _) => "deploying".to_owned(),
        ("starting", _) => "starting".to_owned(),
        ("stopping" | "deleting", _) => "halting".to_owned(),
        (_, Some(domain)) => domain["state"].as_str().unwrap_or("running").to_owned(),
        _ => "halted".to_owned(),
    };
    let mut urls = match ctx.store.get::<VmMedia>(&vm.key)? {
        Some(media) if domain.is_some() => media.value.urls,
        _ => Default::default(),
    };
    let spec = vm.spec;
    let disks = (spec.disks.into_iter())
        .map(|disk| VmDiskView {
            url: urls.remove(&disk.vdiskid),
            vdiskid: disk.vdiskid,
            max_i_ops: disk.max_i_ops,
        })
        .collect();
    Ok(VmView {
        id: spec.id,
        memory: spec.memory,
        cpu: spec.cpu,
        nics: spec.nics,
        disks,
        status,
        vnc: domain.and_then(|d| d["vnc"].as_i64()).unwrap_or(-1),
        node: vm.node,
        state,
        job: vm.job,
    })
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list(node: String) [with_ctx(ctx), caller()],
    create(node: String) [with_ctx(ctx), caller(), raw_body()],
    get_vm(node: String, id: String) [with_ctx(ctx), caller()],
    update(node: String, id: String) [with_ctx(ctx), caller(), raw_body()],
    delete(node: String, id: String) [with_ctx(ctx), caller()],
    info(node: String, id: String) [with_ctx(ctx), caller()],
    migrate(node: String, id: String) [with_ctx(ctx), caller(), raw_body()],
    start(node: String, id: String) [with_ctx(ctx), caller()],
    stop(node: String, id: String) [with_ctx(ctx), caller()],
    shutdown(node: String, id: String) [with_ctx(ctx), caller()],
    pause_vm(node: String, id: String) [with_ctx(ctx), caller()],
    resume_vm(node: String, id: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listVms", get, path = "/nodes/{id}/vms", tag = "vms",
    responses((status = 200, body = [VmView])))]
pub(crate) async fn list(node: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    workloads::require_node(&ctx, &node)?;
    let domains = domains(&ctx, &node).await;
    workloads::list_response::<VmSpec, _>(&ctx, &node, &[], |vm| view(&ctx, vm, &domains))
}

#[utoipa::path(operation_id = "createVm", post, path = "/nodes/{id}/vms", tag = "vms",
    request_body = VmSpec,
    responses((status = 201, body = VmView, headers(("Location" = String))),
        (status = 202), (status = 409, description = "Id taken, or not enough memory on the node", body = ErrorBody)))]
pub(crate) async fn create(node: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let spec: VmSpec = caller.body(&ctx, Role::Operator, body)?;
    workloads::create_response(&ctx, &node, Vec::new(), spec, async |vm| {
        view(&ctx, vm, &domains(&ctx, &node).await)
    })
    .await
}

#[utoipa::path(operation_id = "getVm", get, path = "/nodes/{id}/vms/{vmid}", tag = "vms",
    responses((status = 200, body = VmView)))]
pub(crate) async fn get_vm(node: String, id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let vm = workloads::find::<VmSpec>(&ctx, &node, &[], &id)?;
    let domains = domains(&ctx, &node).await;
    Ok(warp::reply::json(&view(&ctx, vm.value, &domains)?).into_response())
}

#[utoipa::path(operation_id = "updateVm", put, path = "/nodes/{id}/vms/{vmid}", tag = "vms",
    request_body = VmUpdate,
    responses((status = 204, description = "Updated; applies at the next start"),
        (status = 409, description = "The VM is not halted", body = ErrorBody)))]
pub(crate) async fn update(node: String, id: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let update: VmUpdate = caller.body(&ctx, Role::Operator, body)?;
    let record = workloads::find::<VmSpec>(&ctx, &node, &[], &id)?;
    if record.value.running || record.value.deleting {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "vm_not_halted",
            format!("stop VM '{id}' before updating it"),
        ));
    }
    let mut vm = record.value;
    vm.spec.update(update);
    vm.spec.validate()?;
    ctx.store.put(vm, Expect::Version(record.version)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(operation_id = "deleteVm", delete, path = "/nodes/{id}/vms/{vmid}", tag = "vms",
    responses((status = 204, description = "Deleted, or did not exist"), (status = 202)))]
pub(crate) async fn delete(node: String, id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    workloads::delete::<VmSpec>(&ctx, &node, &[], &id).await
}

#[utoipa::path(operation_id = "vmInfo", get, path = "/nodes/{id}/vms/{vmid}/info", tag = "vms",
    responses((status = 200, description = "0-orchestrator's `VMInfo`: 5-minute averages of cpu, disks, nics", body = Object),
        (status = 409, description = "The VM is not running", body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 504, body = ErrorBody)))]
pub(crate) async fn info(node: String, id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let uuid = running_domain(&ctx, &node, &id).await?;
    let info = ctx.node_client(&node)?.domain_info(&uuid).await?;
    Ok(warp::reply::json(&shapes::vm_info(info)).into_response())
}

/// The uuid of VM `id`'s domain on the node; 409 when it has none.
async fn running_domain(ctx: &Ctx, node: &str, id: &str) -> Result<Value, ApiError> {
    workloads::find::<VmSpec>(ctx, node, &[], id)?;
    let domain = ctx.node_client(node)?.find_domain(id).await?;
    domain.map(|domain| domain["uuid"].clone()).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "vm_not_running",
            format!("VM '{id}' is not running"),
        )
    })
}

/// Declares a power action's operation: its path and what it does; the work is in [`power`] or [`pause`].
macro_rules! power_action {
    ($handler:ident, $operation:literal, $segment:literal, $does:literal, $run:ident) => {
        #[utoipa::path(operation_id = $operation, post, path = concat!("/nodes/{id}/vms/{vmid}/", $segment), tag = "vms",
            description = $does,
            params(("id" = String, Path, description = "Node id")),
            responses((status = 204, description = "Done"), (status = 202),
                (status = 409, description = "Being deleted, or (pause/resume) not running", body = ErrorBody)))]
        pub(crate) async fn $handler(node: String, id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
            $run(node, id, $segment.to_owned(), ctx, caller).await
        }
    };
}

power_action!(start, "startVm", "start", "Starts the VM (a job).", power);
power_action!(
    stop,
    "stopVm",
    "stop",
    "Stops the VM at once (destroys the domain; a job).",
    power
);
power_action!(
    shutdown,
    "shutdownVm",
    "shutdown",
    "Asks the VM's OS to shut down (a job).",
    power
);
power_action!(pause_vm, "pauseVm", "pause", "Pauses the running VM at once.", pause);
power_action!(resume_vm, "resumeVm", "resume", "Resumes the paused VM at once.", pause);

async fn power(node: String, id: String, action: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let record = workloads::find::<VmSpec>(&ctx, &node, &[], &id)?;
    if record.value.deleting {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "being_deleted",
            format!("VM '{id}' is being deleted"),
        ));
    }
    let (action, running) = match action.as_str() {
        "start" => (JobAction::Start, true),
        "shutdown" => (JobAction::Shutdown, false),
        _ => (JobAction::Stop, false),
    };
    match workloads::change(&ctx, record, action, |vm| vm.running = running).await? {
        Some(accepted) => Ok(accepted),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Pause and resume act on the running domain at once; they are not desired state (a restart keeps what the
/// node has).
async fn pause(node: String, id: String, action: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let uuid = running_domain(&ctx, &node, &id).await?;
    let client = ctx.node_client(&node)?;
    if action == "pause" {
        client.pause_domain(&uuid).await?;
    } else {
        client.resume_domain(&uuid).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// 0-orchestrator's `VMMigrate`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VmMigrate {
    /// The node to move the VM to.
    pub nodeid: String,
}

#[utoipa::path(operation_id = "migrateVm", post, path = "/nodes/{id}/vms/{vmid}/migrate", tag = "vms",
    request_body = VmMigrate,
    responses((status = 204, description = "The VM is on the other node (running if it ran)"),
        (status = 202),
        (status = 400, description = "Unknown node, or the one it is on", body = ErrorBody),
        (status = 409, description = "Being deleted or moved; the other node has a VM with this id, or too little memory", body = ErrorBody)))]
pub(crate) async fn migrate(node: String, id: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let request: VmMigrate = caller.body(&ctx, Role::Operator, body)?;
    let record = workloads::find::<VmSpec>(&ctx, &node, &[], &id)?;
    if request.nodeid == node {
        return Err(
            ApiError::bad_request("invalid_field", format!("VM '{id}' is already on node '{node}'"))
                .with_field("nodeid"),
        );
    }
    if ctx.store.get::<Node>(&request.nodeid)?.is_none() {
        let message = format!("node '{}' does not exist", request.nodeid);
        return Err(ApiError::bad_request("unknown_node", message).with_field("nodeid"));
    }
    let current_job = ctx.store.get::<crate::model::Job>(&record.value.job)?;
    if record.value.deleting || current_job.is_some_and(|job| !job.value.state.finished()) {
        let message = format!("VM '{id}' is being changed; try again when its job is done");
        return Err(ApiError::new(StatusCode::CONFLICT, "busy", message));
    }
    // The VM's record moves: a new one on the target, which remembers the source; the engine starts it there,
    // then removes it (domain and record) from the source.
    let mut moved = Workload::new(&request.nodeid, Vec::new(), record.value.spec.clone());
    moved.running = record.value.running;
    moved.moved_from = Some(node.clone());
    let job = crate::model::Job::new(
        VmSpec::COLLECTION,
        JobAction::Migrate,
        &request.nodeid,
        &moved.key,
        &moved.path(),
    );
    moved.job = job.id.clone();
    ctx.insert(moved, "nodeid").await?;
    tracing::info!(vm = %id, from = %node, to = %request.nodeid, "VM migration requested");
    match crate::api::resources::jobs::submit(&ctx, job).await? {
        Some(accepted) => Ok(accepted),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
