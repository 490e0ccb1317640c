//! `/vdiskstorage/{id}/vdisks`: 0-orchestrator's vdisks. A vdisk is a record (its config, which an NBD server
//! reads) plus its blocks in the engines of the vdisk storage's block cluster (`blocks`); deleting one removes
//! its blocks from the engines before the record, so nothing is left behind.

use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx};
use crate::blocks::VdiskBlocks;
use crate::blocks::cluster::{self, ClusterError};
use crate::model::image::{Image, ImageContent};
use crate::model::vdisk::{Vdisk, VdiskCreate, VdiskResize, VdiskRollback, validate_size};
use crate::model::vdisk_storage::VdiskStorage;
use crate::model::vm::VmSpec;
use crate::model::{Role, Workload};
use crate::store::{Expect, Record, StoreError, Versioned};

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list(storage: String) [with_ctx(ctx), caller()],
    create(storage: String) [with_ctx(ctx), caller(), raw_body()],
    get(storage: String, vdisk: String) [with_ctx(ctx), caller()],
    delete(storage: String, vdisk: String) [with_ctx(ctx), caller()],
    resize(storage: String, vdisk: String) [with_ctx(ctx), caller(), raw_body()],
    rollback(storage: String, vdisk: String) [with_ctx(ctx), caller(), raw_body()],
];

pub(crate) fn storage_of(ctx: &Ctx, id: &str) -> Result<VdiskStorage, ApiError> {
    Ok(ctx.found::<VdiskStorage>("vdisk storage", id)?.value)
}

/// What lives in a vdisk storage (vdisks, images): found by id only within it.
pub(crate) trait InStorage: Record {
    /// What the API calls it in a 404.
    const WHAT: &'static str;
    fn vdiskstorage(&self) -> &str;

    /// Record `id` of vdisk storage `storage` (404 for either unknown).
    fn in_storage(ctx: &Ctx, storage: &str, id: &str) -> Result<Versioned<Self>, ApiError> {
        storage_of(ctx, storage)?;
        ctx.store
            .get::<Self>(id)?
            .filter(|found| found.value.vdiskstorage() == storage)
            .ok_or_else(|| ApiError::not_found(Self::WHAT, id))
    }

    /// Every record of vdisk storage `storage` (404 when it is unknown).
    fn all_in_storage(ctx: &Ctx, storage: &str) -> Result<Vec<Self>, ApiError> {
        storage_of(ctx, storage)?;
        let mut all = ctx.store.all::<Self>()?;
        all.retain(|record| record.vdiskstorage() == storage);
        Ok(all)
    }
}

impl InStorage for Vdisk {
    const WHAT: &'static str = "vdisk";
    fn vdiskstorage(&self) -> &str {
        &self.vdiskstorage
    }
}

impl InStorage for Image {
    const WHAT: &'static str = "image";
    fn vdiskstorage(&self) -> &str {
        &self.vdiskstorage
    }
}

#[utoipa::path(operation_id = "listVdisks", get, path = "/vdiskstorage/{id}/vdisks", tag = "storage",
    responses((status = 200, body = [Vdisk])))]
pub(crate) async fn list(storage: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    Ok(warp::reply::json(&Vdisk::all_in_storage(&ctx, &storage)?).into_response())
}

#[utoipa::path(operation_id = "createVdisk", post, path = "/vdiskstorage/{id}/vdisks", tag = "storage",
    request_body = VdiskCreate,
    responses(
        (status = 201, body = Vdisk, headers(("Location" = String, description = "URL of the vdisk"))),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such vdisk storage, or image", body = ErrorBody),
        (status = 409, description = "Id in use", body = ErrorBody)))]
pub(crate) async fn create(storage: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let create: VdiskCreate = caller.body(&ctx, Role::Operator, body)?;
    create.validate()?;
    let label = storage_of(&ctx, &storage)?.block_cluster;
    if ctx.store.get::<Vdisk>(&create.id)?.is_some() {
        return Err(ApiError::from(StoreError::AlreadyExists {
            collection: Vdisk::COLLECTION,
            id: create.id,
        })
        .with_field("id"));
    }
    if let Some(image) = &create.image_id {
        start_as_image(&ctx, &create, image, &label).await?;
    }
    let vdisk = Vdisk::new(create, &storage);
    let path = format!("/vdiskstorage/{storage}/vdisks/{}", vdisk.id);
    ctx.create(vdisk, "id", &path).await
}

/// Makes the new boot vdisk's LBA a copy of image `name`'s, so it starts as the image's content and shares its
/// blocks: 404 for an image that does not exist or is still importing, 400 for one that does not fit the vdisk.
async fn start_as_image(ctx: &Ctx, create: &VdiskCreate, name: &str, label: &str) -> Result<(), ApiError> {
    let missing = || ApiError::not_found("image", name).with_field("imageId");
    let image = ctx.store.get::<Image>(name)?.ok_or_else(missing)?.value;
    let content = ctx.store.get::<ImageContent>(name)?.ok_or_else(missing)?.value;
    if cluster::cluster_of(&ctx.store, &image.vdiskstorage)?.as_deref() != Some(label) {
        let message = format!("image '{name}' is on another storage cluster than this vdisk storage's");
        return Err(ApiError::bad_request("image_elsewhere", message).with_field("imageId"));
    }
    if create.blocksize != image.blocksize {
        let message = format!("must be image '{name}''s block size, {}", image.blocksize);
        return Err(ApiError::bad_request("invalid_field", message).with_field("blocksize"));
    }
    if create.size < content.gib() {
        let message = format!("must hold image '{name}': at least {} GiB", content.gib());
        return Err(ApiError::bad_request("invalid_field", message).with_field("size"));
    }
    let shards = cluster::engines(&ctx.store, label).await.map_err(cluster_failed)?;
    let source = VdiskBlocks::new(&Image::blocks_id(name), shards.clone(), true);
    VdiskBlocks::new(&create.id, shards, true)
        .copy_from(&source)
        .await
        .map_err(|err| cluster_failed(err.into()))
}

#[utoipa::path(operation_id = "getVdisk", get, path = "/vdiskstorage/{id}/vdisks/{vdiskid}", tag = "storage",
    responses((status = 200, body = Vdisk)))]
pub(crate) async fn get(storage: String, vdisk: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    Ok(warp::reply::json(&Vdisk::in_storage(&ctx, &storage, &vdisk)?.value).into_response())
}

/// A VM that has `vdisk` among its disks.
fn vm_using(ctx: &Ctx, vdisk: &str) -> Result<Option<Workload<VmSpec>>, ApiError> {
    Ok(ctx
        .store
        .all::<Workload<VmSpec>>()?
        .into_iter()
        .find(|vm| vm.spec.disks.iter().any(|disk| disk.vdiskid == vdisk)))
}

/// An engine of the cluster did not answer: 502 (a store failure answers as it always does).
fn cluster_failed(err: ClusterError) -> ApiError {
    match err {
        ClusterError::Store(err) => err.into(),
        ClusterError::Engine(err) => ApiError::new(StatusCode::BAD_GATEWAY, "storage_unreachable", err.to_string()),
    }
}

#[utoipa::path(operation_id = "deleteVdisk", delete, path = "/vdiskstorage/{id}/vdisks/{vdiskid}", tag = "storage",
    responses((status = 204, description = "Deleted, its blocks removed from the engines"),
        (status = 400, description = "A VM uses it", body = ErrorBody),
        (status = 502, description = "An engine of the cluster did not answer; nothing was deleted", body = ErrorBody)))]
pub(crate) async fn delete(storage: String, vdisk: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let found = Vdisk::in_storage(&ctx, &storage, &vdisk)?;
    if let Some(vm) = vm_using(&ctx, &vdisk)? {
        return Err(ApiError::bad_request(
            "vdisk_in_use",
            format!("vdisk '{vdisk}' is a disk of VM '{}' on node '{}'", vm.spec.id, vm.node),
        ));
    }
    let storage = storage_of(&ctx, &storage)?;
    cluster::remove(&ctx.store, &storage.block_cluster, &vdisk, found.value.deduplicated())
        .await
        .map_err(cluster_failed)?;
    cluster::remove_journal(&ctx.store, &storage, &found.value)
        .await
        .map_err(cluster_failed)?;
    ctx.store.delete::<Vdisk>(&vdisk, Some(found.version)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(operation_id = "resizeVdisk", post, path = "/vdiskstorage/{id}/vdisks/{vdiskid}/resize", tag = "storage",
    request_body = VdiskResize,
    responses((status = 204, description = "Resized"),
        (status = 400, description = "Not larger than the vdisk, or over 2048 GiB", body = ErrorBody)))]
pub(crate) async fn resize(storage: String, vdisk: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let resize: VdiskResize = caller.body(&ctx, Role::Operator, body)?;
    validate_size("newSize", resize.new_size)?;
    let found = Vdisk::in_storage(&ctx, &storage, &vdisk)?;
    if resize.new_size <= found.value.size {
        return Err(ApiError::bad_request(
            "not_larger",
            format!(
                "a vdisk only grows: newSize must be larger than {} GiB",
                found.value.size
            ),
        )
        .with_field("newSize"));
    }
    let mut grown = found.value;
    grown.size = resize.new_size;
    ctx.store.put(grown, Expect::Version(found.version)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(operation_id = "rollbackVdisk", post, path = "/vdiskstorage/{id}/vdisks/{vdiskid}/rollback", tag = "storage",
    request_body = VdiskRollback,
    responses((status = 204, description = "Rolled back: the vdisk holds what it held at the end of second `epoch`"),
        (status = 400, description = "Not a boot or db vdisk, a running VM uses it, a negative epoch, or its vdisk storage has no objectCluster (no transaction log)", body = ErrorBody),
        (status = 502, description = "An engine did not answer; the vdisk stays `rollingback` until a rollback is run again", body = ErrorBody)))]
pub(crate) async fn rollback(storage: String, vdisk: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let rollback: VdiskRollback = caller.body(&ctx, Role::Operator, body)?;
    if rollback.epoch < 0 {
        return Err(ApiError::bad_request("invalid", "must be 0 or more (Unix seconds)").with_field("epoch"));
    }
    let found = Vdisk::in_storage(&ctx, &storage, &vdisk)?;
    if !found.value.journaled() {
        return Err(ApiError::bad_request(
            "not_rollbackable",
            format!("only boot and db vdisks roll back; '{vdisk}' is {}", found.value.kind),
        ));
    }
    if let Some(vm) = vm_using(&ctx, &vdisk)?.filter(|vm| vm.running) {
        return Err(ApiError::bad_request(
            "vdisk_in_use",
            format!(
                "vdisk '{vdisk}' is a disk of VM '{}' on node '{}', which runs: stop it first",
                vm.spec.id, vm.node
            ),
        ));
    }
    let storage = storage_of(&ctx, &storage)?;
    if storage.object_cluster.is_none() {
        return Err(ApiError::bad_request(
            "no_transaction_log",
            format!(
                "vdisk storage '{}' has no objectCluster, so its vdisks keep no transaction log to roll back with",
                storage.id
            ),
        ));
    }
    // Writes journaled from the second after `epoch` on are undone; 0 undoes every one kept.
    let since_ms = match rollback.epoch {
        0 => 0,
        epoch => (epoch as u64).saturating_add(1).saturating_mul(1000),
    };
    // Marked first and cleared last: an interrupted rollback shows, and running it again finishes it.
    let mut marked = found.value.clone();
    marked.status = "rollingback".into();
    let marked = ctx.store.put(marked, Expect::Version(found.version)).await?;
    let blocks = cluster::journaled_blocks(&ctx.store, &storage, &found.value)
        .await
        .map_err(cluster_failed)?;
    if let Some(blocks) = blocks {
        let restored = blocks
            .roll_back(since_ms)
            .await
            .map_err(|err| cluster_failed(err.into()))?;
        tracing::info!(vdisk = %vdisk, epoch = rollback.epoch, restored, "vdisk rolled back");
    }
    let mut halted = marked.value;
    halted.status = "halted".into();
    ctx.store.put(halted, Expect::Version(marked.version)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
