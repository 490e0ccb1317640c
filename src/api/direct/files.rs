//! `/nodes/{id}/containers/{name}/filesystem?path=`: files into and out of a running container, as
//! 0-orchestrator moves them: `filesystem.open`, then base64 blocks through `filesystem.write` / `filesystem.read`,
//! then `filesystem.close`, each dispatched into the container. Uploads are multipart (field `file`), bounded.

use bytes::Buf;
use futures_util::StreamExt;
use serde::Deserialize;
use warp::Filter;
use warp::Reply;
use warp::http::{StatusCode, header};
use warp::reply::Response;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::direct::container::target;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx};
use crate::model::Role;

/// The largest upload (the node holds files in memory while they move).
const MOST_UPLOAD: u64 = 32 << 20;
/// Bytes per `filesystem.write`.
const WRITE_BLOCK: usize = 512 * 1024;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PathQuery {
    /// Absolute path inside the container.
    pub path: String,
}

/// 0-orchestrator's body for deleting a file.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteFile {
    pub path: String,
}

/// An absolute path with no `.` or `..` components: what the container sees, and nothing to resolve.
fn checked(path: &str) -> Result<&str, ApiError> {
    let clean = path.starts_with('/')
        && path.len() < 4096
        && !path.contains('\0')
        && path.split('/').skip(1).all(|part| !matches!(part, "." | ".."));
    if clean {
        Ok(path)
    } else {
        Err(ApiError::bad_request("invalid_field", "path must be absolute, without '.' or '..'").with_field("path"))
    }
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    upload(node: String, name: String)
        [warp::query::<PathQuery>(), with_ctx(ctx), caller(), upload_form()],
    download(node: String, name: String) [warp::query::<PathQuery>(), with_ctx(ctx), caller()],
    remove(node: String, name: String) [with_ctx(ctx), caller(), raw_body()],
];

/// The upload's form, or why warp could not start reading it; judged by the handler after the caller, so a
/// request without a token is a 401 whatever its body.
fn upload_form()
-> impl Filter<Extract = (Result<warp::multipart::FormData, warp::Rejection>,), Error = std::convert::Infallible> + Clone
{
    warp::multipart::form()
        .max_length(MOST_UPLOAD)
        .map(Ok)
        .or_else(|rejection| std::future::ready(Ok::<_, std::convert::Infallible>((Err(rejection),))))
}

#[utoipa::path(operation_id = "uploadContainerFile", post, path = "/nodes/{id}/containers/{name}/filesystem", tag = "containers",
    params(PathQuery),
    request_body(content = String, content_type = "multipart/form-data", description = "The file, in field `file` (at most 32 MiB)"),
    responses((status = 204, description = "Written"), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn upload(
    node: String,
    name: String,
    query: PathQuery,
    ctx: Ctx,
    caller: Caller,
    form: Result<warp::multipart::FormData, warp::Rejection>,
) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let mut form = form.map_err(|rejection| {
        if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("uploads are limited to {MOST_UPLOAD} bytes"),
            )
        } else {
            ApiError::bad_request(
                "invalid_upload",
                "send the file as multipart/form-data with a Content-Length",
            )
        }
    })?;
    let path = checked(&query.path)?;
    let (client, id) = target(&ctx, &node, &name)?;
    let mut content = None;
    while let Some(part) = form.next().await {
        let mut part = part.map_err(|err| ApiError::bad_request("invalid_multipart", err.to_string()))?;
        if part.name() != "file" {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = part.data().await {
            let chunk = chunk.map_err(|err| ApiError::bad_request("invalid_multipart", err.to_string()))?;
            bytes.extend_from_slice(chunk.chunk());
        }
        content = Some(bytes);
    }
    let content =
        content.ok_or_else(|| ApiError::bad_request("invalid_multipart", "no part named 'file'").with_field("file"))?;
    let inside = client.inside(id);
    let fd = inside.open_write(path, 0o644).await?;
    for block in content.chunks(WRITE_BLOCK) {
        inside.write(&fd, block).await?;
    }
    inside.close(fd).await?;
    tracing::info!(node = %node, container = %name, path, bytes = content.len(), "file uploaded into container");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(operation_id = "downloadContainerFile", get, path = "/nodes/{id}/containers/{name}/filesystem", tag = "containers",
    params(PathQuery),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn download(node: String, name: String, query: PathQuery, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let path = checked(&query.path)?;
    let (client, id) = target(&ctx, &node, &name)?;
    let inside = client.inside(id);
    let fd = inside.open_read(path).await?;
    let mut content = Vec::new();
    loop {
        let block = inside.read(&fd).await?;
        if block.is_empty() {
            break;
        }
        content.extend_from_slice(&block);
        if content.len() as u64 > MOST_UPLOAD * 8 {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                "the file is over 256 MiB",
            ));
        }
    }
    inside.close(fd).await?;
    let mut response = Response::new(content.into());
    crate::api::set_header(&mut response, header::CONTENT_TYPE, "application/octet-stream");
    Ok(response)
}

#[utoipa::path(operation_id = "deleteContainerFile", delete, path = "/nodes/{id}/containers/{name}/filesystem", tag = "containers",
    request_body = DeleteFile,
    responses((status = 204, description = "Removed"), (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) async fn remove(node: String, name: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let request: DeleteFile = caller.body(&ctx, Role::Operator, body)?;
    let path = checked(&request.path)?;
    let (client, id) = target(&ctx, &node, &name)?;
    client.inside(id).remove(path).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
