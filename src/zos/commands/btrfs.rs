//! `btrfs.*`: btrfs filesystems on the node's disks (the orchestrator's storage pools), their subvolumes
//! (filesystems and snapshots) and quotas.

use serde_json::{Value, json};

use super::find;
use crate::zos::{ZosClient, ZosError};

/// Device paths as btrfs commands take them.
fn paths(devices: &[impl AsRef<str>]) -> Vec<&str> {
    devices.iter().map(AsRef::as_ref).collect()
}

impl ZosClient {
    /// `btrfs.list`: the node's btrfs filesystems, passed on as the node sent them (label, mountpoint, size,
    /// used, devices).
    pub async fn btrfs_pools(&self) -> Result<Vec<Value>, ZosError> {
        self.json("btrfs.list", json!({})).await
    }

    /// The node's btrfs filesystem labelled `label`, if any.
    pub async fn find_pool(&self, label: &str) -> Result<Option<Value>, ZosError> {
        Ok(find(self.btrfs_pools().await?, "label", label))
    }

    /// `btrfs.create`: a filesystem labelled `label` over `devices` (whatever they held is overwritten), with
    /// btrfs's `data` and `metadata` profiles.
    pub async fn create_pool(
        &self,
        label: &str,
        devices: &[impl AsRef<str>],
        data: &str,
        metadata: &str,
    ) -> Result<(), ZosError> {
        let arguments = json!({"label": label, "devices": paths(devices), "data": data, "metadata": metadata,
            "overwrite": true});
        self.call("btrfs.create", arguments).await
    }

    /// `btrfs.device_add` to the filesystem mounted at `mountpoint`.
    pub async fn add_pool_devices(&self, mountpoint: &str, devices: &[impl AsRef<str>]) -> Result<(), ZosError> {
        let arguments = json!({"mountpoint": mountpoint, "devices": paths(devices)});
        self.call("btrfs.device_add", arguments).await
    }

    /// `btrfs.device_remove` from the filesystem mounted at `mountpoint` (btrfs moves their data first).
    pub async fn remove_pool_devices(&self, mountpoint: &str, devices: &[impl AsRef<str>]) -> Result<(), ZosError> {
        let arguments = json!({"mountpoint": mountpoint, "devices": paths(devices)});
        self.call("btrfs.device_remove", arguments).await
    }

    /// Whether subvolume `path` exists in the filesystem mounted at `mountpoint` (`btrfs.subvol_list`).
    pub async fn has_subvolume(&self, mountpoint: &str, path: &str) -> Result<bool, ZosError> {
        Ok(self
            .subvolumes(mountpoint)
            .await?
            .iter()
            .any(|subvolume| subvolume == path))
    }

    /// The paths of the subvolumes in the filesystem mounted at `mountpoint` (`btrfs.subvol_list`).
    pub async fn subvolumes(&self, mountpoint: &str) -> Result<Vec<String>, ZosError> {
        let subvolumes: Vec<Value> = self.json("btrfs.subvol_list", json!({"path": mountpoint})).await?;
        Ok(subvolumes
            .iter()
            .filter_map(|subvolume| subvolume["path"].as_str().map(str::to_owned))
            .collect())
    }

    /// `btrfs.subvol_create`.
    pub async fn create_subvolume(&self, path: &str) -> Result<(), ZosError> {
        self.call("btrfs.subvol_create", json!({"path": path})).await
    }

    /// `btrfs.subvol_delete`.
    pub async fn delete_subvolume(&self, path: &str) -> Result<(), ZosError> {
        self.call("btrfs.subvol_delete", json!({"path": path})).await
    }

    /// `btrfs.subvol_snapshot`: subvolume `source` copied to `destination`.
    pub async fn snapshot_subvolume(&self, source: &str, destination: &str, read_only: bool) -> Result<(), ZosError> {
        let arguments = json!({"source": source, "destination": destination, "read_only": read_only});
        self.call("btrfs.subvol_snapshot", arguments).await
    }

    /// `btrfs.subvol_quota`: subvolume `path` may hold at most `mib` MiB.
    pub async fn set_subvolume_quota(&self, path: &str, mib: u64) -> Result<(), ZosError> {
        let limit = format!("{mib}M");
        self.call("btrfs.subvol_quota", json!({"path": path, "limit": limit}))
            .await
    }
}
