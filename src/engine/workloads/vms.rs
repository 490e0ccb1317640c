//! Converges a VM: a running VM is a domain on the node named by its id (`kvm.create` when the node has none);
//! a stopped one has no domain (`kvm.destroy`, or `kvm.shutdown` for a graceful stop); a deleted one is
//! forgotten once its domain is gone. A VM with vdisks has its NBD server (`nbd_server`) before its domain, and
//! loses it when stopped. An export writes the VM's definition to a URL and changes nothing on the
//! node.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Failure, Step, nbd_server};
use crate::model::vm::{VmExport, VmSpec, VmUpdate};
use crate::model::{JobAction, JobError, Workload};
use crate::zos::ZosClient;

/// The second half of a migration: the VM runs here now (or is halted), so its old node lets go of it and its old
/// record goes; then the new record forgets where it came from.
async fn leave_source(step: &mut Step<'_>, source: &str, vm: &Workload<VmSpec>) -> Result<(), Failure> {
    step.progress(80, &format!("removing the VM from node {source}"))
        .await?;
    let client = step.client_for(source)?;
    if let Some(domain) = client.find_domain(&vm.spec.id).await? {
        client.destroy_domain(&domain["uuid"]).await?;
    }
    nbd_server::stop(&client, &vm.spec.id, source).await?;
    step.forget_source(source, vm).await
}

/// How long an export may take to reach and write to its server.
const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes the VM's definition (0-orchestrator's `VMUpdate`: memory, cpu, nics, disks) where its `VmExport` says.
/// The disks' contents are not part of it: they are vdisks, exported with their storage.
async fn export(step: &mut Step<'_>, vm: &Workload<VmSpec>) -> Result<(), Failure> {
    let Some(target) = step.store().get::<VmExport>(&vm.key)? else {
        return Err(Failure::not_found(format!(
            "no export of VM '{}' was asked for",
            vm.spec.id
        )));
    };
    let url = crate::transfer::parse(&target.value.url).map_err(transfer_failed)?;
    step.progress(30, &format!("writing the VM to {}", crate::transfer::redacted(&url)))
        .await?;
    let spec = &vm.spec;
    let definition = VmUpdate {
        memory: spec.memory,
        cpu: spec.cpu,
        nics: spec.nics.clone(),
        disks: spec.disks.clone(),
    };
    let body = serde_json::to_vec_pretty(&definition).map_err(|e| Failure::Transient(e.to_string()))?;
    crate::transfer::put(&url, body, EXPORT_TIMEOUT)
        .await
        .map_err(transfer_failed)
}

/// A server that refuses or cannot be reached fails the export at once (502, on `url`): retrying for as long as
/// a node may be down would only keep the caller waiting.
fn transfer_failed(error: crate::transfer::TransferError) -> Failure {
    Failure::Permanent(JobError::new(502, "transfer_failed", error.to_string(), Some("url")))
}

pub async fn apply(step: &mut Step<'_>, client: &ZosClient) -> Result<(), Failure> {
    let Some(vm) = step.desired::<VmSpec>()? else {
        return Ok(());
    };
    if step.job.action == JobAction::Export {
        return export(step, &vm).await;
    }
    let spec = &vm.spec;
    step.progress(10, "looking for the VM on the node").await?;
    let domain = client.find_domain(&spec.id).await?;
    if vm.running && !vm.deleting {
        let urls = match spec.disks.is_empty() {
            true => BTreeMap::new(),
            false => nbd_server::ensure(step, client, &vm).await?,
        };
        if domain.is_none() {
            step.progress(40, "creating the VM").await?;
            let media: Vec<Value> = spec
                .disks
                .iter()
                .map(|disk| {
                    let url = (urls.get(&disk.vdiskid).cloned()).unwrap_or_else(|| format!("nbd://{}", disk.vdiskid));
                    json!({"type": "disk", "url": url,
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
            client.create_domain(arguments).await?;
        }
        step.observed(Some(("running", None))).await?;
        if let Some(source) = &vm.moved_from {
            leave_source(step, source, &vm).await?;
        }
        return Ok(());
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
        if graceful {
            client.shutdown_domain(&domain["uuid"]).await?;
        } else {
            client.destroy_domain(&domain["uuid"]).await?;
        }
    }
    nbd_server::remove(step, client, &vm).await?;
    if vm.deleting {
        return step.remove::<VmSpec>().await;
    }
    step.observed(Some(("halted", None))).await?;
    if let Some(source) = &vm.moved_from {
        leave_source(step, source, &vm).await?;
    }
    Ok(())
}
