//! `kvm.*`: virtual machines (libvirt domains) on the node. The orchestrator names a VM's domain after the VM's
//! id; the node answers with the domain's uuid, which every later command names it by.

use serde_json::{Value, json};

use super::find;
use crate::zos::{ZosClient, ZosError};

impl ZosClient {
    /// `kvm.list`: the domains (name, uuid, state, vnc, …), passed on as the node sent them.
    pub async fn domains(&self) -> Result<Vec<Value>, ZosError> {
        self.json("kvm.list", json!({})).await
    }

    /// The domain named `name`, if the node has one.
    pub async fn find_domain(&self, name: &str) -> Result<Option<Value>, ZosError> {
        Ok(find(self.domains().await?, "name", name))
    }

    /// `kvm.create`: `arguments` are `{name, media, cpu, memory, nics, port, mount, tags, config}`.
    pub async fn create_domain(&self, arguments: Value) -> Result<(), ZosError> {
        self.call("kvm.create", arguments).await
    }

    /// `kvm.info`: the running domain's 5-minute averages of cpu, disks and nics.
    pub async fn domain_info(&self, uuid: &Value) -> Result<Value, ZosError> {
        self.json("kvm.info", json!({"uuid": uuid})).await
    }

    /// `kvm.destroy`: stops the domain at once.
    pub async fn destroy_domain(&self, uuid: &Value) -> Result<(), ZosError> {
        self.call("kvm.destroy", json!({"uuid": uuid})).await
    }

    /// `kvm.shutdown`: asks the guest to power off.
    pub async fn shutdown_domain(&self, uuid: &Value) -> Result<(), ZosError> {
        self.call("kvm.shutdown", json!({"uuid": uuid})).await
    }

    /// `kvm.pause`.
    pub async fn pause_domain(&self, uuid: &Value) -> Result<(), ZosError> {
        self.call("kvm.pause", json!({"uuid": uuid})).await
    }

    /// `kvm.resume`.
    pub async fn resume_domain(&self, uuid: &Value) -> Result<(), ZosError> {
        self.call("kvm.resume", json!({"uuid": uuid})).await
    }
}
