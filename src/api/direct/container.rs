//! Direct access inside a running container (0-orchestrator's DirectAccess methods under
//! `/nodes/{id}/containers/{name}/…`): its jobs and processes, ping and information, each sent to the node with
//! `corex.dispatch`. Plus ours: `…/jobs/{jobid}/stream` follows a job's output live (server-sent events).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use warp::Reply;
use warp::http::StatusCode;
use warp::sse::Event;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::direct::jobs::{JobListItem, JobResultView, job_list_items, job_result, process_response};
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, json_at, shapes, with_ctx};
use crate::model::{ContainerSpec, CoreSystem, Role};
use crate::zos::commands::{Info, SIGKILL, SIGTERM, System};
use crate::zos::{OutputEvent, ZosClient};

/// 0-orchestrator's `ProcessSignal`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessSignal {
    #[serde(default = "sigterm")]
    pub signal: i32,
}

fn sigterm() -> i32 {
    SIGTERM
}

/// The client of the container's node and 0-core's id of the container (404 if unknown, 409 if not running).
pub(crate) fn target(ctx: &Ctx, node: &str, name: &str) -> Result<(Arc<ZosClient>, u64), ApiError> {
    let container = crate::api::workloads::find::<ContainerSpec>(ctx, node, &[], name)?;
    let observed = crate::api::workloads::observed(ctx, &container.value)?;
    let core_id = observed.and_then(|o| o.core_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "container_not_running",
            format!("container '{name}' is not running"),
        )
    })?;
    Ok((ctx.node_client(&container.value.node)?, core_id))
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list_jobs(node: String, name: String) [with_ctx(ctx), caller()],
    start_job(node: String, name: String) [with_ctx(ctx), caller(), raw_body()],
    kill_jobs(node: String, name: String) [with_ctx(ctx), caller()],
    get_job(node: String, name: String, job: String) [with_ctx(ctx), caller()],
    signal_job(node: String, name: String, job: String) [with_ctx(ctx), caller(), raw_body()],
    kill_job(node: String, name: String, job: String) [with_ctx(ctx), caller()],
    stream_job(node: String, name: String, job: String) [warp::query::<StreamQuery>(), with_ctx(ctx), caller()],
    ping(node: String, name: String) [with_ctx(ctx), caller()],
    get_process(node: String, name: String, pid: u32) [with_ctx(ctx), caller()],
    signal_process(node: String, name: String, pid: u32) [with_ctx(ctx), caller(), raw_body()],
    kill_process(node: String, name: String, pid: u32) [with_ctx(ctx), caller()],
    state(node: String, name: String) [with_ctx(ctx), caller()],
    cpus(node: String, name: String) [with_ctx(ctx), caller()],
    mem(node: String, name: String) [with_ctx(ctx), caller()],
    nics(node: String, name: String) [with_ctx(ctx), caller()],
    os_info(node: String, name: String) [with_ctx(ctx), caller()],
    processes(node: String, name: String) [with_ctx(ctx), caller()],
    disks(node: String, name: String) [with_ctx(ctx), caller()],
    mounts(node: String, name: String) [with_ctx(ctx), caller()],
    stats(node: String, name: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listContainerJobs", get, path = "/nodes/{id}/containers/{name}/jobs", tag = "containers",
    responses((status = 200, body = [JobListItem]),
        (status = 409, body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn list_jobs(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let (client, id) = target(&ctx, &node, &name)?;
    let jobs = client.inside(id).jobs().await?;
    Ok(warp::reply::json(&job_list_items(jobs)).into_response())
}

#[utoipa::path(operation_id = "startContainerJob", post, path = "/nodes/{id}/containers/{name}/jobs", tag = "containers",
    request_body = CoreSystem,
    responses((status = 202, description = "Started", body = ProcessStarted, headers(("Location" = String, description = "URL of the job"))),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn start_job(node: String, name: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let process: CoreSystem = caller.body(&ctx, Role::Operator, body)?;
    process.validate("")?;
    let (client, id) = target(&ctx, &node, &name)?;
    // Streamed, so its output can be followed at `…/jobs/{jobid}/stream` from its first line.
    let job = client.inside(id).system(&System::from(&process), true).await?;
    let location = format!("/nodes/{node}/containers/{name}/jobs/{job}");
    Ok(json_at(&ProcessStarted { id: job }, StatusCode::ACCEPTED, &location))
}

/// A process started in a container: its 0-core job, to follow at the response's `Location`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ProcessStarted {
    id: String,
}

#[utoipa::path(operation_id = "killContainerJobs", delete, path = "/nodes/{id}/containers/{name}/jobs", tag = "containers",
    responses((status = 204, description = "All killed"), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 504, body = ErrorBody)))]
pub(crate) async fn kill_jobs(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let (client, id) = target(&ctx, &node, &name)?;
    let inside = client.inside(id);
    for job in inside.jobs().await? {
        inside.kill_job(&job.cmd.id, SIGKILL).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(operation_id = "getContainerJob", get, path = "/nodes/{id}/containers/{name}/jobs/{jobid}", tag = "containers",
    responses((status = 200, body = JobResultView),
        (status = 409, body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn get_job(node: String, name: String, job: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let (client, _) = target(&ctx, &node, &name)?;
    Ok(warp::reply::json(&job_result(&client, job).await?).into_response())
}

#[utoipa::path(operation_id = "signalContainerJob", post, path = "/nodes/{id}/containers/{name}/jobs/{jobid}", tag = "containers",
    request_body = ProcessSignal,
    responses((status = 204, description = "Signalled"), (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn signal_job(
    node: String,
    name: String,
    job: String,
    ctx: Ctx,
    caller: Caller,
    body: RawBody,
) -> HandlerResult {
    let signal_number = caller.body::<ProcessSignal>(&ctx, Role::Operator, body)?.signal;
    signal(node, name, job, ctx, caller, signal_number).await
}

#[utoipa::path(operation_id = "killContainerJob", delete, path = "/nodes/{id}/containers/{name}/jobs/{jobid}", tag = "containers",
    responses((status = 204, description = "Killed"), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 504, body = ErrorBody)))]
pub(crate) async fn kill_job(node: String, name: String, job: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    signal(node, name, job, ctx, caller, SIGKILL).await
}

pub(crate) async fn signal(
    node: String,
    name: String,
    job: String,
    ctx: Ctx,
    caller: Caller,
    signal: i32,
) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let (client, id) = target(&ctx, &node, &name)?;
    client.inside(id).kill_job(&job, signal).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Attach a new stream to the job (`core.subscribe`): for a second viewer, or a job started elsewhere. Without
    /// it, the job's own stream is followed from its first line (one follower gets each line).
    #[serde(default)]
    pub attach: bool,
}

#[utoipa::path(operation_id = "streamContainerJob", get, path = "/nodes/{id}/containers/{name}/jobs/{jobid}/stream", tag = "containers",
    params(StreamQuery),
    responses((status = 200, description = "Server-sent events: `output` (`{level, stream, text}`) for each line, then \
            `end` (`{success}`), or `error` (`{code, message}`)", content_type = "text/event-stream", body = String), (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn stream_job(
    node: String,
    name: String,
    job: String,
    query: StreamQuery,
    ctx: Ctx,
    caller: Caller,
) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let (client, id) = target(&ctx, &node, &name)?;
    let followed = if query.attach {
        client.inside(id).subscribe(&job).await?
    } else {
        job
    };
    // warp wants a `Sync` stream, and the client's is not: follow in a task, hand events over a channel. The task
    // ends with the job, or when the viewer goes away (its send fails).
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let mut output = Box::pin(client.output(&followed));
    tokio::spawn(async move {
        while let Some(event) = output.next().await {
            if sender.send(event).await.is_err() {
                return;
            }
        }
    });
    let events = tokio_stream::wrappers::ReceiverStream::new(receiver).map(|event| {
        let event = match event {
            Ok(OutputEvent::Line { level, text }) => {
                let stream = if level == crate::zos::protocol::LEVEL_STDERR {
                    "stderr"
                } else {
                    "stdout"
                };
                Event::default()
                    .event("output")
                    .json_data(json!({"level": level, "stream": stream, "text": text}))
            }
            Ok(OutputEvent::End { success }) => Event::default().event("end").json_data(json!({"success": success})),
            Err(err) => {
                let error = ApiError::from(err);
                Event::default().event("error").json_data(&error.body)
            }
        };
        Ok::<_, Infallible>(event.unwrap_or_else(|_| Event::default().event("error")))
    });
    let keep_alive = warp::sse::keep_alive().interval(Duration::from_secs(15));
    Ok(warp::sse::reply(keep_alive.stream(events)).into_response())
}

#[utoipa::path(operation_id = "pingContainer", post, path = "/nodes/{id}/containers/{name}/ping", tag = "containers",
    responses((status = 200, description = "The container's core answered", body = bool), (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn ping(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let (client, id) = target(&ctx, &node, &name)?;
    client.inside(id).ping().await?;
    Ok(warp::reply::json(&true).into_response())
}

/// Declares one of 0-orchestrator's read-only container endpoints,
/// `GET /nodes/{id}/containers/{name}/<segment>`: the container's answer to 0-core's `info` command.
macro_rules! container_info {
    ($handler:ident, $operation:literal, $segment:literal, $info:expr) => {
        #[utoipa::path(get, path = concat!("/nodes/{id}/containers/{name}/", $segment), tag = "containers",
                    operation_id = $operation, responses((status = 200, description = "The container's answer, as 0-core sent it", body = Object), (status = 409, body = ErrorBody),
                        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
        pub(crate) async fn $handler(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
            info(node, name, $info, ctx, caller).await
        }
    };
}

container_info!(state, "containerState", "state", Info::State);
container_info!(cpus, "containerCpus", "cpus", Info::Cpu);
container_info!(mem, "containerMem", "mem", Info::Mem);
container_info!(nics, "containerNics", "nics", Info::Nic);
container_info!(os_info, "containerOsInfo", "info", Info::Os);
container_info!(processes, "containerProcesses", "processes", Info::Processes);
container_info!(disks, "containerDisks", "disks", Info::Disks);
container_info!(mounts, "containerMounts", "mounts", Info::Mounts);
container_info!(stats, "containerStats", "stats", Info::Stats);

async fn info(node: String, name: String, what: Info, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let (client, id) = target(&ctx, &node, &name)?;
    let answer: Value = client.inside(id).info(what).await?;
    Ok(warp::reply::json(&shapes::info(what, answer)).into_response())
}

#[utoipa::path(operation_id = "getContainerProcess", get, path = "/nodes/{id}/containers/{name}/processes/{pid}", tag = "containers",
    params(("pid" = u32, Path)),
    responses((status = 200, description = "0-orchestrator's `Process`", body = Object), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 504, body = ErrorBody)))]
pub(crate) async fn get_process(node: String, name: String, pid: u32, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let (client, id) = target(&ctx, &node, &name)?;
    let processes: Vec<Value> = client.inside(id).info(Info::Processes).await?;
    process_response(processes, pid)
}

#[utoipa::path(operation_id = "signalContainerProcess", post, path = "/nodes/{id}/containers/{name}/processes/{pid}", tag = "containers",
    params(("pid" = u32, Path)), request_body = ProcessSignal,
    responses((status = 204, description = "Signalled"), (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn signal_process(
    node: String,
    name: String,
    pid: u32,
    ctx: Ctx,
    caller: Caller,
    body: RawBody,
) -> HandlerResult {
    let signal_number = caller.body::<ProcessSignal>(&ctx, Role::Operator, body)?.signal;
    kill(node, name, pid, ctx, caller, signal_number).await
}

#[utoipa::path(operation_id = "killContainerProcess", delete, path = "/nodes/{id}/containers/{name}/processes/{pid}", tag = "containers",
    params(("pid" = u32, Path)),
    responses((status = 204, description = "Killed"), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 504, body = ErrorBody)))]
pub(crate) async fn kill_process(node: String, name: String, pid: u32, ctx: Ctx, caller: Caller) -> HandlerResult {
    kill(node, name, pid, ctx, caller, SIGTERM).await
}

pub(crate) async fn kill(node: String, name: String, pid: u32, ctx: Ctx, caller: Caller, signal: i32) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let (client, id) = target(&ctx, &node, &name)?;
    client.inside(id).kill_process(pid, signal).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
