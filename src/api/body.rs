//! Reading request bodies: bounded, typed, and with errors that name the field.
//!
//! warp's own JSON filter rejects (which would race with routing rejections for the response) and buffers
//! without a limit; this one reads at most [`MAX_JSON_BODY`] bytes and leaves judging the body to the handler,
//! after it has checked who is asking.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use warp::Filter;
use warp::http::StatusCode;

use super::error::ApiError;

pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// A request body as received, not yet judged.
pub struct RawBody {
    content_type: Option<String>,
    bytes: Result<Bytes, ApiError>,
}

pub fn raw_body() -> impl Filter<Extract = (RawBody,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .then(|content_type, length: Option<u64>, stream| async move {
            let bytes = match length {
                Some(length) if length > MAX_JSON_BODY as u64 => Err(too_large()),
                _ => read_limited(stream).await,
            };
            RawBody { content_type, bytes }
        })
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("request body exceeds {MAX_JSON_BODY} bytes"),
    )
}

async fn read_limited<S, B>(stream: S) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut stream = std::pin::pin!(stream);
    let mut collected = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| ApiError::bad_request("body_read_failed", err.to_string()))?;
        if collected.len() + chunk.remaining() > MAX_JSON_BODY {
            return Err(too_large());
        }
        collected.put(chunk);
    }
    Ok(collected.freeze())
}

impl RawBody {
    /// True when the request had no body (or an empty one).
    pub fn is_empty(&self) -> bool {
        self.bytes.as_ref().is_ok_and(|bytes| bytes.is_empty())
    }

    /// Parses the body as `T`. Accepts `application/json` (or `+json`), or no content type at all; anything else
    /// is a 415, so a form post by mistake is not half-understood.
    pub fn json<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        if let Some(content_type) = &self.content_type {
            let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!("expected Content-Type: application/json, got '{content_type}'"),
                ));
            }
        }
        let bytes = self.bytes?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_json",
                "request body is empty; expected a JSON object",
            ));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let mut field = err.path().to_string();
            let inner = err.into_inner();
            // serde reports a missing field at the parent's path; name the field itself.
            if let Some(missing) = inner
                .to_string()
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next())
            {
                field = if field == "." {
                    missing.to_owned()
                } else {
                    format!("{field}.{missing}")
                };
            }
            let code = if inner.is_syntax() || inner.is_eof() {
                "invalid_json"
            } else {
                "invalid_field"
            };
            let error = ApiError::bad_request(code, format!("invalid request body: {inner}"));
            if field == "." { error } else { error.with_field(field) }
        })?;
        deserializer
            .end()
            .map_err(|err| ApiError::bad_request("invalid_json", format!("invalid request body: {err}")))?;
        Ok(value)
    }
}
