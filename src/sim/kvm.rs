//! The emulated node's virtual machines (`kvm.*`): domains with CPUs and memory taken from the node, paused and
//! resumed, destroyed or shut down. Failures are the real ones: a name taken, more memory than the node has free,
//! an unknown domain.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::inventory::Inventory;
use super::wire::Outcome;

struct Domain {
    name: String,
    cpu: u64,
    /// MiB.
    memory: u64,
    paused: bool,
    vnc: u64,
}

#[derive(Default)]
pub struct Kvm {
    domains: Mutex<BTreeMap<String, Domain>>,
    created: Mutex<u64>,
}

/// Memory the node keeps for itself (MiB).
const RESERVED_MIB: u64 = 2048;

impl Kvm {
    pub fn execute(&self, command: &str, arguments: &Value, inventory: &Inventory) -> Option<Outcome> {
        let uuid = arguments["uuid"].as_str().unwrap_or_default().to_owned();
        let mut domains = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        let unknown = || Outcome::error(&format!("domain not found: no domain with matching uuid '{uuid}'"));
        Some(match command {
            "kvm.create" => {
                let name = arguments["name"].as_str().unwrap_or_default().to_owned();
                let memory = arguments["memory"].as_u64().unwrap_or(0);
                if domains.values().any(|d| d.name == name) {
                    return Some(Outcome::error(&format!("domain with name '{name}' already exists")));
                }
                let used: u64 = domains.values().map(|d| d.memory).sum();
                let free = (inventory.memory >> 20).saturating_sub(RESERVED_MIB + used);
                if memory > free {
                    return Some(Outcome::error(&format!(
                        "not enough memory: {memory} MiB asked, {free} MiB free"
                    )));
                }
                let mut created = self.created.lock().unwrap_or_else(|p| p.into_inner());
                *created += 1;
                let uuid = format!("{:08x}-0000-4000-8000-{:012x}", inventory.seed, *created);
                let cpu = arguments["cpu"].as_u64().unwrap_or(1);
                let vnc = 5900 + *created;
                domains.insert(
                    uuid.clone(),
                    Domain {
                        name,
                        cpu,
                        memory,
                        paused: false,
                        vnc,
                    },
                );
                Outcome::json(json!(uuid))
            }
            "kvm.list" => Outcome::json(
                domains
                    .iter()
                    .map(|(uuid, d)| {
                        json!({"uuid": uuid, "name": d.name, "state": if d.paused { "paused" } else { "running" },
                               "cpu": d.cpu, "memory": d.memory, "vnc": d.vnc})
                    })
                    .collect(),
            ),
            "kvm.destroy" | "kvm.shutdown" => match domains.remove(&uuid) {
                Some(_) => Outcome::json(Value::Null),
                None => unknown(),
            },
            "kvm.pause" | "kvm.resume" => match domains.get_mut(&uuid) {
                Some(domain) => {
                    domain.paused = command == "kvm.pause";
                    Outcome::json(Value::Null)
                }
                None => unknown(),
            },
            "kvm.info" => match domains.get(&uuid) {
                Some(domain) => {
                    let load = inventory.cpu_percent(domain.vnc as u32);
                    Outcome::json(json!({
                        "cpu": (0..domain.cpu).map(|_| load).collect::<Vec<_>>(),
                        "disk": [{"iops_read": 12.0, "iops_write": 4.0, "read": 120_000.0, "write": 48_000.0}],
                        "net": [{"rxPackets": 80.0, "txPackets": 60.0, "rxThroughput": 9000.0, "txThroughput": 7000.0}]
                    }))
                }
                None => unknown(),
            },
            _ => return None,
        })
    }
}
