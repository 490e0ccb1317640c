//! What every workload resource does the same way, whatever its kind: find it (404 for an unknown node or name),
//! list it, create it, change it, delete it — each change being the desired record plus a job handed to the engine
//! (`jobs::submit`) — and tell its state (the reference's `status` from what the engine observed, and our richer
//! `state` while a job is at work).

pub(crate) mod containers;
pub(crate) mod gateway_parts;
pub(crate) mod gateways;
pub(crate) mod network;
pub(crate) mod pool_devices;
pub(crate) mod storage;
pub(crate) mod storage_clusters;
pub(crate) mod vm_transfer;
pub(crate) mod vms;

use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::api::resources::jobs::submit;
use crate::api::{ApiError, Ctx, json_at};
use crate::model::{Job, JobAction, Node, Spec, Workload, WorkloadStatus};
use crate::store::{Expect, Versioned};

pub fn require_node(ctx: &Ctx, node: &str) -> Result<(), ApiError> {
    match ctx.store.get::<Node>(node)? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("node", node)),
    }
}

/// The workload `name` under `parents` on `node`; 404 naming whichever is missing.
pub fn find<S: Spec>(
    ctx: &Ctx,
    node: &str,
    parents: &[String],
    name: &str,
) -> Result<Versioned<Workload<S>>, ApiError> {
    require_node(ctx, node)?;
    ctx.store
        .get::<Workload<S>>(&Workload::<S>::key(node, parents, name))?
        .ok_or_else(|| ApiError::not_found(singular(S::COLLECTION), name))
}

pub fn singular(collection: &str) -> &str {
    collection.strip_suffix('s').unwrap_or(collection)
}

/// The workloads of kind `S` under `parents` on `node` (404 for an unknown node), in name order.
pub fn list<S: Spec>(ctx: &Ctx, node: &str, parents: &[String]) -> Result<Vec<Workload<S>>, ApiError> {
    require_node(ctx, node)?;
    let prefix = Workload::<S>::prefix(node, parents);
    let page = ctx.store.list::<Workload<S>>(&prefix, None, usize::MAX, |_| true)?;
    // The prefix also matches deeper keys of other parents' names that start alike: keep exact children only.
    Ok(page
        .items
        .into_iter()
        .map(|record| record.value)
        .filter(|workload| workload.parents == parents)
        .collect())
}

/// What node `node` reports now, for a view; nothing when it is unknown or does not answer (the view then falls
/// back to what the store holds).
pub async fn reported<T: Default>(
    ctx: &Ctx,
    node: &str,
    ask: impl AsyncFnOnce(&crate::zos::ZosClient) -> Result<T, crate::zos::ZosError>,
) -> T {
    match ctx.node_client(node) {
        Ok(client) => ask(&client).await.unwrap_or_default(),
        Err(_) => T::default(),
    }
}

/// What the engine last observed of `workload`.
pub fn observed<S: Spec>(ctx: &Ctx, workload: &Workload<S>) -> Result<Option<WorkloadStatus>, ApiError> {
    Ok(ctx
        .store
        .get::<WorkloadStatus>(&workload.status_id())?
        .map(|record| record.value))
}

/// Our `state`: what a pending job is doing, else what the node has (`present`: the observed status word).
pub fn state<S: Spec>(
    ctx: &Ctx,
    workload: &Workload<S>,
    observed: Option<&WorkloadStatus>,
) -> Result<String, ApiError> {
    let pending = ctx
        .store
        .get::<Job>(&workload.job)?
        .filter(|job| !job.value.state.finished())
        .map(|job| job.value.action);
    Ok(match pending {
        Some(JobAction::Create) => "creating".into(),
        Some(JobAction::Start) => "starting".into(),
        Some(JobAction::Stop | JobAction::Shutdown) => "stopping".into(),
        Some(JobAction::Delete) => "deleting".into(),
        Some(JobAction::Update) => "updating".into(),
        Some(JobAction::Migrate) => "migrating".into(),
        Some(JobAction::Rollback) => "restoring".into(),
        Some(JobAction::Export) => "exporting".into(),
        None => observed.map_or_else(|| "absent".into(), |o| o.status.clone()),
    })
}

/// Validates `spec`, writes it under `parents` on `node` with a create job, and waits for the job. `Ok(None)`:
/// applied in time, and the record is returned; else the 202 to answer.
pub async fn create<S: Spec>(
    ctx: &Ctx,
    node: &str,
    parents: Vec<String>,
    spec: S,
) -> Result<Result<Workload<S>, Response>, ApiError> {
    require_node(ctx, node)?;
    spec.validate()?;
    let mut workload = Workload::new(node, parents, spec);
    let job = Job::new(S::COLLECTION, JobAction::Create, node, &workload.key, &workload.path());
    workload.job = job.id.clone();
    let key = workload.key.clone();
    ctx.insert(workload, S::NAME_FIELD).await?;
    if let Some(accepted) = submit(ctx, job).await? {
        return Ok(Err(accepted));
    }
    match ctx.store.get::<Workload<S>>(&key)? {
        Some(record) => Ok(Ok(record.value)),
        None => Err(ApiError::not_found(singular(S::COLLECTION), &key)),
    }
}

/// `create`, answered as 0-orchestrator does: 201 + `Location` (with `view` of the new workload as the body), or
/// the 202. The view is async because some ask the node for the workload's live side once it is there.
pub async fn create_response<S: Spec, V: serde::Serialize>(
    ctx: &Ctx,
    node: &str,
    parents: Vec<String>,
    spec: S,
    view: impl AsyncFnOnce(Workload<S>) -> Result<V, ApiError>,
) -> Result<Response, ApiError> {
    match create(ctx, node, parents, spec).await? {
        Ok(workload) => {
            let path = workload.path();
            Ok(json_at(&view(workload).await?, StatusCode::CREATED, &path))
        }
        Err(accepted) => Ok(accepted),
    }
}

/// A list operation's answer: the workloads of kind `S` under `parents` on `node` (404 for an unknown node), each
/// as `view` shows it.
pub fn list_response<S: Spec, V: serde::Serialize>(
    ctx: &Ctx,
    node: &str,
    parents: &[String],
    view: impl FnMut(Workload<S>) -> Result<V, ApiError>,
) -> Result<Response, ApiError> {
    let views = list::<S>(ctx, node, parents)?
        .into_iter()
        .map(view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(warp::reply::json(&views).into_response())
}

/// Changes the desired record with `change` and submits a job for `action`; `Ok(None)` when applied in time.
pub async fn change<S: Spec>(
    ctx: &Ctx,
    record: Versioned<Workload<S>>,
    action: JobAction,
    change: impl FnOnce(&mut Workload<S>),
) -> Result<Option<Response>, ApiError> {
    let mut workload = record.value;
    change(&mut workload);
    let job = Job::new(S::COLLECTION, action, &workload.node, &workload.key, &workload.path());
    workload.job = job.id.clone();
    ctx.store.put(workload, Expect::Version(record.version)).await?;
    submit(ctx, job).await
}

/// DELETE: 204 once the node let go of it, also when it did not exist (as 0-orchestrator); 202 while it goes on.
pub async fn delete<S: Spec>(ctx: &Ctx, node: &str, parents: &[String], name: &str) -> Result<Response, ApiError> {
    require_node(ctx, node)?;
    let Some(record) = ctx.store.get::<Workload<S>>(&Workload::<S>::key(node, parents, name))? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    match change(ctx, record, JobAction::Delete, |w| w.deleting = true).await? {
        Some(accepted) => Ok(accepted),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
