//! Converges one container towards its desired record: running (create it if the node has none with its name,
//! start its init processes), stopped (terminate it: 0-orchestrator's stop), or gone (terminate, then forget).
//! Every job, whatever its action, converges to what the record says now, so a job resumed after a restart, or
//! overtaken by a later change, still does the right thing.

use serde_json::{Map, Value, json};

use super::{Failure, Step};
use crate::model::{ContainerSpec, CoreSystem};
use crate::zos::ZosClient;
use crate::zos::commands::System;

pub async fn apply(step: &mut Step<'_>, client: &ZosClient) -> Result<(), Failure> {
    let Some(container) = step.desired::<ContainerSpec>()? else {
        return Ok(());
    };
    // 0-orchestrator tags each container with its name, and finds it again by that tag.
    let tags = vec![container.spec.name.clone()];
    if container.running && !container.deleting {
        step.progress(10, "looking for the container on the node").await?;
        let id = match client.find_containers(&tags).await?.first() {
            Some(id) => *id,
            None => {
                step.progress(30, "creating the container (mounting its flist)").await?;
                client.create_container(create_arguments(&container.spec), tags).await?
            }
        };
        step.progress(60, "setting up its network interfaces").await?;
        converge_nics(client, id, &container.spec).await?;
        step.progress(70, "starting init processes").await?;
        let inside = client.inside(id);
        if inside.jobs().await?.is_empty() {
            for process in &container.spec.init_processes {
                inside.system(&System::from(process), false).await?;
            }
        }
        step.observed(Some(("running", Some(id)))).await?;
        return Ok(());
    }
    step.progress(30, "terminating the container").await?;
    for id in client.find_containers(&tags).await? {
        client.terminate_container(id).await?;
    }
    if container.deleting {
        step.remove::<ContainerSpec>().await?;
    } else {
        step.observed(Some(("halted", None))).await?;
    }
    Ok(())
}

/// A container's process as `core.system` runs it: its init processes here, and the jobs the API starts in it.
impl<'a> From<&'a CoreSystem> for System<'a> {
    fn from(process: &'a CoreSystem) -> System<'a> {
        System {
            name: &process.name,
            args: &process.args,
            dir: process.pwd.as_deref(),
            environment: &process.environment,
            stdin: process.stdin.as_deref(),
        }
    }
}

/// The NICs that should be up, as 0-core takes them.
fn wanted_nics(spec: &ContainerSpec) -> Vec<Value> {
    spec.nics
        .iter()
        .filter(|nic| nic.status == "up")
        .map(
            |nic| json!({"type": nic.kind, "id": nic.id, "name": nic.name, "hwaddr": nic.hwaddr, "config": nic.config}),
        )
        .collect()
}

/// Makes the running container's NICs those of `spec`: removes the ones no longer wanted (highest index first,
/// so the others keep their places), then adds the missing ones (`corex.nic-remove`, `corex.nic-add`).
async fn converge_nics(client: &ZosClient, id: u64, spec: &ContainerSpec) -> Result<(), Failure> {
    let listed = client.containers().await?;
    let current: Vec<Value> = listed
        .get(&id.to_string())
        .and_then(|c| c["container"]["arguments"]["nics"].as_array().cloned())
        .unwrap_or_default();
    let wanted = wanted_nics(spec);
    for (index, nic) in current.iter().enumerate().rev() {
        if !wanted.contains(nic) {
            client.remove_container_nic(id, index).await?;
        }
    }
    for nic in wanted.iter().filter(|nic| !current.contains(nic)) {
        client.add_container_nic(id, nic).await?;
    }
    Ok(())
}

/// `corex.create`'s arguments for a `CreateContainer` (ZOS-REFERENCE §3, Commands).
fn create_arguments(spec: &ContainerSpec) -> Value {
    let nics = wanted_nics(spec);
    let ports: Map<String, Value> = spec
        .ports
        .iter()
        .filter_map(|port| port.split_once(':'))
        .map(|(host, container)| (host.to_owned(), json!(container.parse::<u16>().unwrap_or_default())))
        .collect();
    let mounts: Map<String, Value> = spec
        .filesystems
        .iter()
        .filter_map(|fs| fs.split_once(':'))
        .map(|(pool, fs)| {
            (
                format!("/storage/{pool}/filesystems/{fs}"),
                json!(format!("/fs/{pool}/{fs}")),
            )
        })
        .collect();
    json!({"root": spec.flist, "name": spec.name, "hostname": spec.hostname, "host_network": spec.host_networking,
           "nics": nics, "port": ports, "mount": mounts, "storage": spec.storage, "privileged": false,
           "identity": "", "env": {}})
}
