//! `/webhooks`: the reference's webhook CRUD (`Webhook{name, url, eventtypes}`, 201 + Location, 204 on update
//! and delete), plus a write-only `secret` that signs every delivery. The API only writes the webhook record; the
//! engine (`engine/webhooks/`) queues and delivers the events, and `GET /webhooks/{name}` shows how that goes.

use serde::{Deserialize, Serialize};
use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, json_at, with_ctx};
use crate::model::webhook::{self, Delivery, EventType};
use crate::model::{self, Role, Webhook, WebhookStatus};
use crate::store::Expect;

/// A webhook as the reference shows it; never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub name: String,
    pub url: String,
    pub eventtypes: Vec<EventType>,
}

impl From<&Webhook> for WebhookView {
    fn from(hook: &Webhook) -> WebhookView {
        WebhookView {
            name: hook.name.clone(),
            url: hook.url.clone(),
            eventtypes: hook.eventtypes.clone(),
        }
    }
}

/// One webhook with how its deliveries are going (the engine's record).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDetail {
    pub name: String,
    pub url: String,
    pub eventtypes: Vec<EventType>,
    /// Events waiting to be delivered.
    pub pending: u64,
    /// Events dropped because the queue was full (oldest first).
    pub dropped: u64,
    /// The last deliveries, newest first.
    pub deliveries: Vec<Delivery>,
}

/// Body of `POST /webhooks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    /// 1 to 64 of letters, digits, `-`, `.`, `_`.
    pub name: String,
    /// Where the events are POSTed: http:// or https://.
    pub url: String,
    /// `node`, `job`, `storage`, `boot`; `ork` (the reference's) for all of them.
    pub eventtypes: Vec<EventType>,
    /// The HMAC-SHA256 key of the `X-Zos-Signature` header (16 to 256 characters). Write-only.
    pub secret: String,
}

/// Body of `PUT /webhooks/{name}` (the reference's `WebhookUpdate`); without `secret`, the secret stays.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdate {
    pub url: String,
    pub eventtypes: Vec<EventType>,
    #[serde(default)]
    pub secret: Option<String>,
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list() [with_ctx(ctx), caller()],
    create() [with_ctx(ctx), caller(), raw_body()],
    get(name: String) [with_ctx(ctx), caller()],
    update(name: String) [with_ctx(ctx), caller(), raw_body()],
    delete(name: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listWebhooks", get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = [WebhookView])))]
pub(crate) async fn list(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    ctx.all_viewed(|hook: Webhook| WebhookView::from(&hook))
}

#[utoipa::path(operation_id = "createWebhook", post, path = "/webhooks", tag = "webhooks", request_body = WebhookCreate,
    responses(
        (status = 201, description = "Created; events from now on are delivered", body = WebhookView,
            headers(("Location" = String))), (status = 409, description = "A webhook of that name exists", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(crate) async fn create(ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let request: WebhookCreate = caller.body(&ctx, Role::Operator, body)?;
    model::validate_id("name", &request.name)?;
    webhook::validate_webhook_url("url", &request.url)?;
    webhook::validate_event_types("eventtypes", &request.eventtypes)?;
    webhook::validate_secret("secret", &request.secret)?;
    let hook = Webhook {
        name: request.name,
        url: request.url,
        eventtypes: request.eventtypes,
        secret: request.secret,
        created_at: model::now_rfc3339(),
    };
    let stored = ctx.store.put(hook, Expect::Absent).await?;
    tracing::info!(webhook = %stored.value.name, url = %stored.value.url, "webhook created");
    let location = format!("/webhooks/{}", stored.value.name);
    Ok(json_at(
        &WebhookView::from(&stored.value),
        StatusCode::CREATED,
        &location,
    ))
}

#[utoipa::path(operation_id = "getWebhook", get, path = "/webhooks/{name}", tag = "webhooks",
    params(("name" = String, Path, description = "Webhook name")),
    responses((status = 200, body = WebhookDetail)))]
pub(crate) async fn get(name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let hook = find(&ctx, &name)?.value;
    let status = ctx
        .store
        .get::<WebhookStatus>(&name)?
        .map(|record| record.value)
        .unwrap_or_default();
    let detail = WebhookDetail {
        name: hook.name,
        url: hook.url,
        eventtypes: hook.eventtypes,
        pending: status.pending,
        dropped: status.dropped,
        deliveries: status.deliveries,
    };
    Ok(warp::reply::json(&detail).into_response())
}

#[utoipa::path(operation_id = "updateWebhook", put, path = "/webhooks/{name}", tag = "webhooks",
    params(("name" = String, Path, description = "Webhook name")), request_body = WebhookUpdate,
    responses((status = 404, description = "No such webhook", body = ErrorBody),
        (status = 204, description = "Updated; events from now on go to the new URL and filter"),
        (status = 409, description = "Changed concurrently", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(crate) async fn update(name: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let request: WebhookUpdate = caller.body(&ctx, Role::Operator, body)?;
    let current = find(&ctx, &name)?;
    webhook::validate_webhook_url("url", &request.url)?;
    webhook::validate_event_types("eventtypes", &request.eventtypes)?;
    if let Some(secret) = &request.secret {
        webhook::validate_secret("secret", secret)?;
    }
    let hook = Webhook {
        url: request.url,
        eventtypes: request.eventtypes,
        secret: request.secret.unwrap_or(current.value.secret.clone()),
        ..current.value
    };
    ctx.store.put(hook, Expect::Version(current.version)).await?;
    tracing::info!(webhook = %name, "webhook updated");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(operation_id = "deleteWebhook", delete, path = "/webhooks/{name}", tag = "webhooks",
    params(("name" = String, Path, description = "Webhook name")),
    responses((status = 404, description = "No such webhook", body = ErrorBody),
        (status = 204, description = "Deleted; its undelivered events are dropped")))]
pub(crate) async fn delete(name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let current = find(&ctx, &name)?;
    if !ctx.store.delete::<Webhook>(&name, Some(current.version)).await? {
        return Err(ApiError::not_found("webhook", &name));
    }
    tracing::info!(webhook = %name, "webhook deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn find(ctx: &Ctx, name: &str) -> Result<crate::store::Versioned<Webhook>, ApiError> {
    ctx.found::<Webhook>("webhook", name)
}
