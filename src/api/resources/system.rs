//! Unauthenticated operational endpoints: `/health`, `/metrics`, `/openapi.json`.
//!
//! They expose nothing secret (no records, no tokens), so monitoring and load balancers can use them without a
//! token.

use serde::Serialize;
use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::api::route::{RouteTable, routes};
use crate::api::{Ctx, with_ctx};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok`, or `degraded` when the store cannot be read.
    pub status: &'static str,
    pub version: &'static str,
    /// The git commit the binary was built from (`unknown` outside a checkout).
    pub commit: &'static str,
    pub uptime_seconds: u64,
    pub store: StoreHealth,
    pub engine: EngineHealth,
    pub boot: BootHealth,
}

/// Which instance runs the engine (heartbeat, discovery, jobs): with etcd, the one holding the leader lease.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EngineHealth {
    /// The leading instance's id; `null` while no instance is known to lead (an election in progress, or etcd
    /// out of reach).
    pub leader: Option<String>,
    /// This instance's id (kept in the data directory's `instance-id`).
    #[serde(rename = "self")]
    pub instance: String,
    /// Whether this instance runs the engine.
    pub leading: bool,
    /// When the leader took over, in seconds since the epoch.
    pub since: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BootHealth {
    /// Where the iPXE binaries came from: the Debian package version, or a directory.
    pub ipxe_origin: String,
    pub ipxe_files: Vec<&'static str>,
    /// The TFTP address, or `off`.
    pub tftp: String,
    /// The interface and address proxyDHCP answers PXE clients on (`br0 (10.0.0.5)`), or `off`.
    pub proxy_dhcp: String,
    /// The HTTP base URL TFTP-loaded scripts send machines to (`${next-server}` is filled in by iPXE).
    pub http_base: String,
    /// Where the boot media's binaries come from (iPXE, ISOLINUX) and whether their UEFI side runs the script.
    pub media_origin: String,
    /// Built images kept in memory, and the limits.
    pub media_cache: crate::boot::media::CacheUse,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreHealth {
    /// `sled` (embedded) or `etcd`.
    pub backend: &'static str,
    pub ok: bool,
    pub size_bytes: u64,
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    health() [with_ctx(ctx)],
    metrics() [with_ctx(ctx)],
    openapi() [],
];

#[utoipa::path(operation_id = "health", get, path = "/health", tag = "system",
    responses((status = 200, body = Health), (status = 503, description = "The store is failing", body = Health)), security(()))]
pub(crate) async fn health(ctx: Ctx) -> Response {
    let size = ctx.store.size_on_disk();
    let health = Health {
        status: if size.is_ok() { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("ZOS_GIT_COMMIT"),
        uptime_seconds: ctx.started.elapsed().as_secs(),
        store: StoreHealth {
            backend: ctx.store.backend_name(),
            ok: size.is_ok(),
            size_bytes: size.unwrap_or(0),
        },
        engine: {
            let engine = ctx.engine.borrow();
            EngineHealth {
                leader: engine.leader.clone(),
                instance: engine.instance.clone(),
                leading: engine.leading,
                since: engine.since,
            }
        },
        boot: BootHealth {
            ipxe_origin: ctx.boot.ipxe.origin.clone(),
            ipxe_files: ctx.boot.ipxe.names().collect(),
            tftp: ctx.tftp.map_or_else(|| "off".to_owned(), |a| a.to_string()),
            proxy_dhcp: ctx.proxy_dhcp.clone().unwrap_or_else(|| "off".to_owned()),
            http_base: ctx.boot.tftp_http_base(),
            media_origin: ctx.boot.media.origin(),
            media_cache: ctx.boot.media.cache_use(),
        },
    };
    let status = if health.store.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    warp::reply::with_status(warp::reply::json(&health), status).into_response()
}

#[utoipa::path(operation_id = "metrics", get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text exposition format", body = String,
        content_type = "text/plain; version=0.0.4")), security(()))]
pub(crate) async fn metrics(ctx: Ctx) -> Response {
    let store_size = ctx.store.size_on_disk().unwrap_or(0);
    {
        let engine = ctx.engine.borrow();
        let leader = engine.leader.as_deref().zip(engine.since);
        ctx.metrics.engine_leader(&engine.instance, engine.leading, leader);
    }
    let body = ctx.metrics.render(store_size);
    warp::reply::with_header(body, "content-type", "text/plain; version=0.0.4; charset=utf-8").into_response()
}

#[utoipa::path(operation_id = "openapiDocument", get, path = "/openapi.json", tag = "system",
    responses((status = 200, description = "This API's OpenAPI 3.1 document", body = Object)), security(()))]
pub(crate) async fn openapi() -> Response {
    warp::reply::json(&*crate::api::resources::openapi::DOCUMENT).into_response()
}
