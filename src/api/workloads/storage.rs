//! `/nodes/{id}/storagepools…`: btrfs pools, their filesystems and snapshots, with 0-orchestrator's paths and
//! fields. Changes, rollback included, go through jobs (see `workloads`); pool capacities are read live from the node, and show as
//! `unknown` when the node does not answer.

use serde::Serialize;
use serde_json::Value;
use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx, workloads};
use crate::model::storage::{FilesystemSpec, SnapshotSpec, StoragePoolSpec, filesystem_mountpoint, pool_mountpoint};
use crate::model::{JobAction, Role, Spec, Workload};
use crate::store::Versioned;

const GIB: f64 = (1u64 << 30) as f64;

/// 0-orchestrator's `StoragePool`, plus ours (`node`, `state`, `job`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoragePoolView {
    pub name: String,
    /// `healthy`, `degraded`, `error` or `unknown` (the node did not answer).
    pub status: &'static str,
    /// Whole GiB the pool holds with its data profile.
    pub total_capacity: u64,
    /// Whole GiB still free.
    pub capacity: u64,
    pub mountpoint: String,
    pub metadata_profile: String,
    pub data_profile: String,
    pub devices: Vec<String>,
    pub node: String,
    pub state: String,
    pub job: String,
}

/// 0-orchestrator's `Filesystem`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilesystemView {
    pub name: String,
    pub parent: String,
    /// MiB; 0 is unlimited.
    pub quota: u64,
    pub read_only: bool,
    /// MiB used.
    pub size_on_disk: u64,
    pub mountpoint: String,
    pub state: String,
    pub job: String,
}

/// 0-orchestrator's `Snapshot`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotView {
    pub name: String,
    pub size_on_disk: u64,
    /// When it was taken, in seconds since the epoch.
    pub timestamp: u64,
    pub state: String,
    pub job: String,
}

/// The node's btrfs filesystems (`btrfs.list`), or `None` when it does not answer.
pub(crate) async fn live_pools(ctx: &Ctx, node: &str) -> Option<Vec<Value>> {
    ctx.node_client(node).ok()?.btrfs_pools().await.ok()
}

fn pool_view(ctx: &Ctx, pool: Workload<StoragePoolSpec>, live: Option<&[Value]>) -> Result<StoragePoolView, ApiError> {
    let observed = workloads::observed(ctx, &pool)?;
    let state = workloads::state(ctx, &pool, observed.as_ref())?;
    let found = live.and_then(|pools| pools.iter().find(|p| p["label"] == pool.spec.name.as_str()));
    let (status, total, used) = match (found, live) {
        (Some(found), _) => (
            "healthy",
            found["size"].as_f64().unwrap_or(0.0),
            found["used"].as_f64().unwrap_or(0.0),
        ),
        (None, Some(_)) if observed.is_some() => ("error", 0.0, 0.0),
        _ => ("unknown", 0.0, 0.0),
    };
    let spec = pool.spec;
    Ok(StoragePoolView {
        mountpoint: pool_mountpoint(&spec.name),
        name: spec.name,
        status,
        total_capacity: (total / GIB) as u64,
        capacity: ((total - used).max(0.0) / GIB) as u64,
        metadata_profile: spec.metadata_profile,
        data_profile: spec.data_profile,
        devices: spec.devices,
        node: pool.node,
        state,
        job: pool.job,
    })
}

fn filesystem_view(ctx: &Ctx, filesystem: Workload<FilesystemSpec>) -> Result<FilesystemView, ApiError> {
    let observed = workloads::observed(ctx, &filesystem)?;
    let state = workloads::state(ctx, &filesystem, observed.as_ref())?;
    let pool = filesystem.parents[0].clone();
    Ok(FilesystemView {
        mountpoint: filesystem_mountpoint(&pool, &filesystem.spec.name),
        name: filesystem.spec.name,
        parent: pool,
        quota: filesystem.spec.quota,
        read_only: filesystem.spec.read_only,
        size_on_disk: 0,
        state,
        job: filesystem.job,
    })
}

fn snapshot_view(ctx: &Ctx, snapshot: Workload<SnapshotSpec>) -> Result<SnapshotView, ApiError> {
    let observed = workloads::observed(ctx, &snapshot)?;
    Ok(SnapshotView {
        state: workloads::state(ctx, &snapshot, observed.as_ref())?,
        name: snapshot.spec.name,
        size_on_disk: 0,
        timestamp: epoch_seconds(&snapshot.created_at),
        job: snapshot.job,
    })
}

/// Our records keep RFC 3339 times; the reference's `Snapshot` has epoch seconds.
pub(super) fn epoch_seconds(rfc3339: &str) -> u64 {
    humantime::parse_rfc3339_weak(rfc3339)
        .ok()
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_secs())
}

/// `parent` must exist and not be on its way out before something is created in it.
fn require_parent<S: Spec>(ctx: &Ctx, node: &str, parents: &[String], name: &str) -> Result<(), ApiError> {
    let parent = workloads::find::<S>(ctx, node, parents, name)?;
    if parent.value.deleting {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "being_deleted",
            format!("'{name}' is being deleted"),
        ));
    }
    Ok(())
}

/// A parent holding children cannot be deleted: nothing is lost by a DELETE that would take them along.
fn require_empty<S: Spec>(ctx: &Ctx, node: &str, parents: &[String], code: &'static str) -> Result<(), ApiError> {
    let children = workloads::list::<S>(ctx, node, parents)?;
    if let Some(child) = children.first() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            code,
            match children.len() {
                1 => format!(
                    "it still holds {} '{}': delete it first",
                    workloads::singular(S::COLLECTION),
                    child.spec.name()
                ),
                n => format!(
                    "it still holds {n} {} (e.g. '{}'): delete them first",
                    S::COLLECTION,
                    child.spec.name()
                ),
            },
        ));
    }
    Ok(())
}

fn names<S: Spec>(workloads: Vec<Workload<S>>) -> Response {
    let names: Vec<String> = workloads.into_iter().map(|w| w.spec.name().to_owned()).collect();
    warp::reply::json(&names).into_response()
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list_pools(node: String) [with_ctx(ctx), caller()],
    create_pool(node: String) [with_ctx(ctx), caller(), raw_body()],
    get_pool(node: String, pool: String) [with_ctx(ctx), caller()],
    delete_pool(node: String, pool: String) [with_ctx(ctx), caller()],
    list_filesystems(node: String, pool: String) [with_ctx(ctx), caller()],
    create_filesystem(node: String, pool: String) [with_ctx(ctx), caller(), raw_body()],
    get_filesystem(at: FilesystemAt) [with_ctx(ctx), caller()],
    delete_filesystem(at: FilesystemAt) [with_ctx(ctx), caller()],
    list_snapshots(at: FilesystemAt) [with_ctx(ctx), caller()],
    create_snapshot(at: FilesystemAt) [with_ctx(ctx), caller(), raw_body()],
    get_snapshot(at: SnapshotAt) [with_ctx(ctx), caller()],
    delete_snapshot(at: SnapshotAt) [with_ctx(ctx), caller()],
    rollback_snapshot(at: SnapshotAt) [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listStoragePools", get, path = "/nodes/{id}/storagepools", tag = "storage",
    responses((status = 200, body = [StoragePoolView])))]
pub(crate) async fn list_pools(node: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    workloads::require_node(&ctx, &node)?;
    let live = live_pools(&ctx, &node).await;
    workloads::list_response::<StoragePoolSpec, _>(&ctx, &node, &[], |pool| pool_view(&ctx, pool, live.as_deref()))
}

#[utoipa::path(operation_id = "createStoragePool", post, path = "/nodes/{id}/storagepools", tag = "storage",
    request_body = StoragePoolSpec,
    responses((status = 201, body = StoragePoolView, headers(("Location" = String))),
        (status = 202),
        (status = 400, description = "Invalid field or unknown device", body = ErrorBody),
        (status = 409, description = "Name taken, or a device already in use", body = ErrorBody)))]
pub(crate) async fn create_pool(node: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let spec: StoragePoolSpec = caller.body(&ctx, Role::Operator, body)?;
    workloads::require_node(&ctx, &node)?;
    let in_use = workloads::list::<StoragePoolSpec>(&ctx, &node, &[])?
        .into_iter()
        .find_map(|pool| {
            spec.devices
                .iter()
                .find(|d| pool.spec.devices.contains(d))
                .map(|d| (d.clone(), pool))
        });
    if let Some((device, pool)) = in_use {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "device_in_use",
            format!("{device} belongs to pool '{}'", pool.spec.name),
        )
        .with_field("devices"));
    }
    workloads::create_response(&ctx, &node, Vec::new(), spec, async |pool| {
        pool_view(&ctx, pool, live_pools(&ctx, &node).await.as_deref())
    })
    .await
}

#[utoipa::path(operation_id = "getStoragePool", get, path = "/nodes/{id}/storagepools/{pool}", tag = "storage",
    responses((status = 200, body = StoragePoolView)))]
pub(crate) async fn get_pool(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let pool = workloads::find::<StoragePoolSpec>(&ctx, &node, &[], &name)?;
    let live = live_pools(&ctx, &node).await;
    Ok(warp::reply::json(&pool_view(&ctx, pool.value, live.as_deref())?).into_response())
}

#[utoipa::path(operation_id = "deleteStoragePool", delete, path = "/nodes/{id}/storagepools/{pool}", tag = "storage",
    responses((status = 204, description = "Deleted, or did not exist"), (status = 202),
        (status = 409, description = "It still holds filesystems", body = ErrorBody)))]
pub(crate) async fn delete_pool(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    workloads::require_node(&ctx, &node)?;
    require_empty::<FilesystemSpec>(&ctx, &node, std::slice::from_ref(&name), "pool_not_empty")?;
    workloads::delete::<StoragePoolSpec>(&ctx, &node, &[], &name).await
}

#[utoipa::path(operation_id = "listFilesystems", get, path = "/nodes/{id}/storagepools/{pool}/filesystems", tag = "storage",
    responses((status = 200, description = "Filesystem names", body = [String])))]
pub(crate) async fn list_filesystems(node: String, pool: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    workloads::find::<StoragePoolSpec>(&ctx, &node, &[], &pool)?;
    Ok(names(workloads::list::<FilesystemSpec>(&ctx, &node, &[pool])?))
}

#[utoipa::path(operation_id = "createFilesystem", post, path = "/nodes/{id}/storagepools/{pool}/filesystems", tag = "storage",
    request_body = FilesystemSpec,
    responses((status = 201, body = FilesystemView, headers(("Location" = String))),
        (status = 202), (status = 409, body = ErrorBody),
        (status = 507, description = "The pool has no room for the quota", body = ErrorBody)))]
pub(crate) async fn create_filesystem(
    node: String,
    pool: String,
    ctx: Ctx,
    caller: Caller,
    body: RawBody,
) -> HandlerResult {
    let spec: FilesystemSpec = caller.body(&ctx, Role::Operator, body)?;
    require_parent::<StoragePoolSpec>(&ctx, &node, &[], &pool)?;
    let view = async |filesystem| filesystem_view(&ctx, filesystem);
    workloads::create_response(&ctx, &node, vec![pool], spec, view).await
}

#[utoipa::path(operation_id = "getFilesystem", get, path = "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}", tag = "storage",
    responses((status = 200, body = FilesystemView)))]
pub(crate) async fn get_filesystem(at: FilesystemAt, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let filesystem = at.find::<FilesystemSpec>(&ctx)?;
    Ok(warp::reply::json(&filesystem_view(&ctx, filesystem.value)?).into_response())
}

#[utoipa::path(operation_id = "deleteFilesystem", delete, path = "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}", tag = "storage",
    responses((status = 204, description = "Deleted, or did not exist"), (status = 202),
        (status = 409, description = "It still has snapshots", body = ErrorBody)))]
pub(crate) async fn delete_filesystem(at: FilesystemAt, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    workloads::require_node(&ctx, &at.node)?;
    require_empty::<SnapshotSpec>(&ctx, &at.node, &at.path(), "filesystem_not_empty")?;
    workloads::delete::<FilesystemSpec>(&ctx, &at.node, &at.parents, &at.name).await
}

#[utoipa::path(operation_id = "listSnapshots", get, path = "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}/snapshots", tag = "storage",
    responses((status = 200, description = "Snapshot names", body = [String])))]
pub(crate) async fn list_snapshots(at: FilesystemAt, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    at.find::<FilesystemSpec>(&ctx)?;
    Ok(names(workloads::list::<SnapshotSpec>(&ctx, &at.node, &at.path())?))
}

#[utoipa::path(operation_id = "createSnapshot", post, path = "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}/snapshots", tag = "storage",
    request_body = SnapshotSpec,
    responses((status = 201, body = SnapshotView, headers(("Location" = String))),
        (status = 202), (status = 409, body = ErrorBody)))]
pub(crate) async fn create_snapshot(at: FilesystemAt, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let spec: SnapshotSpec = caller.body(&ctx, Role::Operator, body)?;
    require_parent::<FilesystemSpec>(&ctx, &at.node, &at.parents, &at.name)?;
    let view = async |snapshot| snapshot_view(&ctx, snapshot);
    workloads::create_response(&ctx, &at.node, at.path(), spec, view).await
}

/// Where one workload below a node is: its node, its parents' names and its own name, the path parameters of its
/// operations taken as one argument (so a handler's signature does not repeat them).
pub(crate) struct WorkloadAt<const PARENTS: usize> {
    node: String,
    parents: [String; PARENTS],
    name: String,
}

/// A filesystem: below its pool.
pub(crate) type FilesystemAt = WorkloadAt<1>;
/// A snapshot: below its pool and filesystem.
pub(crate) type SnapshotAt = WorkloadAt<2>;

impl<const PARENTS: usize> WorkloadAt<PARENTS> {
    fn find<S: Spec>(&self, ctx: &Ctx) -> Result<Versioned<Workload<S>>, ApiError> {
        workloads::find::<S>(ctx, &self.node, &self.parents, &self.name)
    }

    /// The parents of what lies below this workload: its own parents, then its name.
    fn path(&self) -> Vec<String> {
        self.parents.iter().chain([&self.name]).cloned().collect()
    }
}

impl<const PARENTS: usize> crate::api::route::FromParams for (WorkloadAt<PARENTS>,) {
    fn from_params(params: Vec<String>) -> Result<Self, warp::Rejection> {
        let mut params = params.into_iter();
        let (node, name) = (params.next(), params.next_back());
        let parents = <[String; PARENTS]>::try_from(params.collect::<Vec<_>>());
        match (node, name, parents) {
            (Some(node), Some(name), Ok(parents)) => Ok((WorkloadAt { node, parents, name },)),
            _ => Err(warp::reject::not_found()),
        }
    }
}

#[utoipa::path(operation_id = "getSnapshot", get, path = "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}/snapshots/{snapshot}", tag = "storage",
    responses((status = 200, body = SnapshotView)))]
pub(crate) async fn get_snapshot(at: SnapshotAt, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let snapshot = at.find::<SnapshotSpec>(&ctx)?;
    Ok(warp::reply::json(&snapshot_view(&ctx, snapshot.value)?).into_response())
}

#[utoipa::path(operation_id = "deleteSnapshot", delete, path = "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}/snapshots/{snapshot}", tag = "storage",
    responses((status = 204, description = "Deleted, or did not exist"), (status = 202)))]
pub(crate) async fn delete_snapshot(at: SnapshotAt, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    workloads::delete::<SnapshotSpec>(&ctx, &at.node, &at.parents, &at.name).await
}

#[utoipa::path(operation_id = "rollbackSnapshot", post, path = "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}/snapshots/{snapshot}/rollback", tag = "storage",
    responses((status = 204, description = "The filesystem is back to the snapshot"),
        (status = 202)))]
pub(crate) async fn rollback_snapshot(at: SnapshotAt, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let [pool, fs] = &at.parents;
    workloads::find::<FilesystemSpec>(&ctx, &at.node, std::slice::from_ref(pool), fs)?;
    let snapshot = at.find::<SnapshotSpec>(&ctx)?;
    match workloads::change(&ctx, snapshot, JobAction::Rollback, |_| {}).await? {
        Some(accepted) => Ok(accepted),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
