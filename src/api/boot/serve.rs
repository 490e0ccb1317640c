//! What machines fetch while booting (no token: firmware cannot send one): `/boot.ipxe`, the 0-bootstrap URLs
//! `/ipxe/<release>[/<network>[/<args>]]` and `/kernel/<file>`, `/boot/ipxe/<binary>` and `/boot/assets/<name>`;
//! plus the operator side of assets (list, upload, delete) and `/boot/events`.

use std::collections::HashMap;
use std::time::Instant;

use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::api::boot::config::in_use;
use crate::api::boot::target::{BootRequest, BootTarget, boot_request, boot_url};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, json_at, page_limit, raw_query, remote, set_header, with_ctx};
use crate::boot::assets::ContentError;
use crate::boot::{MachineQuery, ProfileScript, Served};
use crate::model::Role;
use crate::model::boot::{
    BootAsset, BootEvent, BootOutcome, BootProfile, BootProtocol, KernelRef, normalize_mac, validate_asset_name,
};
use crate::store::Expect;

/// Largest boot asset accepted by `PUT /boot/assets/{name}`.
pub const MAX_ASSET_BYTES: u64 = 4 << 30;

// Machines' downloads first: they are most of this table's requests, and each operation tried before the one
// that fits costs a little (see `route.rs`).
pub(crate) const ROUTES: RouteTable = routes![ctx =>
    download_asset(name: String) [with_ctx(ctx), download()],
    kernel(name: String) [with_ctx(ctx), download()],
    machine_script() [with_ctx(ctx), host(), remote(), warp::query::<HashMap<String, String>>()],
    bootstrap_release(release: String) [with_ctx(ctx), boot_request()],
    bootstrap_network(release: String, network: String) [with_ctx(ctx), boot_request()],
    bootstrap_args(release: String, network: String, args: String) [with_ctx(ctx), boot_request()],
    ipxe_binary(name: String) [with_ctx(ctx), remote()],
    list_assets() [with_ctx(ctx), caller()],
    upload_asset(name: String)
        [with_ctx(ctx), caller(), warp::header::optional::<u64>("content-length"), warp::body::stream()],
    delete_asset(name: String) [with_ctx(ctx), caller()],
    list_events() [with_ctx(ctx), caller(), warp::query::<HashMap<String, String>>()],
];

fn host() -> impl Filter<Extract = (Option<String>,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("host")
}

/// What a download request says besides the asset's name: who asks, which bytes, which version it has.
pub(crate) struct Download {
    remote: Option<std::net::SocketAddr>,
    range: Option<String>,
    if_none_match: Option<String>,
    query: String,
}

fn download() -> impl Filter<Extract = (Download,), Error = warp::Rejection> + Clone {
    remote()
        .and(warp::header::optional::<String>("range"))
        .and(warp::header::optional::<String>("if-none-match"))
        .and(raw_query())
        .map(|remote, range, if_none_match, query| Download {
            remote,
            range,
            if_none_match,
            query,
        })
}

pub(crate) fn client(remote: Option<std::net::SocketAddr>) -> String {
    remote.map_or_else(|| "unknown".to_owned(), |addr| addr.to_string())
}

fn ipxe_script(script: String) -> Response {
    warp::reply::with_header(script, header::CONTENT_TYPE, "text/plain; charset=utf-8").into_response()
}

pub(crate) fn http_base(ctx: &Ctx, host: Option<&str>) -> Result<String, ApiError> {
    ctx.boot.http_base(host).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_header",
            "a valid Host header is required to build boot URLs (or set --boot-url)",
        )
        .with_field("Host")
    })
}

#[utoipa::path(get, path = "/boot.ipxe", tag = "boot", operation_id = "machineBootScript",
    params(("mac" = Option<String>, Query, description = "iPXE ${net0/mac}"),
           ("uuid" = Option<String>, Query, description = "iPXE ${uuid}"),
           ("arch" = Option<String>, Query, description = "iPXE ${buildarch}"),
           ("platform" = Option<String>, Query, description = "iPXE ${platform}: pcbios or efi")),
    responses((status = 200, description = "The iPXE script for this machine (or one that waits and retries)",
        body = String, content_type = "text/plain"), (status = 400, body = ErrorBody)), security(()))]
pub(crate) async fn machine_script(
    ctx: Ctx,
    host: Option<String>,
    remote: Option<std::net::SocketAddr>,
    query: HashMap<String, String>,
) -> HandlerResult {
    let started = Instant::now();
    let base = http_base(&ctx, host.as_deref())?;
    // iPXE sends empty values for settings it does not have; those mean "unknown", not an error.
    let given = |key: &str| query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mac = given("mac").map(|mac| normalize_mac("mac", mac)).transpose()?;
    let uuid = given("uuid")
        .filter(|uuid| uuid.len() == 36 && uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .map(str::to_ascii_lowercase);
    let platform = given("platform")
        .filter(|p| matches!(*p, "pcbios" | "efi"))
        .map(str::to_owned);
    let machine = MachineQuery {
        mac: mac.clone(),
        uuid,
        platform,
    };
    let rendered = ctx.boot.machine_script(&machine, &base)?;
    ctx.boot.recorder.record(Served {
        mac,
        client: client(remote),
        protocol: BootProtocol::Http,
        file: "boot.ipxe".into(),
        bytes: rendered.script.len() as u64,
        duration: started.elapsed(),
        outcome: BootOutcome::Ok,
        profile: rendered.profile,
        arch: None,
    });
    Ok(ipxe_script(rendered.script))
}

boot_url!(bootstrap_release => bootstrap_script [], script, "bootstrapScript", "/ipxe/{release}", (release));
boot_url!(bootstrap_network => bootstrap_script [], script, "bootstrapScriptForNetwork", "/ipxe/{release}/{network}",
    (release, network));
boot_url!(bootstrap_args => bootstrap_script [], script, "bootstrapScriptWithArgs",
    "/ipxe/{release}/{network}/{args}", (release, network, args));

/// The script for a boot URL: the release's kernel with the URL's arguments, or (`?profile=`) that profile.
async fn bootstrap_script(raw: Vec<String>, ctx: Ctx, request: BootRequest) -> HandlerResult {
    let started = Instant::now();
    let target = BootTarget::parse(&raw, &request.query)?;
    let base = http_base(&ctx, request.host.as_deref())?;
    let given = |key: &str| request.query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let machine = MachineQuery {
        mac: given("mac").and_then(|mac| normalize_mac("mac", mac).ok()),
        uuid: None,
        platform: given("platform")
            .filter(|p| matches!(*p, "pcbios" | "efi"))
            .map(str::to_owned),
    };
    let script = match &target.profile {
        Some(profile) => profile_script(&ctx, &target, profile, &machine, &base)?,
        None => release_script(&ctx, &target, &base)?,
    };
    ctx.boot.recorder.record(Served {
        mac: machine.mac.clone(),
        client: client(request.remote),
        protocol: BootProtocol::Http,
        file: format!("ipxe/{}", target.tail).chars().take(128).collect(),
        bytes: script.len() as u64,
        duration: started.elapsed(),
        outcome: BootOutcome::Ok,
        profile: target.profile.clone(),
        arch: None,
    });
    Ok(ipxe_script(script))
}

fn release_script(ctx: &Ctx, target: &BootTarget, base: &str) -> Result<String, ApiError> {
    let settings = ctx.boot.settings()?;
    let release = &target.release;
    let kernel_url = ctx
        .boot
        .kernel_url(&KernelRef::Release(release.clone()), &settings, base)
        .map_err(|invalid| ApiError::new(StatusCode::NOT_FOUND, "not_found", invalid.message).with_field("release"))?;
    Ok(format!(
        "#!ipxe\necho zos-orchestrator (0-bootstrap compatible): Zero-OS {release}\n\
         isset ${{net0/ip}} || dhcp || goto failed\n\
         chain {kernel_url} {} || goto failed\n\
         :failed\necho zos-orchestrator: boot failed, rebooting in 10 s\nsleep 10\nreboot\n",
        target.kernel_args().join(" ")
    ))
}

/// `?profile=`: the profile's script, for the machine iPXE names in the query (`mac`, `platform`).
fn profile_script(
    ctx: &Ctx,
    target: &BootTarget,
    profile: &str,
    machine: &MachineQuery,
    base: &str,
) -> Result<String, ApiError> {
    match ctx
        .boot
        .profile_script(profile, machine, target.network.as_deref(), &target.args, base)?
    {
        ProfileScript::Script(script) => Ok(script),
        ProfileScript::Missing => Err(ApiError::not_found("boot profile", profile).with_field("profile")),
        ProfileScript::Unusable(invalid) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "profile_unusable",
            format!("boot profile '{profile}' cannot be used here: {}", invalid.message),
        )
        .with_field("profile")),
    }
}

#[utoipa::path(method(get, head), path = "/boot/ipxe/{name}", tag = "boot", operation_id = "getIpxeBinary",
    params(("name" = String, Path, description = "`undionly.kpxe`, `ipxe.efi`, `snponly.efi`, …")),
    responses((status = 200, description = "The iPXE binary", body = Vec<u8>, content_type = "application/octet-stream")), security(()))]
pub(crate) async fn ipxe_binary(name: String, ctx: Ctx, remote: Option<std::net::SocketAddr>) -> Response {
    let started = Instant::now();
    let Some(bytes) = ctx.boot.ipxe.get(&name) else {
        return ApiError::not_found("iPXE binary", &name).into_response();
    };
    ctx.boot.recorder.record(Served {
        mac: None,
        client: client(remote),
        protocol: BootProtocol::Http,
        file: name,
        bytes: bytes.len() as u64,
        duration: started.elapsed(),
        outcome: BootOutcome::Ok,
        profile: None,
        arch: None,
    });
    let mut response = Response::new(bytes.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

/// A single byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`) of a body of `len` bytes: `None` to send it all
/// (no or unsupported Range header: several ranges, other units), `Some(Err)` when it cannot be satisfied.
fn byte_range(header: Option<&str>, len: u64) -> Option<Result<std::ops::Range<u64>, ()>> {
    let spec = header?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.is_empty(), end.is_empty()) {
        (true, false) => {
            let suffix: u64 = end.parse().ok()?;
            len.saturating_sub(suffix)..len
        }
        (false, _) => {
            let first: u64 = start.parse().ok()?;
            let last: u64 = if end.is_empty() {
                len.saturating_sub(1)
            } else {
                end.parse().ok()?
            };
            if first >= len || last < first {
                return Some(Err(()));
            }
            first..last.min(len - 1) + 1
        }
        (true, true) => return None,
    };
    if range.is_empty() {
        Some(Err(()))
    } else {
        Some(Ok(range))
    }
}

/// Declares a download of a boot asset; both answered by [`serve_asset`].
macro_rules! asset_download {
    ($handler:ident, $operation:literal, $path:literal, $param:literal, $what:literal) => {
        #[utoipa::path(method(get, head), path = $path, tag = "boot", operation_id = $operation, description = $what,
            params(($param = String, Path, description = "The asset's name"),
                ("Range" = Option<String>, Header, description = "One byte range, `bytes=a-b`"),
                ("If-None-Match" = Option<String>, Header)),
            responses((status = 200, description = "The file", body = Vec<u8>, content_type = "application/octet-stream",
                    headers(("ETag" = String), ("Accept-Ranges" = String))),
                (status = 206, description = "The requested range", body = Vec<u8>, content_type = "application/octet-stream"),
                (status = 304, description = "Not modified"),
                (status = 416, body = ErrorBody),
                (status = 503, description = "With etcd: not on this instance yet, and etcd cannot give it", body = ErrorBody)), security(()))]
        pub(crate) async fn $handler(name: String, ctx: Ctx, download: Download) -> Response {
            serve_asset(name, ctx, download).await
        }
    };
}

asset_download!(
    download_asset,
    "downloadBootAsset",
    "/boot/assets/{name}",
    "name",
    "A boot asset, as machines fetch it."
);
asset_download!(
    kernel,
    "bootstrapKernel",
    "/kernel/{file}",
    "file",
    "0-bootstrap's kernel URL: the asset of that name."
);

async fn serve_asset(name: String, ctx: Ctx, download: Download) -> Response {
    let Download {
        remote,
        range,
        if_none_match,
        query,
    } = download;
    let started = Instant::now();
    // `?mac=` is added by our boot scripts; anything unparsable is simply not attributed.
    let mac = form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "mac")
        .and_then(|(_, mac)| normalize_mac("mac", &mac).ok());
    let asset = validate_asset_name("name", &name)
        .ok()
        .and_then(|()| ctx.store.get::<BootAsset>(&name).ok().flatten());
    let record = |bytes: u64, outcome: BootOutcome| {
        ctx.boot.recorder.record(Served {
            mac: mac.clone(),
            client: client(remote),
            protocol: BootProtocol::Http,
            file: name.chars().take(128).collect(),
            bytes,
            duration: started.elapsed(),
            outcome,
            profile: None,
            arch: None,
        })
    };
    let not_found = || ApiError::not_found("boot asset", &name).into_response();
    let Some(asset) = asset else {
        record(0, BootOutcome::NotFound);
        return not_found();
    };
    // With etcd, a file this instance lacks is fetched first (the request waits for it).
    let (sha256, content) = match ctx.boot.assets.content(&name, &asset.value.sha256).await {
        Ok(Some(content)) => content,
        Ok(None) => {
            record(0, BootOutcome::NotFound);
            return not_found();
        }
        Err(err @ ContentError::Fetch(_)) => {
            record(0, BootOutcome::Error);
            let message = format!("boot asset '{name}' is {err}");
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "asset_unavailable", message).into_response();
        }
        Err(ContentError::Read(err)) => {
            record(0, BootOutcome::Error);
            return ApiError::internal("cannot read the boot asset", &err).into_response();
        }
    };
    let etag = format!("\"{}\"", &sha256[..32]);
    let len = content.len() as u64;
    let mut response = if if_none_match.is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        record(0, BootOutcome::Ok);
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match byte_range(range.as_deref(), len) {
            None => {
                record(len, BootOutcome::Ok);
                Response::new(content.into())
            }
            Some(Ok(part)) => {
                record(part.end - part.start, BootOutcome::Ok);
                let mut response = Response::new(content.slice(part.start as usize..part.end as usize).into());
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                let value = format!("bytes {}-{}/{len}", part.start, part.end - 1);
                response
                    .headers_mut()
                    .insert(header::CONTENT_RANGE, HeaderValue::from_str(&value).expect("ASCII"));
                response
            }
            Some(Err(())) => {
                record(0, BootOutcome::Error);
                let mut response = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    "the requested range is outside the file",
                )
                .into_response();
                let value = format!("bytes */{len}");
                response
                    .headers_mut()
                    .insert(header::CONTENT_RANGE, HeaderValue::from_str(&value).expect("ASCII"));
                response
            }
        }
    };
    set_header(&mut response, header::ETAG, &etag);
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers
        .entry(header::CONTENT_TYPE)
        .or_insert(HeaderValue::from_static("application/octet-stream"));
    response
}

#[utoipa::path(get, path = "/boot/assets", tag = "boot", operation_id = "listBootAssets",
    responses((status = 200, body = [BootAsset])))]
pub(crate) async fn list_assets(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    ctx.all_json::<BootAsset>()
}

#[utoipa::path(put, path = "/boot/assets/{name}", tag = "boot", operation_id = "uploadBootAsset",
    params(("name" = String, Path, description = "File name: letters, digits, '-', '.', '_'")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, description = "Uploaded", body = BootAsset), (status = 200, description = "Replaced", body = BootAsset), (status = 413, body = ErrorBody)))]
pub(crate) async fn upload_asset<S, B>(
    name: String,
    ctx: Ctx,
    caller: Caller,
    length: Option<u64>,
    body: S,
) -> HandlerResult
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    caller.require(&ctx, Role::Operator)?;
    validate_asset_name("name", &name)?;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("assets are limited to {MAX_ASSET_BYTES} bytes"),
        )
    };
    if length.is_some_and(|length| length > MAX_ASSET_BYTES) {
        return Err(too_large());
    }
    let staged = ctx
        .boot
        .assets
        .stage(body, MAX_ASSET_BYTES)
        .await
        .map_err(|err| match err {
            crate::boot::assets::UploadError::TooLarge(_) => too_large(),
            crate::boot::assets::UploadError::Body(message) => ApiError::bad_request("body_read_failed", message),
            crate::boot::assets::UploadError::Io(err) => ApiError::internal("cannot store the upload", &err),
        })?;
    if length.is_some_and(|length| length != staged.size) {
        ctx.boot.assets.discard(staged).await;
        return Err(ApiError::bad_request(
            "body_read_failed",
            "the body ended before Content-Length bytes arrived",
        ));
    }
    // With etcd the content goes into the store first, so the record never names content that is not there.
    if let Err(err) = ctx.boot.assets.share(&staged).await {
        ctx.boot.assets.discard(staged).await;
        return Err(err.into());
    }
    let asset = BootAsset {
        name: name.clone(),
        size: staged.size,
        sha256: staged.sha256.clone(),
        uploaded_at: crate::model::now_rfc3339(),
    };
    let held = ctx.boot.assets.hold(&name).await;
    ctx.boot
        .assets
        .commit(&staged, &name)
        .await
        .map_err(|err| ApiError::internal("cannot store the upload", &err))?;
    let previous = ctx.store.get::<BootAsset>(&name)?;
    let (expect, status) = match &previous {
        Some(current) => (Expect::Version(current.version), StatusCode::OK),
        None => (Expect::Absent, StatusCode::CREATED),
    };
    let stored = match ctx.store.put(asset, expect).await {
        Ok(stored) => stored,
        Err(err) => {
            drop(held);
            ctx.boot.assets.release(&staged.sha256).await;
            return Err(err.into());
        }
    };
    ctx.boot.assets.confirm(&stored.value).await?;
    drop(held);
    if let Some(previous) = previous.filter(|previous| previous.value.sha256 != stored.value.sha256) {
        ctx.boot.assets.release(&previous.value.sha256).await;
    }
    tracing::info!(name = %name, size = stored.value.size, sha256 = %stored.value.sha256, "boot asset uploaded");
    Ok(json_at(&stored.value, status, &format!("/boot/assets/{name}")))
}

#[utoipa::path(delete, path = "/boot/assets/{name}", tag = "boot", operation_id = "deleteBootAsset",
    responses((status = 404, description = "No such asset", body = ErrorBody), (status = 204, description = "Deleted"), (status = 409, description = "A profile uses it, or it changed meanwhile", body = ErrorBody)))]
pub(crate) async fn delete_asset(name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let uses =
        |profile: &BootProfile| profile.kernel == KernelRef::Asset(name.clone()) || profile.initrds.contains(&name);
    if let Some(user) = ctx.store.list::<BootProfile>("", None, 1, uses)?.items.first() {
        return Err(in_use(format!(
            "boot asset '{name}' is used by profile '{}'",
            user.value.name
        )));
    }
    let Some(current) = ctx.store.get::<BootAsset>(&name)? else {
        return Err(ApiError::not_found("boot asset", &name));
    };
    if !ctx.store.delete::<BootAsset>(&name, Some(current.version)).await? {
        return Err(ApiError::not_found("boot asset", &name));
    }
    let held = ctx.boot.assets.hold(&name).await;
    ctx.boot
        .assets
        .remove(&name)
        .await
        .map_err(|err| ApiError::internal("cannot remove the asset file", &err))?;
    drop(held);
    ctx.boot.assets.release(&current.value.sha256).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/boot/events", tag = "boot", operation_id = "listBootEvents",
    params(("limit" = Option<usize>, Query, description = "Page size, 1–1000 (default 100)"),
           ("before" = Option<String>, Query, description = "Events older than this id (the `Link: rel=\"next\"` cursor)")),
    responses((status = 200, description = "Newest first", body = [BootEvent]), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_events(ctx: Ctx, caller: Caller, query: HashMap<String, String>) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    let limit = query.get("limit").map_or(Ok(100), |text| page_limit(text))?;
    let page = ctx
        .store
        .list_newest::<BootEvent>(query.get("before").map(String::as_str), limit, |_| true)?;
    let events: Vec<BootEvent> = page.items.into_iter().map(|r| r.value).collect();
    let mut response = warp::reply::json(&events).into_response();
    if let Some(last) = page.next_after {
        let link = format!("</boot/events?limit={limit}&before={last}>; rel=\"next\"");
        set_header(&mut response, header::LINK, &link);
    }
    Ok(response)
}
