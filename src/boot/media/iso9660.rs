//! A hybrid ISO 9660 image: one flat root directory, El Torito boot entries for BIOS (ISOLINUX, no emulation)
//! and UEFI (a FAT image), and an isohybrid MBR so the same bytes boot from a CD and from a raw disk (USB).
//!
//! Written by hand rather than with a general ISO writer crate: the image is a fixed, flat layout of half a
//! dozen files, and what matters is byte-exact agreement with two ISOLINUX conventions a general writer would
//! have to be checked for anyway — the boot-info table patched into `isolinux.bin` (so it finds itself on a CD),
//! and the boot file's address written after `isohdpfx.bin`'s code in the MBR (so it finds itself on a disk).
//! `xorriso -report_el_torito` and `fdisk -l` check the result in `tests/boot_media.rs`.
//!
//! Layout, in 2048-byte blocks: 0–15 system area (the MBR in its first 512 bytes), 16 primary volume
//! descriptor, 17 El Torito boot record, 18 terminator, 19 and 20 the path tables (little- and big-endian), 21
//! the root directory, 22 the boot catalog, then each file from a block of its own; the whole padded to 1 MiB
//! (a whole number of 64-head, 32-sector cylinders, which some BIOSes want of a disk).

const BLOCK: usize = 2048;
const PVD: u32 = 16;
const BOOT_RECORD: u32 = 17;
const TERMINATOR: u32 = 18;
const PATH_TABLE_L: u32 = 19;
const PATH_TABLE_M: u32 = 20;
const ROOT_DIR: u32 = 21;
const CATALOG: u32 = 22;
const FIRST_FILE: u32 = 23;
/// Images are padded to a multiple of this.
const ALIGN: usize = 1 << 20;
/// Recording date of every entry (1980-01-01 00:00 UTC): fixed, so equal inputs give equal bytes (the ETag).
const DATE: [u8; 7] = [80, 1, 1, 0, 0, 0, 0];

/// What goes into the image. File names are ISO 9660 level 1 (8.3, upper case), as ISOLINUX reads them.
pub struct Hybrid<'a> {
    pub volume_id: &'a str,
    /// Root-directory files: (name, bytes), e.g. `("ISOLINUX.CFG", …)`.
    pub files: Vec<(&'a str, &'a [u8])>,
    /// The BIOS boot file among `files` (`isolinux.bin`); it gets the boot-info table.
    pub bios_boot: &'a str,
    /// The UEFI boot file among `files`: a FAT image with `EFI/BOOT/BOOTX64.EFI`.
    pub efi_boot: &'a str,
    /// `isohdpfx.bin`: the first 432 bytes of the MBR.
    pub mbr_code: &'a [u8],
}

pub fn write(spec: &Hybrid) -> Vec<u8> {
    let mut files: Vec<(String, &[u8])> = spec
        .files
        .iter()
        .map(|(name, bytes)| (format!("{name};1"), *bytes))
        .collect();
    // Directory records are sorted by name (ECMA-119 9.3).
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut extents = Vec::with_capacity(files.len());
    let mut next = FIRST_FILE;
    for (_, bytes) in &files {
        extents.push(next);
        next += bytes.len().div_ceil(BLOCK).max(1) as u32;
    }
    let size = (next as usize * BLOCK).div_ceil(ALIGN) * ALIGN;
    let mut image = vec![0u8; size];
    let blocks = (size / BLOCK) as u32;
    let extent_of = |name: &str| {
        let index = files
            .iter()
            .position(|(n, _)| n.trim_end_matches(";1") == name)
            .unwrap_or_else(|| panic!("boot file {name} is not among the files"));
        (extents[index], files[index].1)
    };

    for ((_, bytes), extent) in files.iter().zip(&extents) {
        let at = *extent as usize * BLOCK;
        image[at..at + bytes.len()].copy_from_slice(bytes);
    }
    let (bios_lba, bios) = extent_of(spec.bios_boot);
    let (efi_lba, efi) = extent_of(spec.efi_boot);
    patch_boot_info_table(&mut image[bios_lba as usize * BLOCK..][..bios.len()], bios_lba);

    let mut root = Vec::new();
    root.extend(dir_record(&[0], ROOT_DIR, BLOCK as u32, true));
    root.extend(dir_record(&[1], ROOT_DIR, BLOCK as u32, true));
    for ((name, bytes), extent) in files.iter().zip(&extents) {
        root.extend(dir_record(name.as_bytes(), *extent, bytes.len() as u32, false));
    }
    assert!(root.len() <= BLOCK, "the root directory fits one block");
    block(&mut image, ROOT_DIR)[..root.len()].copy_from_slice(&root);

    write_pvd(block(&mut image, PVD), spec.volume_id, blocks);
    write_boot_record(block(&mut image, BOOT_RECORD));
    let terminator = block(&mut image, TERMINATOR);
    terminator[0] = 255;
    terminator[1..6].copy_from_slice(b"CD001");
    terminator[6] = 1;
    write_path_table(
        block(&mut image, PATH_TABLE_L),
        ROOT_DIR.to_le_bytes(),
        1u16.to_le_bytes(),
    );
    write_path_table(
        block(&mut image, PATH_TABLE_M),
        ROOT_DIR.to_be_bytes(),
        1u16.to_be_bytes(),
    );
    write_catalog(block(&mut image, CATALOG), bios_lba, efi_lba, efi.len());
    write_mbr(&mut image[..512], spec.mbr_code, bios_lba, efi_lba, efi.len(), size);
    image
}

fn block(image: &mut [u8], lba: u32) -> &mut [u8] {
    &mut image[lba as usize * BLOCK..][..BLOCK]
}

/// ECMA-119 "both-byte orders" fields.
fn both32(value: u32) -> [u8; 8] {
    let mut out = [0; 8];
    out[..4].copy_from_slice(&value.to_le_bytes());
    out[4..].copy_from_slice(&value.to_be_bytes());
    out
}

fn both16(value: u16) -> [u8; 4] {
    let mut out = [0; 4];
    out[..2].copy_from_slice(&value.to_le_bytes());
    out[2..].copy_from_slice(&value.to_be_bytes());
    out
}

/// A directory record (ECMA-119 9.1): name `[0]` is `.`, `[1]` is `..`.
fn dir_record(name: &[u8], extent: u32, length: u32, directory: bool) -> Vec<u8> {
    let mut record = vec![0u8; 33 + name.len() + (name.len() + 1) % 2];
    record[0] = record.len() as u8;
    record[2..10].copy_from_slice(&both32(extent));
    record[10..18].copy_from_slice(&both32(length));
    record[18..25].copy_from_slice(&DATE);
    record[25] = if directory { 2 } else { 0 };
    record[28..32].copy_from_slice(&both16(1));
    record[32] = name.len() as u8;
    record[33..33 + name.len()].copy_from_slice(name);
    record
}

/// Text fields are padded with spaces.
fn text(field: &mut [u8], value: &str) {
    field.fill(b' ');
    field[..value.len()].copy_from_slice(value.as_bytes());
}

fn write_pvd(pvd: &mut [u8], volume_id: &str, blocks: u32) {
    pvd[0] = 1;
    pvd[1..6].copy_from_slice(b"CD001");
    pvd[6] = 1;
    text(&mut pvd[8..40], "");
    text(&mut pvd[40..72], volume_id);
    pvd[80..88].copy_from_slice(&both32(blocks));
    pvd[120..124].copy_from_slice(&both16(1));
    pvd[124..128].copy_from_slice(&both16(1));
    pvd[128..132].copy_from_slice(&both16(BLOCK as u16));
    pvd[132..140].copy_from_slice(&both32(10));
    pvd[140..144].copy_from_slice(&PATH_TABLE_L.to_le_bytes());
    pvd[148..152].copy_from_slice(&PATH_TABLE_M.to_be_bytes());
    pvd[156..190].copy_from_slice(&dir_record(&[0], ROOT_DIR, BLOCK as u32, true));
    text(&mut pvd[190..574], "");
    text(&mut pvd[574..702], "ZOS-ORCHESTRATOR");
    text(&mut pvd[702..813], "");
    // Creation, modification, expiration, effective dates: "not specified" (digits zero, offset zero).
    for date in pvd[813..881].chunks_mut(17) {
        date[..16].fill(b'0');
    }
    pvd[881] = 1;
}

fn write_boot_record(record: &mut [u8]) {
    record[1..6].copy_from_slice(b"CD001");
    record[6] = 1;
    record[7..30].copy_from_slice(b"EL TORITO SPECIFICATION");
    record[71..75].copy_from_slice(&CATALOG.to_le_bytes());
}

/// A path table with the root directory alone (ECMA-119 9.4).
fn write_path_table(table: &mut [u8], extent: [u8; 4], parent: [u8; 2]) {
    table[0] = 1;
    table[2..6].copy_from_slice(&extent);
    table[6..8].copy_from_slice(&parent);
}

/// The El Torito catalog: validation entry, the BIOS default entry (no emulation, 4 virtual sectors loaded, as
/// ISOLINUX expects), then a final section for the EFI platform with the FAT image.
fn write_catalog(catalog: &mut [u8], bios_lba: u32, efi_lba: u32, efi_len: usize) {
    let validation = &mut catalog[..32];
    validation[0] = 1;
    validation[30] = 0x55;
    validation[31] = 0xaa;
    let sum = validation.chunks(2).fold(0u16, |sum, word| {
        sum.wrapping_add(u16::from_le_bytes([word[0], word[1]]))
    });
    validation[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
    boot_entry(&mut catalog[32..64], 4, bios_lba);
    let section = &mut catalog[64..96];
    section[0] = 0x91;
    section[1] = 0xef;
    section[2..4].copy_from_slice(&1u16.to_le_bytes());
    let efi_sectors = u16::try_from(efi_len.div_ceil(512)).expect("the EFI image is under 32 MiB");
    boot_entry(&mut catalog[96..128], efi_sectors, efi_lba);
}

fn boot_entry(entry: &mut [u8], sectors: u16, lba: u32) {
    entry[0] = 0x88;
    entry[6..8].copy_from_slice(&sectors.to_le_bytes());
    entry[8..12].copy_from_slice(&lba.to_le_bytes());
}

/// The boot-info table (`mkisofs -boot-info-table`) at offset 8 of the BIOS boot file: where the volume
/// descriptor and the file are, its length and a checksum of its bytes from offset 64.
fn patch_boot_info_table(file: &mut [u8], lba: u32) {
    let checksum = file[64..]
        .chunks(4)
        .map(|word| {
            let mut bytes = [0u8; 4];
            bytes[..word.len()].copy_from_slice(word);
            u32::from_le_bytes(bytes)
        })
        .fold(0u32, u32::wrapping_add);
    file[8..12].copy_from_slice(&PVD.to_le_bytes());
    file[12..16].copy_from_slice(&lba.to_le_bytes());
    let length = file.len() as u32;
    file[16..20].copy_from_slice(&length.to_le_bytes());
    file[20..24].copy_from_slice(&checksum.to_le_bytes());
    file[24..64].fill(0);
}

/// The isohybrid MBR: `isohdpfx.bin`'s code, the BIOS boot file's address in 512-byte sectors (which that code
/// loads), a disk signature, and two partitions — the whole image (type 0, "empty", marked active: what BIOSes
/// boot and what UEFI skips, as in Debian's own ISOs) and the FAT image (type 0xEF, the EFI system partition UEFI
/// boots from a disk).
fn write_mbr(mbr: &mut [u8], code: &[u8], bios_lba: u32, efi_lba: u32, efi_len: usize, size: usize) {
    mbr[..code.len()].copy_from_slice(code);
    mbr[432..436].copy_from_slice(&(bios_lba * 4).to_le_bytes());
    mbr[436..440].fill(0);
    mbr[440..444].copy_from_slice(&0x5a4f_5321u32.to_le_bytes());
    mbr[444..446].fill(0);
    partition(&mut mbr[446..462], true, 0x00, 0, (size / 512) as u32);
    partition(
        &mut mbr[462..478],
        false,
        0xef,
        efi_lba * 4,
        efi_len.div_ceil(512) as u32,
    );
    mbr[478..510].fill(0);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
}

fn partition(entry: &mut [u8], active: bool, kind: u8, start: u32, sectors: u32) {
    entry[0] = if active { 0x80 } else { 0 };
    entry[1..4].copy_from_slice(&chs(start));
    entry[4] = kind;
    entry[5..8].copy_from_slice(&chs(start + sectors - 1));
    entry[8..12].copy_from_slice(&start.to_le_bytes());
    entry[12..16].copy_from_slice(&sectors.to_le_bytes());
}

/// A sector's cylinder/head/sector address in isohybrid's geometry (64 heads, 32 sectors), capped at the
/// largest CHS value.
fn chs(lba: u32) -> [u8; 3] {
    let (heads, sectors) = (64, 32);
    let cylinder = lba / (heads * sectors);
    if cylinder > 1023 {
        return [0xfe, 0xff, 0xff];
    }
    let head = (lba / sectors) % heads;
    let sector = lba % sectors + 1;
    [
        head as u8,
        (sector as u8) | ((cylinder >> 2) as u8 & 0xc0),
        cylinder as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_info_table_checksums_the_file_after_64_bytes() {
        let mut file = vec![0u8; 128];
        file[64] = 1;
        file[124] = 2;
        patch_boot_info_table(&mut file, 30);
        assert_eq!(u32::from_le_bytes(file[20..24].try_into().unwrap()), 3);
        assert_eq!(u32::from_le_bytes(file[12..16].try_into().unwrap()), 30);
    }

    #[test]
    fn catalog_validation_entry_sums_to_zero() {
        let mut catalog = vec![0u8; BLOCK];
        write_catalog(&mut catalog, 30, 40, 4096);
        let sum = catalog[..32]
            .chunks(2)
            .fold(0u16, |sum, w| sum.wrapping_add(u16::from_le_bytes([w[0], w[1]])));
        assert_eq!(sum, 0);
    }
}
