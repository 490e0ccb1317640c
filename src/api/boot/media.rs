//! Boot media downloads (no token: like the scripts, they hold nothing secret and are fetched by hand or by
//! provisioning tools): `/{iso,usb,uefimg,krn,uefi}/<release>[/<network>[/<args>]][?profile=]`. The URL is
//! validated exactly as `/ipxe/…` is, before anything is built; the image's script chains to that `/ipxe/…` URL
//! on this server's boot URL (`--boot-url`, else the address the download came to).

use std::time::Instant;

use warp::Reply;
use warp::http::header::HeaderName;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::api::boot::serve::{client, http_base};
use crate::api::boot::target::{BootRequest, BootTarget, boot_request, boot_url};
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Ctx, HandlerResult, set_header, with_ctx};
use crate::boot::Served;
use crate::boot::media::{Kind, MediaError, chain_script};
use crate::model::boot::{BootOutcome, BootProfile, BootProtocol};

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    iso_release(release: String) [with_ctx(ctx), boot_request()],
    iso_network(release: String, network: String) [with_ctx(ctx), boot_request()],
    iso_args(release: String, network: String, args: String) [with_ctx(ctx), boot_request()],
    usb_release(release: String) [with_ctx(ctx), boot_request()],
    usb_network(release: String, network: String) [with_ctx(ctx), boot_request()],
    usb_args(release: String, network: String, args: String) [with_ctx(ctx), boot_request()],
    uefimg_release(release: String) [with_ctx(ctx), boot_request()],
    uefimg_network(release: String, network: String) [with_ctx(ctx), boot_request()],
    uefimg_args(release: String, network: String, args: String) [with_ctx(ctx), boot_request()],
    krn_release(release: String) [with_ctx(ctx), boot_request()],
    krn_network(release: String, network: String) [with_ctx(ctx), boot_request()],
    krn_args(release: String, network: String, args: String) [with_ctx(ctx), boot_request()],
    uefi_release(release: String) [with_ctx(ctx), boot_request()],
    uefi_network(release: String, network: String) [with_ctx(ctx), boot_request()],
    uefi_args(release: String, network: String, args: String) [with_ctx(ctx), boot_request()],
];

boot_url!(iso_release => image [Kind::Iso], media, "bootMediaIso", "/iso/{release}", (release));
boot_url!(iso_network => image [Kind::Iso], media, "bootMediaIsoForNetwork", "/iso/{release}/{network}",
    (release, network));
boot_url!(iso_args => image [Kind::Iso], media, "bootMediaIsoWithArgs", "/iso/{release}/{network}/{args}",
    (release, network, args));
boot_url!(usb_release => image [Kind::Usb], media, "bootMediaUsb", "/usb/{release}", (release));
boot_url!(usb_network => image [Kind::Usb], media, "bootMediaUsbForNetwork", "/usb/{release}/{network}",
    (release, network));
boot_url!(usb_args => image [Kind::Usb], media, "bootMediaUsbWithArgs", "/usb/{release}/{network}/{args}",
    (release, network, args));
boot_url!(uefimg_release => image [Kind::Uefimg], media, "bootMediaUefimg", "/uefimg/{release}", (release));
boot_url!(uefimg_network => image [Kind::Uefimg], media, "bootMediaUefimgForNetwork",
    "/uefimg/{release}/{network}", (release, network));
boot_url!(uefimg_args => image [Kind::Uefimg], media, "bootMediaUefimgWithArgs",
    "/uefimg/{release}/{network}/{args}", (release, network, args));
boot_url!(krn_release => image [Kind::Krn], media, "bootMediaKrn", "/krn/{release}", (release));
boot_url!(krn_network => image [Kind::Krn], media, "bootMediaKrnForNetwork", "/krn/{release}/{network}",
    (release, network));
boot_url!(krn_args => image [Kind::Krn], media, "bootMediaKrnWithArgs", "/krn/{release}/{network}/{args}",
    (release, network, args));
boot_url!(uefi_release => image [Kind::Uefi], media, "bootMediaUefi", "/uefi/{release}", (release));
boot_url!(uefi_network => image [Kind::Uefi], media, "bootMediaUefiForNetwork", "/uefi/{release}/{network}",
    (release, network));
boot_url!(uefi_args => image [Kind::Uefi], media, "bootMediaUefiWithArgs", "/uefi/{release}/{network}/{args}",
    (release, network, args));

async fn image(kind: Kind, raw: Vec<String>, ctx: Ctx, request: BootRequest) -> HandlerResult {
    let started = Instant::now();
    let target = BootTarget::parse(&raw, &request.query)?;
    if let Some(profile) = &target.profile
        && ctx.store.get::<BootProfile>(profile)?.is_none()
    {
        return Err(ApiError::not_found("boot profile", profile).with_field("profile"));
    }
    let script_url = target.script_url(&http_base(&ctx, request.host.as_deref())?);
    let script = chain_script(&script_url);
    let media = &ctx.boot.media;
    let etag = media.etag(kind, &script);
    let not_modified = request
        .if_none_match
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        // Building takes a few milliseconds of CPU: off the async workers.
        let build = tokio::task::spawn_blocking({
            let ctx = ctx.clone();
            move || ctx.boot.media.image(kind, &script)
        });
        let image = build
            .await
            .map_err(|err| ApiError::internal("the image build stopped", &err))?
            .map_err(|err| match err {
                MediaError::Missing(_) => {
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "media_unavailable", err.to_string())
                }
                MediaError::Build(io) => ApiError::internal("cannot build the image", &io),
            })?;
        let mut response = Response::new(image.clone().into());
        let disposition = format!("attachment; filename=\"{}.{}\"", target.file_stem(), kind.extension());
        set_header(&mut response, header::CONTENT_DISPOSITION, &disposition);
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.content_type()));
        ctx.boot.recorder.record(Served {
            mac: None,
            client: client(request.remote),
            protocol: BootProtocol::Http,
            file: format!("{}/{}", kind.name(), target.tail).chars().take(128).collect(),
            bytes: image.len() as u64,
            duration: started.elapsed(),
            outcome: BootOutcome::Ok,
            profile: target.profile.clone(),
            arch: None,
        });
        response
    };
    set_header(&mut response, header::ETAG, &etag);
    set_header(&mut response, HeaderName::from_static("x-boot-script"), &script_url);
    if let Some(note) = media.note(kind, &script_url) {
        set_header(&mut response, HeaderName::from_static("x-boot-media-note"), &note);
    }
    Ok(response)
}
