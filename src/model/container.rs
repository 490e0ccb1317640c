//! Containers: 0-orchestrator's `CreateContainer` as the desired state of one container on one node.

use serde::{Deserialize, Serialize};

use super::validate::{Invalid, validate_hostname, validate_id};
use super::workload::Workload;

/// A process to start (0-orchestrator's `CoreSystem`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoreSystem {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// `KEY=VALUE` entries.
    #[serde(default)]
    pub environment: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NicConfig {
    #[serde(default)]
    pub dhcp: bool,
    #[serde(default)]
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<String>>,
}

/// 0-orchestrator's `ContainerNIC`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerNic {
    /// `default`, `zerotier`, `vlan`, `vxlan` or `bridge`.
    #[serde(rename = "type")]
    pub kind: String,
    /// VLAN tag, VXLAN id, ZeroTier network id or bridge name (empty for `default`).
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwaddr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<NicConfig>,
    /// `up` or `down`.
    #[serde(default = "nic_up")]
    pub status: String,
    /// A ZeroTier API token to authorise the container on the network; never shown back.
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
}

fn nic_up() -> String {
    "up".into()
}

/// 0-orchestrator's `CreateContainer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerSpec {
    pub name: String,
    #[serde(default)]
    pub hostname: String,
    /// URL of the root flist.
    pub flist: String,
    #[serde(default)]
    pub init_processes: Vec<CoreSystem>,
    /// `<pool>:<filesystem>` entries, mounted at `/fs/<pool>/<filesystem>`.
    #[serde(default)]
    pub filesystems: Vec<String>,
    #[serde(default)]
    pub nics: Vec<ContainerNic>,
    #[serde(default)]
    pub host_networking: bool,
    /// `hostport:containerport` entries.
    #[serde(default)]
    pub ports: Vec<String>,
    /// The flist's storage backend (ARDB URL), if not the default.
    #[serde(default)]
    pub storage: String,
}

/// A container's desired state.
pub type Container = Workload<ContainerSpec>;

spec!(ContainerSpec, "containers" at ["containers"], name);

const NIC_KINDS: &[&str] = &["default", "zerotier", "vlan", "vxlan", "bridge"];

impl ContainerSpec {
    fn check(&self) -> Result<(), Invalid> {
        validate_id("name", &self.name)?;
        validate_hostname("hostname", &self.hostname)?;
        let flist_ok = (self.flist.starts_with("https://") || self.flist.starts_with("http://"))
            && self.flist.ends_with(".flist")
            && !self.flist.contains(char::is_whitespace);
        if !flist_ok {
            return Err(Invalid::new("flist", "must be an http(s) URL of a .flist file"));
        }
        for (i, process) in self.init_processes.iter().enumerate() {
            process.validate(&format!("initProcesses[{i}]"))?;
        }
        for (i, fs) in self.filesystems.iter().enumerate() {
            let ok = fs
                .split_once(':')
                .is_some_and(|(pool, name)| validate_id("", pool).is_ok() && validate_id("", name).is_ok());
            if !ok {
                return Err(Invalid::new(
                    format!("filesystems[{i}]"),
                    "must be '<pool>:<filesystem>'",
                ));
            }
        }
        for (i, nic) in self.nics.iter().enumerate() {
            nic.validate(&format!("nics[{i}]"))?;
        }
        for (i, port) in self.ports.iter().enumerate() {
            let ok = port
                .split_once(':')
                .is_some_and(|(host, container)| host.parse::<u16>().is_ok() && container.parse::<u16>().is_ok());
            if !ok {
                return Err(Invalid::new(format!("ports[{i}]"), "must be 'hostport:containerport'"));
            }
        }
        Ok(())
    }
}

impl CoreSystem {
    /// `field` is where the process sits in the request (`initProcesses[0]`), or empty when it is the body.
    pub fn validate(&self, field: &str) -> Result<(), Invalid> {
        let at = |name: &str| {
            if field.is_empty() {
                name.to_owned()
            } else {
                format!("{field}.{name}")
            }
        };
        if self.name.trim().is_empty() {
            return Err(Invalid::new(at("name"), "must not be empty"));
        }
        if let Some(bad) = self.environment.iter().position(|entry| !entry.contains('=')) {
            return Err(Invalid::new(at(&format!("environment[{bad}]")), "must be 'KEY=VALUE'"));
        }
        Ok(())
    }
}

impl ContainerNic {
    fn validate(&self, field: &str) -> Result<(), Invalid> {
        if !NIC_KINDS.contains(&self.kind.as_str()) {
            return Err(Invalid::new(
                format!("{field}.type"),
                format!("must be one of {}", NIC_KINDS.join(", ")),
            ));
        }
        if self.kind != "default" && self.id.is_empty() {
            return Err(Invalid::new(format!("{field}.id"), "is required for this type"));
        }
        if let Some(hwaddr) = &self.hwaddr {
            let octets: Vec<&str> = hwaddr.split(':').collect();
            if octets.len() != 6 || !octets.iter().all(|o| o.len() == 2 && u8::from_str_radix(o, 16).is_ok()) {
                return Err(Invalid::new(format!("{field}.hwaddr"), "must be a MAC address"));
            }
        }
        if !matches!(self.status.as_str(), "up" | "down") {
            return Err(Invalid::new(format!("{field}.status"), "must be 'up' or 'down'"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Spec;
    use crate::model::validate::field_rejected;

    fn spec() -> ContainerSpec {
        serde_json::from_value(serde_json::json!({
            "name": "web", "flist": "https://hub.grid.tf/tf-official-apps/ubuntu-18.04.flist",
            "nics": [{"type": "default"}], "ports": ["8080:80"], "filesystems": ["pool:data"],
            "initProcesses": [{"name": "sleep", "args": ["100"], "environment": ["A=1"]}]
        }))
        .unwrap()
    }

    /// A reference create body is valid, and a bad value of each field is refused naming the field.
    #[test]
    fn each_bad_field_is_named() {
        let field = |change: fn(&mut ContainerSpec)| field_rejected(spec(), ContainerSpec::validate, change);
        assert_eq!(field(|s| s.name = "no spaces".into()), "name");
        assert_eq!(field(|s| s.flist = "ftp://x/y.flist".into()), "flist");
        assert_eq!(field(|s| s.ports = vec!["80".into()]), "ports[0]");
        assert_eq!(field(|s| s.filesystems = vec!["nopool".into()]), "filesystems[0]");
        assert_eq!(field(|s| s.nics[0].kind = "token-ring".into()), "nics[0].type");
        assert_eq!(field(|s| s.nics[0].kind = "zerotier".into()), "nics[0].id");
        assert_eq!(
            field(|s| s.init_processes[0].environment = vec!["A".into()]),
            "initProcesses[0].environment[0]"
        );
    }
}
