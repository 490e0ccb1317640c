//! Boot asset files: kernels, initramfs images. Bytes live under `<data-dir>/assets/<name>`, metadata (size,
//! sha256, time) in the store.
//!
//! Uploads stream to a temporary file while hashing, are synced, and only then renamed into place and recorded,
//! so a reader never sees a half-written asset and a failed upload leaves the old one untouched.
//!
//! Serving memory-maps each file once and hands out cheap clones of the mapping: a download (or a range of one)
//! is written to the socket straight from the page cache, with no per-request open, read or copy into a buffer.
//! That is what lets one process keep up with nginx during a boot storm.
//!
//! With an etcd store the instances share the assets: an upload also writes the content into etcd before the
//! record names it, and every instance brings its own files in line with the records ([`shared`]).

mod shared;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::mapped_file;
use crate::model::boot::{BootAsset, validate_asset_name};
use crate::store::{Store, StoreError};

/// The directory, inside the data directory, that holds the asset files.
pub const ASSETS_DIR: &str = "assets";
/// Temporary uploads start with this prefix, which asset names cannot (they may not start with '.').
const UPLOAD_PREFIX: &str = ".upload-";

/// name → (sha256, mapped bytes). Replaced uploads get a new entry (different sha256); an old mapping stays valid
/// for the transfers still using it, because files are only ever replaced by rename, never rewritten.
type Mapped = Arc<Mutex<HashMap<String, (String, Bytes)>>>;

pub struct AssetDir {
    dir: PathBuf,
    mapped: Mapped,
    /// With an etcd store: the content every instance shares, and what this instance's files hold.
    shared: Option<Arc<shared::Shared>>,
}

/// Why an asset's content cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// Not on this instance, and the store could not give it (etcd out of reach, the content removed).
    #[error("not on this instance yet, and it cannot be fetched from the store: {0}")]
    Fetch(StoreError),
    #[error("cannot read the file: {0}")]
    Read(std::io::Error),
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
    /// The asset directory; with an etcd store, also starts keeping it in line with the records (needs the
    /// runtime).
    pub fn open(dir: &Path, store: &Store) -> std::io::Result<AssetDir> {
        std::fs::create_dir_all(dir)?;
        // Leftovers of uploads interrupted by a crash.
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(UPLOAD_PREFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let mapped = Mapped::default();
        let shared = store
            .blobs()
            .map(|blobs| shared::Shared::start(dir, mapped.clone(), store.clone(), blobs));
        Ok(AssetDir {
            dir: dir.to_owned(),
            mapped,
            shared,
        })
    }

    /// The content of the asset whose record says `sha256`, and the SHA-256 of what is returned. With an etcd
    /// store, a file this instance does not have yet (or has in another version) is fetched first, and what is
    /// returned is the record's current version; `None` when the record is gone meanwhile.
    pub async fn content(&self, name: &str, sha256: &str) -> Result<Option<(String, Bytes)>, ContentError> {
        let sha256 = match &self.shared {
            Some(shared) if !shared.holds(name, sha256) => match shared.settle(name).await {
                Ok(Some(now)) => now,
                Ok(None) => return Ok(None),
                Err(err) => return Err(ContentError::Fetch(err)),
            },
            _ => sha256.to_owned(),
        };
        let bytes = self.bytes(name, &sha256).map_err(ContentError::Read)?;
        Ok(Some((sha256, bytes)))
    }

    /// `content` for callers that cannot wait (the TFTP workers): a file still to be fetched is an error now,
    /// and its fetch is started.
    pub fn content_now(&self, name: &str, sha256: &str) -> std::io::Result<Bytes> {
        if let Some(shared) = &self.shared
            && !shared.holds(name, sha256)
        {
            shared.settle_later(name);
            return Err(std::io::Error::other(
                "not on this instance yet; it is being fetched from the store",
            ));
        }
        self.bytes(name, sha256)
    }

    /// The contents of an asset whose metadata says `sha256`, memory-mapped on first use.
    fn bytes(&self, name: &str, sha256: &str) -> std::io::Result<Bytes> {
        let mut mapped = self.mapped.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((hash, bytes)) = mapped.get(name)
            && hash == sha256
        {
            return Ok(bytes.clone());
        }
        let path = self
            .path(name)
            .ok_or_else(|| std::io::Error::other("invalid asset name"))?;
        // Uploads are renamed into place and deletes unlink: a file is never rewritten while mapped.
        let bytes = mapped_file::map(std::fs::File::open(path)?)?;
        mapped.insert(name.to_owned(), (sha256.to_owned(), bytes.clone()));
        Ok(bytes)
    }

    fn forget(&self, name: &str) {
        forget(&self.mapped, name);
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
        let temp = temp_path(&self.dir);
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

    /// With an etcd store, writes a staged upload's content into it (before a record may name it).
    pub async fn share(&self, staged: &Staged) -> Result<(), StoreError> {
        match &self.shared {
            Some(shared) => shared.put(&staged.sha256, &staged.temp).await,
            None => Ok(()),
        }
    }

    /// With an etcd store, keeps this instance from changing the file of `name` on its own (after a change of
    /// the record) until the guard is dropped: an upload holds it from its rename to its record.
    pub async fn hold(&self, name: &str) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.shared {
            Some(shared) => Some(shared.hold(name).await),
            None => None,
        }
    }

    /// Moves a staged upload under its name (atomically replacing an older version) and syncs the directory.
    pub async fn commit(&self, staged: &Staged, name: &str) -> std::io::Result<()> {
        let target = self
            .path(name)
            .ok_or_else(|| std::io::Error::other("invalid asset name"))?;
        tokio::fs::rename(&staged.temp, &target).await?;
        self.forget(name);
        if let Some(shared) = &self.shared {
            shared.note(name, Some(&staged.sha256));
        }
        sync_dir(&self.dir).await
    }

    /// With an etcd store, after the record of an upload is written (the name still held): makes sure the
    /// content is still in etcd, where another instance's removal of an unused blob may have taken it between
    /// `share` and the record, and writes it again if not.
    pub async fn confirm(&self, asset: &BootAsset) -> Result<(), StoreError> {
        let (Some(shared), Some(path)) = (&self.shared, self.path(&asset.name)) else {
            return Ok(());
        };
        shared.confirm(asset, &path).await
    }

    /// With an etcd store, removes the content `sha256` once no record names it any more (after a delete or a
    /// replace). A failure leaves an unused blob, which is logged.
    pub async fn release(&self, sha256: &str) {
        if let Some(shared) = &self.shared {
            shared.release(sha256).await;
        }
    }

    pub async fn discard(&self, staged: Staged) {
        let _ = tokio::fs::remove_file(staged.temp).await;
    }

    pub async fn remove(&self, name: &str) -> std::io::Result<()> {
        if let Some(shared) = &self.shared {
            shared.note(name, None);
        }
        self.forget(name);
        let Some(path) = self.path(name) else { return Ok(()) };
        remove_file(&path).await
    }
}

/// `store copy` carries the asset files with their records.
impl crate::store::copy::FileRecord for BootAsset {
    const FOLDER: &'static str = ASSETS_DIR;

    fn file(&self) -> (&str, &str, u64) {
        (&self.name, &self.sha256, self.size)
    }
}

fn forget(mapped: &Mapped, name: &str) {
    mapped
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .remove(name);
}

/// Removes a file; one that is not there is fine.
async fn remove_file(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Makes a rename in `dir` durable.
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await
}

/// A new temporary file's path in `dir` (removed at the next start if left behind).
fn temp_path(dir: &Path) -> PathBuf {
    dir.join(format!("{UPLOAD_PREFIX}{}", rand_suffix()))
}

fn rand_suffix() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
