//! The FAT image UEFI boots: `EFI/BOOT/BOOTX64.EFI` (iPXE) and its script `autoexec.ipxe`. It is the `uefimg`
//! download as it is (a whole-disk FAT file system, which UEFI firmware mounts like a partition) and the
//! El Torito EFI image inside the hybrid ISO.

use std::io::{Cursor, Write};

/// Room for the file system's own structures beyond the files' bytes.
const OVERHEAD: usize = 256 << 10;
const ALIGN: usize = 1 << 20;

pub fn efi_image(bootx64: &[u8], script: &[u8]) -> std::io::Result<Vec<u8>> {
    let size = (bootx64.len() + 2 * script.len() + OVERHEAD).div_ceil(ALIGN) * ALIGN;
    let mut disk = Cursor::new(vec![0u8; size]);
    fatfs::format_volume(
        &mut disk,
        fatfs::FormatVolumeOptions::new().volume_label(*b"ZOS-BOOT   "),
    )?;
    {
        let fs = fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new())?;
        {
            let root = fs.root_dir();
            let boot = root.create_dir("EFI")?.create_dir("BOOT")?;
            boot.create_file("BOOTX64.EFI")?.write_all(bootx64)?;
            // iPXE 1.21 looks for the script at the root of the file system it was loaded from, later releases
            // beside the binary: both places, so either finds it.
            root.create_file("autoexec.ipxe")?.write_all(script)?;
            boot.create_file("autoexec.ipxe")?.write_all(script)?;
        }
        fs.unmount()?;
    }
    Ok(disk.into_inner())
}
