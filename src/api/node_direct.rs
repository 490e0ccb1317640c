//! Direct access to a node's 0-core (0-orchestrator's "DirectAccess" methods): ping, reboot, hardware and OS
//! information, jobs and processes. Each call goes to the node with a deadline; node failures become 502 (the
//! node failed or refused) or 504 (it did not answer in time), with a `code` saying which.

use serde::Serialize;
use serde_json::Value;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::body::{RawBody, raw_body};
use super::caller::caller;
use super::error::ErrorBody;
use super::{ApiError, Caller, Ctx, HandlerResult, respond, with_ctx};
use crate::model::Role;
use crate::zos::ZosError;
use crate::zos::commands::{Info, JobInfo, SIGKILL, SIGTERM};

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

/// 0-orchestrator's hardware/OS endpoints: path segment → 0-core report (answers passed through as sent).
pub(super) const INFO: &[(&str, Info)] = &[
    ("cpus", Info::Cpu),
    ("mem", Info::Mem),
    ("disks", Info::Disks),
    ("nics", Info::Nic),
    ("info", Info::Os),
    ("processes", Info::Processes),
    // 0-orchestrator's `CoreStateResult`.
    ("state", Info::State),
    // 0-orchestrator's `NodeMount[]`.
    ("mounts", Info::Mounts),
    ("stats", Info::Stats),
];

pub fn routes(ctx: &Ctx) -> warp::filters::BoxedFilter<(Response,)> {
    let ping = warp::path!("nodes" / String / "ping")
        .and(warp::post())
        .and(with_ctx(ctx))
        .and(caller())
        .then(ping)
        .map(respond);
    let reboot = warp::path!("nodes" / String / "reboot")
        .and(warp::post())
        .and(with_ctx(ctx))
        .and(caller())
        .and(raw_body())
        .then(reboot)
        .map(respond);
    let hardware = warp::path!("nodes" / String / String)
        .and(warp::get())
        .and(with_ctx(ctx))
        .and(caller())
        .and_then(|id: String, what: String, ctx: Ctx, caller: Caller| async move {
            match INFO.iter().find(|(segment, _)| *segment == what) {
                Some((_, command)) => Ok(respond(info(id, command, ctx, caller).await)),
                None => Err(warp::reject::not_found()),
            }
        });
    let jobs = warp::path!("nodes" / String / "jobs")
        .and(warp::get())
        .and(with_ctx(ctx))
        .and(caller())
        .then(list_jobs)
        .map(respond);
    let kill_jobs = warp::path!("nodes" / String / "jobs")
        .and(warp::delete())
        .and(with_ctx(ctx))
        .and(caller())
        .then(kill_jobs)
        .map(respond);
    let get_job = warp::path!("nodes" / String / "jobs" / String)
        .and(warp::get())
        .and(with_ctx(ctx))
        .and(caller())
        .then(get_job)
        .map(respond);
    let get_process = warp::path!("nodes" / String / "processes" / u32)
        .and(warp::get())
        .and(with_ctx(ctx))
        .and(caller())
        .then(get_process)
        .map(respond);
    let kill_job = warp::path!("nodes" / String / "jobs" / String)
        .and(warp::delete())
        .and(with_ctx(ctx))
        .and(caller())
        .then(kill_job)
        .map(respond);
    let kill_process = warp::path!("nodes" / String / "processes" / u32)
        .and(warp::delete())
        .and(with_ctx(ctx))
        .and(caller())
        .then(kill_process)
        .map(respond);
    ping.or(reboot)
        .unify()
        .or(jobs)
        .unify()
        .or(kill_job)
        .unify()
        .or(kill_jobs)
        .unify()
        .or(get_job)
        .unify()
        .or(get_process)
        .unify()
        .or(kill_process)
        .unify()
        .or(hardware)
        .unify()
        .boxed()
}

#[utoipa::path(post, path = "/nodes/{id}/ping", tag = "nodes", operation_id = "pingNode",
    params(("id" = String, Path)),
    responses((status = 200, description = "The node answered (`true`, as 0-orchestrator)", body = bool),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn ping(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    ctx.node_client(&id)?.node().ping().await?;
    Ok(warp::reply::json(&true).into_response())
}

#[utoipa::path(post, path = "/nodes/{id}/reboot", tag = "nodes", operation_id = "rebootNode",
    params(("id" = String, Path)), request_body(content = Object, description = "`{\"force\": bool}` (optional)"),
    responses((status = 204, description = "Reboot requested"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn reboot(id: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let caller = caller.require(&ctx, Role::Operator)?;
    // The body (`NodeReboot{force}`) is optional; when present it must be valid JSON.
    if !body.is_empty() {
        body.json::<Value>()?;
    }
    ctx.node_client(&id)?.reboot().await?;
    tracing::info!(node = %id, by = %caller.name, "node reboot requested");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/nodes/{id}/{info}", tag = "nodes", operation_id = "nodeInfo",
    params(("id" = String, Path), ("info" = String, Path, description = "`cpus`, `mem`, `disks`, `nics`, `info`, `stats`, `processes` or `state`")),
    responses((status = 200, description = "The node's answer, as 0-core sent it", body = Object),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn info(id: String, what: &'static Info, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let answer: Value = ctx.node_client(&id)?.node().info(*what).await?;
    Ok(warp::reply::json(&answer).into_response())
}

/// 0-orchestrator's `JobListItem`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobListItem {
    pub id: String,
    /// Epoch milliseconds.
    pub start_time: u64,
}

#[utoipa::path(get, path = "/nodes/{id}/jobs", tag = "nodes", operation_id = "listNodeJobs",
    params(("id" = String, Path)),
    responses((status = 200, body = [JobListItem]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn list_jobs(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let jobs = ctx.node_client(&id)?.node().jobs().await?;
    Ok(warp::reply::json(&job_list_items(jobs)).into_response())
}

pub(super) fn job_list_items(jobs: Vec<JobInfo>) -> Vec<JobListItem> {
    jobs.into_iter()
        .map(|job| JobListItem {
            id: job.cmd.id,
            start_time: job.starttime,
        })
        .collect()
}

#[utoipa::path(delete, path = "/nodes/{id}/jobs/{jobid}", tag = "nodes", operation_id = "killNodeJob",
    params(("id" = String, Path), ("jobid" = String, Path)),
    responses((status = 204, description = "Killed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn kill_job(id: String, job: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    ctx.node_client(&id)?.node().kill_job(&job, SIGKILL).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(delete, path = "/nodes/{id}/processes/{pid}", tag = "nodes", operation_id = "killNodeProcess",
    params(("id" = String, Path), ("pid" = u32, Path)),
    responses((status = 204, description = "Signalled"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn kill_process(id: String, pid: u32, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    ctx.node_client(&id)?.node().kill_process(pid, SIGTERM).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(delete, path = "/nodes/{id}/jobs", tag = "nodes", operation_id = "killNodeJobs",
    params(("id" = String, Path)),
    responses((status = 204, description = "All killed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn kill_jobs(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let client = ctx.node_client(&id)?;
    let node = client.node();
    for job in node.jobs().await? {
        node.kill_job(&job.cmd.id, SIGKILL).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/nodes/{id}/jobs/{jobid}", tag = "nodes", operation_id = "getNodeJob",
    params(("id" = String, Path), ("jobid" = String, Path)),
    responses((status = 200, body = super::container_direct::JobResultView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn get_job(id: String, job: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let client = ctx.node_client(&id)?;
    // 0-core's own services run from boot without a result key of their own: job.list knows them.
    let service = client
        .node()
        .jobs()
        .await?
        .into_iter()
        .any(|listed| listed.cmd.id == job);
    let mut view = super::container_direct::job_result(&client, job.clone()).await;
    if service && view.is_err() {
        view = Ok(super::container_direct::JobResultView::running(job));
    }
    Ok(warp::reply::json(&view?).into_response())
}

#[utoipa::path(get, path = "/nodes/{id}/processes/{pid}", tag = "nodes", operation_id = "getNodeProcess",
    params(("id" = String, Path), ("pid" = u32, Path)),
    responses((status = 200, description = "0-orchestrator's `Process`", body = Object), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn get_process(id: String, pid: u32, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let processes: Vec<Value> = ctx.node_client(&id)?.node().info(Info::Processes).await?;
    super::container_direct::process_response(processes, pid)
}
