//! Converges a block storage cluster, as 0-orchestrator's `storagecluster.block` installs one: on each of its
//! nodes, as many free disks of its drive type as it needs per node; per disk a single-profile storage pool, a
//! filesystem in it and a host-networked engine container with that filesystem at `/mnt/data`; the engine started
//! from its config, checked over RESP, and the servers recorded with 0-disk's cluster config.
//!
//! Every step asks the node first (pools by label, filesystems by path, containers by tag, engines by job id), so
//! a job resumed after a crash finishes the work without making anything twice; the disks a resumed job picks are
//! those that already hold the cluster's pools. A node short of free disks fails the job before anything is made.
//! The same job shape restarts dead engines (the health monitor writes it) and, for a deletion, takes everything
//! down again.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{Failure, Step};
use crate::engine::inventory::drive_type;
use crate::engine::storage_clusters::probe;
use crate::model::storage::{filesystem_mountpoint, pool_mountpoint};
use crate::model::storage_cluster::{
    EngineNames, FIRST_ENGINE_PORT, StorageCluster, StorageClusterServers, StorageClusterSpec, StorageServer,
    cluster_config,
};
use crate::model::{ContainerSpec, JobAction, JobError, Node, now_rfc3339};
use crate::store::Expect;
use crate::zos::commands::{Info, System};
use crate::zos::{ZosClient, ZosError};

/// The flist of the engine containers (0-orchestrator's ARDB on rocksdb).
const ENGINE_FLIST: &str = "https://hub.gig.tech/gig-official-apps/ardb-rocksdb.flist";
/// Where the engine's config goes in its container, and where its filesystem is mounted.
const ENGINE_CONFIG: &str = "/etc/ardb.conf.used";
const ENGINE_HOME: &str = "/mnt/data";
/// How long a started engine may take to answer (0-orchestrator waits up to 100 s; engines here start in less).
const ENGINE_START: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn apply(step: &mut Step<'_>, _lead: &ZosClient) -> Result<(), Failure> {
    let Some(cluster) = step.desired::<StorageClusterSpec>()? else {
        return Ok(());
    };
    if cluster.deleting {
        step.progress(10, "stopping the engines and freeing the disks").await?;
        tear_down(step, &cluster).await?;
        return step.remove::<StorageClusterSpec>().await;
    }
    match deploy(step, &cluster).await {
        // A creation that cannot be made leaves nothing on the nodes either.
        Err(Failure::Permanent(error)) if step.job.action == JobAction::Create => {
            tear_down(step, &cluster).await?;
            Err(Failure::Permanent(error))
        }
        other => other,
    }
}

/// One engine's place: its node and disk, and (once its filesystem exists) its port.
struct Placement {
    node: String,
    disk: String,
    ip: String,
}

async fn deploy(step: &mut Step<'_>, cluster: &StorageCluster) -> Result<(), Failure> {
    let spec = &cluster.spec;
    step.progress(5, "looking for free disks on the nodes").await?;
    let mut placements = Vec::new();
    for node in &spec.nodes {
        placements.extend(place(step, spec, node).await?);
    }
    let total = placements.len();
    let mut servers = Vec::new();
    for (index, placement) in placements.into_iter().enumerate() {
        let percent = 10 + (80 * index / total) as u8;
        step.progress(
            percent,
            &format!(
                "engine {} of {total}: {} on {}",
                index + 1,
                placement.disk,
                placement.node
            ),
        )
        .await?;
        let server = converge_engine(step, spec, &placement, index as u32).await?;
        servers.push(server);
    }
    step.progress(95, "writing the cluster's config").await?;
    record_servers(step, &spec.label, servers).await?;
    step.observed(Some(("ready", None))).await
}

/// The disks of `node` the cluster uses: those already holding its pools (a resumed job), then free ones of its
/// drive type; a node without enough fails the job (400 on `driveType`) before anything is made.
async fn place(step: &Step<'_>, spec: &StorageClusterSpec, node: &str) -> Result<Vec<Placement>, Failure> {
    let client = step.client_for(node)?;
    let disks: Value = client.node().info(Info::Disks).await?;
    let pools = client.btrfs_pools().await?;
    let busy: HashSet<&str> = pools
        .iter()
        .flat_map(|pool| pool["devices"].as_array().into_iter().flatten())
        .filter_map(|device| device["path"].as_str())
        .collect();
    let ours = |disk: &str| {
        let label = EngineNames::new(&spec.label, node, disk, 0).pool;
        pools.iter().any(|pool| pool["label"] == label.as_str())
    };
    let candidates: Vec<&str> = disks["blockdevices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|disk| disk["type"] == "disk" && drive_type(disk) == spec.drive_type)
        .filter_map(|disk| disk["name"].as_str())
        .collect();
    let mut chosen: Vec<&str> = candidates.iter().copied().filter(|disk| ours(disk)).collect();
    chosen.extend(
        candidates
            .iter()
            .copied()
            .filter(|disk| !ours(disk) && !busy.contains(format!("/dev/{disk}").as_str())),
    );
    let needed = spec.servers_per_node();
    if chosen.len() < needed {
        return Err(Failure::Permanent(JobError::new(
            400,
            "not_enough_disks",
            format!(
                "node '{node}' has {} free {} disk(s); the cluster needs {needed} per node",
                chosen.len(),
                spec.drive_type
            ),
            Some("driveType"),
        )));
    }
    let ip = node_ip(step, node)?;
    Ok(chosen
        .into_iter()
        .take(needed)
        .map(|disk| Placement {
            node: node.to_owned(),
            disk: disk.to_owned(),
            ip: ip.clone(),
        })
        .collect())
}

/// The address the node's engines listen on: the host of the node's 0-core address.
fn node_ip(step: &Step<'_>, node: &str) -> Result<String, Failure> {
    let record = step
        .store()
        .get::<Node>(node)?
        .ok_or_else(|| Failure::not_found(format!("node '{node}' not found")))?;
    let address = record.value.address;
    Ok(address
        .rsplit_once(':')
        .map_or(address.as_str(), |(host, _)| host)
        .trim_matches(|c| c == '[' || c == ']')
        .to_owned())
}

/// Makes one engine exist and answer: pool, filesystem (its name carries the port), container, config, process.
async fn converge_engine(
    step: &Step<'_>,
    spec: &StorageClusterSpec,
    placement: &Placement,
    id: u32,
) -> Result<StorageServer, Failure> {
    let client = step.client_for(&placement.node)?;
    let pool = EngineNames::new(&spec.label, &placement.node, &placement.disk, 0).pool;
    let device = format!("/dev/{}", placement.disk);
    let mountpoint = pool_mountpoint(&pool);
    match client.find_pool(&pool).await? {
        Some(found) if found["mountpoint"] == mountpoint.as_str() => {}
        Some(_) => client.mount(&device, &mountpoint).await?,
        None => {
            client.create_pool(&pool, &[&device], "single", "single").await?;
            client.mount(&device, &mountpoint).await?;
        }
    }
    let port = match existing_port(&client, &pool).await? {
        Some(port) => port,
        None => {
            let port = free_port(&client).await?;
            let names = EngineNames::new(&spec.label, &placement.node, &placement.disk, port);
            client
                .create_subvolume(&filesystem_mountpoint(&pool, &names.filesystem))
                .await?;
            port
        }
    };
    let names = EngineNames::new(&spec.label, &placement.node, &placement.disk, port);
    let container = converge_container(&client, &names).await?;
    let inside = client.inside(container);
    let running = inside
        .jobs()
        .await?
        .iter()
        .any(|job| is_engine_job(&job.cmd.id, &names.job));
    if !running {
        let config = format!("home {ENGINE_HOME}\nserver[0].listen {}:{port}\n", placement.ip);
        let fd = inside.open_write(ENGINE_CONFIG, 0o644).await?;
        inside.write(&fd, config.as_bytes()).await?;
        inside.close(fd).await?;
        let args = [ENGINE_CONFIG.to_owned()];
        let process = System::program("/bin/ardb-server", &args);
        client
            .start_service(container, &engine_job_id(&names.job), &process)
            .await?;
    }
    wait_until_ready(&placement.ip, port).await?;
    Ok(StorageServer {
        id,
        ip: placement.ip.clone(),
        port,
        container: format!("/nodes/{}/containers/{}", placement.node, names.container),
        status: "ready".into(),
        node: placement.node.clone(),
        disk: placement.disk.clone(),
        reason: None,
    })
}

/// The port of the engine filesystem already in `pool` (`<pool>_<port>`), if any.
async fn existing_port(client: &ZosClient, pool: &str) -> Result<Option<u16>, ZosError> {
    let prefix = format!("{}_", filesystem_mountpoint(pool, pool));
    Ok(client
        .subvolumes(&pool_mountpoint(pool))
        .await?
        .iter()
        .find_map(|path| path.strip_prefix(&prefix)?.parse().ok()))
}

/// The first port from 2000 up that nothing listens on (`info.port`) and no engine filesystem of the node claims.
async fn free_port(client: &ZosClient) -> Result<u16, ZosError> {
    let listening: Vec<Value> = client.node().info(Info::Ports).await?;
    let mut taken: HashSet<u16> = listening
        .iter()
        .filter_map(|entry| entry["port"].as_u64().and_then(|p| u16::try_from(p).ok()))
        .collect();
    for pool in client.btrfs_pools().await? {
        let Some(label) = pool["label"].as_str().filter(|label| label.starts_with("cluster_")) else {
            continue;
        };
        if pool["mountpoint"].is_string()
            && let Some(port) = existing_port(client, label).await?
        {
            taken.insert(port);
        }
    }
    (FIRST_ENGINE_PORT..=u16::MAX)
        .find(|port| !taken.contains(port))
        .ok_or_else(|| ZosError::Protocol("no free port for a storage engine".into()))
}

/// The engine's container, created if the node has none with its name.
async fn converge_container(client: &ZosClient, names: &EngineNames) -> Result<u64, Failure> {
    let tags = vec![names.container.clone()];
    if let Some(id) = client.find_containers(&tags).await?.first() {
        return Ok(*id);
    }
    let spec: ContainerSpec = serde_json::from_value(json!({
        "name": names.container, "flist": ENGINE_FLIST, "hostNetworking": true,
    }))
    .map_err(|err| Failure::Transient(err.to_string()))?;
    let mut arguments = super::containers::create_arguments(&spec);
    let filesystem = filesystem_mountpoint(&names.pool, &names.filesystem);
    arguments["mount"] = json!({ filesystem: ENGINE_HOME });
    Ok(client.create_container(arguments, tags).await?)
}

/// 0-core keeps a finished job's id for a while, so each start of a service (an engine, a gateway's dnsmasq)
/// gets an id of its own: `storage_engine.<name>.<start time>`.
pub(super) fn engine_job_id(job: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{job}.{millis}")
}

pub(super) fn is_engine_job(id: &str, job: &str) -> bool {
    id.strip_prefix(job)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

async fn wait_until_ready(ip: &str, port: u16) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    loop {
        match probe(ip, port).await {
            Ok(()) => return Ok(()),
            Err(reason) if started.elapsed() > ENGINE_START => {
                return Err(Failure::Transient(format!(
                    "the engine on {ip}:{port} does not answer: {reason}"
                )));
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
}

async fn record_servers(step: &Step<'_>, label: &str, servers: Vec<StorageServer>) -> Result<(), Failure> {
    let store = step.store();
    let current = store.get::<StorageClusterServers>(label)?;
    let record = StorageClusterServers {
        label: label.to_owned(),
        config: cluster_config(&servers),
        servers,
        updated_at: now_rfc3339(),
    };
    let expect = Expect::after(current.as_ref());
    store.put(record, expect).await?;
    Ok(())
}

/// Takes down whatever of the cluster is on its nodes: engine containers (their engines with them), filesystems,
/// pools (which frees the disks), and the recorded servers.
async fn tear_down(step: &Step<'_>, cluster: &StorageCluster) -> Result<(), Failure> {
    let label = &cluster.spec.label;
    for node in &cluster.spec.nodes {
        let client = step.client_for(node)?;
        let prefix = format!("cluster_{node}_{label}_");
        for pool in client.btrfs_pools().await? {
            let Some(name) = pool["label"].as_str().filter(|name| name.starts_with(&prefix)) else {
                continue;
            };
            let mountpoint = pool_mountpoint(name);
            if pool["mountpoint"] != mountpoint.as_str() {
                let device = pool["devices"][0]["path"].as_str().unwrap_or_default();
                client.mount(device, &mountpoint).await?;
            }
            if let Some(port) = existing_port(&client, name).await? {
                let disk = &name[prefix.len()..];
                let names = EngineNames::new(label, node, disk, port);
                for container in client.find_containers(std::slice::from_ref(&names.container)).await? {
                    client.terminate_container(container).await?;
                }
                client
                    .delete_subvolume(&filesystem_mountpoint(name, &names.filesystem))
                    .await?;
            }
            client.unmount(&mountpoint).await?;
        }
    }
    if step.store().get::<StorageClusterServers>(label)?.is_some() {
        step.store().delete::<StorageClusterServers>(label, None).await?;
    }
    Ok(())
}
