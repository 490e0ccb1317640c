//! Converges a VM: a running VM is a domain on the node named by its id (`kvm.create` when the node has none);
//! a stopped one has no domain (`kvm.destroy`, or `kvm.shutdown` for a graceful stop); a deleted one is
//! forgotten once its domain is gone.

use serde_json::{Value, json};

use super::{Failure, Step};
use crate::model::JobAction;
use crate::model::vm::VmSpec;
use crate::zos::{ZosClient, ZosError};

/// The node's domain for VM `id`, if any (`kvm.list`).
pub async fn find_domain(client: &ZosClient, id: &str) -> Result<Option<Value>, ZosError> {
    let domains: Vec<Value> = client.json("kvm.list", json!({})).await?;
    Ok(domains.into_iter().find(|domain| domain["name"] == id))
}

pub async fn apply(step: &mut Step<'_>, client: &ZosClient) -> Result<(), Failure> {
    let Some(vm) = step.desired::<VmSpec>()? else {
        return Ok(());
    };
    let spec = &vm.spec;
    step.progress(10, "looking for the VM on the node").await?;
    let domain = find_domain(client, &spec.id).await?;
    if vm.running && !vm.deleting {
        if domain.is_none() {
            step.progress(40, "creating the VM").await?;
            let media: Vec<Value> = spec
                .disks
                .iter()
                .map(|disk| {
                    json!({"type": "disk", "url": format!("nbd://{}", disk.vdiskid),
                    "iotune": {"totaliopssec": disk.max_i_ops}})
                })
                .collect();
            let nics: Vec<Value> = spec
                .nics
                .iter()
                .map(|nic| json!({"type": nic.kind, "id": nic.id, "hwaddr": nic.macaddress}))
                .collect();
            let arguments = json!({"name": spec.id, "media": media, "cpu": spec.cpu, "memory": spec.memory,
                "nics": nics, "port": {}, "mount": [], "tags": [spec.id], "config": {}});
            client.json::<Value>("kvm.create", arguments).await?;
        }
        return step.observed(Some(("running", None))).await;
    }
    if let Some(domain) = domain {
        let graceful = step.job.action == JobAction::Shutdown;
        step.progress(
            50,
            if graceful {
                "shutting the VM down"
            } else {
                "stopping the VM"
            },
        )
        .await?;
        let command = if graceful { "kvm.shutdown" } else { "kvm.destroy" };
        client.json::<Value>(command, json!({"uuid": domain["uuid"]})).await?;
    }
    if vm.deleting {
        return step.remove::<VmSpec>().await;
    }
    step.observed(Some(("halted", None))).await
}
