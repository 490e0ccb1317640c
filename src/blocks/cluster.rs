//! A storage cluster's blocks as the store knows them: its engines from the recorded servers, and which
//! deduplicated block sets (boot vdisks, images) live on it. Deduplicated blocks are shared between sets with the
//! same content, so removing one set keeps every block another still refers to. Used by the API (deleting a
//! vdisk or an image, making a vdisk from an image) and the engine (importing an image, or undoing a failed
//! import, or undoing a failed import). A vdisk storage's `objectCluster` holds its boot and db vdisks'
//! transaction logs (`journal.rs`).

use std::collections::HashSet;

use super::{BlockError, Journal, Shards, VdiskBlocks};
use crate::model::image::Image;
use crate::model::storage_cluster::StorageClusterServers;
use crate::model::vdisk::Vdisk;
use crate::model::vdisk_storage::VdiskStorage;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] BlockError),
}

/// The block cluster of vdisk storage `storage` (`None` when the vdisk storage is gone).
pub fn cluster_of(store: &Store, storage: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .get::<VdiskStorage>(storage)?
        .map(|found| found.value.block_cluster))
}

/// Connections to the engines of cluster `label`; `None` while it has none recorded (nothing can be stored on it
/// yet, so there is nothing to remove either).
async fn shards(store: &Store, label: &str) -> Result<Option<Shards>, ClusterError> {
    let addresses = store
        .get::<StorageClusterServers>(label)?
        .map(|recorded| recorded.value.addresses())
        .unwrap_or_default();
    if addresses.is_empty() {
        return Ok(None);
    }
    Ok(Some(Shards::connect(&addresses).await?))
}

/// Connections to the engines of cluster `label`, which must have some.
pub async fn engines(store: &Store, label: &str) -> Result<Shards, ClusterError> {
    shards(store, label)
        .await?
        .ok_or_else(|| BlockError::no_engines().into())
}

/// The ids in the engines of the deduplicated sets on cluster `label`: boot vdisks and images.
fn deduplicated_on(store: &Store, label: &str) -> Result<Vec<String>, StoreError> {
    let on_cluster = |storage: &str| cluster_of(store, storage).map(|found| found.as_deref() == Some(label));
    let mut ids = Vec::new();
    for vdisk in store.all::<Vdisk>()? {
        if vdisk.deduplicated() && on_cluster(&vdisk.vdiskstorage)? {
            ids.push(vdisk.id);
        }
    }
    for image in store.all::<Image>()? {
        if on_cluster(&image.vdiskstorage)? {
            ids.push(Image::blocks_id(&image.name));
        }
    }
    Ok(ids)
}

/// Removes the blocks of set `id` from the engines of cluster `label`; of a deduplicated set, those no other
/// deduplicated set on the cluster refers to.
pub async fn remove(store: &Store, label: &str, id: &str, deduplicated: bool) -> Result<(), ClusterError> {
    let Some(shards) = shards(store, label).await? else {
        return Ok(());
    };
    let mut still_used = HashSet::new();
    if deduplicated {
        for other in deduplicated_on(store, label)?.iter().filter(|other| *other != id) {
            still_used.extend(VdiskBlocks::new(other, shards.clone(), true).hashes().await?);
        }
    }
    VdiskBlocks::new(id, shards, deduplicated).delete(&still_used).await?;
    Ok(())
}

/// The engines of the transaction log of `vdisk` (of `storage`), when it keeps one and they are recorded.
async fn journal_of(store: &Store, storage: &VdiskStorage, vdisk: &Vdisk) -> Result<Option<Journal>, ClusterError> {
    let Some(label) = storage.object_cluster.as_deref().filter(|_| vdisk.journaled()) else {
        return Ok(None);
    };
    Ok(shards(store, label)
        .await?
        .map(|shards| Journal::new(&vdisk.id, shards)))
}

/// The blocks of `vdisk` (of `storage`) with its transaction log, to roll back with; `None` while the block
/// cluster has no engines (nothing was written yet).
pub async fn journaled_blocks(
    store: &Store,
    storage: &VdiskStorage,
    vdisk: &Vdisk,
) -> Result<Option<VdiskBlocks>, ClusterError> {
    let Some(shards) = shards(store, &storage.block_cluster).await? else {
        return Ok(None);
    };
    let blocks = VdiskBlocks::new(&vdisk.id, shards, vdisk.deduplicated());
    Ok(Some(match journal_of(store, storage, vdisk).await? {
        Some(journal) => blocks.with_journal(journal),
        None => blocks,
    }))
}

/// Removes the transaction log of `vdisk` (of `storage`), if it keeps one.
pub async fn remove_journal(store: &Store, storage: &VdiskStorage, vdisk: &Vdisk) -> Result<(), ClusterError> {
    if let Some(journal) = journal_of(store, storage, vdisk).await? {
        journal.delete().await?;
    }
    Ok(())
}
