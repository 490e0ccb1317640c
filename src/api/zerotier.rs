//! `/zerotier/members`: the cluster network's members as discovery sees them, and authorising one.

use warp::Reply;
use warp::http::StatusCode;

use super::caller::caller;
use super::error::ErrorBody;
use super::route::{RouteTable, routes};
use super::{ApiError, Caller, Ctx, HandlerResult, with_ctx};
use crate::engine::discovery::cluster_network;
use crate::model::{Role, ZeroTierMember};
use crate::store::Expect;

pub(super) const ROUTES: RouteTable = routes![ctx =>
    list() [with_ctx(ctx), caller()],
    authorize(id: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(get, path = "/zerotier/members", tag = "zerotier", operation_id = "listZeroTierMembers",
    responses((status = 200, description = "Members of the cluster's network; `authorized: false` ones are pending",
        body = [ZeroTierMember])),
    security(("bearer" = [])))]
pub(super) async fn list(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    Ok(warp::reply::json(&ctx.store.all::<ZeroTierMember>()?).into_response())
}

#[utoipa::path(post, path = "/zerotier/members/{id}/authorize", tag = "zerotier", operation_id = "authorizeZeroTierMember",
    params(("id" = String, Path, description = "The member's ZeroTier address")),
    responses((status = 200, body = ZeroTierMember), (status = 404, body = ErrorBody),
        (status = 409, description = "ZeroTier is not configured (token, network)", body = ErrorBody),
        (status = 502, description = "The ZeroTier API failed", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn authorize(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    let caller = caller.require(&ctx, Role::Operator)?;
    let not_configured = |what: &str| {
        ApiError::new(
            StatusCode::CONFLICT,
            "zerotier_not_configured",
            format!("ZeroTier discovery needs {what}"),
        )
    };
    let api = ctx
        .zerotier
        .as_ref()
        .ok_or_else(|| not_configured("a token (ZOS_ZEROTIER_TOKEN)"))?;
    let network = cluster_network(&ctx.store).ok_or_else(|| not_configured("a network (PUT /boot/settings)"))?;
    let known = ctx
        .store
        .get::<ZeroTierMember>(&id)?
        .ok_or_else(|| ApiError::not_found("ZeroTier member", &id))?;
    let member = api
        .update(&network, &id, true, None)
        .await
        .map_err(|err| ApiError::new(StatusCode::BAD_GATEWAY, "zerotier_error", err.to_string()))?;
    tracing::info!(member = %id, by = %caller.name, "ZeroTier member authorised");
    let record = ZeroTierMember {
        member,
        node: known.value.node.clone(),
        refused: String::new(),
    };
    let stored = ctx.store.put(record, Expect::Version(known.version)).await?;
    Ok(warp::reply::json(&stored.value).into_response())
}
