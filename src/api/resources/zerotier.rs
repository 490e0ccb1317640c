//! `/zerotier/members`: the cluster network's members as discovery sees them, and asking discovery to authorise
//! one.

use warp::Reply;
use warp::http::StatusCode;

use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::resources::jobs::wait_for;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx};
use crate::model::{Role, ZeroTierAuthorization, ZeroTierMember, now_rfc3339};
use crate::store::{Expect, Record};

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list() [with_ctx(ctx), caller()],
    authorize(id: String) [with_ctx(ctx), caller()],
];

#[utoipa::path(get, path = "/zerotier/members", tag = "zerotier", operation_id = "listZeroTierMembers",
    responses((status = 200, description = "Members of the cluster's network; `authorized: false` ones are pending",
        body = [ZeroTierMember])))]
pub(crate) async fn list(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    ctx.all_json::<ZeroTierMember>()
}

#[utoipa::path(post, path = "/zerotier/members/{id}/authorize", tag = "zerotier", operation_id = "authorizeZeroTierMember",
    params(("id" = String, Path, description = "The member's ZeroTier address")),
    responses((status = 200, description = "Authorised (discovery carried the request out in time)", body = ZeroTierMember),
        (status = 202, description = "Accepted; discovery authorises it shortly", body = ZeroTierAuthorization),
        (status = 409, description = "ZeroTier is not configured (token, network)", body = ErrorBody),
        (status = 502, description = "The ZeroTier API failed", body = ErrorBody)))]
pub(crate) async fn authorize(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    let caller = caller.require(&ctx, Role::Operator)?;
    let not_configured = |what: &str| {
        ApiError::new(
            StatusCode::CONFLICT,
            "zerotier_not_configured",
            format!("ZeroTier discovery needs {what}"),
        )
    };
    if !ctx.zerotier {
        return Err(not_configured("a token (ZOS_ZEROTIER_TOKEN)"));
    }
    ctx.boot
        .settings()?
        .zerotier_network
        .ok_or_else(|| not_configured("a network (PUT /boot/settings)"))?;
    ctx.found::<ZeroTierMember>("ZeroTier member", &id)?;
    // Discovery carries the request out (the API writes no observed state); wait for it as for a job.
    let changes = ctx.store.watch();
    let request = ZeroTierAuthorization {
        id: id.clone(),
        requested_by: caller.name.clone(),
        requested_at: now_rfc3339(),
        failure: None,
    };
    match ctx.store.get::<ZeroTierAuthorization>(&id)? {
        // Already asked for and not carried out yet: this call waits for the same request.
        Some(pending) if pending.value.failure.is_none() => {}
        failed => {
            let expect = Expect::after(failed.as_ref());
            ctx.store.put(request, expect).await?;
        }
    }
    let settled = wait_for(&ctx, changes, ZeroTierAuthorization::COLLECTION, &id, || {
        Ok(match ctx.store.get::<ZeroTierAuthorization>(&id)? {
            None => Some(Ok(())),
            Some(request) => request.value.failure.map(Err),
        })
    })
    .await?;
    match settled {
        Some(Err(failure)) => return Err(ApiError::new(StatusCode::BAD_GATEWAY, "zerotier_error", failure)),
        Some(Ok(())) => {}
        None => {
            if let Some(pending) = ctx.store.get::<ZeroTierAuthorization>(&id)? {
                let accepted = warp::reply::with_status(warp::reply::json(&pending.value), StatusCode::ACCEPTED);
                return Ok(accepted.into_response());
            }
        }
    }
    ctx.found_json::<ZeroTierMember>("ZeroTier member", &id)
}
