//! Serving the embedded web UI: `/ui/…` for its files, and `/` for browsers.
//!
//! `/` answers browsers (`Accept: text/html`) with the UI and everything else with a small JSON index, so
//! `curl host:8080/` is useful too. Assets carry a content-hash `ETag` and are revalidated on each load, so an
//! upgraded binary never serves a stale UI.

use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::api::set_header;
use crate::web::Assets;

pub fn routes() -> warp::filters::BoxedFilter<(Response,)> {
    let root = warp::path::end()
        .and(warp::get())
        .and(warp::header::optional::<String>("accept"))
        .and(warp::header::optional::<String>("if-none-match"))
        .map(|accept: Option<String>, if_none_match: Option<String>| {
            if accept.is_some_and(|accept| accept.contains("text/html")) {
                asset("index.html", if_none_match.as_deref())
            } else {
                warp::reply::json(&serde_json::json!({
                    "name": "zos-orchestrator",
                    "version": env!("CARGO_PKG_VERSION"),
                    "ui": "/ui/",
                    "openapi": "/openapi.json",
                    "health": "/health",
                }))
                .into_response()
            }
        });
    let files = warp::path("ui")
        .and(warp::path::full())
        .and(warp::path::tail())
        .and(warp::get())
        .and(warp::header::optional::<String>("if-none-match"))
        .map(
            |full: warp::path::FullPath, tail: warp::path::Tail, if_none_match: Option<String>| {
                // Relative asset URLs only resolve under "/ui/", so the bare "/ui" redirects there.
                if full.as_str() == "/ui" {
                    return warp::reply::with_header(StatusCode::MOVED_PERMANENTLY, header::LOCATION, "/ui/")
                        .into_response();
                }
                let name = match tail.as_str() {
                    "" => "index.html",
                    name => name,
                };
                asset(name, if_none_match.as_deref())
            },
        );
    // The UI is not part of the API's document, so it is outside the route table; its labels are set here.
    let root = root.map(|response| crate::api::route::labelled(crate::api::route::RouteLabel("/"), response));
    let files = files.map(|response| crate::api::route::labelled(crate::api::route::RouteLabel("/ui/*"), response));
    root.or(files).unify().boxed()
}

/// One embedded file by its exact name. Names are looked up, never joined onto a path, and anything with a `..`
/// segment or a backslash is refused outright (debug builds read from disk).
fn asset(name: &str, if_none_match: Option<&str>) -> Response {
    let traversal = name.split('/').any(|segment| segment == ".." || segment == ".") || name.contains('\\');
    let Some(file) = (!traversal).then(|| Assets::get(name)).flatten() else {
        return crate::api::ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no UI file '{name}'"))
            .into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    if if_none_match.is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag)) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_header(&mut response, header::ETAG, &etag);
        return response;
    }
    let content_type = mime_guess::from_path(name).first_or_octet_stream();
    let textual = content_type.type_() == mime_guess::mime::TEXT
        || matches!(
            content_type.essence_str(),
            "application/json" | "application/javascript" | "image/svg+xml"
        );
    let content_type = if textual {
        format!("{}; charset=utf-8", content_type.essence_str())
    } else {
        content_type.to_string()
    };
    let mut response = Response::new(file.data.into_owned().into());
    set_header(&mut response, header::CONTENT_TYPE, &content_type);
    set_header(&mut response, header::ETAG, &etag);
    set_header(&mut response, header::CACHE_CONTROL, "no-cache");
    response
}
