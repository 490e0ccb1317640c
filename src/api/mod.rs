//! The HTTP API: routes per resource, authentication, JSON errors, OpenAPI, events, metrics, and the web UI.
//!
//! Every handler has the same shape: check the caller (`Caller::require`), validate, talk to the store, answer.
//! Handlers return `Result<Response, ApiError>` instead of rejecting, so a handler's error is never confused with
//! a routing miss; routing misses are turned into JSON by [`error::recover`].

mod body;
mod boot_config;
mod boot_serve;
mod caller;
mod container_direct;
mod container_files;
mod containers;
mod error;
mod events;
mod jobs;
mod network;
mod node_direct;
mod nodes;
pub mod openapi;
mod pool_devices;
mod storage;
mod system;
mod tokens;
mod ui;
mod vms;
mod workloads;
mod zerotier;

use std::sync::Arc;
use std::time::Instant;

use warp::reply::Response;
use warp::{Filter, Reply};

use crate::boot::Boot;
use crate::metrics::Metrics;
use crate::store::Store;

pub use caller::Caller;
pub use error::ApiError;

/// What every handler may use. Cheap to clone (one `Arc`).
pub struct Context {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub boot: Arc<Boot>,
    /// Whether ZeroTier discovery runs (a token is configured): it carries out the authorisations asked for.
    pub zerotier: bool,
    /// 0-core clients for direct node access, one per node address.
    pub zos: Arc<crate::zos::Clients>,
    /// Where TFTP listens (`None`: off), for `/health`.
    pub tftp: Option<std::net::SocketAddr>,
    /// How long a workload request waits for its job before answering 202 (`--apply-wait`).
    pub apply_wait: std::time::Duration,
    /// Where proxyDHCP answers (`interface (address)`; `None`: off), for `/health`.
    pub proxy_dhcp: Option<String>,
    pub started: Instant,
    /// Flips to true when the server is shutting down, so endless responses (the event stream) end and the
    /// graceful shutdown does not wait for them forever.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

pub type Ctx = Arc<Context>;

type HandlerResult = Result<Response, ApiError>;

fn with_ctx(ctx: &Ctx) -> impl Filter<Extract = (Ctx,), Error = std::convert::Infallible> + Clone + use<> {
    let ctx = ctx.clone();
    warp::any().map(move || ctx.clone())
}

/// Turns a handler's result into the response.
fn respond(result: HandlerResult) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}

/// Sets a header to a value we built (ids, URLs, ETags: always valid header text; anything else is skipped).
fn set_header(response: &mut Response, name: warp::http::header::HeaderName, value: &str) {
    if let Ok(value) = warp::http::HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// `value` as JSON with `status`, and a `Location` header naming where it lives.
fn json_at<T: serde::Serialize>(value: &T, status: warp::http::StatusCode, location: &str) -> Response {
    let mut response = warp::reply::with_status(warp::reply::json(value), status).into_response();
    set_header(&mut response, warp::http::header::LOCATION, location);
    response
}

/// All routes, with error recovery and request metrics.
pub fn routes(ctx: Ctx) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let metrics_ctx = ctx.clone();
    let api = nodes::routes(&ctx)
        .or(node_direct::routes(&ctx))
        .unify()
        .or(containers::routes(&ctx))
        .unify()
        .or(container_files::routes(&ctx))
        .unify()
        .or(container_direct::routes(&ctx))
        .unify()
        .or(vms::routes(&ctx))
        .unify()
        .or(network::routes(&ctx))
        .unify()
        .or(pool_devices::routes(&ctx))
        .unify()
        .or(storage::routes(&ctx))
        .unify()
        .or(jobs::routes(&ctx))
        .unify()
        .or(zerotier::routes(&ctx))
        .unify()
        .or(tokens::routes(&ctx))
        .unify()
        .or(events::routes(&ctx))
        .unify()
        .or(system::routes(&ctx))
        .unify()
        .or(boot_config::routes(&ctx))
        .unify()
        .or(boot_serve::routes(&ctx))
        .unify()
        .or(ui::routes())
        .unify();
    api.recover(error::recover).unify().with(warp::log::custom(move |info| {
        let route = route_label(info.path());
        let status = info.status().as_u16();
        metrics_ctx
            .metrics
            .observe_request(info.method().as_str(), route, status, info.elapsed().as_secs_f64());
        if status >= 500 {
            tracing::warn!(method = %info.method(), route, status, "request failed");
        } else {
            tracing::debug!(method = %info.method(), path = info.path(), status, elapsed = ?info.elapsed(), "request");
        }
    }))
}

/// The route template a path belongs to, for metric labels: bounded, never the raw path (ids would explode the
/// label space).
fn route_label(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] => "/",
        ["nodes"] => "/nodes",
        ["nodes", _] => "/nodes/{id}",
        ["nodes", _, "jobs", _] => "/nodes/{id}/jobs/{jobid}",
        ["nodes", _, "processes", _] => "/nodes/{id}/processes/{pid}",
        ["nodes", _, "containers"] => "/nodes/{id}/containers",
        ["nodes", _, "containers", _] => "/nodes/{id}/containers/{name}",
        ["nodes", _, "containers", _, "jobs", _, ..] => "/nodes/{id}/containers/{name}/jobs/{jobid}",
        ["nodes", _, "containers", _, "processes", _] => "/nodes/{id}/containers/{name}/processes/{pid}",
        ["nodes", _, "containers", _, _] => "/nodes/{id}/containers/{name}/*",
        ["nodes", _, "storagepools", ..] => "/nodes/{id}/storagepools/*",
        ["nodes", _, "vms", _] => "/nodes/{id}/vms/{vmid}",
        ["nodes", _, "vms", _, _] => "/nodes/{id}/vms/{vmid}/*",
        ["nodes", _, "bridges", _] => "/nodes/{id}/bridges/{bridge}",
        ["nodes", _, "zerotiers", _] => "/nodes/{id}/zerotiers/{nwid}",
        ["nodes", _, _] => "/nodes/{id}/*",
        ["jobs"] => "/jobs",
        ["jobs", _] => "/jobs/{id}",
        ["tokens"] => "/tokens",
        ["tokens", _] => "/tokens/{id}",
        ["auth", "whoami"] => "/auth/whoami",
        ["zerotier", "members"] => "/zerotier/members",
        ["zerotier", "members", _, "authorize"] => "/zerotier/members/{id}/authorize",
        ["events"] => "/events",
        ["health"] => "/health",
        ["metrics"] => "/metrics",
        ["openapi.json"] => "/openapi.json",
        ["ui", ..] => "/ui/*",
        ["boot.ipxe"] => "/boot.ipxe",
        ["ipxe", ..] => "/ipxe/*",
        ["kernel", _] => "/kernel/{file}",
        ["boot", "ipxe", _] => "/boot/ipxe/{name}",
        ["boot", "assets"] => "/boot/assets",
        ["boot", "assets", _] => "/boot/assets/{name}",
        ["boot", "profiles"] => "/boot/profiles",
        ["boot", "profiles", _] => "/boot/profiles/{name}",
        ["boot", "selectors"] => "/boot/selectors",
        ["boot", "selectors", _] => "/boot/selectors/{name}",
        ["boot", "settings"] => "/boot/settings",
        ["boot", "events"] => "/boot/events",
        _ => "unmatched",
    }
}
