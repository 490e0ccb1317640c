//! 0-bootstrap's URL scheme, `/<target>/<release>[/<network>[/<args>]]`, shared by the scripts (`/ipxe/…`) and
//! the boot media (`/iso/…`, `/usb/…`, …): the segments' validation, the optional `?profile=`, and the macro that
//! declares one operation per URL length.

use std::collections::HashMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use warp::Filter;

use crate::api::{ApiError, remote};
use crate::model::boot::{validate_kernel_arg, validate_release, validate_zerotier_network};
use crate::model::validate_id;

/// What a boot URL asks for, validated: nothing from it reaches a script or an image unchecked.
pub(crate) struct BootTarget {
    pub release: String,
    /// Lower case; `None` for none (`null`, `0`).
    pub network: Option<String>,
    pub args: Vec<String>,
    /// `?profile=`: boot this profile instead of the release's kernel.
    pub profile: Option<String>,
    /// The segments as requested, for boot events.
    pub tail: String,
}

/// Everything a boot URL's handler reads besides the path.
pub(crate) struct BootRequest {
    pub host: Option<String>,
    pub remote: Option<std::net::SocketAddr>,
    pub query: HashMap<String, String>,
    pub if_none_match: Option<String>,
}

pub(crate) fn boot_request() -> impl Filter<Extract = (BootRequest,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("host")
        .and(remote())
        .and(warp::query::<HashMap<String, String>>())
        .and(warp::header::optional::<String>("if-none-match"))
        .map(|host, remote, query, if_none_match| BootRequest {
            host,
            remote,
            query,
            if_none_match,
        })
}

/// Kernel arguments in a path segment: everything but unreserved characters encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

impl BootTarget {
    /// Validates the raw (URL-encoded) segments and the query; a 404 for a wrong number of segments, a 400
    /// naming the field for a bad value.
    pub fn parse(raw: &[String], query: &HashMap<String, String>) -> Result<BootTarget, ApiError> {
        let tail = raw.join("/");
        let segments: Vec<String> = raw
            .iter()
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let (release, network, extra) = match segments.as_slice() {
            [release] => (release, None, None),
            [release, network] => (release, Some(network), None),
            [release, network, extra] => (release, Some(network), Some(extra)),
            _ => return Err(ApiError::not_found("boot URL", &tail)),
        };
        validate_release("release", release)?;
        let network = network.filter(|n| !matches!(n.as_str(), "null" | "0" | ""));
        if let Some(network) = network {
            validate_zerotier_network("network", network)?;
        }
        let mut args = Vec::new();
        for arg in extra.iter().flat_map(|extra| extra.split_whitespace()) {
            validate_kernel_arg("args", arg)?;
            args.push(arg.to_owned());
        }
        let profile = query.get("profile").filter(|p| !p.is_empty()).cloned();
        if let Some(profile) = &profile {
            validate_id("profile", profile)?;
        }
        Ok(BootTarget {
            release: release.clone(),
            network: network.map(|n| n.to_ascii_lowercase()),
            args,
            profile,
            tail,
        })
    }

    /// The kernel arguments the URL adds: `zerotier=<network>`, then its extra arguments.
    pub fn kernel_args(&self) -> Vec<String> {
        let network = self.network.iter().map(|network| format!("zerotier={network}"));
        network.chain(self.args.iter().cloned()).collect()
    }

    /// This target's `/ipxe/…` script URL under `base`, normalised; with a profile, the query names it and lets
    /// iPXE fill in the machine's MAC and platform (a profile's command line and initrds may need them).
    pub fn script_url(&self, base: &str) -> String {
        let mut url = format!("{base}/ipxe/{}", self.release);
        if self.network.is_some() || !self.args.is_empty() {
            url.push('/');
            url.push_str(self.network.as_deref().unwrap_or("0"));
        }
        if !self.args.is_empty() {
            url.push('/');
            url.extend(utf8_percent_encode(&self.args.join(" "), SEGMENT));
        }
        if let Some(profile) = &self.profile {
            url.push_str(&format!("?profile={profile}&mac=${{net0/mac}}&platform=${{platform}}"));
        }
        url
    }

    /// A file name for an image of this target: `zos-<release>[-<network>][-<profile>]`.
    pub fn file_stem(&self) -> String {
        let mut stem = format!("zos-{}", self.release);
        for part in [&self.network, &self.profile].into_iter().flatten() {
            stem.push('-');
            stem.push_str(part);
        }
        stem
    }
}

/// Declares one of 0-bootstrap's URLs for one length (`release`, `release, network`, `release, network, args`)
/// as its own operation, answered by `$answer(extra…, segments, ctx, request)`; `script` or `media` says what it
/// answers (methods and responses). Each parameter's documentation is written once, below, and collected (`@doc`)
/// for the lengths that have it.
macro_rules! boot_url {
    ($handler:ident => $answer:path [$($extra:expr),*], $kind:ident, $operation:literal, $path:literal,
     ($($param:ident),*)) => {
        $crate::api::boot::target::boot_url!(@doc $kind, [$operation, $path], [], $($param)*;
            $handler, $answer, [$($extra),*], ($($param),*));
    };
    (@doc $kind:ident, $op:tt, [$($doc:tt)*], release $($rest:ident)*; $($fn:tt)*) => {
        $crate::api::boot::target::boot_url!(@doc $kind, $op, [$($doc)*
            ("release" = String, Path, description = "Zero-OS release (kernel zero-os-<release>.efi)"),],
            $($rest)*; $($fn)*);
    };
    (@doc $kind:ident, $op:tt, [$($doc:tt)*], network $($rest:ident)*; $($fn:tt)*) => {
        $crate::api::boot::target::boot_url!(@doc $kind, $op, [$($doc)*
            ("network" = String, Path, description = "ZeroTier network id; `null` or `0` for none"),],
            $($rest)*; $($fn)*);
    };
    (@doc $kind:ident, $op:tt, [$($doc:tt)*], args $($rest:ident)*; $($fn:tt)*) => {
        $crate::api::boot::target::boot_url!(@doc $kind, $op, [$($doc)*
            ("args" = String, Path, description = "Extra kernel arguments, space-separated, URL-encoded"),],
            $($rest)*; $($fn)*);
    };
    (@doc script, [$operation:literal, $path:literal], [$($doc:tt)*], ; $($fn:tt)*) => {
        $crate::api::boot::target::boot_url!(@fn [get, path = $path, operation_id = $operation, params($($doc)* ("profile" = Option<String>, Query, description = "Boot this boot profile (kernel, initrds, command \
                line; the network fills `{zerotier}`, the arguments are appended) instead of the release's kernel")),
            responses((status = 200, description = "0-bootstrap compatible iPXE script", body = String,
                    content_type = "text/plain"),
                (status = 400, body = $crate::api::error::ErrorBody),
                (status = 404, description = "No kernel for this release, or no such profile", body = $crate::api::error::ErrorBody),
                (status = 409, description = "The profile needs what the machine did not send", body = $crate::api::error::ErrorBody))];
            $($fn)*);
    };
    (@doc media, [$operation:literal, $path:literal], [$($doc:tt)*], ; $($fn:tt)*) => {
        $crate::api::boot::target::boot_url!(@fn [method(get, head), path = $path, operation_id = $operation,
            params($($doc)* ("profile" = Option<String>, Query, description = "Boot this boot profile (kernel, initrds, command \
                line; the network fills `{zerotier}`, the arguments are appended) instead of the release's kernel"),
                ("If-None-Match" = Option<String>, Header)),
            responses((status = 200, description = "The boot image", body = Vec<u8>,
                    content_type = "application/octet-stream",
                    headers(("ETag" = String), ("Content-Disposition" = String),
                        ("X-Boot-Script" = String, description = "The script URL the image chains to"),
                        ("X-Boot-Media-Note" = Option<String>,
                            description = "What the image cannot do alone, and how to do it"))),
                (status = 304, description = "Not modified"),
                (status = 400, body = $crate::api::error::ErrorBody),
                (status = 404, description = "No such profile", body = $crate::api::error::ErrorBody),
                (status = 503, description = "This server lacks a binary the image needs", body = $crate::api::error::ErrorBody))];
            $($fn)*);
    };
    (@fn [$($attr:tt)*]; $handler:ident, $answer:path, [$($extra:expr),*], ($($param:ident),*)) => {
        #[utoipa::path(tag = "boot", $($attr)*, security(()))]
        pub(crate) async fn $handler(
            $($param: String,)*
            ctx: $crate::api::Ctx,
            request: $crate::api::boot::target::BootRequest,
        ) -> $crate::api::HandlerResult {
            $answer($($extra,)* vec![$($param),*], ctx, request).await
        }
    };
}

pub(crate) use boot_url;
