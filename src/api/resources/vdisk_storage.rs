//! `/vdiskstorage`: 0-orchestrator's vdisk storages, each naming the storage clusters its vdisks live on. Records
//! only: a cluster it names must exist (400 otherwise), a cluster named by one cannot be deleted, and neither can
//! one that still has vdisks.

use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx};
use crate::model::Role;
use crate::model::storage_cluster::StorageCluster;
use crate::model::vdisk::Vdisk;
use crate::model::vdisk_storage::VdiskStorage;

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list() [with_ctx(ctx), caller()],
    create() [with_ctx(ctx), caller(), raw_body()],
    get(id: String) [with_ctx(ctx), caller()],
    delete(id: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listVdiskStorages", get, path = "/vdiskstorage", tag = "storage",
    responses((status = 200, body = [VdiskStorage])))]
pub(crate) async fn list(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    ctx.all_json::<VdiskStorage>()
}

#[utoipa::path(operation_id = "createVdiskStorage", post, path = "/vdiskstorage", tag = "storage",
    request_body = VdiskStorage,
    responses(
        (status = 201, body = VdiskStorage, headers(("Location" = String, description = "URL of the vdisk storage"))),
        (status = 400, description = "Invalid field, or a storage cluster that does not exist", body = ErrorBody),
        (status = 409, description = "Id in use", body = ErrorBody)))]
pub(crate) async fn create(ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let storage: VdiskStorage = caller.body(&ctx, Role::Operator, body)?;
    storage.validate()?;
    for (field, label) in storage.clusters() {
        let usable = ctx
            .store
            .get::<StorageCluster>(label)?
            .is_some_and(|cluster| !cluster.value.deleting);
        if !usable {
            return Err(
                ApiError::bad_request("unknown_cluster", format!("storage cluster '{label}' does not exist"))
                    .with_field(field),
            );
        }
    }
    let path = format!("/vdiskstorage/{}", storage.id);
    ctx.create(storage, "id", &path).await
}

#[utoipa::path(operation_id = "getVdiskStorage", get, path = "/vdiskstorage/{id}", tag = "storage",
    responses((status = 200, body = VdiskStorage)))]
pub(crate) async fn get(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    ctx.found_json::<VdiskStorage>("vdisk storage", &id)
}

#[utoipa::path(operation_id = "deleteVdiskStorage", delete, path = "/vdiskstorage/{id}", tag = "storage",
    responses((status = 204, description = "Deleted, or did not exist (as in 0-orchestrator)"),
        (status = 400, description = "It still has vdisks", body = ErrorBody)))]
pub(crate) async fn delete(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    if let Some(vdisk) = ctx
        .store
        .all::<Vdisk>()?
        .into_iter()
        .find(|vdisk| vdisk.vdiskstorage == id)
    {
        return Err(ApiError::bad_request(
            "vdiskstorage_in_use",
            format!(
                "vdisk '{}' lives in vdisk storage '{id}': delete its vdisks first",
                vdisk.id
            ),
        ));
    }
    if ctx.store.get::<VdiskStorage>(&id)?.is_some() {
        ctx.store.delete::<VdiskStorage>(&id, None).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
