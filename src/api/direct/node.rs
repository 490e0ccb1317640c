//! Direct access to a node's 0-core (0-orchestrator's "DirectAccess" methods): ping, reboot, hardware and OS
//! information, jobs and processes. Each call goes to the node with a deadline; node failures become 502 (the
//! node failed or refused) or 504 (it did not answer in time), with a `code` saying which.

use serde_json::Value;
use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::direct::jobs::{JobListItem, job_list_items};
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, shapes, with_ctx};
use crate::model::Role;
use crate::zos::ZosError;
use crate::zos::commands::{Info, SIGKILL, SIGTERM};

impl From<ZosError> for ApiError {
    fn from(err: ZosError) -> ApiError {
        let message = err.to_string();
        match err {
            ZosError::Unreachable(_) => ApiError::new(StatusCode::BAD_GATEWAY, "node_unreachable", message),
            ZosError::AuthRefused(_) => ApiError::new(StatusCode::BAD_GATEWAY, "node_auth_refused", message),
            ZosError::Timeout(_) => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "node_timeout", message),
            ZosError::Command { message: ref text, .. }
                if text.contains("not found") || text.contains("no such file or directory") =>
            {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", text.clone())
            }
            ZosError::Command { .. } => ApiError::new(StatusCode::BAD_GATEWAY, "node_command_failed", message),
            ZosError::Protocol(_) => ApiError::new(StatusCode::BAD_GATEWAY, "node_protocol_error", message),
        }
    }
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    ping(id: String) [with_ctx(ctx), caller()],
    reboot(id: String) [with_ctx(ctx), caller(), raw_body()],
    list_jobs(id: String) [with_ctx(ctx), caller()],
    kill_jobs(id: String) [with_ctx(ctx), caller()],
    get_job(id: String, job: String) [with_ctx(ctx), caller()],
    kill_job(id: String, job: String) [with_ctx(ctx), caller()],
    get_process(id: String, pid: u32) [with_ctx(ctx), caller()],
    kill_process(id: String, pid: u32) [with_ctx(ctx), caller()],
    cpus(id: String) [with_ctx(ctx), caller()],
    mem(id: String) [with_ctx(ctx), caller()],
    disks(id: String) [with_ctx(ctx), caller()],
    nics(id: String) [with_ctx(ctx), caller()],
    os_info(id: String) [with_ctx(ctx), caller()],
    processes(id: String) [with_ctx(ctx), caller()],
    state(id: String) [with_ctx(ctx), caller()],
    mounts(id: String) [with_ctx(ctx), caller()],
    stats(id: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(post, path = "/nodes/{id}/ping", tag = "nodes", operation_id = "pingNode",
    responses((status = 200, description = "The node answered (`true`, as 0-orchestrator)", body = bool),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn ping(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    ctx.node_client(&id)?.node().ping().await?;
    Ok(warp::reply::json(&true).into_response())
}

/// 0-orchestrator's `NodeReboot`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeReboot {
    #[serde(default)]
    pub force: bool,
}

#[utoipa::path(post, path = "/nodes/{id}/reboot", tag = "nodes", operation_id = "rebootNode",
    request_body(content = Option<NodeReboot>, description = "Optional"),
    responses((status = 204, description = "Reboot requested"), (status = 502, body = ErrorBody),
        (status = 504, body = ErrorBody)))]
pub(crate) async fn reboot(id: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let caller = caller.require(&ctx, Role::Operator)?;
    // The body is optional; when present it must be a valid `NodeReboot`. 0-core has no gentler reboot, so
    // `force` changes nothing; it is accepted because 0-orchestrator's clients send it.
    let force = if body.is_empty() {
        false
    } else {
        body.json::<NodeReboot>()?.force
    };
    ctx.node_client(&id)?.reboot().await?;
    tracing::info!(node = %id, by = %caller.name, force, "node reboot requested");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Declares one of 0-orchestrator's read-only node endpoints, `GET /nodes/{id}/<segment>`: the node's answer to
/// what 0-core's `info` command says, passed through as sent.
macro_rules! node_info {
    ($handler:ident, $operation:literal, $segment:literal, $info:expr, $what:literal) => {
        #[utoipa::path(get, path = concat!("/nodes/{id}/", $segment), tag = "nodes", operation_id = $operation,
            description = $what, params(("id" = String, Path, description = "Node id")),
            responses((status = 200, description = "The node's answer, as 0-core sent it", body = Object), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
        pub(crate) async fn $handler(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
            info(id, $info, ctx, caller).await
        }
    };
}

node_info!(cpus, "nodeCpus", "cpus", Info::Cpu, "0-orchestrator's `CPUInfo[]`.");
node_info!(mem, "nodeMem", "mem", Info::Mem, "0-orchestrator's `MemInfo`.");
node_info!(disks, "nodeDisks", "disks", Info::Disks, "The node's disks.");
node_info!(nics, "nodeNics", "nics", Info::Nic, "0-orchestrator's `NicInfo[]`.");
node_info!(os_info, "nodeOsInfo", "info", Info::Os, "0-orchestrator's `OSInfo`.");
node_info!(
    processes,
    "nodeProcesses",
    "processes",
    Info::Processes,
    "0-orchestrator's `Process[]`."
);
node_info!(
    state,
    "nodeState",
    "state",
    Info::State,
    "0-orchestrator's `CoreStateResult`: cpu, rss, vms, swap of 0-core."
);
node_info!(
    mounts,
    "nodeMounts",
    "mounts",
    Info::Mounts,
    "0-orchestrator's `NodeMount[]`: device, mountpoint, fstype, opts."
);
node_info!(
    stats,
    "nodeStats",
    "stats",
    Info::Stats,
    "`<metric>/<tag>` → {\"current\": {\"300\": {avg, count, max, start, total}, …}}."
);

async fn info(id: String, what: Info, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let answer: Value = ctx.node_client(&id)?.node().info(what).await?;
    Ok(warp::reply::json(&shapes::info(what, answer)).into_response())
}

#[utoipa::path(get, path = "/nodes/{id}/jobs", tag = "nodes", operation_id = "listNodeJobs",
    responses((status = 200, body = [JobListItem]),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn list_jobs(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let jobs = ctx.node_client(&id)?.node().jobs().await?;
    Ok(warp::reply::json(&job_list_items(jobs)).into_response())
}

#[utoipa::path(delete, path = "/nodes/{id}/jobs/{jobid}", tag = "nodes", operation_id = "killNodeJob",
    responses((status = 204, description = "Killed"), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn kill_job(id: String, job: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    ctx.node_client(&id)?.node().kill_job(&job, SIGKILL).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(delete, path = "/nodes/{id}/processes/{pid}", tag = "nodes", operation_id = "killNodeProcess",
    params(("pid" = u32, Path)),
    responses((status = 204, description = "Signalled"), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn kill_process(id: String, pid: u32, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    ctx.node_client(&id)?.node().kill_process(pid, SIGTERM).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(delete, path = "/nodes/{id}/jobs", tag = "nodes", operation_id = "killNodeJobs",
    responses((status = 204, description = "All killed"), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn kill_jobs(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let client = ctx.node_client(&id)?;
    let node = client.node();
    for job in node.jobs().await? {
        node.kill_job(&job.cmd.id, SIGKILL).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/nodes/{id}/jobs/{jobid}", tag = "nodes", operation_id = "getNodeJob",
    responses((status = 200, body = crate::api::direct::jobs::JobResultView), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn get_job(id: String, job: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let client = ctx.node_client(&id)?;
    // 0-core's own services run from boot without a result key of their own: job.list knows them.
    let service = client
        .node()
        .jobs()
        .await?
        .into_iter()
        .any(|listed| listed.cmd.id == job);
    let mut view = crate::api::direct::jobs::job_result(&client, job.clone()).await;
    if service && view.is_err() {
        view = Ok(crate::api::direct::jobs::JobResultView::running(job));
    }
    Ok(warp::reply::json(&view?).into_response())
}

#[utoipa::path(get, path = "/nodes/{id}/processes/{pid}", tag = "nodes", operation_id = "getNodeProcess",
    params(("pid" = u32, Path)),
    responses((status = 200, description = "0-orchestrator's `Process`", body = Object), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn get_process(id: String, pid: u32, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let processes: Vec<Value> = ctx.node_client(&id)?.node().info(Info::Processes).await?;
    crate::api::direct::jobs::process_response(processes, pid)
}
