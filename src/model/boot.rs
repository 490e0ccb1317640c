//! Network boot: profiles (what to boot), selectors (who boots what), settings, uploaded assets, boot events.

use serde::{Deserialize, Serialize};

use super::validate::{Invalid, is_name_char};
use crate::store::Record;

/// What a profile boots: an uploaded asset, or a Zero-OS release resolved through the kernel source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KernelRef {
    /// The name of an uploaded boot asset.
    Asset(String),
    /// A Zero-OS release (e.g. `master`, `v1.1.0`): `zero-os-<release>.efi`, as 0-bootstrap names kernels.
    Release(String),
}

/// A way to boot a machine. Also the body of `POST /boot/profiles`, so unknown fields are refused (a typo must
/// not drop the field it meant); records are only ever written from this type, so none holds an unknown field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootProfile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kernel: KernelRef,
    /// Asset names, loaded in order.
    #[serde(default)]
    pub initrds: Vec<String>,
    /// Kernel command line. Variables: `{zerotier}` (the cluster's network), `{orchestrator}` (this server's
    /// URL), `{mac}`, `{node}` (the node id: MAC without colons), `{label:KEY}` (a label of the registered node).
    #[serde(default)]
    pub cmdline: String,
}

crate::store::record!(BootProfile, "boot_profiles", name);

/// Maps machines to a profile. Exactly one of `mac`, `uuid`, `label` is set; a MAC match beats a UUID match,
/// which beats a label match; with no match the default profile (settings) is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BootSelector {
    pub name: String,
    /// `52:54:00:12:34:56` (any case; stored lower case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// SMBIOS UUID (stored lower case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// `key=value`, matched against the labels of the registered node with this MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub profile: String,
}

crate::store::record!(BootSelector, "boot_selectors", name);

/// Cluster-wide boot settings (a single record). Also the body of `PUT /boot/settings`, which replaces them all:
/// a misspelt `defaultProfle` read as "no default profile" would reset it, so unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootSettings {
    /// The cluster's ZeroTier network id (16 hex digits): `{zerotier}` in command lines.
    #[serde(default)]
    pub zerotier_network: Option<String>,
    /// Where release kernels come from: a base URL (`<url>/zero-os-<release>.efi`), or unset for this server's
    /// own boot assets.
    #[serde(default)]
    pub kernel_source: Option<String>,
    /// The profile for machines no selector matches; unset means such machines wait (and retry).
    #[serde(default)]
    pub default_profile: Option<String>,
}

pub const BOOT_SETTINGS_ID: &str = "settings";

impl Record for BootSettings {
    const COLLECTION: &'static str = "boot_settings";
    fn id(&self) -> &str {
        BOOT_SETTINGS_ID
    }
}

/// An uploaded boot file (kernel, initramfs, image). The bytes live in `<data-dir>/assets/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BootAsset {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub uploaded_at: String,
}

crate::store::record!(BootAsset, "boot_assets", name);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BootProtocol {
    Tftp,
    Http,
    /// A proxyDHCP answer: which boot file a PXE client was sent to.
    Dhcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BootOutcome {
    /// The whole file or script was sent.
    Ok,
    /// The client stopped before the end.
    Aborted,
    /// No such file (or a refused name).
    NotFound,
    /// The request was refused or failed on our side.
    Error,
}

/// One served boot file or script, or one proxyDHCP answer (`protocol` dhcp, `file` the boot file offered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BootEvent {
    /// Increasing; newer events have larger ids.
    pub id: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    pub client: String,
    pub protocol: BootProtocol,
    pub file: String,
    pub bytes: u64,
    pub duration_ms: u64,
    pub outcome: BootOutcome,
    /// The profile a boot script was rendered from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The client's firmware as proxyDHCP saw it: `bios`, `uefi-x64`, or `arch-N` (RFC 4578 option 93).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// How many times this machine got this file with this outcome in this event (repeats within a second are
    /// one event); `bytes` is their total.
    #[serde(default = "one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

crate::store::record!(BootEvent, "boot_events", id);

/// Asset names: 1–128 of `[A-Za-z0-9._-]`, not starting with `.`: a plain file name, so nothing can escape
/// the asset directory (no `/`, no `..`).
pub fn validate_asset_name(field: &str, name: &str) -> Result<(), Invalid> {
    if name.is_empty() || name.len() > 128 || name.starts_with('.') || !name.chars().all(is_name_char) {
        return Err(Invalid::new(
            field,
            "must be 1 to 128 letters, digits, '-', '.' or '_', not starting with '.'",
        ));
    }
    Ok(())
}

/// A MAC address in any common spelling (`52:54:00:12:34:56`, `52-54-…`, `525400123456`), normalised to lower
/// case with colons.
pub fn normalize_mac(field: &str, mac: &str) -> Result<String, Invalid> {
    let hex: String = mac.chars().filter(|c| !matches!(c, ':' | '-')).collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Invalid::new(field, "must be a MAC address such as 52:54:00:12:34:56"));
    }
    let hex = hex.to_ascii_lowercase();
    Ok((0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect::<Vec<_>>().join(":"))
}

/// A ZeroTier network id: 16 hex digits.
pub fn validate_zerotier_network(field: &str, network: &str) -> Result<(), Invalid> {
    if network.len() != 16 || !network.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Invalid::new(field, "must be a ZeroTier network id: 16 hex digits"));
    }
    Ok(())
}

/// A Zero-OS release name as it appears in kernel file names (`master`, `v1.1.0`, `development`).
pub fn validate_release(field: &str, release: &str) -> Result<(), Invalid> {
    if release.is_empty() || release.len() > 64 || release.starts_with('.') || !release.chars().all(is_name_char) {
        return Err(Invalid::new(field, "must be 1 to 64 letters, digits, '-', '.' or '_'"));
    }
    Ok(())
}

/// One kernel command-line argument as iPXE will pass it on: no whitespace, and none of the characters iPXE
/// interprets in a script (`$`, `{`, `}`, `#`, `;`, `&`, `|`, quotes other than `"`), so a value can never turn
/// into script syntax.
pub fn validate_kernel_arg(field: &str, arg: &str) -> Result<(), Invalid> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "._,:/=@+-%\"".contains(c);
    if arg.is_empty() || arg.len() > 512 || !arg.chars().all(ok) {
        return Err(Invalid::new(
            field,
            format!("'{arg}' is not a safe kernel argument (letters, digits and . _ , : / = @ + - % \" only)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_cannot_escape() {
        assert!(validate_asset_name("name", "vmlinuz-6.1").is_ok());
        for bad in ["", "../etc/passwd", "a/b", ".hidden", "..", "a\0b", "x y", "%2e%2e"] {
            assert!(validate_asset_name("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn macs_are_normalised() {
        assert_eq!(normalize_mac("mac", "52-54-00-AB-cd-56").unwrap(), "52:54:00:ab:cd:56");
        assert_eq!(normalize_mac("mac", "525400abcd56").unwrap(), "52:54:00:ab:cd:56");
        assert!(normalize_mac("mac", "52:54:00:ab:cd").is_err());
        assert!(normalize_mac("mac", "zz:54:00:ab:cd:56").is_err());
    }

    #[test]
    fn kernel_args_cannot_carry_script_syntax() {
        for good in [
            "console=ttyS0",
            "zerotier=abcdef0123456789",
            "organization=\"my-org\"",
            "development",
        ] {
            assert!(validate_kernel_arg("cmdline", good).is_ok(), "{good}");
        }
        for bad in [
            "a b",
            "${net0/mac}",
            "x;reboot",
            "a||b",
            "#comment",
            "a\nchain",
            "'x'",
            "{zerotier}",
        ] {
            assert!(validate_kernel_arg("cmdline", bad).is_err(), "{bad:?}");
        }
    }
}
