//! Boot asset files: kernels, initramfs images. Bytes live under `<data-dir>/assets/<name>`, metadata (size,
//! sha256, time) in the store.
//!
//! Uploads stream to a temporary file while hashing, are synced, and only then renamed into place and recorded,
//! so a reader never sees a half-written asset and a failed upload leaves the old one untouched.
//!
//! Serving memory-maps each file once and hands out cheap clones of the mapping: a download (or a range of one)
//! is written to the socket straight from the page cache, with no per-request open, read or copy into a buffer.
//! That is what lets one process keep up with nginx during a boot storm.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::model::boot::validate_asset_name;

/// The directory, inside the data directory, that holds the asset files.
pub const ASSETS_DIR: &str = "assets";
/// Temporary uploads start with this prefix, which asset names cannot (they may not start with '.').
const UPLOAD_PREFIX: &str = ".upload-";

pub struct AssetDir {
    dir: PathBuf,
    /// name → (sha256, mapped bytes). Replaced uploads get a new entry (different sha256); an old mapping stays
    /// valid for the transfers still using it, because files are only ever replaced by rename, never rewritten.
    mapped: Mutex<HashMap<String, (String, Bytes)>>,
}

/// A finished upload, not yet visible under its name.
pub struct Staged {
    temp: PathBuf,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("upload exceeds the limit of {0} bytes")]
    TooLarge(u64),
    #[error("upload interrupted: {0}")]
    Body(String),
    #[error("cannot store the upload: {0}")]
    Io(#[from] std::io::Error),
}

impl AssetDir {
    pub fn open(dir: &Path) -> std::io::Result<AssetDir> {
        std::fs::create_dir_all(dir)?;
        // Leftovers of uploads interrupted by a crash.
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(UPLOAD_PREFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(AssetDir {
            dir: dir.to_owned(),
            mapped: Mutex::new(HashMap::new()),
        })
    }

    /// The contents of an asset whose metadata says `sha256`, memory-mapped on first use.
    pub fn bytes(&self, name: &str, sha256: &str) -> std::io::Result<Bytes> {
        let mut mapped = self.mapped.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((hash, bytes)) = mapped.get(name)
            && hash == sha256
        {
            return Ok(bytes.clone());
        }
        let path = self
            .path(name)
            .ok_or_else(|| std::io::Error::other("invalid asset name"))?;
        let file = std::fs::File::open(path)?;
        let bytes = if file.metadata()?.len() == 0 {
            Bytes::new()
        } else {
            // SAFETY: the mapping is only sound while nobody truncates or rewrites the file. This process never
            // does (uploads are renamed into place, deletes unlink), and the asset directory belongs to it.
            let map = unsafe { memmap2::Mmap::map(&file)? };
            Bytes::from_owner(map)
        };
        mapped.insert(name.to_owned(), (sha256.to_owned(), bytes.clone()));
        Ok(bytes)
    }

    fn forget(&self, name: &str) {
        self.mapped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(name);
    }

    /// The file of a (validated) asset name. `None` for a name that is not a plain file name.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        validate_asset_name("name", name).ok().map(|()| self.dir.join(name))
    }

    /// Streams a body to a temporary file, hashing as it goes; never holds more than one chunk in memory.
    pub async fn stage<S, B>(&self, body: S, limit: u64) -> Result<Staged, UploadError>
    where
        S: Stream<Item = Result<B, warp::Error>>,
        B: Buf,
    {
        let temp = self.dir.join(format!("{UPLOAD_PREFIX}{}", rand_suffix()));
        let result = async {
            let mut file = tokio::fs::File::create(&temp).await?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut body = std::pin::pin!(body);
            while let Some(chunk) = body.next().await {
                let mut chunk = chunk.map_err(|err| UploadError::Body(err.to_string()))?;
                size += chunk.remaining() as u64;
                if size > limit {
                    return Err(UploadError::TooLarge(limit));
                }
                while chunk.has_remaining() {
                    let part = chunk.chunk();
                    hasher.update(part);
                    file.write_all(part).await?;
                    let n = part.len();
                    chunk.advance(n);
                }
            }
            file.sync_all().await?;
            Ok((size, hex::encode(hasher.finalize())))
        }
        .await;
        match result {
            Ok((size, sha256)) => Ok(Staged { temp, size, sha256 }),
            Err(err) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(err)
            }
        }
    }

    /// Moves a staged upload under its name (atomically replacing an older version) and syncs the directory.
    pub async fn commit(&self, staged: &Staged, name: &str) -> std::io::Result<()> {
        let target = self
            .path(name)
            .ok_or_else(|| std::io::Error::other("invalid asset name"))?;
        tokio::fs::rename(&staged.temp, &target).await?;
        self.forget(name);
        tokio::fs::File::open(&self.dir).await?.sync_all().await
    }

    pub async fn discard(&self, staged: Staged) {
        let _ = tokio::fs::remove_file(staged.temp).await;
    }

    pub async fn remove(&self, name: &str) -> std::io::Result<()> {
        self.forget(name);
        let Some(path) = self.path(name) else { return Ok(()) };
        match tokio::fs::remove_file(path).await {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

fn rand_suffix() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
