//! `/nodes/{id}/storagepools/{pool}/devices`: the devices of a pool, as the node reports them, and adding or
//! removing some (the pool's desired device list changes; the engine converges with `btrfs.device_add` and
//! `btrfs.device_remove`). A device's uuid is the pool's uuid and the device's name, so it stays the same for
//! as long as the device is in the pool.

use serde::Serialize;

use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::workloads::storage::live_pools;
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx, workloads};
use crate::model::storage::StoragePoolSpec;
use crate::model::{JobAction, Role, Spec};

/// 0-orchestrator's `StoragePoolDevice`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoragePoolDevice {
    pub device_name: String,
    pub uuid: String,
    /// `healthy`, or `removing` while it is being taken out of the pool.
    pub status: &'static str,
}

/// The pool's devices on the node (404 when the node does not have the pool, 502/504 when it does not answer).
async fn devices(ctx: &Ctx, node: &str, pool: &str) -> Result<Vec<StoragePoolDevice>, ApiError> {
    let record = workloads::find::<StoragePoolSpec>(ctx, node, &[], pool)?;
    let live = live_pools(ctx, node).await.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "node_unreachable",
            format!("node '{node}' did not answer"),
        )
    })?;
    let found = live
        .iter()
        .find(|p| p["label"] == pool)
        .ok_or_else(|| ApiError::not_found("storage pool on the node", pool))?;
    let uuid = found["uuid"].as_str().unwrap_or_default();
    Ok(found["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|device| device["path"].as_str())
        .map(|path| StoragePoolDevice {
            uuid: format!("{uuid}-{}", path.rsplit('/').next().unwrap_or(path)),
            status: if record.value.spec.devices.iter().any(|d| d == path) {
                "healthy"
            } else {
                "removing"
            },
            device_name: path.to_owned(),
        })
        .collect())
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list(node: String, pool: String) [with_ctx(ctx), caller()],
    add(node: String, pool: String) [with_ctx(ctx), caller(), raw_body()],
    get(node: String, pool: String, device: String) [with_ctx(ctx), caller()],
    remove(node: String, pool: String, device: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listStoragePoolDevices", get, path = "/nodes/{id}/storagepools/{pool}/devices", tag = "storage",
    responses((status = 200, body = [StoragePoolDevice]),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn list(node: String, pool: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    Ok(warp::reply::json(&devices(&ctx, &node, &pool).await?).into_response())
}

#[utoipa::path(operation_id = "getStoragePoolDevice", get, path = "/nodes/{id}/storagepools/{pool}/devices/{uuid}", tag = "storage",
    responses((status = 200, body = StoragePoolDevice),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn get(node: String, pool: String, uuid: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let device = devices(&ctx, &node, &pool)
        .await?
        .into_iter()
        .find(|device| device.uuid == uuid)
        .ok_or_else(|| ApiError::not_found("device", &uuid))?;
    Ok(warp::reply::json(&device).into_response())
}

/// Sets the pool's device list to `devices` (validated as a whole: the profile must still fit) and waits for the
/// node; `accepted` is answered if it takes longer than `--apply-wait`.
async fn change_devices(
    ctx: &Ctx,
    node: &str,
    pool: &str,
    change: impl FnOnce(&mut Vec<String>),
) -> Result<Option<Response>, ApiError> {
    let record = workloads::find::<StoragePoolSpec>(ctx, node, &[], pool)?;
    let mut spec = record.value.spec.clone();
    change(&mut spec.devices);
    spec.validate()?;
    let others = workloads::list::<StoragePoolSpec>(ctx, node, &[])?;
    if let Some((device, other)) = others.iter().filter(|other| other.spec.name != pool).find_map(|other| {
        spec.devices
            .iter()
            .find(|d| other.spec.devices.contains(d))
            .map(|d| (d, other))
    }) {
        let message = format!("{device} belongs to pool '{}'", other.spec.name);
        return Err(ApiError::new(StatusCode::CONFLICT, "device_in_use", message).with_field("devices"));
    }
    workloads::change(ctx, record, JobAction::Update, |pool| pool.spec = spec).await
}

#[utoipa::path(operation_id = "addStoragePoolDevices", post, path = "/nodes/{id}/storagepools/{pool}/devices", tag = "storage",
    request_body(content = [String], description = "Device paths to add, e.g. `[\"/dev/sdd\"]`"),
    responses((status = 201, description = "Added", body = [StoragePoolDevice]), (status = 202), (status = 409, description = "A device is in another pool", body = ErrorBody)))]
pub(crate) async fn add(node: String, pool: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let added: Vec<String> = caller.body(&ctx, Role::Operator, body)?;
    if added.is_empty() {
        return Err(ApiError::bad_request("invalid_field", "list at least one device").with_field("devices"));
    }
    let accepted = change_devices(&ctx, &node, &pool, |devices| {
        for device in added {
            if !devices.contains(&device) {
                devices.push(device);
            }
        }
    })
    .await?;
    match accepted {
        Some(accepted) => Ok(accepted),
        None => {
            let devices = devices(&ctx, &node, &pool).await?;
            let location = format!("/nodes/{node}/storagepools/{pool}/devices");
            Ok(crate::api::json_at(&devices, StatusCode::CREATED, &location))
        }
    }
}

#[utoipa::path(operation_id = "removeStoragePoolDevice", delete, path = "/nodes/{id}/storagepools/{pool}/devices/{uuid}", tag = "storage",
    responses((status = 204, description = "Removed, or not in the pool"), (status = 202),
        (status = 400, description = "The pool's profile needs the device", body = ErrorBody)))]
pub(crate) async fn remove(node: String, pool: String, uuid: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let Some(device) = devices(&ctx, &node, &pool)
        .await?
        .into_iter()
        .find(|device| device.uuid == uuid)
    else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    match change_devices(&ctx, &node, &pool, |devices| {
        devices.retain(|d| *d != device.device_name)
    })
    .await?
    {
        Some(accepted) => Ok(accepted),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
