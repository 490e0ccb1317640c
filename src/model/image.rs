//! Images: 0-orchestrator's `ImageImport` and `Image`, a disk image fetched from a URL into a vdisk storage's block
//! cluster, from which boot vdisks start. Its blocks are laid out as a boot vdisk's (deduplicated, `blocks`), so
//! a vdisk made from it shares them: only the image's LBA is copied.
//!
//! The API owns `Image` (what to import, and the job that does it); the engine owns `ImageContent`, written once
//! the whole image is in the engines. An image without content is still importing and is never used.

use serde::{Deserialize, Serialize};

use super::validate::{Invalid, validate_id};
use super::vdisk::{MOST_GIB, default_blocksize, validate_blocksize};

/// The import body (`POST /vdiskstorage/{id}/images`).
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageImport {
    /// Unique across vdisk storages, as vdisk ids are.
    pub image_name: String,
    /// `http(s)://…`: the raw disk image (an ISO or a disk's bytes).
    pub url: String,
    /// Bytes: a power of two from 512 to 1 MiB (default 4096). A vdisk made from the image has this block size.
    #[serde(default = "default_blocksize")]
    pub disk_block_size: i64,
}

impl ImageImport {
    pub fn validate(&self) -> Result<(), Invalid> {
        validate_id("imageName", &self.image_name)?;
        validate_blocksize("diskBlockSize", self.disk_block_size)
    }
}

/// An image as the API keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub name: String,
    pub vdiskstorage: String,
    /// Where it is imported from.
    pub url: String,
    pub blocksize: i64,
    /// The latest job: the import, or the deletion.
    pub job: String,
    /// Set by DELETE; the engine removes the record once its blocks are gone.
    #[serde(default)]
    pub deleting: bool,
    pub created_at: String,
}

crate::store::record!(Image, "images", name);

impl Image {
    /// Its id in the engines (the key of its LBA, `lba:<id>`): not a valid vdisk id, so the two never meet.
    pub fn blocks_id(name: &str) -> String {
        format!("image:{name}")
    }

    pub fn path(&self) -> String {
        format!("/vdiskstorage/{}/images/{}", self.vdiskstorage, self.name)
    }
}

/// The largest image: what the largest vdisk holds.
pub const MOST_BYTES: u64 = (MOST_GIB as u64) << 30;

/// What the engine imported (engine-owned): written once, when every block is in the engines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageContent {
    pub name: String,
    /// Bytes read from the URL.
    pub size: u64,
    pub imported_at: String,
}

crate::store::record!(ImageContent, "image_content", name);

impl ImageContent {
    /// Its size in GiB, rounded up: the smallest vdisk that holds it.
    pub fn gib(&self) -> i64 {
        self.size.div_ceil(1 << 30).max(1) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_field_is_named_and_sizes_round_up() {
        let import = |body| serde_json::from_value::<ImageImport>(body).unwrap().validate();
        assert_eq!(
            import(serde_json::json!({"imageName": "kit", "url": "http://h/x"})),
            Ok(())
        );
        let field = |body| import(body).unwrap_err().field;
        assert_eq!(field(serde_json::json!({"imageName": "a b", "url": "u"})), "imageName");
        assert_eq!(
            field(serde_json::json!({"imageName": "a", "url": "u", "diskBlockSize": 1000})),
            "diskBlockSize"
        );
        let content = |size| ImageContent {
            name: "i".into(),
            size,
            imported_at: String::new(),
        };
        assert_eq!(content(1).gib(), 1);
        assert_eq!(content((1 << 30) + 1).gib(), 2);
    }
}
