//! `/nodes/{id}/containers`: 0-orchestrator's container resources. Each change writes the desired record and a
//! job (see `jobs::submit`); reads come from the store, merged with what the engine last observed.

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::body::{RawBody, raw_body};
use super::caller::caller;
use super::error::ErrorBody;
use super::jobs::submit;
use super::{ApiError, Caller, Ctx, HandlerResult, json_at, respond, with_ctx};
use crate::model::{Container, ContainerNic, ContainerSpec, CoreSystem, Job, JobAction, Node, Role, WorkloadStatus};
use crate::store::{Expect, Record, Versioned};

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
    let observed = ctx
        .store
        .get::<WorkloadStatus>(&format!("{}/{}", Container::COLLECTION, container.key))?
        .map(|record| record.value);
    let pending = ctx
        .store
        .get::<Job>(&container.job)?
        .filter(|job| !job.value.state.finished())
        .map(|job| job.value.action);
    let running = observed.as_ref().is_some_and(|o| o.status == "running");
    let state = match pending {
        Some(JobAction::Create) => "creating".to_owned(),
        Some(JobAction::Start) => "starting".to_owned(),
        Some(JobAction::Stop) => "stopping".to_owned(),
        Some(JobAction::Delete) => "deleting".to_owned(),
        None if running => "running".to_owned(),
        None => "halted".to_owned(),
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

pub fn routes(ctx: &Ctx) -> warp::filters::BoxedFilter<(Response,)> {
    let list = warp::path!("nodes" / String / "containers")
        .and(warp::get())
        .and(with_ctx(ctx))
        .and(caller())
        .then(list)
        .map(respond);
    let create = warp::path!("nodes" / String / "containers")
        .and(warp::post())
        .and(with_ctx(ctx))
        .and(caller())
        .and(raw_body())
        .then(create)
        .map(respond);
    let get = warp::path!("nodes" / String / "containers" / String)
        .and(warp::get())
        .and(with_ctx(ctx))
        .and(caller())
        .then(get)
        .map(respond);
    let delete = warp::path!("nodes" / String / "containers" / String)
        .and(warp::delete())
        .and(with_ctx(ctx))
        .and(caller())
        .then(delete)
        .map(respond);
    let start = warp::path!("nodes" / String / "containers" / String / "start")
        .and(warp::post())
        .and(with_ctx(ctx))
        .and(caller())
        .then(start)
        .map(respond);
    let stop = warp::path!("nodes" / String / "containers" / String / "stop")
        .and(warp::post())
        .and(with_ctx(ctx))
        .and(caller())
        .then(stop)
        .map(respond);
    list.or(create)
        .unify()
        .or(get)
        .unify()
        .or(delete)
        .unify()
        .or(start)
        .unify()
        .or(stop)
        .unify()
        .boxed()
}

fn require_node(ctx: &Ctx, node: &str) -> Result<(), ApiError> {
    match ctx.store.get::<Node>(node)? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("node", node)),
    }
}

fn find(ctx: &Ctx, node: &str, name: &str) -> Result<Versioned<Container>, ApiError> {
    require_node(ctx, node)?;
    ctx.store
        .get::<Container>(&Container::key(node, name))?
        .ok_or_else(|| ApiError::not_found("container", name))
}

#[utoipa::path(operation_id = "listContainers", get, path = "/nodes/{id}/containers", tag = "containers",
    params(("id" = String, Path, description = "Node id")),
    responses((status = 200, body = [ContainerView]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn list(node: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    require_node(&ctx, &node)?;
    let records = ctx
        .store
        .list::<Container>(&format!("{node}/"), None, usize::MAX, |_| true)?;
    let views = records
        .items
        .into_iter()
        .map(|record| view(&ctx, record.value))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(warp::reply::json(&views).into_response())
}

#[utoipa::path(operation_id = "createContainer", post, path = "/nodes/{id}/containers", tag = "containers",
    params(("id" = String, Path, description = "Node id")), request_body = ContainerSpec,
    responses(
        (status = 201, description = "Running on the node", body = ContainerView,
            headers(("Location" = String, description = "URL of the container"))),
        (status = 202, description = "Accepted; the node has not finished yet: follow the job", body = Job,
            headers(("Location" = String, description = "URL of the job"))),
        (status = 400, description = "Invalid field, or an flist the node cannot fetch", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Name or host port in use", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn create(node: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    require_node(&ctx, &node)?;
    let spec: ContainerSpec = body.json()?;
    spec.validate()?;
    let mut container = Container::new(&node, spec);
    let job = Job::new(
        Container::COLLECTION,
        JobAction::Create,
        &node,
        &container.key,
        &container.path(),
    );
    container.job = job.id.clone();
    let (key, path) = (container.key.clone(), container.path());
    ctx.store
        .put(container, Expect::Absent)
        .await
        .map_err(|err| ApiError::from(err).with_field("name"))?;
    if let Some(accepted) = submit(&ctx, job).await? {
        return Ok(accepted);
    }
    match ctx.store.get::<Container>(&key)? {
        Some(record) => Ok(json_at(&view(&ctx, record.value)?, StatusCode::CREATED, &path)),
        None => Err(ApiError::not_found("container", &path)),
    }
}

#[utoipa::path(operation_id = "getContainer", get, path = "/nodes/{id}/containers/{name}", tag = "containers",
    params(("id" = String, Path, description = "Node id"), ("name" = String, Path)),
    responses((status = 200, body = ContainerView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn get(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let record = find(&ctx, &node, &name)?;
    Ok(warp::reply::json(&view(&ctx, record.value)?).into_response())
}

/// Changes the desired record with `change` and submits a job for `action`; `Ok(None)` when applied in time.
async fn change(
    ctx: &Ctx,
    record: Versioned<Container>,
    action: JobAction,
    change: impl FnOnce(&mut Container),
) -> Result<Option<Response>, ApiError> {
    let mut container = record.value;
    change(&mut container);
    let job = Job::new(
        Container::COLLECTION,
        action,
        &container.node,
        &container.key,
        &container.path(),
    );
    container.job = job.id.clone();
    ctx.store.put(container, Expect::Version(record.version)).await?;
    submit(ctx, job).await
}

#[utoipa::path(operation_id = "deleteContainer", delete, path = "/nodes/{id}/containers/{name}", tag = "containers",
    params(("id" = String, Path, description = "Node id"), ("name" = String, Path)),
    responses((status = 204, description = "Deleted, or did not exist (as in 0-orchestrator)"),
        (status = 202, description = "Accepted; follow the job", body = Job),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "Unknown node", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn delete(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    require_node(&ctx, &node)?;
    let Some(record) = ctx.store.get::<Container>(&Container::key(&node, &name))? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    match change(&ctx, record, JobAction::Delete, |c| c.deleting = true).await? {
        Some(accepted) => Ok(accepted),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[utoipa::path(operation_id = "startContainer", post, path = "/nodes/{id}/containers/{name}/start", tag = "containers",
    params(("id" = String, Path, description = "Node id"), ("name" = String, Path)),
    responses((status = 201, description = "Running (as in 0-orchestrator)"),
        (status = 202, description = "Accepted; follow the job", body = Job),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Being deleted", body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn start(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    power(node, name, ctx, caller, true).await
}

#[utoipa::path(operation_id = "stopContainer", post, path = "/nodes/{id}/containers/{name}/stop", tag = "containers",
    params(("id" = String, Path, description = "Node id"), ("name" = String, Path)),
    responses((status = 204, description = "Stopped"), (status = 202, description = "Accepted; follow the job", body = Job),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Being deleted", body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn stop(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    power(node, name, ctx, caller, false).await
}

async fn power(node: String, name: String, ctx: Ctx, caller: Caller, running: bool) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let record = find(&ctx, &node, &name)?;
    if record.value.deleting {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "being_deleted",
            format!("container '{name}' is being deleted"),
        ));
    }
    let action = if running { JobAction::Start } else { JobAction::Stop };
    let path = record.value.path();
    match change(&ctx, record, action, |c| c.running = running).await? {
        Some(accepted) => Ok(accepted),
        None if running => {
            let mut response = StatusCode::CREATED.into_response();
            super::set_header(&mut response, warp::http::header::LOCATION, &path);
            Ok(response)
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
