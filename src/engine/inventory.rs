//! Reading a node's hardware over 0-core into a `NodeInventory`: CPUs (`info.cpu`), memory (`info.mem`), disks
//! (`disk.list`, lsblk's shape) and NICs (`info.nic`). Missing fields read as empty rather than failing, so a
//! node with an unusual answer still shows what it has.

use serde_json::Value;

use crate::model::{NodeDisk, NodeInventory, NodeNic};
use crate::zos::commands::Info;
use crate::zos::{ZosClient, ZosError};

/// 0-orchestrator's drive type of a disk in lsblk's shape: NVMe by transport, SSD when not rotational, else HDD.
pub fn drive_type(disk: &Value) -> &'static str {
    if disk["tran"] == "nvme" {
        "nvme"
    } else if disk["rota"].as_bool().unwrap_or(false) {
        "hdd"
    } else {
        "ssd"
    }
}

pub async fn fetch(client: &ZosClient) -> Result<NodeInventory, ZosError> {
    let node = client.node();
    let cpus: Value = node.info(Info::Cpu).await?;
    let memory: Value = node.info(Info::Mem).await?;
    let disks: Value = node.info(Info::Disks).await?;
    let nics: Value = node.info(Info::Nic).await?;
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let disks: Vec<NodeDisk> = disks["blockdevices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["type"] == "disk")
        .map(|d| NodeDisk {
            name: text(&d["name"]),
            size_bytes: d["size"].as_u64().unwrap_or(0),
            kind: drive_type(d).to_owned(),
            model: text(&d["model"]),
        })
        .collect();
    let nics: Vec<NodeNic> = nics
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["name"] != "lo")
        .map(|n| NodeNic {
            name: text(&n["name"]),
            mac: text(&n["hardwareaddr"]),
            addresses: n["addrs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| text(&a["addr"]))
                .collect(),
        })
        .collect();
    let zerotier_address = nics
        .iter()
        .filter(|nic| nic.name.starts_with("zt"))
        .flat_map(|nic| nic.addresses.first())
        .map(|addr| addr.split('/').next().unwrap_or_default().to_owned())
        .next()
        .unwrap_or_default();
    Ok(NodeInventory {
        cpus: cpus.as_array().map_or(0, |c| c.len() as u32),
        cpu_model: text(&cpus[0]["modelName"]),
        memory_bytes: memory["total"].as_u64().unwrap_or(0),
        disks,
        nics,
        zerotier_address,
    })
}
