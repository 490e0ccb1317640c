//! Vdisks: 0-orchestrator's `VdiskCreate` and `Vdisk`, a virtual block device whose blocks live in the engines of
//! its vdisk storage's block cluster (the layout is `vdisk_blocks`'). API-owned: the record is the vdisk's config
//! (0-disk's `<id>:vdisk:conf:static`); an NBD server reads it to serve the vdisk.

use serde::{Deserialize, Serialize};

use super::validate::{Invalid, validate_id};

/// 0-orchestrator's limit on a vdisk's size.
pub const MOST_GIB: i64 = 2048;

/// The vdisk types, as 0-disk knows them: `boot` is deduplicated (blocks stored once by content, shared with
/// the image it came from), the others keep each block under the vdisk's own key.
pub const TYPES: &[&str] = &["boot", "db", "cache", "tmp"];

/// The smallest and largest block size: 0-orchestrator's 512, and a bound of ours so that one block is a small,
/// bounded value in an engine and in memory.
const SMALLEST_BLOCK: i64 = 512;
const LARGEST_BLOCK: i64 = 1 << 20;

pub fn default_blocksize() -> i64 {
    4096
}

/// The create body (`POST /vdiskstorage/{id}/vdisks`). Numbers are signed so that a negative one is refused
/// naming its field, as every other bad value is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VdiskCreate {
    pub id: String,
    /// GiB, 1 to 2048.
    pub size: i64,
    /// Bytes: a power of two from 512 to 1 MiB (default 4096).
    #[serde(default = "default_blocksize")]
    pub blocksize: i64,
    /// `boot`, `db`, `cache` or `tmp`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub read_only: bool,
    /// The image a boot vdisk starts as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

impl VdiskCreate {
    pub fn validate(&self) -> Result<(), Invalid> {
        validate_id("id", &self.id)?;
        validate_size("size", self.size)?;
        validate_blocksize("blocksize", self.blocksize)?;
        if !TYPES.contains(&self.kind.as_str()) {
            return Err(Invalid::new("type", format!("must be one of {}", TYPES.join(", "))));
        }
        if let Some(image) = &self.image_id {
            validate_id("imageId", image)?;
            if self.kind != "boot" {
                return Err(Invalid::new("imageId", "only a boot vdisk starts from an image"));
            }
        }
        Ok(())
    }
}

/// A block size: a power of two from 512 bytes to 1 MiB.
pub fn validate_blocksize(field: &str, bytes: i64) -> Result<(), Invalid> {
    if !(SMALLEST_BLOCK..=LARGEST_BLOCK).contains(&bytes) || bytes.count_ones() != 1 {
        return Err(Invalid::new(
            field,
            format!("must be a power of two from {SMALLEST_BLOCK} to {LARGEST_BLOCK}"),
        ));
    }
    Ok(())
}

/// A size in GiB as 0-orchestrator takes it: 1 to 2048.
pub fn validate_size(field: &str, gib: i64) -> Result<(), Invalid> {
    if !(1..=MOST_GIB).contains(&gib) {
        return Err(Invalid::new(field, format!("must be 1 to {MOST_GIB} (GiB)")));
    }
    Ok(())
}

/// A vdisk, as stored and shown (0-orchestrator's `Vdisk`). Ids are unique across vdisk storages: an NBD export
/// is named by the vdisk id alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Vdisk {
    pub id: String,
    /// `halted` (no VM uses it), `running` or `rollingback`.
    pub status: String,
    /// GiB.
    pub size: i64,
    pub blocksize: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub read_only: bool,
    pub vdiskstorage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

crate::store::record!(Vdisk, "vdisks", id);

impl Vdisk {
    pub fn new(create: VdiskCreate, vdiskstorage: &str) -> Vdisk {
        Vdisk {
            id: create.id,
            status: "halted".into(),
            size: create.size,
            blocksize: create.blocksize,
            kind: create.kind,
            read_only: create.read_only,
            vdiskstorage: vdiskstorage.to_owned(),
            image_id: create.image_id,
        }
    }

    /// Boot vdisks are deduplicated; the others keep their blocks under their own key.
    pub fn deduplicated(&self) -> bool {
        self.kind == "boot"
    }

    /// Boot and db vdisks keep a transaction log (when their vdisk storage has an object cluster): the others
    /// hold nothing worth rolling back, as in the reference.
    pub fn journaled(&self) -> bool {
        matches!(self.kind.as_str(), "boot" | "db")
    }
}

/// `POST …/vdisks/{vdiskid}/resize`.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VdiskResize {
    /// GiB; larger than the vdisk's size.
    pub new_size: i64,
}

/// `POST …/vdisks/{vdiskid}/rollback`.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VdiskRollback {
    /// Unix seconds to roll back to; 0 restores the oldest state kept.
    pub epoch: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::validate::field_rejected;

    fn create() -> VdiskCreate {
        serde_json::from_value(serde_json::json!({"id": "d1", "size": 1, "type": "db"})).unwrap()
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(create().blocksize, 4096);
        let field = |change: fn(&mut VdiskCreate)| field_rejected(create(), VdiskCreate::validate, change);
        assert_eq!(field(|c| c.size = 0), "size");
        assert_eq!(field(|c| c.size = -3), "size");
        assert_eq!(field(|c| c.size = 2049), "size");
        assert_eq!(field(|c| c.blocksize = 4000), "blocksize");
        assert_eq!(field(|c| c.blocksize = 256), "blocksize");
        assert_eq!(field(|c| c.kind = "floppy".into()), "type");
        assert_eq!(field(|c| c.image_id = Some("img".into())), "imageId");
        assert_eq!(field(|c| c.id = "a b".into()), "id");
    }
}
