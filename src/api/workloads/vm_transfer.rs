//! VM export and import, 0-orchestrator's `POST …/vms/{vmid}/export` and `POST /nodes/{id}/vms/import`, to and from
//! FTP or HTTP(S) URLs (`transfer`). An export is a job of the VM (the engine writes the file, so it resumes after
//! a restart); an import reads the file here and creates the VM as `POST /nodes/{id}/vms` does. What travels is
//! the VM's definition (0-orchestrator's `VMUpdate` fields: memory, cpu, nics, disks); its disks are vdisks,
//! which stay in their storage.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx, workloads};
use crate::model::vdisk_storage::VdiskStorage;
use crate::model::vm::{VmExport, VmSpec, VmUpdate};
use crate::model::{Job, JobAction, Role};
use crate::store::Expect;
use crate::transfer::{self, TransferError};

/// The largest VM definition an import reads.
const DEFINITION_LIMIT: u64 = 1 << 20;
/// How long an import may take to read the definition.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// 0-orchestrator's `ExportVM`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportVm {
    /// The folder to write to: `ftp://[user[:password]@]host[:port][/dir]` or `http(s)://host[:port][/dir]`; the
    /// file is `<url>/<vmid>_<epoch seconds>`.
    pub url: String,
    /// The reference encrypted the exported disks with it; accepted for its clients, unused (no disk data is
    /// exported).
    #[serde(default)]
    pub crypto_key: Option<String>,
}

/// 0-orchestrator's `FTPUrl`: where the export was written.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportedUrl {
    pub url: String,
}

/// 0-orchestrator's `ImportVM`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportVm {
    /// An exported file's URL, as an export answered it.
    pub url: String,
    /// The new VM's id on this node.
    pub id: String,
    /// The vdisk storage its disks are in.
    pub vdiskstorage: String,
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    export(node: String, id: String) [with_ctx(ctx), caller(), raw_body()],
    import(node: String) [with_ctx(ctx), caller(), raw_body()],
];

/// A URL the API refuses: 400 on `url`, saying why.
fn bad_url(error: TransferError) -> ApiError {
    ApiError::bad_request("invalid_field", format!("url: {error}")).with_field("url")
}

#[utoipa::path(operation_id = "exportVm", post, path = "/nodes/{id}/vms/{vmid}/export", tag = "vms",
    description = "Writes the VM's definition to `<url>/<vmid>_<epoch seconds>` over FTP or HTTP PUT (a job).",
    request_body = ExportVm,
    responses((status = 200, description = "Written; the file's URL", body = ExportedUrl),
        (status = 202),
        (status = 409, description = "The VM is being changed or deleted", body = ErrorBody),
        (status = 502, description = "The server refused the file or could not be reached", body = ErrorBody)))]
pub(crate) async fn export(node: String, id: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let request: ExportVm = caller.body(&ctx, Role::Operator, body)?;
    if request.crypto_key.as_deref().is_some_and(|key| key.len() > 256) {
        return Err(
            ApiError::bad_request("invalid_field", "cryptoKey: at most 256 characters").with_field("cryptoKey"),
        );
    }
    let folder = transfer::parse(request.url.trim_end_matches('/')).map_err(bad_url)?;
    let record = workloads::find::<VmSpec>(&ctx, &node, &[], &id)?;
    let current_job = ctx.store.get::<Job>(&record.value.job)?;
    if record.value.deleting || current_job.is_some_and(|job| !job.value.state.finished()) {
        let message = format!("VM '{id}' is being changed; try again when its job is done");
        return Err(ApiError::new(StatusCode::CONFLICT, "busy", message));
    }
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let url = format!("{}/{id}_{seconds}", folder.as_str().trim_end_matches('/'));
    let target = VmExport {
        vm: record.value.key.clone(),
        url: url.clone(),
    };
    let expect = Expect::after(ctx.store.get::<VmExport>(&target.vm)?.as_ref());
    ctx.store.put(target, expect).await?;
    tracing::info!(vm = %id, node = %node, to = %transfer::redacted(&folder), "VM export requested");
    match workloads::change(&ctx, record, JobAction::Export, |_| {}).await? {
        Some(accepted) => Ok(accepted),
        None => Ok(warp::reply::json(&ExportedUrl { url }).into_response()),
    }
}

#[utoipa::path(operation_id = "importVm", post, path = "/nodes/{id}/vms/import", tag = "vms",
    description = "Reads an exported VM's definition from its URL (FTP or HTTP GET) and creates the VM (a job).",
    request_body = ImportVm,
    responses((status = 200, description = "Imported (the reference's code); `Location` names the VM", headers(("Location" = String))),
        (status = 202),
        (status = 400, description = "A bad field, an unknown vdisk storage, or a file that is no VM definition", body = ErrorBody), (status = 409, description = "Id taken", body = ErrorBody),
        (status = 502, description = "The server refused the file or could not be reached", body = ErrorBody)))]
pub(crate) async fn import(node: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let request: ImportVm = caller.body(&ctx, Role::Operator, body)?;
    let url = transfer::parse(&request.url).map_err(bad_url)?;
    crate::model::validate_id("id", &request.id)?;
    workloads::require_node(&ctx, &node)?;
    if ctx.store.get::<VdiskStorage>(&request.vdiskstorage)?.is_none() {
        let message = format!("vdisk storage '{}' does not exist", request.vdiskstorage);
        return Err(ApiError::bad_request("unknown_vdiskstorage", message).with_field("vdiskstorage"));
    }
    let file = transfer::get(&url, DEFINITION_LIMIT, IMPORT_TIMEOUT)
        .await
        .map_err(|error| match error {
            TransferError::Url(_) => bad_url(error),
            other => ApiError::new(StatusCode::BAD_GATEWAY, "transfer_failed", other.to_string()).with_field("url"),
        })?;
    let definition: VmUpdate = serde_json::from_slice(&file).map_err(|e| {
        let message = format!("{} is not an exported VM: {e}", transfer::redacted(&url));
        ApiError::bad_request("not_a_vm_export", message).with_field("url")
    })?;
    let spec = VmSpec {
        id: request.id,
        memory: definition.memory,
        cpu: definition.cpu,
        nics: definition.nics,
        disks: definition.disks,
    };
    match workloads::create(&ctx, &node, Vec::new(), spec).await? {
        Ok(vm) => Ok(warp::reply::with_header(
            warp::reply::with_status(warp::reply(), StatusCode::OK),
            "Location",
            vm.path(),
        )
        .into_response()),
        Err(accepted) => Ok(accepted),
    }
}
