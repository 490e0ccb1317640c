//! Converges storage: a pool is a btrfs filesystem on the listed devices, mounted at `/storage/<pool>`; a
//! filesystem is a subvolume of it (with its quota); a snapshot is a read-only snapshot of a filesystem. Each step
//! first asks the node what it has (`btrfs.list`, `btrfs.subvol_list`), so running a job twice does nothing twice.
//! Rolling a filesystem back to a snapshot is a job of the snapshot's.

use super::{Failure, Step};
use crate::model::storage::{
    FilesystemSpec, SnapshotSpec, StoragePoolSpec, filesystem_mountpoint, pool_mountpoint, snapshot_path,
};
use crate::model::{JobAction, Spec, Workload};
use crate::zos::ZosClient;

pub async fn apply_pool(step: &mut Step<'_>, client: &ZosClient) -> Result<(), Failure> {
    let Some(pool) = step.desired::<StoragePoolSpec>()? else {
        return Ok(());
    };
    let spec = &pool.spec;
    let mountpoint = pool_mountpoint(&spec.name);
    step.progress(10, "looking for the pool on the node").await?;
    let existing = client.find_pool(&spec.name).await?;
    if pool.deleting {
        if existing.is_some_and(|p| p["mountpoint"] == mountpoint.as_str()) {
            step.progress(50, "unmounting the pool").await?;
            client.unmount(&mountpoint).await?;
        }
        return step.remove::<StoragePoolSpec>().await;
    }
    let mounted = match &existing {
        Some(found) => found["mountpoint"] == mountpoint.as_str(),
        None => {
            step.progress(30, "creating the btrfs pool").await?;
            client
                .create_pool(&spec.name, &spec.devices, &spec.data_profile, &spec.metadata_profile)
                .await?;
            false
        }
    };
    if !mounted {
        step.progress(60, "mounting the pool").await?;
        client.mount(&spec.devices[0], &mountpoint).await?;
    }
    // The devices the node has against those wanted: add first, so a replacement never drops below the profile.
    let on_node: Vec<String> = existing
        .as_ref()
        .and_then(|found| found["devices"].as_array())
        .map(|devices| {
            devices
                .iter()
                .filter_map(|d| d["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_else(|| spec.devices.clone());
    let added: Vec<&String> = spec.devices.iter().filter(|d| !on_node.contains(d)).collect();
    let removed: Vec<&String> = on_node.iter().filter(|d| !spec.devices.contains(d)).collect();
    if !added.is_empty() {
        step.progress(70, "adding devices").await?;
        client.add_pool_devices(&mountpoint, &added).await?;
    }
    if !removed.is_empty() {
        step.progress(85, "removing devices (btrfs moves their data first)")
            .await?;
        client.remove_pool_devices(&mountpoint, &removed).await?;
    }
    step.observed(Some(("healthy", None))).await
}

pub async fn apply_filesystem(step: &mut Step<'_>, client: &ZosClient) -> Result<(), Failure> {
    let Some(filesystem) = step.desired::<FilesystemSpec>()? else {
        return Ok(());
    };
    let pool = &filesystem.parents[0];
    let path = filesystem_mountpoint(pool, &filesystem.spec.name);
    let Some(exists) = find_subvolume(step, client, &filesystem, &path, "filesystem").await? else {
        return Ok(());
    };
    if !exists {
        step.progress(40, "creating the subvolume").await?;
        client.create_subvolume(&path).await?;
    }
    if filesystem.spec.quota > 0 {
        step.progress(70, "setting the quota").await?;
        if let Err(err) = client.set_subvolume_quota(&path, filesystem.spec.quota).await {
            // Nothing partial: a filesystem without the quota it was asked for is removed again.
            if !exists {
                client.delete_subvolume(&path).await?;
            }
            return Err(err.into());
        }
    }
    step.observed(Some(("ready", None))).await
}

pub async fn apply_snapshot(step: &mut Step<'_>, client: &ZosClient) -> Result<(), Failure> {
    let Some(snapshot) = step.desired::<SnapshotSpec>()? else {
        return Ok(());
    };
    if step.job.action == JobAction::Rollback {
        return rollback(step, client, &snapshot).await;
    }
    let (pool, filesystem) = (&snapshot.parents[0], &snapshot.parents[1]);
    let path = snapshot_path(pool, filesystem, &snapshot.spec.name);
    let Some(exists) = find_subvolume(step, client, &snapshot, &path, "snapshot").await? else {
        return Ok(());
    };
    if !exists {
        step.progress(50, "taking the snapshot").await?;
        client
            .snapshot_subvolume(&filesystem_mountpoint(pool, filesystem), &path, true)
            .await?;
    }
    step.observed(Some(("ready", None))).await
}

/// Whether the subvolume at `path` of a filesystem or snapshot is on the node. One being deleted has its
/// subvolume removed (when there) and its record with it; `None` then says there is nothing more to do.
async fn find_subvolume<S: Spec>(
    step: &mut Step<'_>,
    client: &ZosClient,
    workload: &Workload<S>,
    path: &str,
    what: &str,
) -> Result<Option<bool>, Failure> {
    step.progress(10, &format!("looking for the {what} on the node"))
        .await?;
    let exists = client
        .has_subvolume(&pool_mountpoint(&workload.parents[0]), path)
        .await?;
    if !workload.deleting {
        return Ok(Some(exists));
    }
    if exists {
        client.delete_subvolume(path).await?;
    }
    step.remove::<S>().await?;
    Ok(None)
}

/// Rolls the snapshot's filesystem back to it, as 0-orchestrator does: the filesystem's subvolume is replaced by a
/// writable snapshot of the snapshot, with the filesystem's quota. Resumed after an interruption it finishes the
/// work: a subvolume already removed is not removed again, and nothing is removed unless the snapshot is there.
async fn rollback(step: &mut Step<'_>, client: &ZosClient, snapshot: &Workload<SnapshotSpec>) -> Result<(), Failure> {
    let (pool, filesystem) = (&snapshot.parents[0], &snapshot.parents[1]);
    let source = snapshot_path(pool, filesystem, &snapshot.spec.name);
    let path = filesystem_mountpoint(pool, filesystem);
    let key = Workload::<FilesystemSpec>::key(&snapshot.node, std::slice::from_ref(pool), filesystem);
    let quota = step
        .store()
        .get::<Workload<FilesystemSpec>>(&key)?
        .ok_or_else(|| Failure::not_found(format!("filesystem '{filesystem}' was deleted meanwhile")))?
        .value
        .spec
        .quota;
    step.progress(10, "looking for the snapshot on the node").await?;
    let mountpoint = pool_mountpoint(pool);
    if !client.has_subvolume(&mountpoint, &source).await? {
        return Err(Failure::not_found(format!(
            "the node has no snapshot '{}'",
            snapshot.spec.name
        )));
    }
    if client.has_subvolume(&mountpoint, &path).await? {
        step.progress(30, "removing the filesystem's current state").await?;
        client.delete_subvolume(&path).await?;
    }
    step.progress(60, "restoring the snapshot").await?;
    client.snapshot_subvolume(&source, &path, false).await?;
    if quota > 0 {
        step.progress(80, "setting the quota").await?;
        client.set_subvolume_quota(&path, quota).await?;
    }
    tracing::info!(node = %snapshot.node, pool = %pool, filesystem = %filesystem, snapshot = %snapshot.spec.name, "filesystem rolled back");
    Ok(())
}
