//! `/tokens` (admin) and `/auth/whoami` (any valid token).

use serde::{Deserialize, Serialize};
use warp::Reply;
use warp::http::StatusCode;

use crate::api::audit::Note;
use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, json_at, with_ctx};
use crate::auth;
use crate::model::{self, Role, Token};

/// A token as listed: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: String,
}

impl From<Token> for TokenView {
    fn from(token: Token) -> TokenView {
        TokenView {
            id: token.id,
            name: token.name,
            role: token.role,
            created_at: token.created_at,
        }
    }
}

/// A token just created, with its secret: shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedToken {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: String,
    /// The secret to send as `Authorization: Bearer <token>`. Shown only in this response.
    pub token: String,
}

/// Body of `POST /tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// What the token is for, e.g. `ci-deploy`.
    pub name: String,
    pub role: Role,
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list() [with_ctx(ctx), caller()],
    create() [with_ctx(ctx), caller(), raw_body()],
    revoke(id: String) [with_ctx(ctx), caller()],
    whoami() [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "listTokens", get, path = "/tokens", tag = "tokens",
    responses((status = 200, body = [TokenView]), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Admin)?;
    ctx.all_viewed(|token: Token| TokenView::from(token))
}

#[utoipa::path(operation_id = "createToken", post, path = "/tokens", tag = "tokens", request_body = TokenCreate,
    responses(
        (status = 201, description = "Created; the secret is in `token`, shown only now", body = CreatedToken,
            headers(("Location" = String))), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(crate) async fn create(ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let admin = caller.require(&ctx, Role::Admin)?;
    let request: TokenCreate = body.json()?;
    model::validate_id("name", &request.name)?;
    let issued = auth::issue(&ctx.store, &request.name, request.role).await?;
    tracing::info!(id = %issued.token.id, name = %issued.token.name, role = %issued.token.role, by = %admin.name, "token created");
    let location = format!("/tokens/{}", issued.token.id);
    let note = token_note(&issued.token);
    let created = CreatedToken {
        id: issued.token.id,
        name: issued.token.name,
        role: issued.token.role,
        created_at: issued.token.created_at,
        token: issued.secret,
    };
    let mut response = json_at(&created, StatusCode::CREATED, &location);
    response.extensions_mut().insert(note);
    Ok(response)
}

fn token_note(token: &Token) -> Note {
    Note(model::token_note(token))
}

#[utoipa::path(operation_id = "revokeToken", delete, path = "/tokens/{id}", tag = "tokens", params(("id" = String, Path, description = "Token id")),
    responses((status = 404, description = "No such token", body = ErrorBody),
        (status = 204, description = "Revoked; takes effect on the next request")))]
pub(crate) async fn revoke(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    let admin = caller.require(&ctx, Role::Admin)?;
    let token = ctx.found::<Token>("token", &id)?;
    if !ctx.store.delete::<Token>(&id, Some(token.version)).await? {
        return Err(ApiError::not_found("token", &id));
    }
    tracing::info!(id = %id, by = %admin.name, "token revoked");
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.extensions_mut().insert(token_note(&token.value));
    Ok(response)
}

#[utoipa::path(operation_id = "whoami", get, path = "/auth/whoami", tag = "tokens",
    responses((status = 200, description = "The calling token", body = TokenView)))]
pub(crate) async fn whoami(ctx: Ctx, caller: Caller) -> HandlerResult {
    let token = caller.require(&ctx, Role::Viewer)?;
    Ok(warp::reply::json(&TokenView::from(token)).into_response())
}
