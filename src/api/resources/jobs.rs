//! `/jobs`: the orchestrator's own jobs (not a node's 0-core jobs), and how workload handlers hand work to the
//! engine: write the desired state and a job, then wait for the job up to `--apply-wait`. As 0-orchestrator's
//! handlers wait for their AYS run, a quick node answers the request with its final status; a slow one gets
//! 202 with the job to follow, and the engine finishes the work either way.

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::api::caller::caller;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, json_at, with_ctx};
use crate::model::{Job, Role};
use crate::store::{Change, Expect, Record};

/// Jobs listed at most per request, newest first.
const LIST_LIMIT: usize = 200;

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list() [with_ctx(ctx), caller()],
    get(id: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listJobs", get, path = "/jobs", tag = "jobs",
    responses((status = 200, description = "The newest jobs first (at most 200)", body = [Job])))]
pub(crate) async fn list(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let page = ctx.store.list_newest::<Job>(None, LIST_LIMIT, |_| true)?;
    let jobs: Vec<Job> = page.items.into_iter().map(|record| record.value).collect();
    Ok(warp::reply::json(&jobs).into_response())
}

#[utoipa::path(operation_id = "getJob", get, path = "/jobs/{id}", tag = "jobs", responses((status = 200, body = Job)))]
pub(crate) async fn get(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    ctx.found_json::<Job>("job", &id)
}

/// Writes `job` (durably: the engine resumes it after a crash) and waits for it up to `--apply-wait`.
/// `Ok(None)` means it succeeded in time; `Ok(Some(response))` is the 202 to answer while it goes on.
pub(crate) async fn submit(ctx: &Ctx, job: Job) -> Result<Option<Response>, ApiError> {
    // Subscribe before writing, so the job's end cannot slip between the write and the wait.
    let changes = ctx.store.watch();
    let id = job.id.clone();
    ctx.store.put(job, Expect::Absent).await?;
    let read = || {
        ctx.store
            .get::<Job>(&id)?
            .map(|job| job.value)
            .ok_or_else(|| ApiError::not_found("job", &id))
    };
    match wait_for(ctx, changes, Job::COLLECTION, &id, || {
        Ok(Some(read()?).filter(|job| job.state.finished()))
    })
    .await?
    {
        Some(Job { error: Some(error), .. }) => Err(ApiError::from_job(error)),
        Some(_) => Ok(None),
        None => Ok(Some(json_at(&read()?, StatusCode::ACCEPTED, &format!("/jobs/{id}")))),
    }
}

/// Waits up to `--apply-wait` for the engine to carry out a request: `settled` is asked at once and again after
/// each change of record `id` in `collection`, until it has an answer. `Ok(None)`: none by the deadline, or the
/// server is stopping (the engine carries the request out anyway, after a restart if need be). `changes` must
/// have been subscribed before the request was written, so that its outcome cannot slip by unseen.
pub(crate) async fn wait_for<T>(
    ctx: &Ctx,
    mut changes: broadcast::Receiver<Change>,
    collection: &str,
    id: &str,
    mut settled: impl FnMut() -> Result<Option<T>, ApiError>,
) -> Result<Option<T>, ApiError> {
    let deadline = tokio::time::Instant::now() + ctx.apply_wait;
    loop {
        if let Some(answer) = settled()? {
            return Ok(Some(answer));
        }
        // A lagging receiver just asks again.
        loop {
            match tokio::time::timeout_at(deadline, changes.recv()).await {
                Err(_) | Ok(Err(RecvError::Closed)) => return Ok(None),
                Ok(Ok(change)) if change.collection != collection || change.id != id => continue,
                Ok(_) => break,
            }
        }
    }
}
