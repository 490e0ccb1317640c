//! `/storageclusters` and `/health/storageclusters`: 0-orchestrator's block storage clusters. A deployment is the
//! desired record plus a job (see `workloads`); the cluster's engines, their status and its config are what the
//! engine recorded (`StorageClusterServers`).

use serde::Serialize;
use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::workloads::storage::epoch_seconds;
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx, workloads};
use crate::model::health::{HealthCheck, HealthMessage, HealthStatus};
use crate::model::storage_cluster::{StorageCluster, StorageClusterServers, StorageClusterSpec, StorageServer};
use crate::model::vdisk_storage::VdiskStorage;
use crate::model::{Job, JobAction, Node, Role};
use crate::store::Versioned;

/// 0-orchestrator's `Cluster`, plus ours (`state`, `job`, `config`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageClusterView {
    pub label: String,
    /// `empty`, `deploying`, `ready` or `error` (an engine does not answer).
    pub status: &'static str,
    pub drive_type: String,
    pub nodes: Vec<String>,
    pub cluster_type: String,
    pub storage_servers: Vec<StorageServer>,
    /// 0-disk's storage cluster config (`<label>:cluster:conf:storage`), as YAML.
    pub config: String,
    /// Richer than `status`: `creating`, `starting` (restarting engines), `deleting` while a job works.
    pub state: String,
    pub job: String,
}

/// An entry of `GET /health/storageclusters`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClusterHealth {
    pub label: String,
    /// `OK`, `ERROR` (an engine does not answer) or `SKIPPED` (nothing deployed yet).
    pub status: &'static str,
}

fn servers(ctx: &Ctx, label: &str) -> Result<Option<StorageClusterServers>, ApiError> {
    Ok(ctx.store.get::<StorageClusterServers>(label)?.map(|r| r.value))
}

fn status(
    ctx: &Ctx,
    cluster: &StorageCluster,
    recorded: Option<&StorageClusterServers>,
) -> Result<&'static str, ApiError> {
    let deploying = ctx
        .store
        .get::<Job>(&cluster.job)?
        .is_some_and(|job| job.value.action == JobAction::Create && !job.value.state.finished());
    Ok(match recorded {
        _ if deploying => "deploying",
        None => "empty",
        Some(recorded) if recorded.servers.iter().all(|s| s.status == "ready") => "ready",
        Some(_) => "error",
    })
}

fn view(ctx: &Ctx, cluster: StorageCluster) -> Result<StorageClusterView, ApiError> {
    let recorded = servers(ctx, &cluster.spec.label)?;
    let observed = workloads::observed(ctx, &cluster)?;
    let state = workloads::state(ctx, &cluster, observed.as_ref())?;
    let status = status(ctx, &cluster, recorded.as_ref())?;
    let (storage_servers, config) = recorded.map(|r| (r.servers, r.config)).unwrap_or_default();
    let spec = cluster.spec;
    Ok(StorageClusterView {
        label: spec.label,
        status,
        drive_type: spec.drive_type,
        nodes: spec.nodes,
        cluster_type: spec.cluster_type,
        storage_servers,
        config,
        state,
        job: cluster.job,
    })
}

fn find(ctx: &Ctx, label: &str) -> Result<Versioned<StorageCluster>, ApiError> {
    ctx.found::<StorageCluster>("storage cluster", label)
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list() [with_ctx(ctx), caller()],
    create() [with_ctx(ctx), caller(), raw_body()],
    get(label: String) [with_ctx(ctx), caller()],
    delete(label: String) [with_ctx(ctx), caller()],
    list_health() [with_ctx(ctx), caller()],
    get_health(label: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listStorageClusters", get, path = "/storageclusters", tag = "storage",
    responses((status = 200, description = "The clusters' labels", body = [String])))]
pub(crate) async fn list(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let labels: Vec<String> = ctx
        .store
        .all::<StorageCluster>()?
        .into_iter()
        .map(|cluster| cluster.spec.label)
        .collect();
    Ok(warp::reply::json(&labels).into_response())
}

#[utoipa::path(operation_id = "deployStorageCluster", post, path = "/storageclusters", tag = "storage",
    request_body = StorageClusterSpec,
    responses(
        (status = 201, description = "Deployed: every engine answers", body = StorageClusterView,
            headers(("Location" = String, description = "URL of the cluster"))),
        (status = 202, description = "Accepted; still deploying: follow the job"),
        (status = 400, description = "Invalid field, an unknown node, servers not divisible by the nodes, or a node \
            without enough free disks of driveType", body = ErrorBody),
        (status = 409, description = "Label in use", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn create(ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let spec: StorageClusterSpec = caller.body(&ctx, Role::Operator, body)?;
    crate::model::Spec::validate(&spec)?;
    for (i, node) in spec.nodes.iter().enumerate() {
        if ctx.store.get::<Node>(node)?.is_none() {
            return Err(
                ApiError::bad_request("unknown_node", format!("node '{node}' is not registered"))
                    .with_field(format!("nodes[{i}]")),
            );
        }
    }
    let lead = spec.nodes[0].clone();
    workloads::create_response(&ctx, &lead, Vec::new(), spec, async |cluster| view(&ctx, cluster)).await
}

#[utoipa::path(operation_id = "getStorageCluster", get, path = "/storageclusters/{label}", tag = "storage",
    responses((status = 200, body = StorageClusterView)))]
pub(crate) async fn get(label: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let cluster = find(&ctx, &label)?;
    Ok(warp::reply::json(&view(&ctx, cluster.value)?).into_response())
}

#[utoipa::path(operation_id = "deleteStorageCluster", delete, path = "/storageclusters/{label}", tag = "storage",
    responses((status = 204, description = "Engines, filesystems and pools gone, or it did not exist (as in 0-orchestrator)"),
        (status = 202),
        (status = 400, description = "A vdisk storage uses it", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn delete(label: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let Some(record) = ctx.store.get::<StorageCluster>(&label)? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let users = ctx.store.all::<VdiskStorage>()?;
    if let Some(user) = users.iter().find(|s| s.clusters().any(|(_, cluster)| cluster == label)) {
        return Err(ApiError::bad_request(
            "cluster_in_use",
            format!("vdisk storage '{}' uses it: delete that first", user.id),
        ));
    }
    match workloads::change(&ctx, record, JobAction::Delete, |c| c.deleting = true).await? {
        Some(accepted) => Ok(accepted),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[utoipa::path(operation_id = "listStorageClusterHealth", get, path = "/health/storageclusters", tag = "storage",
    responses((status = 200, body = [ClusterHealth])))]
pub(crate) async fn list_health(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let health = ctx
        .store
        .all::<StorageCluster>()?
        .into_iter()
        .map(|cluster| {
            let recorded = servers(&ctx, &cluster.spec.label)?;
            let status = match status(&ctx, &cluster, recorded.as_ref())? {
                "ready" => "OK",
                "error" => "ERROR",
                _ => "SKIPPED",
            };
            Ok(ClusterHealth {
                label: cluster.spec.label,
                status,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(warp::reply::json(&health).into_response())
}

#[utoipa::path(operation_id = "getStorageClusterHealth", get, path = "/health/storageclusters/{label}", tag = "storage",
    responses((status = 200, body = [HealthCheck])))]
pub(crate) async fn get_health(label: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let cluster = find(&ctx, &label)?.value;
    let recorded = servers(&ctx, &label)?;
    let messages = recorded
        .iter()
        .flat_map(|r| &r.servers)
        .map(|server| HealthMessage {
            id: format!("{}:{}", server.node, server.port),
            status: if server.status == "ready" {
                HealthStatus::Ok
            } else {
                HealthStatus::Error
            },
            text: match &server.reason {
                Some(reason) => format!("engine {}:{} on {}: {reason}", server.ip, server.port, server.disk),
                None => format!("engine {}:{} on {} answers", server.ip, server.port, server.disk),
            },
        })
        .collect::<Vec<_>>();
    // One message per engine; the check is the worst of them (`SKIPPED` before anything is deployed).
    let status = messages.iter().map(|m| m.status).max().unwrap_or(HealthStatus::Skipped);
    let check = HealthCheck {
        id: "storage-engines".into(),
        name: "Storage engines".into(),
        resource: cluster.path(),
        category: "Storage".into(),
        status,
        messages,
        interval: ctx.heartbeat_interval.as_secs_f64(),
        lasttime: recorded.map_or(0, |r| epoch_seconds(&r.updated_at)) as f64,
        stacktrace: String::new(),
    };
    Ok(warp::reply::json(&[check]).into_response())
}
