//! Storage on a node: btrfs pools on its disks, filesystems (subvolumes) in a pool, snapshots of a filesystem —
//! 0-orchestrator's `StoragePoolCreate`, `FilesystemCreate` and snapshot bodies.

use serde::{Deserialize, Serialize};

use super::validate::{Invalid, validate_id};

/// btrfs RAID profiles, with the fewest devices each needs.
const PROFILES: &[(&str, usize)] = &[
    ("single", 1),
    ("dup", 1),
    ("raid0", 1),
    ("raid1", 2),
    ("raid5", 2),
    ("raid6", 3),
    ("raid10", 4),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoragePoolSpec {
    pub name: String,
    #[schema(example = "raid1")]
    pub metadata_profile: String,
    #[schema(example = "raid1")]
    pub data_profile: String,
    /// Device paths, e.g. `/dev/sdb`.
    pub devices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilesystemSpec {
    pub name: String,
    /// MiB; 0 is unlimited.
    #[serde(default)]
    pub quota: u64,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSpec {
    pub name: String,
}

/// Where a pool is mounted on the node; its filesystems and snapshots live below.
pub fn pool_mountpoint(pool: &str) -> String {
    format!("/storage/{pool}")
}

pub fn filesystem_mountpoint(pool: &str, filesystem: &str) -> String {
    format!("/storage/{pool}/filesystems/{filesystem}")
}

pub fn snapshot_path(pool: &str, filesystem: &str, snapshot: &str) -> String {
    format!("/storage/{pool}/snapshots/{filesystem}/{snapshot}")
}

/// 0-orchestrator's rule for filesystem and snapshot names: lower-case letters and `-` (snapshots also `_` and
/// `.`), at most 50 characters.
fn validate_short_name(name: &str, extra: &[char]) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 50
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-' || extra.contains(&c));
    if ok {
        return Ok(());
    }
    let allowed = if extra.is_empty() {
        "lower-case letters and '-'"
    } else {
        "lower-case letters, '-', '_' and '.'"
    };
    Err(Invalid::new("name", format!("must be 1 to 50 characters: {allowed}")))
}

spec!(StoragePoolSpec, "storagepools" at ["storagepools"], name);

impl StoragePoolSpec {
    fn check(&self) -> Result<(), Invalid> {
        validate_id("name", &self.name)?;
        if self.devices.is_empty() {
            return Err(Invalid::new("devices", "at least one device is needed"));
        }
        if let Some(bad) = self.devices.iter().position(|d| {
            !d.starts_with("/dev/") || d.len() <= 5 || d.contains("..") || d.contains(char::is_whitespace)
        }) {
            return Err(Invalid::new(
                format!("devices[{bad}]"),
                "must be a device path like /dev/sdb",
            ));
        }
        let mut unique = self.devices.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != self.devices.len() {
            return Err(Invalid::new("devices", "lists a device twice"));
        }
        for (field, profile) in [
            ("dataProfile", &self.data_profile),
            ("metadataProfile", &self.metadata_profile),
        ] {
            let Some((_, fewest)) = PROFILES.iter().find(|(name, _)| name == profile) else {
                let names: Vec<&str> = PROFILES.iter().map(|(name, _)| *name).collect();
                return Err(Invalid::new(field, format!("must be one of {}", names.join(", "))));
            };
            if self.devices.len() < *fewest {
                return Err(Invalid::new(
                    field,
                    format!("{profile} needs at least {fewest} devices"),
                ));
            }
        }
        Ok(())
    }
}

spec!(FilesystemSpec, "filesystems" at ["storagepools", "filesystems"], name);

impl FilesystemSpec {
    fn check(&self) -> Result<(), Invalid> {
        validate_short_name(&self.name, &[])?;
        // 1 PiB: anything larger is a unit mistake.
        if self.quota > 1 << 30 {
            return Err(Invalid::new(
                "quota",
                "must be at most 1073741824 MiB (1 PiB); 0 is unlimited",
            ));
        }
        Ok(())
    }
}

spec!(SnapshotSpec, "snapshots" at ["storagepools", "filesystems", "snapshots"], name);

impl SnapshotSpec {
    fn check(&self) -> Result<(), Invalid> {
        validate_short_name(&self.name, &['_', '.'])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Spec;

    fn pool(data: &str, devices: &[&str]) -> StoragePoolSpec {
        StoragePoolSpec {
            name: "p".into(),
            metadata_profile: "single".into(),
            data_profile: data.into(),
            devices: devices.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn raid_profiles_need_enough_devices_and_names_follow_the_reference() {
        assert_eq!(pool("raid1", &["/dev/sdb", "/dev/sdc"]).validate(), Ok(()));
        assert_eq!(
            pool("raid1", &["/dev/sdb"]).validate().unwrap_err().field,
            "dataProfile"
        );
        assert_eq!(
            pool("raid7", &["/dev/sdb"]).validate().unwrap_err().field,
            "dataProfile"
        );
        assert_eq!(pool("single", &["sdb"]).validate().unwrap_err().field, "devices[0]");
        assert_eq!(
            pool("single", &["/dev/sdb", "/dev/sdb"]).validate().unwrap_err().field,
            "devices"
        );
        let fs = |name: &str| {
            FilesystemSpec {
                name: name.into(),
                quota: 0,
                read_only: false,
            }
            .validate()
        };
        assert!(fs("data-1").is_err() && fs("Data").is_err() && fs("data").is_ok());
        assert!(
            SnapshotSpec {
                name: "before_upgrade.rc".into()
            }
            .validate()
            .is_ok()
        );
    }
}
