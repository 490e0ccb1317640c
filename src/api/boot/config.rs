//! `/boot/profiles`, `/boot/selectors`, `/boot/settings`: what machines boot, and which machine boots what.
//! Reads need the viewer role, changes the operator role. References are kept whole: a profile names only
//! uploaded assets, a selector only existing profiles, and nothing in use can be deleted (409).

use serde::Deserialize;
use warp::Reply;
use warp::http::StatusCode;

use crate::api::body::{RawBody, raw_body};
use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, with_ctx};
use crate::boot::script::check_template;
use crate::model::boot::{
    BOOT_SETTINGS_ID, BootAsset, BootProfile, BootSelector, BootSettings, KernelRef, normalize_mac,
    validate_asset_name, validate_release, validate_zerotier_network,
};
use crate::model::{self, Invalid, Role};
use crate::store::Expect;

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list_profiles() [with_ctx(ctx), caller()],
    create_profile() [with_ctx(ctx), caller(), raw_body()],
    get_profile(name: String) [with_ctx(ctx), caller()],
    replace_profile(name: String) [with_ctx(ctx), caller(), raw_body()],
    delete_profile(name: String) [with_ctx(ctx), caller()],
    list_selectors() [with_ctx(ctx), caller()],
    create_selector() [with_ctx(ctx), caller(), raw_body()],
    get_selector(name: String) [with_ctx(ctx), caller()],
    delete_selector(name: String) [with_ctx(ctx), caller()],
    get_settings() [with_ctx(ctx), caller()],
    put_settings() [with_ctx(ctx), caller(), raw_body()],
];

fn asset_exists(ctx: &Ctx, field: &str, name: &str) -> Result<(), ApiError> {
    validate_asset_name(field, name)?;
    if ctx.store.get::<BootAsset>(name)?.is_none() {
        return Err(Invalid::new(
            field,
            format!("boot asset '{name}' is not uploaded (PUT /boot/assets/{name})"),
        )
        .into());
    }
    Ok(())
}

fn profile_exists(ctx: &Ctx, field: &str, name: &str) -> Result<(), ApiError> {
    if ctx.store.get::<BootProfile>(name)?.is_none() {
        return Err(Invalid::new(field, format!("boot profile '{name}' does not exist")).into());
    }
    Ok(())
}

fn validate_profile(ctx: &Ctx, profile: &BootProfile) -> Result<(), ApiError> {
    model::validate_id("name", &profile.name)?;
    match &profile.kernel {
        KernelRef::Asset(name) => asset_exists(ctx, "kernel.asset", name)?,
        KernelRef::Release(release) => validate_release("kernel.release", release)?,
    }
    for (i, initrd) in profile.initrds.iter().enumerate() {
        asset_exists(ctx, &format!("initrds[{i}]"), initrd)?;
    }
    if profile.description.len() > 200 {
        return Err(Invalid::new("description", "at most 200 characters").into());
    }
    check_template(&profile.cmdline)?;
    Ok(())
}

#[utoipa::path(get, path = "/boot/profiles", tag = "boot", operation_id = "listBootProfiles",
    responses((status = 200, body = [BootProfile])))]
pub(crate) async fn list_profiles(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    ctx.all_json::<BootProfile>()
}

#[utoipa::path(post, path = "/boot/profiles", tag = "boot", operation_id = "createBootProfile",
    request_body = BootProfile,
    responses((status = 201, body = BootProfile), (status = 409, body = ErrorBody)))]
pub(crate) async fn create_profile(ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let profile: BootProfile = caller.body(&ctx, Role::Operator, body)?;
    validate_profile(&ctx, &profile)?;
    let location = format!("/boot/profiles/{}", profile.name);
    ctx.create(profile, "name", &location).await
}

#[utoipa::path(get, path = "/boot/profiles/{name}", tag = "boot", operation_id = "getBootProfile",
    responses((status = 200, body = BootProfile)))]
pub(crate) async fn get_profile(name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    ctx.found_json::<BootProfile>("boot profile", &name)
}

#[utoipa::path(put, path = "/boot/profiles/{name}", tag = "boot", operation_id = "replaceBootProfile",
    request_body = BootProfile,
    responses((status = 404, description = "No such profile", body = ErrorBody), (status = 200, body = BootProfile)))]
pub(crate) async fn replace_profile(name: String, ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let profile: BootProfile = caller.body(&ctx, Role::Operator, body)?;
    if profile.name != name {
        return Err(Invalid::new(
            "name",
            format!("must match the URL ('{name}'); profiles cannot be renamed"),
        )
        .into());
    }
    validate_profile(&ctx, &profile)?;
    let current = ctx.found::<BootProfile>("boot profile", &name)?;
    let stored = ctx.store.put(profile, Expect::Version(current.version)).await?;
    Ok(warp::reply::json(&stored.value).into_response())
}

#[utoipa::path(delete, path = "/boot/profiles/{name}", tag = "boot", operation_id = "deleteBootProfile",
    responses((status = 404, description = "No such profile", body = ErrorBody), (status = 204, description = "Deleted"), (status = 409, description = "Used by a selector or as the default", body = ErrorBody)))]
pub(crate) async fn delete_profile(name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let users = ctx
        .store
        .list::<BootSelector>("", None, usize::MAX, |s| s.profile == name)?
        .items;
    let is_default = ctx.boot.settings()?.default_profile.as_deref() == Some(name.as_str());
    if let Some(user) = users.first() {
        return Err(in_use(format!(
            "boot profile '{name}' is used by selector '{}'",
            user.value.name
        )));
    }
    if is_default {
        return Err(in_use(format!(
            "boot profile '{name}' is the default profile (PUT /boot/settings to change it)"
        )));
    }
    if !ctx.store.delete::<BootProfile>(&name, None).await? {
        return Err(ApiError::not_found("boot profile", &name));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) fn in_use(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "in_use", message)
}

/// Body of `POST /boot/selectors`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectorCreate {
    pub name: String,
    pub mac: Option<String>,
    pub uuid: Option<String>,
    pub label: Option<String>,
    pub profile: String,
}

fn normalize_selector(ctx: &Ctx, request: SelectorCreate) -> Result<BootSelector, ApiError> {
    model::validate_id("name", &request.name)?;
    let given: Vec<&str> = [
        ("mac", request.mac.is_some()),
        ("uuid", request.uuid.is_some()),
        ("label", request.label.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect();
    if given.len() != 1 {
        // Name the field that is one too many (or the usual one when none was given).
        let field = given.get(1).copied().unwrap_or("mac");
        return Err(Invalid::new(field, "give exactly one of mac, uuid or label").into());
    }
    let mac = request.mac.map(|mac| normalize_mac("mac", &mac)).transpose()?;
    let uuid = request
        .uuid
        .map(|uuid| {
            let ok = uuid.len() == 36 && uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
            if ok {
                Ok(uuid.to_ascii_lowercase())
            } else {
                Err(Invalid::new("uuid", "must be an SMBIOS UUID (8-4-4-4-12 hex)"))
            }
        })
        .transpose()?;
    if let Some(label) = &request.label {
        let (key, value) = label
            .split_once('=')
            .ok_or_else(|| Invalid::new("label", "must be key=value"))?;
        model::validate_labels("label", &[(key.to_owned(), value.to_owned())].into())?;
    }
    profile_exists(ctx, "profile", &request.profile)?;
    Ok(BootSelector {
        name: request.name,
        mac,
        uuid,
        label: request.label,
        profile: request.profile,
    })
}

#[utoipa::path(get, path = "/boot/selectors", tag = "boot", operation_id = "listBootSelectors",
    responses((status = 200, body = [BootSelector])))]
pub(crate) async fn list_selectors(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    ctx.all_json::<BootSelector>()
}

#[utoipa::path(post, path = "/boot/selectors", tag = "boot", operation_id = "createBootSelector",
    request_body = SelectorCreate,
    responses((status = 201, body = BootSelector), (status = 409, body = ErrorBody)))]
pub(crate) async fn create_selector(ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    let selector = normalize_selector(&ctx, body.json()?)?;
    // Two selectors for the same machine would make the choice depend on storage order: refuse the second.
    let same = |other: &BootSelector| {
        (selector.mac.is_some() && other.mac == selector.mac)
            || (selector.uuid.is_some() && other.uuid == selector.uuid)
            || (selector.label.is_some() && other.label == selector.label)
    };
    if let Some(other) = ctx.store.list::<BootSelector>("", None, 1, same)?.items.first() {
        let field = if selector.mac.is_some() {
            "mac"
        } else if selector.uuid.is_some() {
            "uuid"
        } else {
            "label"
        };
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!("selector '{}' already matches this {field}", other.value.name),
        )
        .with_field(field));
    }
    let location = format!("/boot/selectors/{}", selector.name);
    ctx.create(selector, "name", &location).await
}

#[utoipa::path(get, path = "/boot/selectors/{name}", tag = "boot", operation_id = "getBootSelector",
    responses((status = 200, body = BootSelector)))]
pub(crate) async fn get_selector(name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    ctx.found_json::<BootSelector>("boot selector", &name)
}

#[utoipa::path(delete, path = "/boot/selectors/{name}", tag = "boot", operation_id = "deleteBootSelector",
    responses((status = 404, description = "No such selector", body = ErrorBody), (status = 204, description = "Deleted")))]
pub(crate) async fn delete_selector(name: String, ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Operator)?;
    if !ctx.store.delete::<BootSelector>(&name, None).await? {
        return Err(ApiError::not_found("boot selector", &name));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/boot/settings", tag = "boot", operation_id = "getBootSettings",
    responses((status = 200, body = BootSettings)))]
pub(crate) async fn get_settings(ctx: Ctx, caller: Caller) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    Ok(warp::reply::json(&ctx.boot.settings()?).into_response())
}

#[utoipa::path(put, path = "/boot/settings", tag = "boot", operation_id = "putBootSettings",
    request_body = BootSettings,
    responses((status = 200, body = BootSettings)))]
pub(crate) async fn put_settings(ctx: Ctx, caller: Caller, body: RawBody) -> HandlerResult {
    let mut settings: BootSettings = caller.body(&ctx, Role::Operator, body)?;
    if let Some(network) = &mut settings.zerotier_network {
        validate_zerotier_network("zerotierNetwork", network)?;
        *network = network.to_ascii_lowercase();
    }
    if let Some(source) = &mut settings.kernel_source {
        let rest = source
            .strip_prefix("http://")
            .or_else(|| source.strip_prefix("https://"));
        let ok = rest
            .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || ".:-[]/_~".contains(c)));
        if !ok {
            return Err(Invalid::new("kernelSource", "must be an http:// or https:// base URL without query").into());
        }
        *source = source.trim_end_matches('/').to_owned();
    }
    if let Some(profile) = &settings.default_profile {
        profile_exists(&ctx, "defaultProfile", profile)?;
    }
    let expect = Expect::after(ctx.store.get::<BootSettings>(BOOT_SETTINGS_ID)?.as_ref());
    let stored = ctx.store.put(settings, expect).await?;
    Ok(warp::reply::json(&stored.value).into_response())
}
