//! Who is calling: the bearer token, checked against the role a route needs.

use warp::Filter;
use warp::http::{HeaderValue, StatusCode};

use super::{ApiError, Ctx};
use crate::auth;
use crate::model::{Role, Token};

/// The `Authorization` header of a request, not yet checked. Handlers call [`Caller::require`] first thing, so
/// the role each route needs is written in the handler itself.
pub struct Caller(Option<HeaderValue>);

/// Never rejects: a header that is not text is judged by [`Caller::require`] (a 401), because a rejection here
/// would be weighed against the other routes' and could come out as their 405.
pub fn caller() -> impl Filter<Extract = (Caller,), Error = std::convert::Infallible> + Clone {
    warp::header::value("authorization")
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
        .map(Caller)
}

impl Caller {
    /// The request's body as `T`, read only once the caller may make the change, so that a request without a
    /// token is a 401 whatever its body.
    pub fn body<T: serde::de::DeserializeOwned>(
        &self,
        ctx: &Ctx,
        role: Role,
        body: crate::api::body::RawBody,
    ) -> Result<T, ApiError> {
        self.require(ctx, role)?;
        body.json()
    }

    /// The caller's token if it is valid and has at least `role`: 401 without a valid token, 403 with a token
    /// whose role is too small.
    pub fn require(&self, ctx: &Ctx, role: Role) -> Result<Token, ApiError> {
        let token = self.identify(ctx)?;
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

    /// The caller's token, whatever its role: 401 when there is no valid one.
    pub fn identify(&self, ctx: &Ctx) -> Result<Token, ApiError> {
        let header = self.0.as_ref().ok_or_else(|| {
            ApiError::unauthorized("missing Authorization header; send 'Authorization: Bearer <token>'")
        })?;
        let header = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not plain text"))?;
        let bearer = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("Authorization header must be 'Bearer <token>'"))?;
        let token = auth::verify(&ctx.store, bearer.trim())?
            .ok_or_else(|| ApiError::unauthorized("token is invalid or has been revoked"))?;
        Ok(token)
    }
}
