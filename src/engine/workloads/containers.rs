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
                match client
                    .create_container(create_arguments(&container.spec), tags.clone())
                    .await
                {
                    Ok(id) => id,
                    // An earlier try of this job whose answer timed out may have created it after our look:
                    // the node says the name is taken, and it is ours (tagged with it). Take that one.
                    Err(err) => match Failure::from(err) {
                        Failure::Permanent(error) if error.code == "already_exists" => {
                            match client.find_containers(&tags).await?.first() {
                                Some(id) => *id,
                                None => return Err(Failure::Permanent(error)),
                            }
                        }
                        failure => return Err(failure),
                    },
                }
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

/// Makes the running container's NICs those of `spec` (`corex.nic-remove`, `corex.nic-add`; see `nic_changes`).
pub(super) async fn converge_nics(client: &ZosClient, id: u64, spec: &ContainerSpec) -> Result<(), Failure> {
    let listed = client.containers().await?;
    let current: Vec<Value> = listed
        .get(&id.to_string())
        .and_then(|c| c["container"]["arguments"]["nics"].as_array().cloned())
        .unwrap_or_default();
    let wanted = wanted_nics(spec);
    let (removed, added) = nic_changes(&current, &wanted);
    for index in removed {
        client.remove_container_nic(id, index).await?;
    }
    for nic in added {
        client.add_container_nic(id, nic).await?;
    }
    Ok(())
}

/// What makes a container's `current` NICs `wanted`: the indexes of those to remove, highest first (so that each
/// removal leaves the indexes still to come in place), and the NICs to add, in the order wanted. A NIC whose
/// settings changed is removed and added again.
fn nic_changes<'a>(current: &[Value], wanted: &'a [Value]) -> (Vec<usize>, Vec<&'a Value>) {
    let removed = (0..current.len())
        .rev()
        .filter(|&index| !wanted.contains(&current[index]))
        .collect();
    let added = wanted.iter().filter(|nic| !current.contains(nic)).collect();
    (removed, added)
}

/// `corex.create`'s arguments for a `CreateContainer` (ZOS-REFERENCE §3, Commands).
pub(super) fn create_arguments(spec: &ContainerSpec) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(nics: Value) -> ContainerSpec {
        serde_json::from_value(json!({"name": "web", "flist": "https://hub/x.flist", "nics": nics})).unwrap()
    }

    /// The NICs 0-core reports for a container created (or converged) with `nics`.
    fn on_node(nics: Value) -> Vec<Value> {
        wanted_nics(&spec(nics))
    }

    #[test]
    fn a_container_with_the_nics_wanted_is_left_alone() {
        let nics = json!([{"type": "default"}, {"type": "zerotier", "id": "8056c2e21c000001"}]);
        let wanted = wanted_nics(&spec(nics.clone()));
        let (removed, added) = nic_changes(&on_node(nics), &wanted);
        assert!(removed.is_empty() && added.is_empty(), "{removed:?} {added:?}");
    }

    #[test]
    fn nics_no_longer_wanted_are_removed_highest_index_first_and_new_ones_added_in_order() {
        let current = on_node(json!([
            {"type": "default"},
            {"type": "vlan", "id": "10"},
            {"type": "bridge", "id": "br0"},
            {"type": "vxlan", "id": "7"},
        ]));
        let wanted = wanted_nics(&spec(json!([
            {"type": "default"},
            {"type": "zerotier", "id": "8056c2e21c000001"},
            {"type": "bridge", "id": "br0"},
            {"type": "vlan", "id": "20"},
        ])));
        let (removed, added) = nic_changes(&current, &wanted);
        assert_eq!(removed, [3, 1]);
        assert_eq!(added, [&wanted[1], &wanted[3]]);
    }

    #[test]
    fn a_nic_set_down_is_removed_and_a_changed_one_replaced() {
        let current = on_node(json!([{"type": "default"}, {"type": "bridge", "id": "br0"}]));
        let wanted = wanted_nics(&spec(json!([
            {"type": "default", "status": "down"},
            {"type": "bridge", "id": "br0", "hwaddr": "52:54:00:00:00:01"},
        ])));
        assert_eq!(wanted.len(), 1, "a NIC that is down is not wanted on the node");
        let (removed, added) = nic_changes(&current, &wanted);
        assert_eq!(removed, [1, 0]);
        assert_eq!(added, [&wanted[0]]);
    }
}
