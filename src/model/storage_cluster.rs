//! Block storage clusters: 0-orchestrator's `ClusterCreate` as a desired record (one storage engine per free disk
//! of the wanted drive type on each listed node), and what the engine observed of its storage servers.

use serde::{Deserialize, Serialize};

use super::validate::{Invalid, validate_id};
use super::workload::Workload;

/// The drive types 0-orchestrator sorts a node's disks into.
pub const DRIVE_TYPES: &[&str] = &["nvme", "ssd", "hdd", "archive"];

/// The first port a node's storage engines listen on (0-orchestrator's).
pub const FIRST_ENGINE_PORT: u16 = 2000;

/// 0-orchestrator's `ClusterCreate`, for block clusters (object clusters need 0-stor and itsyou.online).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageClusterSpec {
    pub label: String,
    /// Storage engines in all; a multiple of the number of nodes (each node gets as many, one per disk).
    pub servers: u32,
    /// `nvme`, `ssd`, `hdd` or `archive`.
    pub drive_type: String,
    /// Node ids.
    pub nodes: Vec<String>,
    /// `block` (the only type served).
    #[serde(default = "block")]
    pub cluster_type: String,
}

fn block() -> String {
    "block".into()
}

/// A storage cluster's desired state; its `node` is the first of its nodes.
pub type StorageCluster = Workload<StorageClusterSpec>;

/// The most engines one cluster may ask for (a node rarely has more disks than this in all).
const MOST_SERVERS: u32 = 1024;

spec!(StorageClusterSpec, "storageclusters" at ["storageclusters"], label, SPANS_NODES = true);

impl StorageClusterSpec {
    fn check(&self) -> Result<(), Invalid> {
        validate_id("label", &self.label)?;
        if self.cluster_type != "block" {
            return Err(Invalid::new(
                "clusterType",
                "must be 'block' (object clusters need 0-stor, which this orchestrator does not run)",
            ));
        }
        if !DRIVE_TYPES.contains(&self.drive_type.as_str()) {
            return Err(Invalid::new(
                "driveType",
                format!("must be one of {}", DRIVE_TYPES.join(", ")),
            ));
        }
        if self.nodes.is_empty() {
            return Err(Invalid::new("nodes", "at least one node is needed"));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            validate_id(&format!("nodes[{i}]"), node)?;
            if self.nodes[..i].contains(node) {
                return Err(Invalid::new(format!("nodes[{i}]"), "lists a node twice"));
            }
        }
        if self.servers == 0 || self.servers > MOST_SERVERS {
            return Err(Invalid::new("servers", format!("must be 1 to {MOST_SERVERS}")));
        }
        if !self.servers.is_multiple_of(self.nodes.len() as u32) {
            return Err(Invalid::new(
                "servers",
                format!(
                    "must be divisible by the number of nodes ({}): each node runs as many engines",
                    self.nodes.len()
                ),
            ));
        }
        Ok(())
    }
}

impl StorageClusterSpec {
    /// Engines (and so free disks) each node gives.
    pub fn servers_per_node(&self) -> usize {
        self.servers as usize / self.nodes.len()
    }
}

/// The names 0-orchestrator gives what one engine needs on its node: the storage pool on its disk, the
/// filesystem in it, the container and the engine's job in that container.
pub struct EngineNames {
    pub pool: String,
    pub filesystem: String,
    pub container: String,
    pub job: String,
}

impl EngineNames {
    pub fn new(label: &str, node: &str, disk: &str, port: u16) -> EngineNames {
        let pool = format!("cluster_{node}_{label}_{disk}");
        let engine = format!("{label}_{node}_{port}");
        EngineNames {
            filesystem: format!("{pool}_{port}"),
            pool,
            container: format!("container_{engine}"),
            job: format!("storage_engine.{engine}"),
        }
    }
}

/// One storage engine, as the engine observed it (0-orchestrator's `StorageServer`, plus where it lives).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageServer {
    pub id: u32,
    pub ip: String,
    pub port: u16,
    /// The API path of its container.
    pub container: String,
    /// `ready`, `error` (it does not answer) or `broken` (it answers wrongly).
    pub status: String,
    pub node: String,
    pub disk: String,
    /// Why it is not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the engine observed of a cluster's engines (engine-owned; keyed by the cluster's label).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageClusterServers {
    pub label: String,
    pub servers: Vec<StorageServer>,
    /// The config 0-disk reads (`<label>:cluster:conf:storage`), as YAML.
    pub config: String,
    pub updated_at: String,
}

crate::store::record!(StorageClusterServers, "storagecluster_servers", label);

impl StorageClusterServers {
    /// The engines' `host:port`, in the cluster's order (the order decides where a block goes).
    pub fn addresses(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|server| format!("{}:{}", server.ip, server.port))
            .collect()
    }
}

/// 0-disk's storage cluster config: `servers: [{address: ip:port}, …]`, in YAML.
pub fn cluster_config(servers: &[StorageServer]) -> String {
    servers.iter().fold("servers:\n".to_owned(), |config, server| {
        format!("{config}  - address: {}:{}\n", server.ip, server.port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Spec;
    use crate::model::validate::field_rejected;

    fn spec() -> StorageClusterSpec {
        serde_json::from_value(serde_json::json!({
            "label": "c1", "servers": 6, "driveType": "hdd", "nodes": ["a", "b", "c"]
        }))
        .unwrap()
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |change: fn(&mut StorageClusterSpec)| field_rejected(spec(), StorageClusterSpec::validate, change);
        assert_eq!(field(|s| s.servers = 4), "servers");
        assert_eq!(field(|s| s.servers = 0), "servers");
        assert_eq!(field(|s| s.drive_type = "floppy".into()), "driveType");
        assert_eq!(field(|s| s.cluster_type = "object".into()), "clusterType");
        assert_eq!(field(|s| s.nodes = vec![]), "nodes");
        assert_eq!(field(|s| s.nodes[2] = "a".into()), "nodes[2]");
        assert_eq!(field(|s| s.label = "no spaces".into()), "label");
    }

    #[test]
    fn names_and_config_follow_the_reference() {
        let names = EngineNames::new("c1", "n1", "sdb", 2000);
        assert_eq!(names.pool, "cluster_n1_c1_sdb");
        assert_eq!(names.filesystem, "cluster_n1_c1_sdb_2000");
        assert_eq!(names.job, "storage_engine.c1_n1_2000");
        let server = |port| StorageServer {
            id: 0,
            ip: "10.0.0.1".into(),
            port,
            container: String::new(),
            status: "ready".into(),
            node: "n1".into(),
            disk: "sdb".into(),
            reason: None,
        };
        assert_eq!(
            cluster_config(&[server(2000), server(2001)]),
            "servers:\n  - address: 10.0.0.1:2000\n  - address: 10.0.0.1:2001\n"
        );
    }
}
