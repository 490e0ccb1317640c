//! `/nodes`: the node inventory. Manual registration is the seed; discovery (later) writes the same records.
//!
//! The response shape keeps 0-orchestrator's fields (`id`, `hostname`, `ipaddress`, `status`) so existing clients
//! keep working, with ours beside them (`address`, `state`, `labels`, `emulated`, `version`, timestamps).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::resources::node_list::NodeListQuery;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, raw_query, set_header, with_ctx};
use crate::model::{self, Labels, Node, NodeInventory, NodeState, NodeStatus, Role};
use crate::store::{Expect, Versioned};

/// A node as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// Node id; by convention the MAC of its default interface without colons.
    pub id: String,
    pub hostname: String,
    /// 0-orchestrator's name for the address the node is reached on (host part only).
    pub ipaddress: String,
    /// 0-orchestrator's status: `running` when the node is online, else `halted`.
    #[schema(example = "halted")]
    pub status: &'static str,
    /// Where the node's 0-core listens (`host` or `host:port`).
    pub address: String,
    /// What the orchestrator last observed (richer than `status`).
    pub state: NodeState,
    pub labels: Labels,
    /// True for nodes run by the built-in emulator.
    pub emulated: bool,
    /// Why the node is not online (empty when it is).
    pub reason: String,
    /// When the node last answered, if ever.
    pub last_seen: Option<String>,
    /// The Zero-OS version the node reports.
    pub os_version: String,
    /// Hardware, once the node has been read (null before).
    pub inventory: Option<NodeInventory>,
    /// Increases on every change; also sent as the `ETag` header.
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl NodeView {
    /// The registered node with what the engine last observed about it.
    pub(super) fn new(record: Versioned<Node>, status: Option<NodeStatus>) -> NodeView {
        let node = record.value;
        let status = status.unwrap_or_else(|| NodeStatus {
            id: node.id.clone(),
            state: NodeState::Unknown,
            reason: "not contacted yet".into(),
            last_seen: None,
            hostname: String::new(),
            os_version: String::new(),
            boot_time: 0,
            inventory: None,
        });
        NodeView {
            ipaddress: node.ip_address(),
            status: status.state.legacy_status(),
            id: node.id,
            // The operator's name for it wins; else what the node calls itself.
            hostname: if node.hostname.is_empty() {
                status.hostname
            } else {
                node.hostname
            },
            address: node.address,
            state: status.state,
            reason: status.reason,
            last_seen: status.last_seen,
            os_version: status.os_version,
            inventory: status.inventory,
            labels: node.labels,
            emulated: node.emulated,
            version: record.version,
            created_at: node.created_at,
            updated_at: node.updated_at,
        }
    }

    fn read(ctx: &Ctx, record: Versioned<Node>) -> Result<NodeView, ApiError> {
        let status = ctx.store.get::<NodeStatus>(&record.value.id)?.map(|r| r.value);
        Ok(NodeView::new(record, status))
    }
}

/// Body of `POST /nodes`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeCreate {
    #[schema(example = "0cc47aab6702")]
    pub id: String,
    #[serde(default)]
    pub hostname: String,
    #[schema(example = "10.147.17.5")]
    pub address: String,
    #[serde(default)]
    pub labels: Labels,
}

/// Body of `PATCH /nodes/{id}` (merge-patch: absent fields stay, a label set to null is removed).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodePatch {
    pub hostname: Option<String>,
    pub labels: Option<BTreeMap<String, Option<String>>>,
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list() [with_ctx(ctx), caller(), raw_query()],
    create() [with_ctx(ctx), caller(), raw_body()],
    get(id: String) [with_ctx(ctx), caller()],
    patch(id: String) [with_ctx(ctx), caller(), warp::header::optional::<String>("if-match"), raw_body()],
    delete(id: String) [with_ctx(ctx), caller(), warp::header::optional::<String>("if-match")],
];

/// A node with its `ETag`, as every single-node answer sends it.
fn node_response(ctx: &Ctx, record: Versioned<Node>, status: StatusCode) -> HandlerResult {
    let etag = format!("\"{}\"", record.version);
    let view = NodeView::read(ctx, record)?;
    let mut response = warp::reply::with_status(warp::reply::json(&view), status).into_response();
    set_header(&mut response, header::ETAG, &etag);
    Ok(response)
}

/// The version an `If-Match` header names (`"3"`, `W/"3"` or `3`); `*` or absent means any.
fn parse_if_match(header: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(value) = header.map(str::trim).filter(|v| *v != "*") else {
        return Ok(None);
    };
    value
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_header",
                "If-Match must be an ETag from a previous response, e.g. \"3\"",
            )
            .with_field("If-Match")
        })
}

#[utoipa::path(operation_id = "listNodes", get, path = "/nodes", tag = "nodes", params(NodeListQuery),
    responses(
        (status = 200, description = "Nodes in id order", body = [NodeView],
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when there are more pages"))),
        (status = 400, body = ErrorBody)))]
pub(crate) async fn list(ctx: Ctx, caller: Caller, raw_query: String) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let query = NodeListQuery::parse(&raw_query)?;
    let page = ctx.node_list.page(&ctx.store, &query)?;
    let mut response = Response::new(page.body.into());
    set_header(&mut response, header::CONTENT_TYPE, "application/json");
    if let Some(last) = page.next_after
        && let Ok(link) = HeaderValue::from_str(&query.next_link(&last))
    {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

#[utoipa::path(operation_id = "createNode", post, path = "/nodes", tag = "nodes", request_body = NodeCreate,
    responses(
        (status = 201, description = "Registered", body = NodeView,
            headers(("Location" = String, description = "URL of the new node"))), (status = 409, description = "A node with this id exists", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(crate) async fn create(ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let request: NodeCreate = caller.body(&ctx, Role::Operator, body)?;
    model::validate_id("id", &request.id)?;
    model::validate_hostname("hostname", &request.hostname)?;
    model::validate_address("address", &request.address)?;
    model::validate_labels("labels", &request.labels)?;
    let now = model::now_rfc3339();
    let node = Node {
        id: request.id,
        hostname: request.hostname,
        address: request.address,
        labels: request.labels,
        emulated: false,
        created_at: now.clone(),
        updated_at: now,
    };
    let stored = ctx.insert(node, "id").await?;
    let location = format!("/nodes/{}", stored.value.id);
    let mut response = node_response(&ctx, stored, StatusCode::CREATED)?;
    set_header(&mut response, header::LOCATION, &location);
    Ok(response)
}

#[utoipa::path(operation_id = "getNode", get, path = "/nodes/{id}", tag = "nodes", responses(
        (status = 200, body = NodeView, headers(("ETag" = String, description = "The node's version")))))]
pub(crate) async fn get(id: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let record = ctx.found::<Node>("node", &id)?;
    node_response(&ctx, record, StatusCode::OK)
}

#[utoipa::path(operation_id = "updateNode", patch, path = "/nodes/{id}", tag = "nodes", request_body = NodePatch,
    params(("If-Match" = Option<String>, Header, description = "Only apply if the node is still at this ETag")),
    responses(
        (status = 200, body = NodeView),
        (status = 409, description = "The node changed since the given ETag", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(crate) async fn patch(
    id: String,
    ctx: Ctx,
    caller: Caller,
    if_match: Option<String>,
    body: RawBody,
) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let expected = parse_if_match(if_match.as_deref())?;
    let request: NodePatch = body.json()?;
    if let Some(hostname) = &request.hostname {
        model::validate_hostname("hostname", hostname)?;
    }
    // Without If-Match, a concurrent writer is not the client's problem: re-read and re-apply a few times.
    let attempts = if expected.is_some() { 1 } else { 5 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = ctx.found::<Node>("node", &id)?;
        let version = expected.unwrap_or(current.version);
        let mut node = current.value;
        if let Some(hostname) = &request.hostname {
            node.hostname = hostname.clone();
        }
        for (key, value) in request.labels.iter().flatten() {
            match value {
                Some(value) => node.labels.insert(key.clone(), value.clone()),
                None => node.labels.remove(key),
            };
        }
        model::validate_labels("labels", &node.labels)?;
        node.updated_at = model::now_rfc3339();
        match ctx.store.put(node, Expect::Version(version)).await {
            Ok(stored) => return node_response(&ctx, stored, StatusCode::OK),
            Err(crate::store::StoreError::VersionMismatch { .. }) if attempt < attempts => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

#[utoipa::path(operation_id = "deleteNode", delete, path = "/nodes/{id}", tag = "nodes",
    params(("If-Match" = Option<String>, Header, description = "Only delete if the node is still at this ETag")),
    responses(
        (status = 204, description = "Deleted, or did not exist (as in 0-orchestrator)"),
        (status = 409, description = "The node changed since the given ETag", body = ErrorBody)))]
pub(crate) async fn delete(id: String, ctx: Ctx, caller: Caller, if_match: Option<String>) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let expected = parse_if_match(if_match.as_deref())?;
    ctx.store.delete::<Node>(&id, expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
