//! Boot media for machines no PXE reaches: images whose iPXE runs a script that chains to this server (0-bootstrap's
//! `/iso/…`, `/usb/…`, `/uefimg/…`, `/krn/…`, `/uefi/…`). Assembled at request time from prebuilt binaries — the
//! iPXE builds of [`super::IpxeBinaries`] and ISOLINUX ([`syslinux`]) — without compiling anything: the script
//! is a file beside iPXE rather than linked into it.
//!
//! - `iso` / `usb`: one hybrid image ([`iso9660`]). BIOS: ISOLINUX starts `ipxe.lkrn` with the script as its
//!   initrd (Debian's lkrn runs a script given that way), from a CD or, through the isohybrid MBR, a disk. UEFI:
//!   the El Torito EFI image, also the MBR's EFI system partition, a FAT image ([`fat`]).
//! - `uefimg`: that FAT image alone (`EFI/BOOT/BOOTX64.EFI` + `autoexec.ipxe`).
//! - `krn`, `uefi`: the bare `ipxe.lkrn` / `ipxe.efi`, which cannot carry a script without recompiling iPXE; the
//!   response says how to give them the script ([`Kind::note`]).
//!
//! In UEFI, iPXE runs `autoexec.ipxe` only from release 1.21 on: Debian bookworm's `ipxe.efi` (2019) ignores it
//! and falls back to plain DHCP booting. `--ipxe-dir` with a newer `ipxe.efi` (Debian trixie's, which
//! `scripts/fetch-ipxe-trixie` unpacks, or an own build) makes the EFI side run the script; `/health` says which
//! build the media carry.

mod cache;
mod fat;
mod iso9660;

use bytes::Bytes;
use sha2::{Digest, Sha256};

pub use cache::CacheUse;

use super::IpxeBinaries;
use super::file_set::FileSet;

/// ISOLINUX's binaries: embedded at build time (see build.rs), or from `--syslinux-dir`.
pub mod syslinux {
    use std::path::Path;

    use crate::boot::file_set::FileSet;

    mod embedded {
        include!(concat!(env!("OUT_DIR"), "/syslinux_binaries.rs"));
    }

    /// ISOLINUX's files: the El Torito loader, the hybrid MBR code, the core module.
    pub const NAMES: &[&str] = &["isolinux.bin", "isohdpfx.bin", "ldlinux.c32"];

    /// The embedded files, or those in `dir`, where all three must exist.
    pub fn load(dir: Option<&Path>) -> std::io::Result<FileSet> {
        match dir {
            Some(dir) => FileSet::from_dir(dir, NAMES, &[]),
            None => Ok(FileSet::embedded(embedded::EMBEDDED, embedded::ORIGIN)),
        }
    }
}

/// Images kept built (about 2 MiB each for `iso`, 1 MiB for `uefimg`).
const CACHE_ENTRIES: usize = 32;
const CACHE_BYTES: usize = 96 << 20;

/// The kinds of image, by their URL prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Iso,
    Usb,
    Uefimg,
    Krn,
    Uefi,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Iso => "iso",
            Kind::Usb => "usb",
            Kind::Uefimg => "uefimg",
            Kind::Krn => "krn",
            Kind::Uefi => "uefi",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Kind::Iso => "iso",
            Kind::Usb | Kind::Uefimg => "img",
            Kind::Krn => "lkrn",
            Kind::Uefi => "efi",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Iso => "application/x-iso9660-image",
            _ => "application/octet-stream",
        }
    }

    /// What the user must know to boot this image with the script at `script_url`, where the image alone does
    /// not get there (sent as a response header and shown by the UI).
    pub fn note(self, script_url: &str, efi_runs_autoexec: bool) -> Option<String> {
        let efi = if efi_runs_autoexec {
            None
        } else {
            Some(
                "this server's ipxe.efi (Debian bookworm's) ignores autoexec.ipxe, so UEFI machines fall back to DHCP \
                 booting; start the server with --ipxe-dir holding an ipxe.efi of iPXE 1.21 or later (Debian \
                 trixie's: scripts/fetch-ipxe-trixie)",
            )
        };
        match self {
            Kind::Iso | Kind::Usb => efi.map(|efi| format!("BIOS boots the script; {efi}")),
            Kind::Uefimg => efi.map(str::to_owned),
            Kind::Krn => Some(format!(
                "ipxe.lkrn cannot embed a script without recompiling iPXE: load {script_url} as its initrd \
                 (GRUB: linux16 ipxe.lkrn, initrd16 <that file>; syslinux: LINUX ipxe.lkrn, INITRD <that file>)"
            )),
            Kind::Uefi => Some(format!(
                "ipxe.efi cannot embed a script without recompiling iPXE: save {script_url} as autoexec.ipxe beside \
                 it on the boot file system (iPXE 1.21 or later runs it)"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("this server has no {0} (its --ipxe-dir lacks it)")]
    Missing(&'static str),
    #[error("cannot build the image: {0}")]
    Build(#[from] std::io::Error),
}

pub struct Media {
    lkrn: Option<Bytes>,
    efi: Option<Bytes>,
    syslinux: FileSet,
    /// Where the iPXE binaries came from, for `/health`.
    ipxe_origin: String,
    /// Whether the `ipxe.efi` runs `autoexec.ipxe` (iPXE 1.21 or later).
    efi_runs_autoexec: bool,
    /// A digest of all the binaries: part of every ETag, so a server with other binaries never matches.
    fingerprint: [u8; 32],
    cache: cache::Cache,
}

impl Media {
    pub fn new(ipxe: &IpxeBinaries, syslinux: FileSet) -> Media {
        let lkrn = ipxe.get("ipxe.lkrn");
        let efi = ipxe.get("ipxe.efi");
        let mut digest = Sha256::new();
        for bytes in [&lkrn, &efi].into_iter().flatten() {
            digest.update(Sha256::digest(bytes));
        }
        for bytes in syslinux.contents() {
            digest.update(Sha256::digest(bytes));
        }
        Media {
            efi_runs_autoexec: efi.as_deref().is_some_and(runs_autoexec),
            lkrn,
            efi,
            syslinux,
            ipxe_origin: ipxe.origin.clone(),
            fingerprint: digest.finalize().into(),
            cache: cache::Cache::new(CACHE_ENTRIES, CACHE_BYTES),
        }
    }

    /// Where the media's binaries come from, for `/health`.
    pub fn origin(&self) -> String {
        format!(
            "iPXE: {}; ISOLINUX: {}; UEFI script: {}",
            self.ipxe_origin,
            self.syslinux.origin,
            if self.efi_runs_autoexec {
                "autoexec.ipxe"
            } else {
                "not run (ipxe.efi older than 1.21)"
            }
        )
    }

    pub fn cache_use(&self) -> CacheUse {
        self.cache.usage()
    }

    pub fn note(&self, kind: Kind, script_url: &str) -> Option<String> {
        kind.note(script_url, self.efi_runs_autoexec)
    }

    /// The quoted strong ETag `kind` with `script` has — a digest of everything the image is made of — known
    /// before anything is built (a revalidation costs nothing).
    pub fn etag(&self, kind: Kind, script: &str) -> String {
        let mut digest = Sha256::new();
        digest.update(self.fingerprint);
        // `usb` is the same bytes as `iso`; only the bare binaries ignore the script.
        match kind {
            Kind::Iso | Kind::Usb => digest.update(b"hybrid\0"),
            Kind::Uefimg => digest.update(b"uefimg\0"),
            Kind::Krn | Kind::Uefi => digest.update(kind.name()),
        }
        if matches!(kind, Kind::Iso | Kind::Usb | Kind::Uefimg) {
            digest.update(script.as_bytes());
        }
        format!("\"{}\"", hex::encode(&digest.finalize()[..16]))
    }

    /// The image of `kind` running `script`, from the cache or built now.
    pub fn image(&self, kind: Kind, script: &str) -> Result<Bytes, MediaError> {
        let etag = self.etag(kind, script);
        Ok(match kind {
            Kind::Krn => self.lkrn.clone().ok_or(MediaError::Missing("ipxe.lkrn"))?,
            Kind::Uefi => self.efi.clone().ok_or(MediaError::Missing("ipxe.efi"))?,
            Kind::Iso | Kind::Usb | Kind::Uefimg => match self.cache.get(&etag) {
                Some(bytes) => bytes,
                None => {
                    let bytes = Bytes::from(self.build(kind, script)?);
                    self.cache.insert(etag, bytes.clone());
                    bytes
                }
            },
        })
    }

    fn build(&self, kind: Kind, script: &str) -> Result<Vec<u8>, MediaError> {
        let efi = self.efi.as_deref().ok_or(MediaError::Missing("ipxe.efi"))?;
        let efi_image = fat::efi_image(efi, script.as_bytes())?;
        if kind == Kind::Uefimg {
            return Ok(efi_image);
        }
        let lkrn = self.lkrn.as_deref().ok_or(MediaError::Missing("ipxe.lkrn"))?;
        let [isolinux, ldlinux, mbr_code] =
            ["isolinux.bin", "ldlinux.c32", "isohdpfx.bin"].map(|name| self.syslinux.get(name).unwrap_or_default());
        Ok(iso9660::write(&iso9660::Hybrid {
            volume_id: "ZOS_BOOT",
            files: vec![
                ("ISOLINUX.BIN", &isolinux),
                ("LDLINUX.C32", &ldlinux),
                ("ISOLINUX.CFG", ISOLINUX_CFG.as_bytes()),
                ("IPXE.KRN", lkrn),
                ("BOOT.IPX", script.as_bytes()),
                ("EFI.IMG", &efi_image),
            ],
            bios_boot: "ISOLINUX.BIN",
            efi_boot: "EFI.IMG",
            mbr_code: &mbr_code,
        }))
    }
}

/// ISOLINUX starts iPXE at once, with the script as its initrd.
const ISOLINUX_CFG: &str = "DEFAULT ipxe\nPROMPT 0\nLABEL ipxe\n  LINUX /ipxe.krn\n  INITRD /boot.ipx\n";

/// Whether an `ipxe.efi` knows `autoexec.ipxe`: the file name is a string in builds that look for it (ASCII in
/// Debian trixie's 1.21.1 build, UTF-16 in some others; bookworm's has neither).
fn runs_autoexec(efi: &[u8]) -> bool {
    let ascii = b"autoexec.ipxe".to_vec();
    let utf16: Vec<u8> = "autoexec.ipxe".encode_utf16().flat_map(u16::to_le_bytes).collect();
    [ascii, utf16]
        .iter()
        .any(|needle| efi.windows(needle.len()).any(|window| window == needle.as_slice()))
}

/// The script every image runs: bring the network up, then chain to `url` (this server's script for the
/// network), retrying until it answers.
pub fn chain_script(url: &str) -> String {
    format!(
        "#!ipxe\n\
         echo zos-orchestrator boot media: loading {url}\n\
         :retry\n\
         dhcp || goto failed\n\
         chain {url} || goto failed\n\
         :failed\n\
         echo zos-orchestrator: cannot load {url}, retrying in 10 s\n\
         sleep 10\n\
         goto retry\n"
    )
}
