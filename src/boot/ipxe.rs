//! The iPXE binaries machines chain-load: embedded at build time (see build.rs), or read from `--ipxe-dir`.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/ipxe_binaries.rs"));
}

/// The names machines ask for: BIOS (`undionly.kpxe`), UEFI (`ipxe.efi`, `snponly.efi`); and `ipxe.lkrn`, the
/// BIOS iPXE the boot media start from a disk or CD.
pub const NAMES: &[&str] = &["undionly.kpxe", "ipxe.efi", "snponly.efi", "ipxe.lkrn"];
/// The ones a directory may lack.
const OPTIONAL: &[&str] = &["snponly.efi", "ipxe.lkrn"];

#[derive(Clone)]
pub struct IpxeBinaries {
    files: BTreeMap<&'static str, Bytes>,
    /// Where they came from, for `/health`: the Debian package version or a directory.
    pub origin: String,
}

impl IpxeBinaries {
    pub fn embedded() -> IpxeBinaries {
        let files = embedded::EMBEDDED
            .iter()
            .map(|(name, bytes)| (*name, Bytes::from_static(bytes)))
            .collect();
        IpxeBinaries {
            files,
            origin: embedded::ORIGIN.to_owned(),
        }
    }

    /// Reads the binaries from `dir` (an operator's own iPXE build). `undionly.kpxe` and `ipxe.efi` must exist;
    /// the boot media use its `ipxe.efi` and `ipxe.lkrn` too.
    pub fn from_dir(dir: &Path) -> std::io::Result<IpxeBinaries> {
        let mut files = BTreeMap::new();
        for name in NAMES {
            match std::fs::read(dir.join(name)) {
                Ok(bytes) => {
                    files.insert(*name, Bytes::from(bytes));
                }
                Err(err) if OPTIONAL.contains(name) && err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(std::io::Error::new(
                        err.kind(),
                        format!("{}: {err}", dir.join(name).display()),
                    ));
                }
            }
        }
        Ok(IpxeBinaries {
            files,
            origin: format!("directory {}", dir.display()),
        })
    }

    pub fn get(&self, name: &str) -> Option<Bytes> {
        self.files.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.files.keys().copied()
    }
}
