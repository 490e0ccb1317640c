//! Virtual machines on a node: 0-orchestrator's `VMCreate` (and `VMUpdate`, its changeable part).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::validate::{Invalid, validate_id};

/// 0-orchestrator's `NicLink`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NicLink {
    /// `default`, `bridge`, `vlan` or `vxlan`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Bridge name, VLAN tag or VXLAN id (empty for `default`).
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macaddress: Option<String>,
}

/// 0-orchestrator's `VDiskLink`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VdiskLink {
    pub vdiskid: String,
    #[serde(default)]
    pub max_i_ops: u64,
}

bodies_sharing! {
    shared {
        /// MiB of memory (from the next start, on an update); reserved on the node.
        pub memory: u64,
        /// Virtual CPUs.
        pub cpu: u32,
        /// Its NICs in order; omitted, none (an update replaces the whole list).
        #[serde(default)]
        pub nics: Vec<NicLink>,
        /// Its vdisks in boot order; omitted, none (an update replaces the whole list).
        #[serde(default)]
        pub disks: Vec<VdiskLink>,
    }
    /// 0-orchestrator's `VMCreate`, kept as the VM's desired state.
    VmSpec {
        /// The VM's name on the node (its domain's name), unique there.
        pub id: String,
    }
    /// 0-orchestrator's `VMUpdate`: what may change while the VM is halted.
    VmUpdate {}
}

/// Where a VM's export job writes its definition (desired: the API's), keyed by the VM's workload key. A VM has one
/// export at a time: the API refuses another while the VM's job runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmExport {
    pub vm: String,
    /// The file's URL: the one asked for, plus `/<vmid>_<epoch seconds>`.
    pub url: String,
}

crate::store::record!(VmExport, "vm_exports", vm);

/// Where a running VM's vdisks are served (observed: the engine's, keyed by the VM's workload key): each vdisk's
/// URL on the VM's NBD server, as the domain's media names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmMedia {
    pub vm: String,
    /// Vdisk id → `nbd+unix:///<vdiskid>?socket=<path>`.
    pub urls: BTreeMap<String, String>,
}

crate::store::record!(VmMedia, "vm_media", vm);

const NIC_KINDS: &[&str] = &["default", "bridge", "vlan", "vxlan"];

impl VmSpec {
    pub fn update(&mut self, update: VmUpdate) {
        self.memory = update.memory;
        self.cpu = update.cpu;
        self.nics = update.nics;
        self.disks = update.disks;
    }
}

spec!(VmSpec, "vms" at ["vms"], id);

impl VmSpec {
    fn check(&self) -> Result<(), Invalid> {
        validate_id("id", &self.id)?;
        if !(128..=1 << 20).contains(&self.memory) {
            return Err(Invalid::new("memory", "must be 128 to 1048576 MiB"));
        }
        if !(1..=256).contains(&self.cpu) {
            return Err(Invalid::new("cpu", "must be 1 to 256"));
        }
        for (i, nic) in self.nics.iter().enumerate() {
            if !NIC_KINDS.contains(&nic.kind.as_str()) {
                let kinds = NIC_KINDS.join(", ");
                return Err(Invalid::new(
                    format!("nics[{i}].type"),
                    format!("must be one of {kinds}"),
                ));
            }
            if nic.kind != "default" && nic.id.is_empty() {
                return Err(Invalid::new(format!("nics[{i}].id"), "is required for this type"));
            }
        }
        for (i, disk) in self.disks.iter().enumerate() {
            validate_id(&format!("disks[{i}].vdiskid"), &disk.vdiskid)?;
        }
        Ok(())
    }
}
