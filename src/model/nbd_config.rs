//! 0-disk's NBD server config (the shape of its `docs/config.md`, written as TOML): the storage clusters' engines
//! and the vdisks served. The engine writes one into a VM's NBD server container; `nbdserver --config` reads it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NbdConfig {
    #[serde(default)]
    pub storage_clusters: BTreeMap<String, NbdCluster>,
    #[serde(default)]
    pub vdisks: BTreeMap<String, NbdVdisk>,
}

/// A storage cluster: its engines' `host:port`, in shard order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NbdCluster {
    pub servers: Vec<String>,
}

/// A vdisk as the NBD server needs it (0-disk's `<id>:vdisk:conf:static` plus its storage cluster).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NbdVdisk {
    /// GiB.
    pub size: u64,
    pub block_size: u32,
    /// `boot` (deduplicated), `db`, `cache` or `tmp`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub read_only: bool,
    pub storage_cluster: String,
    /// The cluster keeping the vdisk's transaction log (0-disk's `tlogServerClusterID`), for a boot or db vdisk
    /// that can roll back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlog_storage_cluster: Option<String>,
}

/// The URL qemu opens a vdisk served on the unix socket `socket` by: 0-orchestrator's VM media URL.
pub fn nbd_url(vdisk: &str, socket: &str) -> String {
    format!("nbd+unix:///{vdisk}?socket={socket}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_has_0_disks_shape_and_reads_back_as_written() {
        let config: NbdConfig = toml::from_str(
            "[storageClusters.blocks]\nservers = [\"127.0.0.1:2000\"]\n\
             [vdisks.vd1]\nsize = 1\nblockSize = 4096\ntype = \"db\"\nstorageCluster = \"blocks\"\n",
        )
        .unwrap();
        assert_eq!(config.vdisks["vd1"].block_size, 4096);
        assert_eq!(config.storage_clusters["blocks"].servers, ["127.0.0.1:2000"]);
        let written = toml::to_string(&config).unwrap();
        assert_eq!(toml::from_str::<NbdConfig>(&written).unwrap(), config);
    }
}
