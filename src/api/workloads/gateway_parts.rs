//! The parts of a gateway, each a list inside its record with 0-orchestrator's paths: firewall forwards (by
//! `srcip:srcport`), DHCP hosts per interface (by MAC), HTTP proxies (by host), and the advanced firewall and HTTP
//! configurations (text: the generated one until the operator sets their own). Each change is an update of the
//! gateway (see `gateways::change`), so the engine checks it on the gateway and a refusal leaves the record as
//! it was.

use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

use super::gateways::change;
use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, json_at, with_ctx, workloads};
use crate::model::gateway::{Advanced, GatewaySpec, GatewayUpdate, GwHost, HttpProxy, PortForward, Subnet};
use crate::model::{Role, gateway_config};

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list_forwards(node: String, name: String) [with_ctx(ctx), caller()],
    create_forward(node: String, name: String) [with_ctx(ctx), caller(), raw_body()],
    delete_forward(node: String, name: String, forward: String) [with_ctx(ctx), caller()],
    list_hosts(node: String, name: String, interface: String) [with_ctx(ctx), caller()],
    add_host(node: String, name: String, interface: String) [with_ctx(ctx), caller(), raw_body()],
    delete_host(node: String, name: String, interface: String, mac: String) [with_ctx(ctx), caller()],
    list_proxies(node: String, name: String) [with_ctx(ctx), caller()],
    create_proxy(node: String, name: String) [with_ctx(ctx), caller(), raw_body()],
    get_proxy(node: String, name: String, proxy: String) [with_ctx(ctx), caller()],
    delete_proxy(node: String, name: String, proxy: String) [with_ctx(ctx), caller()],
    get_http_config(node: String, name: String) [with_ctx(ctx), caller()],
    set_http(node: String, gw: String) [with_ctx(ctx), caller(), raw_body()],
    get_firewall_config(node: String, name: String) [with_ctx(ctx), caller()],
    set_firewall(node: String, gw: String) [with_ctx(ctx), caller(), raw_body()],
];

fn gateway(ctx: &Ctx, node: &str, name: &str) -> Result<GatewaySpec, ApiError> {
    Ok(workloads::find::<GatewaySpec>(ctx, node, &[], name)?.value.spec)
}

/// 409: the operator's own `what` configuration replaces the list this request changes.
fn advanced_set(what: &str, list: &str) -> ApiError {
    let message = format!("the gateway runs your own {what} configuration; {list} no longer apply");
    ApiError::new(StatusCode::CONFLICT, "advanced_config", message)
}

fn conflict(field: &str, message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "already_exists", message).with_field(field)
}

/// A list of the gateway that the API changes item by item (port forwards, HTTP proxies): each item is known
/// by its key, and the list no longer applies once the operator runs their own configuration in its place.
trait Part: serde::Serialize + Clone {
    /// What an item is called in errors.
    const WHAT: &'static str;
    /// The request field a taken key is reported on, and what a taken key means.
    const KEY_FIELD: &'static str;
    const TAKEN: &'static str;
    /// Where the list lives under the gateway's path.
    const SEGMENT: &'static str;
    fn key(&self) -> String;
    fn check(&self) -> Result<(), crate::model::Invalid>;
    fn list(gateway: &GatewayUpdate) -> &Vec<Self>;
    fn list_mut(gateway: &mut GatewayUpdate) -> &mut Vec<Self>;
    /// The 409 when the operator's own configuration replaces the list.
    fn replaced(advanced: &Advanced) -> Option<ApiError>;
}

impl Part for PortForward {
    const WHAT: &'static str = "forward";
    const KEY_FIELD: &'static str = "srcport";
    const TAKEN: &'static str = "is forwarded already";
    const SEGMENT: &'static str = "firewall/forwards";
    fn key(&self) -> String {
        self.id()
    }
    fn check(&self) -> Result<(), crate::model::Invalid> {
        self.validate("")
    }
    fn list(gateway: &GatewayUpdate) -> &Vec<Self> {
        &gateway.portforwards
    }
    fn list_mut(gateway: &mut GatewayUpdate) -> &mut Vec<Self> {
        &mut gateway.portforwards
    }
    fn replaced(advanced: &Advanced) -> Option<ApiError> {
        advanced
            .firewall
            .as_ref()
            .map(|_| advanced_set("firewall", "port forwards"))
    }
}

impl Part for HttpProxy {
    const WHAT: &'static str = "proxy";
    const KEY_FIELD: &'static str = "host";
    const TAKEN: &'static str = "is proxied already";
    const SEGMENT: &'static str = "httpproxies";
    fn key(&self) -> String {
        self.host.clone()
    }
    fn check(&self) -> Result<(), crate::model::Invalid> {
        self.validate("")
    }
    fn list(gateway: &GatewayUpdate) -> &Vec<Self> {
        &gateway.httpproxies
    }
    fn list_mut(gateway: &mut GatewayUpdate) -> &mut Vec<Self> {
        &mut gateway.httpproxies
    }
    fn replaced(advanced: &Advanced) -> Option<ApiError> {
        advanced.http.as_ref().map(|_| advanced_set("HTTP", "HTTP proxies"))
    }
}

fn listed<P: Part>(ctx: &Ctx, node: &str, name: &str) -> HandlerResult {
    Ok(warp::reply::json(P::list(&gateway(ctx, node, name)?.gateway)).into_response())
}

/// Adds `part` to its list: 201 with it at its own path (or the 202 of a slow job).
async fn add<P: Part>(ctx: &Ctx, node: &str, name: &str, part: P) -> HandlerResult {
    part.check()?;
    let key = part.key();
    let location = format!("/nodes/{node}/gws/{name}/{}/{key}", P::SEGMENT);
    let added = part.clone();
    let changed = change(ctx, node, name, |spec| {
        if let Some(refused) = P::replaced(&spec.advanced) {
            return Err(refused);
        }
        if P::list(&spec.gateway).iter().any(|other| other.key() == key) {
            return Err(conflict(P::KEY_FIELD, format!("{key} {}", P::TAKEN)));
        }
        spec.change(|gateway, _| P::list_mut(gateway).push(part));
        Ok(())
    })
    .await?;
    Ok(changed.unwrap_or_else(|| json_at(&added, StatusCode::CREATED, &location)))
}

/// Removes the item `key` from its list: 204 (or the 202 of a slow job); 404 when there is no such item.
async fn remove<P: Part>(ctx: &Ctx, node: &str, name: &str, key: &str) -> HandlerResult {
    let changed = change(ctx, node, name, |spec| {
        if !P::list(&spec.gateway).iter().any(|other| other.key() == key) {
            return Err(ApiError::not_found(P::WHAT, key));
        }
        spec.change(|gateway, _| P::list_mut(gateway).retain(|other| other.key() != key));
        Ok(())
    })
    .await?;
    Ok(no_content(changed))
}

fn no_content(changed: Option<Response>) -> Response {
    changed.unwrap_or_else(|| StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(operation_id = "listGatewayForwards", get, path = "/nodes/{id}/gws/{gwname}/firewall/forwards", tag = "gateways",
    responses((status = 200, body = [PortForward])))]
pub(crate) async fn list_forwards(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    listed::<PortForward>(&ctx, &node, &name)
}

#[utoipa::path(operation_id = "createGatewayForward", post, path = "/nodes/{id}/gws/{gwname}/firewall/forwards", tag = "gateways",
    request_body = PortForward,
    responses((status = 201, body = PortForward, headers(("Location" = String))), (status = 202),
        (status = 409, description = "The source is forwarded already, the port is in use on the gateway, or the firewall is the operator's own", body = ErrorBody)))]
pub(crate) async fn create_forward(
    node: String,
    name: String,
    ctx: Ctx,
    caller: Caller,
    body: RawBody,
) -> HandlerResult {
    let forward: PortForward = caller.body(&ctx, Role::Operator, body)?;
    add(&ctx, &node, &name, forward).await
}

#[utoipa::path(operation_id = "deleteGatewayForward", delete, path = "/nodes/{id}/gws/{gwname}/firewall/forwards/{forwardid}", tag = "gateways",
    params(("forwardid" = String, Path, description = "`srcip:srcport`")),
    responses((status = 204, description = "Deleted"), (status = 202)))]
pub(crate) async fn delete_forward(
    node: String,
    name: String,
    forward: String,
    ctx: Ctx,
    caller: Caller,
) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    remove::<PortForward>(&ctx, &node, &name, &forward).await
}

/// The subnet of interface `interface` of `spec`, which must serve DHCP (404 otherwise, as the reference).
fn dhcp_subnet(spec: &GatewaySpec, interface: &str) -> Result<Subnet, ApiError> {
    let nic = spec
        .nic(interface)
        .ok_or_else(|| ApiError::not_found("interface", interface))?;
    match (
        &nic.dhcpserver,
        nic.config.as_ref().and_then(|config| Subnet::parse(&config.cidr)),
    ) {
        (Some(_), Some(subnet)) => Ok(subnet),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("interface '{interface}' has no DHCP server"),
        )),
    }
}

/// The DHCP hosts of `interface` in `spec`, to change.
fn hosts<'a>(spec: &'a mut crate::model::gateway::GatewayUpdate, interface: &str) -> &'a mut Vec<GwHost> {
    spec.nics
        .iter_mut()
        .find(|nic| nic.name == interface)
        .and_then(|nic| nic.dhcpserver.as_mut())
        .map(|dhcp| &mut dhcp.hosts)
        .unwrap_or_else(|| unreachable!("dhcp_subnet found the interface's DHCP server"))
}

#[utoipa::path(operation_id = "listGatewayDhcpHosts", get, path = "/nodes/{id}/gws/{gwname}/dhcp/{interface}/hosts", tag = "gateways",
    responses((status = 200, body = [GwHost]), (status = 404, description = "No such gateway or interface, or no DHCP server on it", body = ErrorBody)))]
pub(crate) async fn list_hosts(
    node: String,
    name: String,
    interface: String,
    ctx: Ctx,
    caller: Caller,
) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let spec = gateway(&ctx, &node, &name)?;
    dhcp_subnet(&spec, &interface)?;
    let hosts = spec
        .nic(&interface)
        .and_then(|nic| nic.dhcpserver.as_ref())
        .map(|dhcp| dhcp.hosts.clone())
        .unwrap_or_default();
    Ok(warp::reply::json(&hosts).into_response())
}

#[utoipa::path(operation_id = "addGatewayDhcpHost", post, path = "/nodes/{id}/gws/{gwname}/dhcp/{interface}/hosts", tag = "gateways",
    request_body = GwHost,
    responses((status = 204, description = "Added"), (status = 202),
        (status = 400, description = "Invalid field, or an address outside the interface's subnet", body = ErrorBody),
        (status = 404, description = "No such gateway or interface, or no DHCP server on it", body = ErrorBody),
        (status = 409, description = "The MAC address has a lease already", body = ErrorBody)))]
pub(crate) async fn add_host(
    node: String,
    name: String,
    interface: String,
    ctx: Ctx,
    caller: Caller,
    body: RawBody,
) -> HandlerResult {
    let host: GwHost = caller.body(&ctx, Role::Operator, body)?;
    let changed = change(&ctx, &node, &name, |spec| {
        host.validate("", dhcp_subnet(spec, &interface)?)?;
        let taken = hosts(&mut spec.gateway, &interface)
            .iter()
            .any(|other| other.macaddress.eq_ignore_ascii_case(&host.macaddress));
        if taken {
            return Err(conflict(
                "macaddress",
                format!("{} has a lease already", host.macaddress),
            ));
        }
        spec.change(|gateway, _| hosts(gateway, &interface).push(host));
        Ok(())
    })
    .await?;
    Ok(no_content(changed))
}

#[utoipa::path(operation_id = "deleteGatewayDhcpHost", delete, path = "/nodes/{id}/gws/{gwname}/dhcp/{interface}/hosts/{macaddress}", tag = "gateways",
    responses((status = 204, description = "Deleted"), (status = 202),
        (status = 404, description = "No such gateway, interface or host, or no DHCP server on the interface", body = ErrorBody)))]
pub(crate) async fn delete_host(
    node: String,
    name: String,
    interface: String,
    mac: String,
    ctx: Ctx,
    caller: Caller,
) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let changed = change(&ctx, &node, &name, |spec| {
        dhcp_subnet(spec, &interface)?;
        let is_it = |host: &GwHost| host.macaddress.eq_ignore_ascii_case(&mac);
        if !hosts(&mut spec.gateway, &interface).iter().any(is_it) {
            return Err(ApiError::not_found("host", &mac));
        }
        spec.change(|gateway, _| hosts(gateway, &interface).retain(|host| !is_it(host)));
        Ok(())
    })
    .await?;
    Ok(no_content(changed))
}

#[utoipa::path(operation_id = "listGatewayHttpProxies", get, path = "/nodes/{id}/gws/{gwname}/httpproxies", tag = "gateways",
    responses((status = 200, body = [HttpProxy])))]
pub(crate) async fn list_proxies(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    listed::<HttpProxy>(&ctx, &node, &name)
}

#[utoipa::path(operation_id = "createGatewayHttpProxy", post, path = "/nodes/{id}/gws/{gwname}/httpproxies", tag = "gateways",
    request_body = HttpProxy,
    responses((status = 201, body = HttpProxy, headers(("Location" = String))), (status = 202),
        (status = 409, description = "The host is proxied already, a forward holds the port, or the HTTP configuration is the operator's own", body = ErrorBody)))]
pub(crate) async fn create_proxy(node: String, name: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let proxy: HttpProxy = caller.body(&ctx, Role::Operator, body)?;
    add(&ctx, &node, &name, proxy).await
}

#[utoipa::path(operation_id = "getGatewayHttpProxy", get, path = "/nodes/{id}/gws/{gwname}/httpproxies/{proxyid}", tag = "gateways",
    params(("proxyid" = String, Path, description = "Its host")),
    responses((status = 200, body = HttpProxy)))]
pub(crate) async fn get_proxy(node: String, name: String, proxy: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let spec = gateway(&ctx, &node, &name)?;
    let found = HttpProxy::list(&spec.gateway)
        .iter()
        .find(|other| other.key() == proxy)
        .ok_or_else(|| ApiError::not_found(HttpProxy::WHAT, &proxy))?;
    Ok(warp::reply::json(found).into_response())
}

#[utoipa::path(operation_id = "deleteGatewayHttpProxy", delete, path = "/nodes/{id}/gws/{gwname}/httpproxies/{proxyid}", tag = "gateways",
    params(("proxyid" = String, Path, description = "Its host")),
    responses((status = 204, description = "Deleted"), (status = 202)))]
pub(crate) async fn delete_proxy(node: String, name: String, proxy: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    remove::<HttpProxy>(&ctx, &node, &name, &proxy).await
}

fn text(body: String) -> Response {
    warp::reply::with_header(body, "content-type", "text/plain; charset=utf-8").into_response()
}

#[utoipa::path(operation_id = "getGatewayHttpConfig", get, path = "/nodes/{id}/gws/{gwname}/advanced/http", tag = "gateways",
    responses((status = 200, description = "The Caddyfile the gateway runs", body = String, content_type = "text/plain")))]
pub(crate) async fn get_http_config(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    Ok(text(gateway_config::http(&gateway(&ctx, &node, &name)?)))
}

#[utoipa::path(operation_id = "setGatewayHttpConfig", post, path = "/nodes/{id}/gws/{gwname}/advanced/http", tag = "gateways",
    description = "Replaces the Caddyfile generated from the HTTP proxies with this one; from then on the proxies no longer apply.",
    request_body(content = String, content_type = "text/plain"),
    responses((status = 204, description = "The gateway runs it"), (status = 202),
        (status = 400, description = "Caddy does not take it (the message says where)", body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(crate) async fn set_http(node: String, gw: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    set_advanced(&ctx, &node, &gw, &caller, body, |advanced| &mut advanced.http).await
}

#[utoipa::path(operation_id = "getGatewayFirewallConfig", get, path = "/nodes/{id}/gws/{gwname}/advanced/firewall", tag = "gateways",
    responses((status = 200, description = "The nftables ruleset the gateway runs", body = String, content_type = "text/plain")))]
pub(crate) async fn get_firewall_config(node: String, name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    Ok(text(gateway_config::firewall(&gateway(&ctx, &node, &name)?)))
}

#[utoipa::path(operation_id = "setGatewayFirewallConfig", post, path = "/nodes/{id}/gws/{gwname}/advanced/firewall", tag = "gateways",
    description = "Replaces the ruleset generated from the port forwards with this one; from then on the forwards no longer apply.",
    request_body(content = String, content_type = "text/plain"),
    responses((status = 204, description = "The gateway runs it"), (status = 202),
        (status = 400, description = "nft does not take it (the message says where)", body = ErrorBody),
        (status = 409, description = "It forwards a port in use on the gateway", body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(crate) async fn set_firewall(node: String, gw: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    set_advanced(&ctx, &node, &gw, &caller, body, |advanced| &mut advanced.firewall).await
}

/// Both advanced configurations are set the same way: the body's text replaces the generated one (`which`).
async fn set_advanced(
    ctx: &Ctx,
    node: &str,
    name: &str,
    caller: &Caller,
    body: RawBody,
    which: fn(&mut Advanced) -> &mut Option<String>,
) -> HandlerResult {
    caller.require(ctx, Role::Operator)?;
    let config = body.text()?;
    let changed = change(ctx, node, name, |spec| {
        spec.change(|_, advanced| *which(advanced) = Some(config));
        Ok(())
    })
    .await?;
    Ok(no_content(changed))
}
