//! Converges storage: a pool is a btrfs filesystem on the listed devices, mounted at `/storage/<pool>`; a
//! filesystem is a subvolume of it (with its quota); a snapshot is a read-only snapshot of a filesystem. Each step
//! first asks the node what it has (`btrfs.list`, `btrfs.subvol_list`), so running a job twice does nothing twice.
//! Rolling a filesystem back to a snapshot is a job of the snapshot's.

use serde_json::{Value, json};

use super::{Failure, Step};
use crate::model::storage::{
    FilesystemSpec, SnapshotSpec, StoragePoolSpec, filesystem_mountpoint, pool_mountpoint, snapshot_path,
};
use crate::model::{JobAction, Workload};
use crate::zos::{ZosClient, ZosError};

/// The node's btrfs filesystem labelled `label`, if any (`btrfs.list`).
pub async fn find_pool(client: &ZosClient, label: &str) -> Result<Option<Value>, ZosError> {
    let pools: Vec<Value> = client.json("btrfs.list", json!({})).await?;
    Ok(pools.into_iter().find(|pool| pool["label"] == label))
}

/// Whether subvolume `path` exists in the pool mounted at `mountpoint`.
async fn has_subvolume(client: &ZosClient, mountpoint: &str, path: &str) -> Result<bool, ZosError> {
    let subvolumes: Vec<Value> = client.json("btrfs.subvol_list", json!({"path": mountpoint})).await?;
    Ok(subvolumes.iter().any(|subvolume| subvolume["path"] == path))
}

pub async fn apply_pool(step: &mut Step<'_>, client: &ZosClient) -> Result<(), Failure> {
    let Some(pool) = step.desired::<StoragePoolSpec>()? else {
        return Ok(());
    };
    let spec = &pool.spec;
    let mountpoint = pool_mountpoint(&spec.name);
    step.progress(10, "looking for the pool on the node").await?;
    let existing = find_pool(client, &spec.name).await?;
    if pool.deleting {
        if existing.is_some_and(|p| p["mountpoint"] == mountpoint.as_str()) {
            step.progress(50, "unmounting the pool").await?;
            client
                .json::<Value>("disk.umount", json!({"source": mountpoint}))
                .await?;
        }
        return step.remove::<StoragePoolSpec>().await;
    }
    let mounted = match &existing {
        Some(found) => found["mountpoint"] == mountpoint.as_str(),
        None => {
            step.progress(30, "creating the btrfs pool").await?;
            let arguments = json!({"label": spec.name, "devices": spec.devices, "data": spec.data_profile,
                "metadata": spec.metadata_profile, "overwrite": true});
            client.json::<Value>("btrfs.create", arguments).await?;
            false
        }
    };
    if !mounted {
        step.progress(60, "mounting the pool").await?;
        let arguments = json!({"source": spec.devices[0], "target": mountpoint, "options": ""});
        client.json::<Value>("disk.mount", arguments).await?;
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
        client
            .json::<Value>("btrfs.device_add", json!({"mountpoint": mountpoint, "devices": added}))
            .await?;
    }
    if !removed.is_empty() {
        step.progress(85, "removing devices (btrfs moves their data first)")
            .await?;
        client
            .json::<Value>(
                "btrfs.device_remove",
                json!({"mountpoint": mountpoint, "devices": removed}),
            )
            .await?;
    }
    step.observed(Some(("healthy", None))).await
}

pub async fn apply_filesystem(step: &mut Step<'_>, client: &ZosClient) -> Result<(), Failure> {
    let Some(filesystem) = step.desired::<FilesystemSpec>()? else {
        return Ok(());
    };
    let pool = &filesystem.parents[0];
    let path = filesystem_mountpoint(pool, &filesystem.spec.name);
    step.progress(10, "looking for the filesystem on the node").await?;
    let exists = has_subvolume(client, &pool_mountpoint(pool), &path).await?;
    if filesystem.deleting {
        if exists {
            client
                .json::<Value>("btrfs.subvol_delete", json!({"path": path}))
                .await?;
        }
        return step.remove::<FilesystemSpec>().await;
    }
    if !exists {
        step.progress(40, "creating the subvolume").await?;
        client
            .json::<Value>("btrfs.subvol_create", json!({"path": path}))
            .await?;
    }
    if filesystem.spec.quota > 0 {
        step.progress(70, "setting the quota").await?;
        let limit = format!("{}M", filesystem.spec.quota);
        if let Err(err) = client
            .json::<Value>("btrfs.subvol_quota", json!({"path": path, "limit": limit}))
            .await
        {
            // Nothing partial: a filesystem without the quota it was asked for is removed again.
            if !exists {
                client
                    .json::<Value>("btrfs.subvol_delete", json!({"path": path}))
                    .await?;
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
    step.progress(10, "looking for the snapshot on the node").await?;
    let exists = has_subvolume(client, &pool_mountpoint(pool), &path).await?;
    if snapshot.deleting {
        if exists {
            client
                .json::<Value>("btrfs.subvol_delete", json!({"path": path}))
                .await?;
        }
        return step.remove::<SnapshotSpec>().await;
    }
    if !exists {
        step.progress(50, "taking the snapshot").await?;
        let arguments = json!({"source": filesystem_mountpoint(pool, filesystem), "destination": path,
            "read_only": true});
        client.json::<Value>("btrfs.subvol_snapshot", arguments).await?;
    }
    step.observed(Some(("ready", None))).await
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
    if !has_subvolume(client, &mountpoint, &source).await? {
        return Err(Failure::not_found(format!(
            "the node has no snapshot '{}'",
            snapshot.spec.name
        )));
    }
    if has_subvolume(client, &mountpoint, &path).await? {
        step.progress(30, "removing the filesystem's current state").await?;
        client
            .json::<Value>("btrfs.subvol_delete", json!({"path": path}))
            .await?;
    }
    step.progress(60, "restoring the snapshot").await?;
    let arguments = json!({"source": source, "destination": path, "read_only": false});
    client.json::<Value>("btrfs.subvol_snapshot", arguments).await?;
    if quota > 0 {
        step.progress(80, "setting the quota").await?;
        let limit = format!("{quota}M");
        client
            .json::<Value>("btrfs.subvol_quota", json!({"path": path, "limit": limit}))
            .await?;
    }
    tracing::info!(node = %snapshot.node, pool = %pool, filesystem = %filesystem, snapshot = %snapshot.spec.name, "filesystem rolled back");
    Ok(())
}
