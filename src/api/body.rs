//! Reading request bodies: bounded, typed, and with errors that name the field.
//!
//! warp's own JSON filter rejects (which would race with routing rejections for the response) and buffers
//! without a limit; this one reads at most [`MAX_JSON_BODY`] bytes and leaves judging the body to the handler,
//! after it has checked who is asking.
//!
//! Every body type denies unknown fields (`#[serde(deny_unknown_fields)]`): a misspelt optional field would
//! otherwise be read as absent, and a `PUT` would quietly reset the setting it meant to change. The error names
//! the field (`unknown_field`).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use warp::Filter;
use warp::http::StatusCode;

use super::error::ApiError;

pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// How deep arrays and objects may nest in a body. The deepest body we take (a container's NIC config) nests 4
/// levels; the limit is checked before parsing, so no body, whatever its fields, makes the parser recurse
/// further (serde_json's own limit is 128, and skipping an ignored value does not count at all).
pub const MAX_JSON_DEPTH: usize = 32;

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

    /// A 415 unless the request has no content type or one that `accepts` (given its lower-case essence).
    fn require_type(&self, expected: &str, accepts: fn(&str) -> bool) -> Result<(), ApiError> {
        let Some(content_type) = &self.content_type else {
            return Ok(());
        };
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if accepts(&essence) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected Content-Type: {expected}, got '{content_type}'"),
        ))
    }

    /// The body as UTF-8 text: `text/plain`, or no content type (an operator's configuration file); anything
    /// else is a 415.
    pub fn text(self) -> Result<String, ApiError> {
        self.require_type("text/plain", |essence| essence == "text/plain")?;
        String::from_utf8(self.bytes?.to_vec())
            .map_err(|_| ApiError::bad_request("invalid_text", "request body is not UTF-8 text").with_field("body"))
    }

    /// Parses the body as `T`. Accepts `application/json` (or `+json`), or no content type at all; anything else
    /// is a 415, so a form post by mistake is not half-understood.
    pub fn json<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        self.require_type("application/json", |essence| {
            essence == "application/json" || essence.ends_with("+json")
        })?;
        let bytes = self.bytes?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_json",
                "request body is empty; expected a JSON object",
            ));
        }
        if nesting_exceeds(&bytes, MAX_JSON_DEPTH) {
            return Err(ApiError::bad_request(
                "body_too_deep",
                format!("request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"),
            ));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let mut field = err.path().to_string();
            let inner = err.into_inner();
            let message = inner.to_string();
            // serde reports a missing field at the parent's path; name the field itself. (An unknown field's
            // path already ends with it.)
            if let Some(missing) = message
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
            } else if message.starts_with("unknown field `") {
                "unknown_field"
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

/// True when `json` opens more than `limit` arrays or objects inside one another (brackets inside strings do not
/// count). One pass over bytes the reader has already bounded: cheaper than any parse, and it stops a deep body
/// before a parser recurses into it.
fn nesting_exceeds(json: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::nesting_exceeds;

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert!(!nesting_exceeds(br#"{"a": [[1], {"b": [2]}]}"#, 4));
        assert!(nesting_exceeds(br#"{"a": [[1], {"b": [[2]]}]}"#, 4));
        assert!(!nesting_exceeds(br#"{"a": "[[[[[[{{{{", "b": "\"[[[["}"#, 1));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(nesting_exceeds(deep.as_bytes(), 32));
        assert!(!nesting_exceeds(
            format!("{}{}", "[".repeat(32), "]".repeat(32)).as_bytes(),
            32
        ));
    }
}
