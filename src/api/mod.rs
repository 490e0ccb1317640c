//! The HTTP API: routes per resource, authentication, JSON errors, OpenAPI, events, metrics, and the web UI.
//!
//! Every handler has the same shape: check the caller (`Caller::require`), validate, talk to the store, answer.
//! Handlers return `Result<Response, ApiError>` instead of rejecting, so a handler's error is never confused with
//! a routing miss; routing misses are turned into JSON by [`error::recover`].

mod audit;
mod body;
mod boot;
mod caller;
mod direct;
mod error;
mod resources;
mod route;
mod shapes;
mod workloads;

use std::sync::Arc;
use std::time::Instant;

use warp::filters::BoxedFilter;
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
    /// How often the engine checks nodes and storage engines (`--heartbeat-interval`), for health answers.
    pub heartbeat_interval: std::time::Duration,
    /// Where proxyDHCP answers (`interface (address)`; `None`: off), for `/health`.
    pub proxy_dhcp: Option<String>,
    /// The audit log every mutating request is recorded in (see `audit.rs`).
    pub audit: Arc<crate::audit::Audit>,
    pub started: Instant,
    /// Flips to true when the server is shutting down, so endless responses (the event stream) end and the
    /// graceful shutdown does not wait for them forever.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Which instance runs the engine (the store's election), for `/health` and `/metrics`.
    pub engine: tokio::sync::watch::Receiver<crate::store::Leadership>,
    /// `GET /nodes`, rendered per node as nodes change.
    pub node_list: resources::node_list::NodeList,
}

pub type Ctx = Arc<Context>;

impl Context {
    /// The stored record `key`, or 404 naming it as a `what`.
    fn found<R: crate::store::Record>(&self, what: &str, key: &str) -> Result<crate::store::Versioned<R>, ApiError> {
        self.store.get::<R>(key)?.ok_or_else(|| ApiError::not_found(what, key))
    }

    /// Answers the stored record `key`, or 404 naming it as a `what`.
    fn found_json<R: crate::store::Record>(&self, what: &str, key: &str) -> HandlerResult {
        Ok(warp::reply::json(&self.found::<R>(what, key)?.value).into_response())
    }

    /// Answers every record of `R`, as stored.
    fn all_json<R: crate::store::Record>(&self) -> HandlerResult {
        self.all_viewed::<R, R>(|record| record)
    }

    /// Answers every record of `R` as what the API shows of it.
    fn all_viewed<R: crate::store::Record, V: serde::Serialize>(&self, view: impl FnMut(R) -> V) -> HandlerResult {
        let views: Vec<V> = self.store.all::<R>()?.into_iter().map(view).collect();
        Ok(warp::reply::json(&views).into_response())
    }

    /// Stores a new record; when its key is taken, 409 `already_exists` naming `field`, the request field its
    /// key comes from.
    async fn insert<R: crate::store::Record>(
        &self,
        record: R,
        field: &str,
    ) -> Result<crate::store::Versioned<R>, ApiError> {
        let expect = crate::store::Expect::Absent;
        self.store
            .put(record, expect)
            .await
            .map_err(|err| ApiError::from(err).with_field(field))
    }

    /// Stores a new record as [`Context::insert`] does and answers 201 with it, at `location`.
    async fn create<R: crate::store::Record>(&self, record: R, field: &str, location: &str) -> HandlerResult {
        let stored = self.insert(record, field).await?;
        Ok(json_at(&stored.value, warp::http::StatusCode::CREATED, location))
    }

    /// The 0-core client of node `id`; 404 when there is no such node.
    fn node_client(&self, id: &str) -> Result<Arc<crate::zos::ZosClient>, ApiError> {
        let node = self.found::<crate::model::Node>("node", id)?;
        Ok(self.zos.get(&node.value.address)?)
    }
}

type HandlerResult = Result<Response, ApiError>;

fn with_ctx(ctx: &Ctx) -> impl Filter<Extract = (Ctx,), Error = std::convert::Infallible> + Clone + use<> {
    let ctx = ctx.clone();
    warp::any().map(move || ctx.clone())
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

/// The address the request came from (`None` only when the server did not say, e.g. in a unit test).
fn remote() -> impl Filter<Extract = (Option<std::net::SocketAddr>,), Error = std::convert::Infallible> + Clone {
    warp::ext::optional::<crate::http_server::Peer>().map(|peer: Option<crate::http_server::Peer>| peer.map(|p| p.0))
}

/// The query string as sent (empty when there is none); handlers parse it themselves so that a bad parameter
/// gets a JSON error naming it.
fn raw_query() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

/// The most items one page of a list holds.
const MAX_PAGE: usize = 1000;

/// A list's `limit` query parameter: 1 to [`MAX_PAGE`].
fn page_limit(value: &str) -> Result<usize, ApiError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_PAGE).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("limit must be a number from 1 to {MAX_PAGE}"))
                .with_field("limit")
        })
}

/// Every route table, in the order they are tried (the first whose operation fits a request answers it).
const TABLES: &[&route::RouteTable] = &[
    &boot::serve::ROUTES,
    &boot::media::ROUTES,
    &resources::nodes::ROUTES,
    &direct::node::ROUTES,
    &workloads::containers::ROUTES,
    &direct::files::ROUTES,
    &direct::container::ROUTES,
    &workloads::vms::ROUTES,
    &workloads::vm_transfer::ROUTES,
    &workloads::network::ROUTES,
    &workloads::pool_devices::ROUTES,
    &workloads::storage::ROUTES,
    &workloads::storage_clusters::ROUTES,
    &workloads::gateways::ROUTES,
    &workloads::gateway_parts::ROUTES,
    &resources::vdisk_storage::ROUTES,
    &resources::vdisks::ROUTES,
    &resources::images::ROUTES,
    &resources::jobs::ROUTES,
    &resources::zerotier::ROUTES,
    &resources::tokens::ROUTES,
    &resources::webhooks::ROUTES,
    &resources::health::ROUTES,
    &resources::audit::ROUTES,
    &resources::backup::ROUTES,
    &resources::events::ROUTES,
    &resources::system::ROUTES,
    &boot::config::ROUTES,
];

/// The tables tried in order, combined as a balanced tree: every level of `or` is one more boxed future per
/// request, so a chain of 17 tables would cost 17 allocations before the last one is even tried.
fn first_of(tables: &[BoxedFilter<(Response,)>]) -> BoxedFilter<(Response,)> {
    match tables {
        [only] => only.clone(),
        _ => {
            let (front, back) = tables.split_at(tables.len() / 2);
            first_of(front).or(first_of(back)).unify().boxed()
        }
    }
}

/// Said on every read while the store is out of reach (etcd without a majority): RFC 7234's "Response is Stale",
/// because the answer comes from this instance's last copy of the state.
const STALE_WARNING: &str =
    "110 zos-orchestrator \"Response is Stale: the state store is out of reach; this is this instance's last copy\"";

/// All routes, with error recovery, request metrics, the audit log, and the stale warning.
pub fn routes(ctx: Ctx) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let tables: Vec<_> = TABLES
        .iter()
        .map(|table| (table.filter)(&ctx))
        .chain([resources::ui::routes()])
        .collect();
    let api = first_of(&tables);
    let recorded = ctx.clone();
    warp::any()
        .map(Instant::now)
        .and(warp::method())
        .and(warp::path::full())
        .and(audit::pending(&ctx))
        .and(api.recover(error::recover).unify())
        .then(
            move |started: Instant,
                  method: warp::http::Method,
                  path: warp::path::FullPath,
                  pending: Option<audit::Pending>,
                  reply: Response| {
                let ctx = recorded.clone();
                async move {
                    let mut reply = reply;
                    if method == warp::http::Method::GET && ctx.store.out_of_reach().is_some() {
                        reply.headers_mut().insert(
                            warp::http::header::WARNING,
                            warp::http::HeaderValue::from_static(STALE_WARNING),
                        );
                    }
                    observe(&ctx, started, &method, &path, &reply);
                    if let Some(pending) = pending {
                        audit::record(pending, &reply).await;
                    }
                    reply
                }
            },
        )
}

/// Counts the request in the metrics, and logs it.
fn observe(ctx: &Ctx, started: Instant, method: &warp::http::Method, path: &warp::path::FullPath, reply: &Response) {
    // Routing misses (404, 405 and malformed requests) carry no route: they count as "unmatched".
    let route = reply
        .extensions()
        .get::<route::RouteLabel>()
        .map_or("unmatched", |label| label.0);
    let status = reply.status().as_u16();
    let elapsed = started.elapsed();
    ctx.metrics
        .observe_request(method.as_str(), route, status, elapsed.as_secs_f64());
    if status >= 500 {
        tracing::warn!(%method, route, status, "request failed");
    } else {
        tracing::debug!(%method, path = path.as_str(), status, ?elapsed, "request");
    }
}
