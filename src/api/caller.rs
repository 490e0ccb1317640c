//! Who is calling: the bearer token, checked against the role a route needs.

use warp::Filter;
use warp::http::StatusCode;

use super::{ApiError, Ctx};
use crate::auth;
use crate::model::{Role, Token};

/// The `Authorization` header of a request, not yet checked. Handlers call [`Caller::require`] first thing, so
/// the role each route needs is written in the handler itself.
pub struct Caller(Option<String>);

pub fn caller() -> impl Filter<Extract = (Caller,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization").map(Caller)
}

impl Caller {
    /// The caller's token if it is valid and has at least `role`: 401 without a valid token, 403 with a token
    /// whose role is too small.
    pub fn require(&self, ctx: &Ctx, role: Role) -> Result<Token, ApiError> {
        let header = self.0.as_deref().ok_or_else(|| {
            ApiError::unauthorized("missing Authorization header; send 'Authorization: Bearer <token>'")
        })?;
        let bearer = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("Authorization header must be 'Bearer <token>'"))?;
        let token = auth::verify(&ctx.store, bearer.trim())?
            .ok_or_else(|| ApiError::unauthorized("token is invalid or has been revoked"))?;
        if token.role < role {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this requires the {role} role; token '{}' has {}",
                    token.name, token.role
                ),
            ));
        }
        Ok(token)
    }
}
