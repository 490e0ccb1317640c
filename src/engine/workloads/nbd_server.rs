//! A VM's NBD server, as 0-orchestrator runs one for a VM with vdisks: a host-networked container of 0-disk's
//! flist on the VM's node (`vdisks_<vm>_<node>`), whose `nbdserver` serves the VM's vdisks on the unix socket
//! `/server.socket.<vm>` in the container, from 0-disk's config file (the vdisks and their clusters' engines,
//! written from the store; the server reads it at each negotiation, so a rewrite is all a change needs). The
//! domain's media are `nbd+unix:///<vdiskid>?socket=<container root>/server.socket.<vm>`.
//!
//! Every step asks the node first (the container by its name tag, the server by its job id), so a resumed or
//! repeated job starts nothing twice. The server goes with its container when the VM stops.

use std::collections::BTreeMap;

use serde_json::json;

use super::storage_cluster::{engine_job_id, is_engine_job};
use super::{Failure, Step};
use crate::model::nbd_config::{NbdCluster, NbdConfig, NbdVdisk, nbd_url};
use crate::model::storage_cluster::StorageClusterServers;
use crate::model::vdisk::Vdisk;
use crate::model::vdisk_storage::VdiskStorage;
use crate::model::vm::{VmMedia, VmSpec};
use crate::model::{ContainerSpec, Workload};
use crate::store::Expect;
use crate::zos::ZosClient;
use crate::zos::commands::System;

/// The flist of NBD server containers (0-disk's, as 0-orchestrator's `0-disk-flist`).
const NBD_FLIST: &str = "https://hub.gig.tech/gig-official-apps/0-disk-master.flist";
/// Where the server's config goes in its container.
const CONFIG: &str = "/nbdserver.toml";
/// How long a started server may take to be listed as running by its node.
const START: std::time::Duration = std::time::Duration::from_secs(10);

/// 0-orchestrator's name for the NBD server container of VM `vm` on `node`.
fn container_name(vm: &str, node: &str) -> String {
    format!("vdisks_{vm}_{node}")
}

/// The server's job id prefix (0-orchestrator's `nbdserver.<name>`).
fn job_name(vm: &Workload<VmSpec>) -> String {
    format!("nbdserver.{}", vm.spec.id)
}

/// Makes the VM's NBD server run with the VM's vdisks, and records their URLs; answers them by vdisk id (none,
/// and no server, when no disk names a vdisk of ours).
pub async fn ensure(
    step: &mut Step<'_>,
    client: &ZosClient,
    vm: &Workload<VmSpec>,
) -> Result<BTreeMap<String, String>, Failure> {
    let config = config(step, &vm.spec)?;
    if config.vdisks.is_empty() {
        return Ok(BTreeMap::new());
    }
    step.progress(20, "starting the VM's NBD server").await?;
    let served: Vec<String> = config.vdisks.keys().cloned().collect();
    let config = toml::to_string(&config).map_err(|err| Failure::Transient(err.to_string()))?;
    let container = converge_container(client, vm).await?;
    let inside = client.inside(container);
    let fd = inside.open_write(CONFIG, 0o644).await?;
    inside.write(&fd, config.as_bytes()).await?;
    inside.close(fd).await?;
    let job = job_name(vm);
    let running = |jobs: &[crate::zos::commands::JobInfo]| jobs.iter().any(|j| is_engine_job(&j.cmd.id, &job));
    if !running(&inside.jobs().await?) {
        let socket = format!("unix:/server.socket.{}", vm.spec.id);
        let args = ["--id", &vm.spec.id, "--address", &socket, "--config", CONFIG].map(str::to_owned);
        let process = System {
            name: "/bin/nbdserver",
            args: &args,
            dir: None,
            environment: &[],
            stdin: None,
        };
        client.start_service(container, &engine_job_id(&job), &process).await?;
        let started = std::time::Instant::now();
        while !running(&inside.jobs().await?) {
            if started.elapsed() > START {
                return Err(Failure::Transient(format!(
                    "the NBD server of VM '{}' is not running",
                    vm.spec.id
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let containers = client.containers().await?;
    let root = containers[&container.to_string()]["container"]["root"]
        .as_str()
        .ok_or_else(|| Failure::Transient(format!("the node does not say where container {container} is")))?;
    let socket = format!("{}/server.socket.{}", root.trim_end_matches('/'), vm.spec.id);
    let urls: BTreeMap<String, String> = (served.into_iter())
        .map(|vdisk| {
            let url = nbd_url(&vdisk, &socket);
            (vdisk, url)
        })
        .collect();
    record(step, vm, Some(urls.clone())).await?;
    Ok(urls)
}

/// Stops the VM's NBD server (its container) and forgets the URLs.
pub async fn remove(step: &Step<'_>, client: &ZosClient, vm: &Workload<VmSpec>) -> Result<(), Failure> {
    stop(client, &vm.spec.id, &vm.node).await?;
    record(step, vm, None).await
}

/// Stops the NBD server of VM `vm` on `node`, if it runs there (a migrated VM's old node lets go of it too).
pub async fn stop(client: &ZosClient, vm: &str, node: &str) -> Result<(), Failure> {
    for container in client.find_containers(&[container_name(vm, node)]).await? {
        client.terminate_container(container).await?;
    }
    Ok(())
}

/// 0-disk's config for the VM's vdisks: each vdisk's static config, its vdisk storage's block cluster and, for a
/// boot or db vdisk, the cluster of its transaction log. A disk naming no vdisk of ours is left out (its domain
/// keeps the reference's `nbd://<vdiskid>`, for the node to resolve).
fn config(step: &Step<'_>, vm: &VmSpec) -> Result<NbdConfig, Failure> {
    let store = step.store();
    let mut config = NbdConfig::default();
    for disk in &vm.disks {
        let Some(vdisk) = store.get::<Vdisk>(&disk.vdiskid)? else {
            continue;
        };
        let vdisk = vdisk.value;
        let storage = store
            .get::<VdiskStorage>(&vdisk.vdiskstorage)?
            .ok_or_else(|| Failure::not_found(format!("vdisk storage '{}' does not exist", vdisk.vdiskstorage)))?
            .value;
        let tlog = storage.object_cluster.filter(|_| vdisk.journaled());
        for label in std::iter::once(&storage.block_cluster).chain(&tlog) {
            let servers = store
                .get::<StorageClusterServers>(label)?
                .ok_or_else(|| Failure::Transient(format!("storage cluster '{label}' has no engines yet")))?;
            config.storage_clusters.insert(
                label.clone(),
                NbdCluster {
                    servers: servers.value.addresses(),
                },
            );
        }
        let served = NbdVdisk {
            size: u64::try_from(vdisk.size).unwrap_or(0),
            block_size: u32::try_from(vdisk.blocksize).unwrap_or(0),
            kind: vdisk.kind,
            read_only: vdisk.read_only,
            storage_cluster: storage.block_cluster,
            tlog_storage_cluster: tlog,
        };
        config.vdisks.insert(vdisk.id, served);
    }
    Ok(config)
}

/// The server's container, created if the node has none with its name.
async fn converge_container(client: &ZosClient, vm: &Workload<VmSpec>) -> Result<u64, Failure> {
    let tags = vec![container_name(&vm.spec.id, &vm.node)];
    if let Some(id) = client.find_containers(&tags).await?.first() {
        return Ok(*id);
    }
    let spec: ContainerSpec = serde_json::from_value(json!({
        "name": tags[0], "flist": NBD_FLIST, "hostNetworking": true,
    }))
    .map_err(|err| Failure::Transient(err.to_string()))?;
    Ok(client
        .create_container(super::containers::create_arguments(&spec), tags)
        .await?)
}

async fn record(step: &Step<'_>, vm: &Workload<VmSpec>, urls: Option<BTreeMap<String, String>>) -> Result<(), Failure> {
    let store = step.store();
    let current = store.get::<VmMedia>(&vm.key)?;
    match (urls, current) {
        (Some(urls), current) => {
            if current.as_ref().is_some_and(|c| c.value.urls == urls) {
                return Ok(());
            }
            let expect = Expect::after(current.as_ref());
            let media = VmMedia {
                vm: vm.key.clone(),
                urls,
            };
            store.put(media, expect).await?;
        }
        (None, Some(current)) => {
            store.delete::<VmMedia>(&vm.key, Some(current.version)).await?;
        }
        (None, None) => {}
    }
    Ok(())
}
