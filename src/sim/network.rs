//! The emulated node's networks: bridges (`bridge.*`) and joined ZeroTier networks (`zerotier.*`). No packet
//! goes anywhere; the node only remembers, and refuses what a real one refuses (a name taken, a bad network id,
//! leaving a network it is not in).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::inventory::Inventory;
use super::wire::Outcome;

#[derive(Default)]
pub struct Networks {
    bridges: Mutex<BTreeMap<String, Value>>,
    zerotiers: Mutex<BTreeMap<String, u64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Networks {
    pub fn execute(&self, command: &str, arguments: &Value, inventory: &Inventory) -> Option<Outcome> {
        let name = arguments["name"].as_str().unwrap_or_default().to_owned();
        let network = arguments["network"].as_str().unwrap_or_default().to_owned();
        Some(match command {
            "bridge.create" => {
                let mut bridges = lock(&self.bridges);
                if bridges.contains_key(&name) {
                    return Some(Outcome::error(&format!("bridge with name '{name}' already exists")));
                }
                bridges.insert(name, arguments.clone());
                Outcome::json(Value::Null)
            }
            "bridge.list" => Outcome::json(json!(lock(&self.bridges).keys().collect::<Vec<_>>())),
            "bridge.delete" => match lock(&self.bridges).remove(&name) {
                Some(_) => Outcome::json(Value::Null),
                None => Outcome::error(&format!("bridge '{name}' not found")),
            },
            "zerotier.join" => {
                if network.len() != 16 || !network.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Some(Outcome::error(&format!("invalid zerotier network id '{network}'")));
                }
                let joined = super::jobs::epoch_ms();
                lock(&self.zerotiers).entry(network).or_insert(joined);
                Outcome::json(Value::Null)
            }
            "zerotier.leave" => match lock(&self.zerotiers).remove(&network) {
                Some(_) => Outcome::json(Value::Null),
                None => Outcome::error(&format!("not a member of network '{network}'")),
            },
            "zerotier.list" => Outcome::json(self.zerotier_list(inventory)),
            _ => return None,
        })
    }

    /// What `zerotier-cli listnetworks -j` shows, per joined network (emulated: authorised at once).
    fn zerotier_list(&self, inventory: &Inventory) -> Value {
        lock(&self.zerotiers)
            .keys()
            .enumerate()
            .map(|(i, nwid)| {
                json!({"nwid": nwid, "id": nwid, "name": format!("emulated-{}", &nwid[10..]), "status": "OK",
                       "type": "PRIVATE", "mac": inventory.mac, "mtu": 2800,
                       "assignedAddresses": [format!("{}/16", inventory.zerotier_ip)],
                       "routes": [{"target": "10.147.0.0/16", "via": null, "flags": 0, "metric": 0}],
                       "allowDefault": false, "allowGlobal": false, "allowManaged": true, "bridge": false,
                       "broadcastEnabled": true, "dhcp": false, "netconfRevision": 3,
                       "portDeviceName": format!("zt{i}"), "portError": 0})
            })
            .collect()
    }
}
