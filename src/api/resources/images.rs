//! `/vdiskstorage/{id}/images`: 0-orchestrator's images, disk images imported from a URL into the vdisk storage's
//! block cluster, which boot vdisks start as (`imageId`). An import is the `Image` record plus a job the engine
//! runs (its progress is the job's: bytes done of the total); an image is usable once the engine recorded its
//! content, so a failed or unfinished import is never served. Deleting one is a job too; it keeps the blocks a
//! vdisk made from it still refers to.

use serde::Serialize;
use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::resources::jobs;
use crate::api::resources::vdisks::{InStorage, storage_of};
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, json_at, with_ctx};
use crate::model::image::{Image, ImageContent, ImageImport};
use crate::model::{Job, JobAction, Role, now_rfc3339};
use crate::store::{Expect, Record};
use crate::transfer;

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list(storage: String) [with_ctx(ctx), caller()],
    import(storage: String) [with_ctx(ctx), caller(), raw_body()],
    get(storage: String, image: String) [with_ctx(ctx), caller()],
    delete(storage: String, image: String) [with_ctx(ctx), caller()],
];

/// 0-orchestrator's `Image` (`name`, `size` in GiB, `blocksize`), plus ours.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageView {
    pub name: String,
    /// GiB, rounded up: the smallest vdisk that holds it (0 while importing).
    pub size: i64,
    pub blocksize: i64,
    /// Bytes imported (0 while importing; the job shows how far it is).
    pub size_bytes: u64,
    pub vdiskstorage: String,
    /// Where it came from, its password hidden.
    pub url: String,
    /// `importing`, then `ready`; `deleting` once asked to go.
    pub status: &'static str,
    /// The import's job.
    pub job: String,
}

fn view(ctx: &Ctx, image: Image) -> Result<ImageView, ApiError> {
    let content = ctx.store.get::<ImageContent>(&image.name)?.map(|found| found.value);
    let url = transfer::parse(&image.url).map_or_else(|_| image.url.clone(), |url| transfer::redacted(&url));
    Ok(ImageView {
        size: content.as_ref().map_or(0, ImageContent::gib),
        size_bytes: content.as_ref().map_or(0, |content| content.size),
        status: match (image.deleting, &content) {
            (true, _) => "deleting",
            (false, Some(_)) => "ready",
            (false, None) => "importing",
        },
        name: image.name,
        blocksize: image.blocksize,
        vdiskstorage: image.vdiskstorage,
        url,
        job: image.job,
    })
}

#[utoipa::path(operation_id = "listImages", get, path = "/vdiskstorage/{id}/images", tag = "storage",
    responses((status = 200, body = [ImageView])))]
pub(crate) async fn list(storage: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let images = Image::all_in_storage(&ctx, &storage)?
        .into_iter()
        .map(|image| view(&ctx, image))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(warp::reply::json(&images).into_response())
}

#[utoipa::path(operation_id = "importImage", post, path = "/vdiskstorage/{id}/images", tag = "storage",
    description = "Imports a raw disk image (an ISO, a disk's bytes) from an HTTP(S) URL into the vdisk storage's \
        block cluster, deduplicated as boot vdisks are (a job: its progress is bytes done of the total).",
    request_body = ImageImport,
    responses(
        (status = 201, description = "Imported", body = ImageView,
            headers(("Location" = String, description = "URL of the image"))),
        (status = 202, description = "Importing; follow the job"),
        (status = 400, description = "Invalid field, or a URL whose server refused the image", body = ErrorBody),
        (status = 404, description = "No such vdisk storage", body = ErrorBody),
        (status = 409, description = "Name in use", body = ErrorBody),
        (status = 502, description = "The URL's server or an engine could not be reached", body = ErrorBody)))]
pub(crate) async fn import(storage: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let request: ImageImport = caller.body(&ctx, Role::Operator, body)?;
    request.validate()?;
    let url = transfer::parse(&request.url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .ok_or_else(|| {
            ApiError::bad_request("invalid_field", "url: must be an http:// or https:// URL naming a host")
                .with_field("url")
        })?;
    storage_of(&ctx, &storage)?;
    let mut image = Image {
        name: request.image_name,
        vdiskstorage: storage,
        url: url.to_string(),
        blocksize: request.disk_block_size,
        job: String::new(),
        deleting: false,
        created_at: now_rfc3339(),
    };
    let path = image.path();
    let job = Job::new(Image::COLLECTION, JobAction::Create, "", &image.name, &path);
    image.job = job.id.clone();
    ctx.insert(image.clone(), "imageName").await?;
    tracing::info!(image = %image.name, from = %transfer::redacted(&url), "image import requested");
    if let Some(accepted) = jobs::submit(&ctx, job).await? {
        return Ok(accepted);
    }
    Ok(json_at(&view(&ctx, image)?, StatusCode::CREATED, &path))
}

#[utoipa::path(operation_id = "getImage", get, path = "/vdiskstorage/{id}/images/{imageid}", tag = "storage",
    responses((status = 200, body = ImageView)))]
pub(crate) async fn get(storage: String, image: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let found = Image::in_storage(&ctx, &storage, &image)?;
    Ok(warp::reply::json(&view(&ctx, found.value)?).into_response())
}

#[utoipa::path(operation_id = "deleteImage", delete, path = "/vdiskstorage/{id}/images/{imageid}", tag = "storage",
    description = "Removes the image and its blocks (a job); blocks a vdisk made from it refers to are kept.",
    responses((status = 204, description = "Deleted"),
        (status = 202, description = "Deleting; follow the job"),
        (status = 409, description = "Still importing, or being deleted", body = ErrorBody),
        (status = 502, description = "An engine of the cluster did not answer", body = ErrorBody)))]
pub(crate) async fn delete(storage: String, image: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let found = Image::in_storage(&ctx, &storage, &image)?;
    let busy = ctx
        .store
        .get::<Job>(&found.value.job)?
        .is_some_and(|job| !job.value.state.finished());
    if busy || found.value.deleting {
        let message = format!("image '{image}' is being imported or deleted; try again when its job is done");
        return Err(ApiError::new(StatusCode::CONFLICT, "busy", message));
    }
    let mut deleting = found.value;
    let job = Job::new(Image::COLLECTION, JobAction::Delete, "", &image, &deleting.path());
    deleting.job = job.id.clone();
    deleting.deleting = true;
    ctx.store.put(deleting, Expect::Version(found.version)).await?;
    if let Some(accepted) = jobs::submit(&ctx, job).await? {
        return Ok(accepted);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
