//! The emulated node's btrfs: pools made from its emulated disks, mounted, holding subvolumes (filesystems) with
//! quotas and snapshots. Failures are the real ones: an unknown or busy device, a label or path taken, a quota
//! the pool has no room for, a path that does not exist.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::inventory::Inventory;
use super::wire::Outcome;

struct Subvolume {
    /// Bytes; 0 is unlimited.
    quota: u64,
    id: u64,
}

struct Pool {
    devices: Vec<String>,
    data: String,
    mountpoint: Option<String>,
    /// By absolute path.
    subvolumes: BTreeMap<String, Subvolume>,
    uuid: String,
}

#[derive(Default)]
pub struct Storage {
    pools: Mutex<BTreeMap<String, Pool>>,
    next_subvolume: Mutex<u64>,
}

/// Bytes a pool can hold for its devices and data profile.
fn capacity(profile: &str, sizes: &[u64]) -> u64 {
    let total: u64 = sizes.iter().sum();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    match profile {
        // Two copies on two different devices: the largest device can only mirror what the others hold.
        "raid1" | "raid10" => (total / 2).min(total - largest),
        "dup" => total / 2,
        "raid5" => total - largest,
        "raid6" => total.saturating_sub(2 * largest),
        _ => total,
    }
}

/// `10G`, `512M`, `1024` (bytes) → bytes.
fn parse_size(text: &str) -> Option<u64> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let scale = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(scale)
}

impl Storage {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Pool>) -> R) -> R {
        f(&mut self.pools.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn execute(&self, command: &str, arguments: &Value, inventory: &Inventory) -> Option<Outcome> {
        let text = |key: &str| arguments[key].as_str().unwrap_or_default().to_owned();
        Some(match command {
            "btrfs.create" => self.create(arguments, inventory),
            "btrfs.list" => Outcome::json(self.list(inventory)),
            "disk.mount" => self.mount(&text("source"), &text("target")),
            "disk.umount" => self.umount(&text("source")),
            "btrfs.device_add" | "btrfs.device_remove" => self.devices(command, arguments, inventory),
            "btrfs.subvol_create" => self.subvolume_create(&text("path")),
            "btrfs.subvol_quota" => self.quota(&text("path"), &text("limit"), inventory),
            "btrfs.subvol_list" => self.subvolume_list(&text("path")),
            "btrfs.subvol_delete" => self.subvolume_delete(&text("path")),
            "btrfs.subvol_snapshot" => self.snapshot(&text("source"), &text("destination")),
            _ => return None,
        })
    }

    /// The mounted pools, as `info.disk` lists mounts.
    pub fn mounts(&self) -> Vec<Value> {
        self.with(|pools| {
            pools
                .values()
                .filter_map(|pool| {
                    let mountpoint = pool.mountpoint.as_ref()?;
                    Some(
                        json!({"device": pool.devices[0], "mountpoint": mountpoint, "fstype": "btrfs",
                                "opts": "rw,relatime,space_cache"}),
                    )
                })
                .collect()
        })
    }

    fn create(&self, arguments: &Value, inventory: &Inventory) -> Outcome {
        let label = arguments["label"].as_str().unwrap_or_default().to_owned();
        let devices: Vec<String> = arguments["devices"]
            .as_array()
            .map(|d| d.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        if let Some(missing) = devices
            .iter()
            .find(|d| !inventory.disks.iter().any(|disk| format!("/dev/{}", disk.name) == **d))
        {
            return Outcome::error(&format!("ERROR: cannot open {missing}: No such file or directory"));
        }
        self.with(|pools| {
            if pools.contains_key(&label) {
                return Outcome::error(&format!("a btrfs filesystem labelled '{label}' already exists"));
            }
            if let Some(busy) = devices.iter().find(|d| pools.values().any(|p| p.devices.contains(d))) {
                return Outcome::error(&format!("ERROR: {busy} is mounted: device in use"));
            }
            let uuid = format!("{:08x}-emulated-{label}", devices.len() * 7919 + label.len());
            let pool = Pool {
                devices,
                data: arguments["data"].as_str().unwrap_or("single").to_owned(),
                mountpoint: None,
                subvolumes: BTreeMap::new(),
                uuid,
            };
            pools.insert(label, pool);
            Outcome::json(Value::Null)
        })
    }

    fn list(&self, inventory: &Inventory) -> Value {
        let size = |device: &str| {
            inventory
                .disks
                .iter()
                .find(|disk| format!("/dev/{}", disk.name) == device)
                .map_or(0, |disk| disk.size)
        };
        self.with(|pools| {
            pools
                .iter()
                .map(|(label, pool)| {
                    let sizes: Vec<u64> = pool.devices.iter().map(|d| size(d)).collect();
                    let used: u64 = pool.subvolumes.values().map(|s| s.quota.max(1 << 20)).sum();
                    let devices: Vec<Value> = pool
                        .devices
                        .iter()
                        .zip(&sizes)
                        .enumerate()
                        .map(|(i, (path, size))| {
                            json!({"dev_id": i + 1, "path": path, "size": size, "used": used / sizes.len() as u64,
                                   "missing": false})
                        })
                        .collect();
                    json!({"label": label, "uuid": pool.uuid, "total_devices": pool.devices.len(), "used": used,
                           "size": capacity(&pool.data, &sizes), "mountpoint": pool.mountpoint, "devices": devices})
                })
                .collect()
        })
    }

    fn mount(&self, source: &str, target: &str) -> Outcome {
        self.with(|pools| {
            match pools
                .values_mut()
                .find(|p| p.devices.first().is_some_and(|d| d == source))
            {
                Some(pool) => {
                    pool.mountpoint = Some(target.to_owned());
                    Outcome::json(Value::Null)
                }
                None => Outcome::error(&format!("mount: {source}: no filesystem to mount")),
            }
        })
    }

    /// Unmounting a pool's mountpoint releases its devices (the orchestrator's way to delete a pool).
    fn umount(&self, source: &str) -> Outcome {
        self.with(|pools| {
            let label = pools
                .iter()
                .find(|(_, p)| p.mountpoint.as_deref() == Some(source))
                .map(|(label, _)| label.clone());
            match label {
                Some(label) => {
                    pools.remove(&label);
                    Outcome::json(Value::Null)
                }
                None => Outcome::error(&format!("umount: {source}: not mounted")),
            }
        })
    }

    /// `btrfs.device_add` / `btrfs.device_remove {mountpoint, devices}`.
    fn devices(&self, command: &str, arguments: &Value, inventory: &Inventory) -> Outcome {
        let mountpoint = arguments["mountpoint"].as_str().unwrap_or_default();
        let devices: Vec<String> = arguments["devices"]
            .as_array()
            .map(|d| d.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let known = |d: &String| inventory.disks.iter().any(|disk| format!("/dev/{}", disk.name) == *d);
        self.with(|pools| {
            let busy = |d: &String| pools.values().any(|p| p.devices.contains(d));
            if command == "btrfs.device_add" {
                if let Some(missing) = devices.iter().find(|d| !known(d)) {
                    return Outcome::error(&format!("ERROR: cannot open {missing}: No such file or directory"));
                }
                if let Some(used) = devices.iter().find(|d| busy(d)) {
                    return Outcome::error(&format!("ERROR: {used} is mounted: device in use"));
                }
            }
            let Some(pool) = pools.values_mut().find(|p| p.mountpoint.as_deref() == Some(mountpoint)) else {
                return Outcome::error(&format!("ERROR: '{mountpoint}' is not a mounted btrfs filesystem"));
            };
            if command == "btrfs.device_add" {
                pool.devices.extend(devices);
            } else if pool.devices.iter().filter(|d| !devices.contains(d)).count() == 0 {
                return Outcome::error("ERROR: unable to remove the only device of a filesystem");
            } else {
                pool.devices.retain(|d| !devices.contains(d));
            }
            Outcome::json(Value::Null)
        })
    }

    /// The mounted pool that `path` lies in.
    fn pool_of<'a>(pools: &'a mut BTreeMap<String, Pool>, path: &str) -> Option<&'a mut Pool> {
        pools.values_mut().find(|p| {
            p.mountpoint
                .as_deref()
                .is_some_and(|m| path.starts_with(&format!("{m}/")))
        })
    }

    fn subvolume_create(&self, path: &str) -> Outcome {
        let id = {
            let mut next = self.next_subvolume.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            256 + *next
        };
        self.with(|pools| match Storage::pool_of(pools, path) {
            None => Outcome::error(&format!("ERROR: cannot access '{path}': No such file or directory")),
            Some(pool) if pool.subvolumes.contains_key(path) => {
                Outcome::error(&format!("ERROR: target path already exists: {path}"))
            }
            Some(pool) => {
                pool.subvolumes.insert(path.to_owned(), Subvolume { quota: 0, id });
                Outcome::json(Value::Null)
            }
        })
    }

    fn quota(&self, path: &str, limit: &str, inventory: &Inventory) -> Outcome {
        let Some(limit) = parse_size(limit) else {
            return Outcome::error(&format!("invalid quota limit '{limit}'"));
        };
        let sizes = |pool: &Pool| -> Vec<u64> {
            pool.devices
                .iter()
                .map(|d| {
                    inventory
                        .disks
                        .iter()
                        .find(|k| format!("/dev/{}", k.name) == *d)
                        .map_or(0, |k| k.size)
                })
                .collect()
        };
        self.with(|pools| {
            let Some(pool) = Storage::pool_of(pools, path) else {
                return Outcome::error(&format!("ERROR: cannot access '{path}': No such file or directory"));
            };
            let room = capacity(&pool.data, &sizes(pool));
            let others: u64 = pool
                .subvolumes
                .iter()
                .filter(|(p, _)| *p != path)
                .map(|(_, s)| s.quota)
                .sum();
            match pool.subvolumes.get_mut(path) {
                None => Outcome::error(&format!("ERROR: cannot access '{path}': No such file or directory")),
                Some(_) if others + limit > room => Outcome::error(&format!(
                    "ERROR: quota of {limit} bytes for {path}: No space left on device ({} bytes free)",
                    room.saturating_sub(others)
                )),
                Some(subvolume) => {
                    subvolume.quota = limit;
                    Outcome::json(Value::Null)
                }
            }
        })
    }

    fn subvolume_list(&self, path: &str) -> Outcome {
        self.with(|pools| match Storage::pool_of(pools, &format!("{path}/")) {
            None => Outcome::error(&format!("ERROR: cannot access '{path}': No such file or directory")),
            Some(pool) => Outcome::json(
                pool.subvolumes
                    .iter()
                    .map(|(p, s)| json!({"id": s.id, "path": p, "quota": s.quota}))
                    .collect(),
            ),
        })
    }

    fn subvolume_delete(&self, path: &str) -> Outcome {
        self.with(
            |pools| match Storage::pool_of(pools, path).and_then(|p| p.subvolumes.remove(path)) {
                Some(_) => Outcome::json(Value::Null),
                None => Outcome::error(&format!("ERROR: cannot access '{path}': No such file or directory")),
            },
        )
    }

    fn snapshot(&self, source: &str, destination: &str) -> Outcome {
        let exists =
            self.with(|pools| Storage::pool_of(pools, source).is_some_and(|p| p.subvolumes.contains_key(source)));
        if !exists {
            return Outcome::error(&format!("ERROR: cannot access '{source}': No such file or directory"));
        }
        self.subvolume_create(destination)
    }
}
