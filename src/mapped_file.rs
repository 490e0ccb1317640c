//! Files mapped into memory as `Bytes` that still know their file, so the HTTP edge can have the kernel send
//! them with `sendfile`.
//!
//! Boot assets are memory-mapped and handed to hyper as `Bytes`: a download costs no read and no buffer. But
//! hyper writes a body with `write`, and the kernel copies every byte into the socket. On a boot storm of small
//! files that copy was a quarter of the server's CPU, where nginx sends the same file with `sendfile` and copies
//! nothing. hyper cannot be handed a file, so the bytes carry it instead: [`map`] registers the mapping's
//! address range with its file, and [`file_behind`] answers, for bytes that `http_server` is asked to write,
//! which file and offset they are. The mapping and the file are the same pages of the page cache, so what
//! `sendfile` sends is what the bytes hold.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;

/// The mapped ranges: start address → (length, file). Read on every response write, changed when a file is
/// mapped or its last `Bytes` is dropped.
static MAPPED: RwLock<BTreeMap<usize, (usize, Arc<File>)>> = RwLock::new(BTreeMap::new());

/// The whole of `file`, mapped, as `Bytes` (empty for an empty file, which cannot be mapped).
///
/// The mapping is only sound while nobody truncates or rewrites the file in place; a caller must own the file's
/// folder and replace files by renaming new ones into place (boot assets are).
pub fn map(file: File) -> std::io::Result<Bytes> {
    if file.metadata()?.len() == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: see above; the caller's contract.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    let start = map.as_ptr() as usize;
    MAPPED
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(start, (map.len(), Arc::new(file)));
    Ok(Bytes::from_owner(Mapping { map }))
}

/// The file `bytes` lie in and their offset in it, when they are (part of) a mapping made by [`map`].
///
/// The file stays open at least as long as `bytes` are borrowed: they belong to a live mapping, and a mapping is
/// forgotten here before it is unmapped.
pub fn file_behind(bytes: &[u8]) -> Option<(Arc<File>, u64)> {
    let address = bytes.as_ptr() as usize;
    let mapped = MAPPED.read().unwrap_or_else(PoisonError::into_inner);
    let (&start, (len, file)) = mapped.range(..=address).next_back()?;
    (address + bytes.len() <= start + len).then(|| (file.clone(), (address - start) as u64))
}

/// A registered mapping; the owner of the `Bytes` that [`map`] gives out.
struct Mapping {
    map: memmap2::Mmap,
}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Before the unmapping (the field is dropped after this), so the range is never reused while registered.
        MAPPED
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(self.map.as_ptr() as usize));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn bytes_of_a_mapped_file_name_it_and_their_offset_until_dropped() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[7; 10_000]).unwrap();
        let bytes = map(file).unwrap();
        assert_eq!(bytes.len(), 10_000);
        let (file, offset) = file_behind(&bytes[1_000..2_000]).expect("a slice of the mapping");
        assert_eq!((file.metadata().unwrap().len(), offset), (10_000, 1_000));
        assert!(file_behind(&[7; 100]).is_none(), "bytes elsewhere are no file's");
        let address = bytes.as_ptr() as usize;
        drop((bytes, file));
        assert!(!MAPPED.read().unwrap().contains_key(&address), "forgotten once dropped");
    }
}
