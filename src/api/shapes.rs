//! 0-orchestrator's response types (its `raml/types.raml`) made out of what a node sends. 0-core answers in
//! gopsutil's, lsblk's and zerotier-cli's shapes; the reference's server rewrote some of them, and the clients
//! generated from its types reject the originals. Each function here does what that server did and keeps the
//! node's own fields beside the reference's, so neither kind of client loses anything.

use serde_json::{Map, Value, json};

use crate::zos::commands::Info;

const GIB: f64 = (1u64 << 30) as f64;
const MIB: f64 = (1u64 << 20) as f64;

/// The report `what` as the reference answered it.
pub(crate) fn info(what: Info, answer: Value) -> Value {
    match what {
        Info::Disks => disk_infos(&answer),
        Info::Nic => map_array(answer, nic_info),
        Info::Processes => map_array(answer, process),
        _ => answer,
    }
}

fn map_array(answer: Value, f: fn(Value) -> Value) -> Value {
    match answer {
        Value::Array(items) => Value::Array(items.into_iter().map(f).collect()),
        other => other,
    }
}

/// A number lsblk may write as a string (`--bytes` in older versions).
fn count(value: &Value) -> f64 {
    match value {
        Value::String(text) => text.parse().unwrap_or(0.0),
        other => other.as_f64().unwrap_or(0.0),
    }
}

fn text(value: &Value) -> Value {
    json!(value.as_str().unwrap_or_default())
}

/// `DiskInfo[]` from `disk.list`'s `{blockdevices}`: `/dev/<name>`, whole GiB, and the kind as the reference
/// guessed it (rotational above 7 TiB is an SMR archive disk).
fn disk_infos(lsblk: &Value) -> Value {
    let devices = lsblk["blockdevices"].as_array().map(Vec::as_slice).unwrap_or_default();
    devices.iter().map(disk_info).collect()
}

fn disk_info(device: &Value) -> Value {
    let name = device["name"].as_str().unwrap_or_default();
    let size = (count(&device["size"]) / GIB) as u64;
    let rotational = matches!(&device["rota"], Value::Bool(true)) || count(&device["rota"]) == 1.0;
    let kind = match (rotational, name.contains("nvme")) {
        (true, _) if size > 7 * 1024 => "archive",
        (true, _) => "hdd",
        (false, true) => "nvme",
        (false, false) => "ssd",
    };
    let partitions: Vec<Value> = device["children"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|part| {
            json!({"name": format!("/dev/{}", part["name"].as_str().unwrap_or_default()),
                   "size": (count(&part["size"]) / GIB) as u64, "partuuid": text(&part["partuuid"]),
                   "label": text(&part["label"]), "fstype": text(&part["fstype"])})
        })
        .collect();
    let mut info = beside(device, &["size", "type", "children"]);
    info.insert("device".into(), json!(format!("/dev/{name}")));
    info.insert("size".into(), json!(size));
    info.insert("type".into(), json!(kind));
    info.insert("partitions".into(), json!(partitions));
    Value::Object(info)
}

/// The node's own fields but `replaced`, which the reference's take the place of.
fn beside(value: &Value, replaced: &[&str]) -> Map<String, Value> {
    let mut fields = value.as_object().cloned().unwrap_or_default();
    for name in replaced {
        fields.remove(*name);
    }
    fields
}

/// `NicInfo`: `addrs` as the addresses themselves (gopsutil sends `[{addr}]`).
fn nic_info(mut nic: Value) -> Value {
    if let Some(addrs) = nic["addrs"].as_array() {
        let flat: Vec<Value> = addrs.iter().map(|a| a.get("addr").unwrap_or(a).clone()).collect();
        nic["addrs"] = json!(flat);
    }
    nic
}

/// `Process` with `cpu` spelled both ways: the reference's type says `guestNice`, `ioWait`, `softIrq`; its server
/// passed on gopsutil's lower-case keys, and clients of either exist.
pub(crate) fn process(mut process: Value) -> Value {
    if let Some(cpu) = process.get_mut("cpu").and_then(Value::as_object_mut) {
        for (lower, camel) in [("guestnice", "guestNice"), ("iowait", "ioWait"), ("softirq", "softIrq")] {
            match (cpu.get(lower).cloned(), cpu.get(camel).cloned()) {
                (Some(value), None) => cpu.insert(camel.into(), value),
                (None, Some(value)) => cpu.insert(lower.into(), value),
                _ => None,
            };
        }
    }
    process
}

/// `Zerotier`: `type` in lower case and a route without a gateway with `via` "", as the reference stored them
/// (zerotier-cli says `PRIVATE` and `null`).
pub(crate) fn zerotier(mut network: Value) -> Value {
    if let Some(kind) = network["type"].as_str() {
        network["type"] = json!(kind.to_lowercase());
    }
    if let Some(routes) = network.get_mut("routes").and_then(Value::as_array_mut) {
        for route in routes {
            if route["via"].is_null() {
                route["via"] = json!("");
            }
        }
    }
    network
}

/// `VMInfo`: `disks[]` (`VMDiskInfo`) and `nics[]` (`VMNicInfo`) as whole numbers per second (throughput in
/// MiB), beside the node's `disk[]` and `net[]` (bytes per second, fractions kept).
pub(crate) fn vm_info(mut info: Value) -> Value {
    let per_second = |value: &Value, unit: f64| (count(value) / unit).round() as u64;
    let rows = |key: &str| info[key].as_array().cloned().unwrap_or_default();
    let disks: Vec<Value> = rows("disk")
        .iter()
        .map(|d| {
            json!({"readIops": per_second(&d["iops_read"], 1.0), "writeIops": per_second(&d["iops_write"], 1.0),
                   "readThroughput": per_second(&d["read"], MIB), "writeThroughput": per_second(&d["write"], MIB)})
        })
        .collect();
    let nics: Vec<Value> = rows("net")
        .iter()
        .map(|n| {
            json!({"receivedPackets": per_second(&n["rxPackets"], 1.0),
                   "transmittedPackets": per_second(&n["txPackets"], 1.0),
                   "receivedThroughput": per_second(&n["rxThroughput"], MIB),
                   "transmittedThroughput": per_second(&n["txThroughput"], MIB)})
        })
        .collect();
    info["disks"] = json!(disks);
    info["nics"] = json!(nics);
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsblk_becomes_disk_infos_with_the_reference_kinds() {
        let lsblk = json!({"blockdevices": [
            {"name": "sda", "size": "8796093022208", "rota": "1", "type": "disk", "model": "big",
             "children": [{"name": "sda1", "size": 2147483648u64, "partuuid": "p", "label": null, "fstype": "btrfs"}]},
            {"name": "sdb", "size": 1099511627776u64, "rota": true, "type": "disk"},
            {"name": "nvme0n1", "size": 549755813888u64, "rota": false, "type": "disk"},
            {"name": "sdc", "size": 257698037760u64, "rota": false, "type": "disk"}]});
        let disks = info(Info::Disks, lsblk);
        let kinds: Vec<&str> = disks
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["archive", "hdd", "nvme", "ssd"]);
        assert_eq!(disks[0]["device"], "/dev/sda");
        assert_eq!(disks[0]["size"], 8192);
        assert_eq!(disks[0]["model"], "big");
        assert_eq!(
            disks[0]["partitions"][0],
            json!({"name": "/dev/sda1", "size": 2, "partuuid": "p", "label": "", "fstype": "btrfs"})
        );
        assert_eq!(disks[3]["partitions"], json!([]));
    }

    #[test]
    fn process_cpu_is_spelled_both_ways() {
        let lower = process(json!({"cpu": {"iowait": 1, "softirq": 2, "guestnice": 3, "user": 4}}));
        assert_eq!(lower["cpu"]["ioWait"], 1);
        assert_eq!(lower["cpu"]["softIrq"], 2);
        assert_eq!(lower["cpu"]["guestNice"], 3);
        let camel = process(json!({"cpu": {"ioWait": 5}}));
        assert_eq!(camel["cpu"]["iowait"], 5);
    }

    #[test]
    fn zerotier_type_is_lower_case_and_a_missing_via_empty() {
        let network = zerotier(json!({"type": "PRIVATE", "routes": [{"via": null}, {"via": "10.0.0.1"}]}));
        assert_eq!(network["type"], "private");
        assert_eq!(network["routes"], json!([{"via": ""}, {"via": "10.0.0.1"}]));
    }

    #[test]
    fn vm_info_has_the_reference_rows_beside_the_nodes() {
        let shaped = vm_info(json!({"cpu": [0.5], "disk": [{"iops_read": 12.4, "iops_write": 4.0,
            "read": 3.0 * MIB, "write": MIB}], "net": [{"rxPackets": 80.0, "txPackets": 60.0,
            "rxThroughput": 2.0 * MIB, "txThroughput": 0.0}]}));
        assert_eq!(
            shaped["disks"],
            json!([{"readIops": 12, "writeIops": 4, "readThroughput": 3, "writeThroughput": 1}])
        );
        assert_eq!(
            shaped["nics"],
            json!([{"receivedPackets": 80, "transmittedPackets": 60, "receivedThroughput": 2, "transmittedThroughput": 0}])
        );
        assert_eq!(shaped["disk"][0]["iops_read"], 12.4);
    }
}
