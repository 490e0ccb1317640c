//! The one error type every handler returns, and how warp's own rejections map onto it.
//!
//! Clients get `{"code", "message", "field"?}` with a status that means what it says. `code` is stable (scripts
//! may match on it); `message` is for humans. A 500 is only ever our fault, and its cause goes to the log, not to
//! the client.

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::model::Invalid;
use crate::store::StoreError;

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, snake_case: safe to match on.
    #[schema(value_type = String)]
    pub code: std::borrow::Cow<'static, str>,
    /// What went wrong, for people.
    pub message: String,
    /// The request field at fault, when there is one (e.g. `labels.rack`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code: code.into(),
                message: message.into(),
                field: None,
            },
        }
    }

    /// A failed job's error, answered as if the request itself had failed.
    pub fn from_job(error: crate::model::JobError) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_GATEWAY),
            body: ErrorBody {
                code: error.code.into(),
                message: error.message,
                field: error.field,
            },
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.body.field = Some(field.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} '{id}' does not exist"),
        )
    }

    pub fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// For failures that are ours, not the client's: logged in full, reported without internals.
    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "{context}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context}; see the server log"),
        )
    }

    pub fn into_response(self) -> Response {
        let mut response = warp::reply::json(&self.body).into_response_owned();
        *response.status_mut() = self.status;
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert("www-authenticate", warp::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// `warp::reply::Json` into a plain response, without pulling the `Reply` trait into every caller.
trait IntoResponseOwned {
    fn into_response_owned(self) -> Response;
}

impl<T: warp::Reply> IntoResponseOwned for T {
    fn into_response_owned(self) -> Response {
        warp::Reply::into_response(self)
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> ApiError {
        ApiError::bad_request("invalid_field", format!("{}: {}", invalid.field, invalid.message))
            .with_field(invalid.field)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::AlreadyExists { .. } => ApiError::new(StatusCode::CONFLICT, "already_exists", err.to_string()),
            StoreError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", err.to_string()),
            StoreError::VersionMismatch { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "version_conflict",
                format!("{err}; re-read it and try again"),
            ),
            StoreError::Unavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("{err}; the change may not have been made: re-read, and retry once the store is back"),
            ),
            other => ApiError::internal("state store failure", &other),
        }
    }
}

/// Turns the rejections warp produces while routing (no route, wrong method, bad query or header) into our JSON
/// errors. Handlers never reject; they answer with `ApiError` directly.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, std::convert::Infallible> {
    // `find` looks through every rejection the tried routes left, so the specific ones are asked for first: a
    // bad header or query on the route that fits must not turn into a 405 from a route with another method.
    let error = if rejection.is_not_found() {
        ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such resource")
    } else if let Some(err) = rejection.find::<warp::reject::InvalidHeader>() {
        ApiError::bad_request("invalid_header", format!("header '{}' is not valid", err.name())).with_field(err.name())
    } else if let Some(err) = rejection.find::<warp::reject::InvalidQuery>() {
        ApiError::bad_request("invalid_query", err.to_string())
    } else if let Some(err) = rejection.find::<warp::reject::MissingHeader>() {
        ApiError::bad_request("missing_header", format!("header '{}' is required", err.name())).with_field(err.name())
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "request body is too large",
        )
    } else if rejection.find::<warp::reject::UnsupportedMediaType>().is_some() {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "unsupported content type",
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed on this resource",
        )
    } else {
        ApiError::bad_request("bad_request", format!("{rejection:?}"))
    };
    Ok(error.into_response())
}
