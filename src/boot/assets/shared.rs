//! Boot assets shared by the instances on one etcd prefix: the content travels through etcd (the store's blobs),
//! and every instance keeps its own copy of each file in its data directory, so serving stays a memory map of a
//! local file, as with sled.
//!
//! The records say which version of a name is current (its SHA-256). An instance brings its file of a name in
//! line with the record — fetched into a temporary file, checked against the SHA-256, renamed into place, or
//! removed when the record is gone — at start for every name, on each change of a record, and before serving a
//! name whose file it does not hold in the record's version (the request waits for the fetch). All of that for
//! one name happens under its lock, which an upload holds from its rename to its record, so a file this
//! instance just received is never taken for a stale one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::broadcast::error::RecvError;

use super::{Mapped, UPLOAD_PREFIX, forget, remove_file, sync_dir, temp_path};
use crate::model::boot::{BootAsset, validate_asset_name};
use crate::store::{Blobs, Record, Store, StoreError, sha256_of};

pub(super) struct Shared {
    dir: PathBuf,
    mapped: Mapped,
    store: Store,
    blobs: Blobs,
    /// name → the SHA-256 this instance's file holds, once it wrote or checked it.
    present: Mutex<HashMap<String, String>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    runtime: tokio::runtime::Handle,
}

impl Shared {
    /// Starts keeping `dir` in line with the records: every name now, then each change.
    pub fn start(dir: &Path, mapped: Mapped, store: Store, blobs: Blobs) -> Arc<Shared> {
        let changes = store.watch();
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            mapped,
            store,
            blobs,
            present: Mutex::default(),
            locks: Mutex::default(),
            runtime: tokio::runtime::Handle::current(),
        });
        shared.runtime.spawn(follow(Arc::downgrade(&shared), changes));
        shared
    }

    /// Whether this instance's file of `name` is known to hold `sha256`.
    pub fn holds(&self, name: &str, sha256: &str) -> bool {
        self.present().get(name).is_some_and(|held| held == sha256)
    }

    /// Records what the file of `name` now holds (`None`: no file).
    pub fn note(&self, name: &str, sha256: Option<&str>) {
        match sha256 {
            Some(sha256) => self.present().insert(name.to_owned(), sha256.to_owned()),
            None => self.present().remove(name),
        };
    }

    fn present(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.present.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub async fn hold(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(name.to_owned())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    pub async fn put(&self, sha256: &str, file: &Path) -> Result<(), StoreError> {
        self.blobs.put(sha256, file).await
    }

    pub async fn confirm(&self, asset: &BootAsset, file: &Path) -> Result<(), StoreError> {
        if self.blobs.complete(&asset.sha256, asset.size).await? {
            return Ok(());
        }
        tracing::info!(name = %asset.name, "the asset's content was removed meanwhile; writing it again");
        self.blobs.put(&asset.sha256, file).await
    }

    pub async fn release(&self, sha256: &str) {
        let names = |asset: &BootAsset| asset.sha256 == sha256;
        if let Err(err) = self.store.drop_blob::<BootAsset>(sha256, names).await {
            tracing::warn!(sha256, "cannot remove an unused asset content from etcd: {err}");
        }
    }

    /// Brings the file of `name` in line with its record; the SHA-256 it then holds, `None` when there is no
    /// record (and so no file).
    pub async fn settle(&self, name: &str) -> Result<Option<String>, StoreError> {
        let _held = self.hold(name).await;
        let Some(asset) = self.store.get::<BootAsset>(name)?.map(|record| record.value) else {
            self.note(name, None);
            forget(&self.mapped, name);
            remove_file(&self.dir.join(name)).await?;
            return Ok(None);
        };
        if !self.holds(name, &asset.sha256) {
            if self.on_disk(&asset).await {
                tracing::debug!(name, "the asset's file is current");
            } else {
                self.fetch(&asset).await?;
            }
            self.note(name, Some(&asset.sha256));
        }
        Ok(Some(asset.sha256))
    }

    /// `settle` in the background, for a caller that cannot wait.
    pub fn settle_later(self: &Arc<Shared>, name: &str) {
        let (shared, name) = (self.clone(), name.to_owned());
        self.runtime.spawn(async move {
            if let Err(err) = shared.settle(&name).await {
                tracing::warn!(name, "cannot fetch the boot asset from etcd: {err}");
            }
        });
    }

    /// Whether the file of an asset already holds its content (left from before a restart).
    async fn on_disk(&self, asset: &BootAsset) -> bool {
        sha256_of(&self.dir.join(&asset.name))
            .await
            .is_ok_and(|found| found == asset.sha256)
    }

    /// Writes the asset's content from etcd into its file: a temporary file, checked, then renamed into place.
    async fn fetch(&self, asset: &BootAsset) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let temp = temp_path(&self.dir);
        let written = self.blobs.read_into(&asset.sha256, asset.size, &temp).await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        written?;
        tokio::fs::rename(&temp, self.dir.join(&asset.name)).await?;
        forget(&self.mapped, &asset.name);
        sync_dir(&self.dir).await?;
        tracing::info!(name = %asset.name, size = asset.size, elapsed = ?started.elapsed(), "boot asset fetched from etcd");
        Ok(())
    }

    /// Every name a record or a file has, settled.
    async fn settle_all(&self) {
        let mut names = match self.store.ids::<BootAsset>() {
            Ok(names) => names,
            Err(err) => {
                tracing::warn!("cannot list the boot assets: {err}");
                return;
            }
        };
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            names.extend(
                entries
                    .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                    .filter(|name| !name.starts_with(UPLOAD_PREFIX) && validate_asset_name("name", name).is_ok()),
            );
        }
        names.sort();
        names.dedup();
        for name in names {
            if let Err(err) = self.settle(&name).await {
                tracing::warn!(name, "cannot bring the boot asset in line with its record: {err}");
            }
        }
    }
}

/// Settles every name at start and after a gap in the changes, and each name whose record changes.
async fn follow(shared: Weak<Shared>, mut changes: tokio::sync::broadcast::Receiver<crate::store::Change>) {
    let mut everything = true;
    loop {
        let Some(live) = shared.upgrade() else { return };
        if std::mem::take(&mut everything) {
            live.settle_all().await;
        }
        drop(live);
        match changes.recv().await {
            Ok(change) if change.collection == BootAsset::COLLECTION => {
                let Some(live) = shared.upgrade() else { return };
                if let Err(err) = live.settle(&change.id).await {
                    tracing::warn!(name = %change.id, "cannot bring the boot asset in line with its record: {err}");
                }
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => everything = true,
            Err(RecvError::Closed) => return,
        }
    }
}
