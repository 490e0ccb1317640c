//! The iPXE binaries machines chain-load: embedded at build time (see build.rs), or read from `--ipxe-dir`.

use std::path::Path;

use super::file_set::FileSet;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/ipxe_binaries.rs"));
}

/// The names machines ask for: BIOS (`undionly.kpxe`), UEFI (`ipxe.efi`, `snponly.efi`); and `ipxe.lkrn`, the
/// BIOS iPXE the boot media start from a disk or CD.
pub const NAMES: &[&str] = &["undionly.kpxe", "ipxe.efi", "snponly.efi", "ipxe.lkrn"];
/// The ones a directory may lack.
const OPTIONAL: &[&str] = &["snponly.efi", "ipxe.lkrn"];

/// The set `Boot` serves them from.
pub type IpxeBinaries = FileSet;

/// The embedded binaries, or those in `dir` (an operator's own iPXE build): `undionly.kpxe` and `ipxe.efi` must
/// exist there; the boot media use its `ipxe.efi` and `ipxe.lkrn` too.
pub fn load(dir: Option<&Path>) -> std::io::Result<IpxeBinaries> {
    match dir {
        Some(dir) => FileSet::from_dir(dir, NAMES, OPTIONAL),
        None => Ok(FileSet::embedded(embedded::EMBEDDED, embedded::ORIGIN)),
    }
}
