//! A Zero-OS node as the orchestrator knows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub type Labels = BTreeMap<String, String>;

/// What the orchestrator last observed about a node. `Unknown` until something has contacted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    #[default]
    Unknown,
    Online,
    Unreachable,
    AuthFailed,
    Error,
}

impl NodeState {
    /// The legacy 0-orchestrator `status` (`running|halted`) that existing clients read.
    pub fn legacy_status(self) -> &'static str {
        match self {
            NodeState::Online => "running",
            _ => "halted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(default)]
    pub hostname: String,
    /// Where the node's 0-core listens: IP or host name, optional port (its ZeroTier address in production).
    pub address: String,
    #[serde(default)]
    pub labels: Labels,
    /// True for nodes run by the built-in emulator (`--demo`), so nobody mistakes them for hardware.
    #[serde(default)]
    pub emulated: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl Node {
    /// The host part of `address`, which 0-orchestrator calls `ipaddress`.
    pub fn ip_address(&self) -> String {
        if let Ok(sock) = self.address.parse::<std::net::SocketAddr>() {
            return sock.ip().to_string();
        }
        if self.address.parse::<std::net::IpAddr>().is_ok() {
            return self.address.clone();
        }
        self.address
            .rsplit_once(':')
            .map_or(&*self.address, |(host, _)| host)
            .to_owned()
    }
}

/// What the engine last observed about a node: its own collection, written only by the engine (the API owns
/// `Node`, the desired side), so the two never overwrite each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: String,
    pub state: NodeState,
    /// Why the node is not online (empty when it is).
    #[serde(default)]
    pub reason: String,
    /// When the node last answered (RFC 3339), if ever.
    #[serde(default)]
    pub last_seen: Option<String>,
    /// The node's own host name, as it reports it.
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub os_version: String,
    /// The node's boot time (epoch seconds) as it reports it: a change means it rebooted.
    #[serde(default)]
    pub boot_time: u64,
    /// Hardware, read when the node comes online and after each reboot.
    #[serde(default)]
    pub inventory: Option<NodeInventory>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeInventory {
    pub cpus: u32,
    pub cpu_model: String,
    pub memory_bytes: u64,
    pub disks: Vec<NodeDisk>,
    pub nics: Vec<NodeNic>,
    /// The node's address on the cluster's ZeroTier network (its `zt*` interface), if any.
    pub zerotier_address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeDisk {
    pub name: String,
    pub size_bytes: u64,
    /// `nvme`, `ssd` or `hdd` (0-orchestrator's drive types for storage clusters).
    pub kind: String,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeNic {
    pub name: String,
    pub mac: String,
    pub addresses: Vec<String>,
}

crate::store::record!(NodeStatus, "node_status", id);

crate::store::record!(Node, "nodes", id);

#[cfg(test)]
mod tests {
    use super::*;

    fn node(address: &str) -> Node {
        Node {
            id: "n".into(),
            hostname: String::new(),
            address: address.into(),
            labels: Labels::new(),
            emulated: false,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn ip_address_strips_port_and_brackets() {
        assert_eq!(node("10.0.0.1").ip_address(), "10.0.0.1");
        assert_eq!(node("10.0.0.1:6379").ip_address(), "10.0.0.1");
        assert_eq!(node("fd00::1").ip_address(), "fd00::1");
        assert_eq!(node("[fd00::1]:6379").ip_address(), "fd00::1");
        assert_eq!(node("node1.lan:6379").ip_address(), "node1.lan");
        assert_eq!(node("node1.lan").ip_address(), "node1.lan");
    }
}
