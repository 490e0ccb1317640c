//! Vdisk storage: 0-orchestrator's `VdiskStorage`, the group of storage clusters a set of vdisks (and the images
//! they are made from) live on. API-owned and stored only: nothing on a node changes when one is made.

use serde::{Deserialize, Serialize};

use super::validate::{Invalid, validate_id};

/// The create body, also what is stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VdiskStorage {
    pub id: String,
    /// The label of the block storage cluster the vdisks' blocks go to.
    pub block_cluster: String,
    /// A second block cluster kept as an asynchronous copy, for failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slave_cluster: Option<String>,
    /// The cluster whose engines keep the transaction log of the boot and db vdisks, which lets them roll back
    /// (the reference's 0-stor object cluster; here any storage cluster, the block cluster itself included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_cluster: Option<String>,
}

crate::store::record!(VdiskStorage, "vdiskstorages", id);

impl VdiskStorage {
    pub fn validate(&self) -> Result<(), Invalid> {
        validate_id("id", &self.id)?;
        validate_id("blockCluster", &self.block_cluster)?;
        if let Some(slave) = &self.slave_cluster {
            validate_id("slaveCluster", slave)?;
            if *slave == self.block_cluster {
                return Err(Invalid::new(
                    "slaveCluster",
                    "must be another cluster than blockCluster",
                ));
            }
        }
        if let Some(object) = &self.object_cluster {
            validate_id("objectCluster", object)?;
        }
        Ok(())
    }

    /// The storage clusters it uses, with the field naming each.
    pub fn clusters(&self) -> impl Iterator<Item = (&'static str, &str)> {
        std::iter::once(("blockCluster", self.block_cluster.as_str()))
            .chain(self.slave_cluster.as_deref().map(|slave| ("slaveCluster", slave)))
            .chain(self.object_cluster.as_deref().map(|object| ("objectCluster", object)))
    }
}
