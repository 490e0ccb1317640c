//! `disk.*`: mounting the node's filesystems. Listing its disks is one of the reports ([`super::Info::Disks`]).

use serde_json::json;

use crate::zos::{ZosClient, ZosError};

impl ZosClient {
    /// `disk.mount`: `source` (a device) at `target`, with no options.
    pub async fn mount(&self, source: &str, target: &str) -> Result<(), ZosError> {
        let arguments = json!({"source": source, "target": target, "options": ""});
        self.call("disk.mount", arguments).await
    }

    /// `disk.umount`: what is mounted at `source` (0-core names the mountpoint so).
    pub async fn unmount(&self, source: &str) -> Result<(), ZosError> {
        self.call("disk.umount", json!({"source": source})).await
    }
}
