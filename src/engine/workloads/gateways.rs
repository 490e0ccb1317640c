//! Converges a gateway: a container of the gateway flist with its NICs, found again by its tags; its firewall,
//! DHCP and HTTP configurations written into it, each checked by its own program before anything is reloaded;
//! then dnsmasq and Caddy restarted on them and the ruleset loaded. A stopped gateway has no container; a deleted
//! one is forgotten once its container is gone.
//!
//! A configuration the gateway refuses fails the job with the program's message, in API terms (a port in use,
//! a host outside its subnet, a MAC given twice, a file that does not parse). A refused creation takes its
//! container away; a refused change puts the record (and the files) back as they were, so what the API shows is
//! what the gateway runs.

use serde_json::{Value, json};

use super::storage_cluster::{engine_job_id, is_engine_job};
use super::{Failure, Step};
use crate::model::gateway::{GATEWAY_FLIST, GatewaySpec};
use crate::model::gateway_config::{self, DHCP_CONFIG, DHCP_HOSTS, FIREWALL_CONFIG, HTTP_CONFIG};
use crate::model::{ContainerSpec, JobAction, JobError, Workload};
use crate::store::Expect;
use crate::zos::commands::GatewayService;
use crate::zos::{ZosClient, ZosError};

pub async fn apply(step: &mut Step<'_>, client: &ZosClient) -> Result<(), Failure> {
    let Some(gateway) = step.desired::<GatewaySpec>()? else {
        return Ok(());
    };
    let tags = tags(&gateway.spec.name);
    if !gateway.running || gateway.deleting {
        step.progress(30, "terminating the gateway's container").await?;
        for id in client.find_containers(&tags).await? {
            client.terminate_container(id).await?;
        }
        if gateway.deleting {
            return step.remove::<GatewaySpec>().await;
        }
        return step.observed(Some(("halted", None))).await;
    }
    step.progress(10, "looking for the gateway's container").await?;
    let container = container_spec(&gateway.spec);
    let id = match client.find_containers(&tags).await?.first() {
        Some(id) => *id,
        None => {
            step.progress(20, "creating the gateway's container").await?;
            let mut arguments = super::containers::create_arguments(&container);
            arguments["privileged"] = json!(true);
            client.create_container(arguments, tags.clone()).await?
        }
    };
    step.progress(40, "setting up its network interfaces").await?;
    super::containers::converge_nics(client, id, &container).await?;
    step.progress(60, "checking its firewall, DHCP and HTTP configurations")
        .await?;
    write_files(client, id, &gateway.spec).await?;
    if let Err(refusal) = check(client, id, &gateway.spec).await {
        return Err(refused(step, client, id, &gateway, refusal).await);
    }
    step.progress(80, "reloading dnsmasq, Caddy and the firewall").await?;
    restart(client, id, &gateway.spec).await?;
    client.load_firewall(id, FIREWALL_CONFIG).await?;
    step.observed(Some(("running", Some(id)))).await?;
    if let Some(source) = &gateway.moved_from {
        leave_source(step, source, &gateway).await?;
    }
    Ok(())
}

/// 0-orchestrator finds a gateway's container by its name; the `gateway` tag keeps it apart from a container
/// of the same name.
fn tags(name: &str) -> Vec<String> {
    vec!["gateway".to_owned(), name.to_owned()]
}

/// The gateway's container as a container record: its NICs with their addresses, and for each ZeroTier bridge
/// the ZeroTier NIC it bridges to (`z-<nic>`, as the reference names it).
fn container_spec(spec: &GatewaySpec) -> ContainerSpec {
    let mut nics: Vec<Value> = Vec::new();
    for nic in &spec.gateway.nics {
        let config = nic
            .config
            .as_ref()
            .map(|config| json!({"dhcp": false, "cidr": config.cidr, "gateway": config.gateway}));
        nics.push(json!({"type": nic.kind, "id": nic.id, "name": nic.name, "config": config}));
        if let Some(bridge) = &nic.zerotierbridge {
            nics.push(json!({"type": "zerotier", "id": bridge.id, "name": format!("z-{}", nic.name)}));
        }
    }
    let nics: Vec<Value> = nics
        .into_iter()
        .map(|mut nic| {
            if let Some(object) = nic.as_object_mut() {
                object.retain(|_, value| !value.is_null());
            }
            nic
        })
        .collect();
    serde_json::from_value(json!({"name": spec.name, "flist": GATEWAY_FLIST, "hostname": spec.name, "nics": nics}))
        .unwrap_or_else(|err| unreachable!("a gateway's container record is well-formed: {err}"))
}

/// Writes the configurations of `spec` into the container (an empty file where a service has nothing to do).
async fn write_files(client: &ZosClient, id: u64, spec: &GatewaySpec) -> Result<(), ZosError> {
    let inside = client.inside(id);
    let (dhcp, hosts) = gateway_config::dhcp(spec).unwrap_or_default();
    inside
        .put_file(FIREWALL_CONFIG, gateway_config::firewall(spec).as_bytes())
        .await?;
    inside.put_file(DHCP_HOSTS, hosts.as_bytes()).await?;
    inside.put_file(DHCP_CONFIG, dhcp.as_bytes()).await?;
    inside
        .put_file(HTTP_CONFIG, gateway_config::http(spec).as_bytes())
        .await
}

/// Which configuration a refusal is about.
enum Refusal {
    Firewall(ZosError),
    Dhcp(ZosError),
    Http(ZosError),
}

/// Each configuration checked by its program; services with nothing to do are not asked.
async fn check(client: &ZosClient, id: u64, spec: &GatewaySpec) -> Result<(), Refusal> {
    if gateway_config::dhcp(spec).is_some() {
        client.check_dhcp(id, DHCP_CONFIG).await.map_err(Refusal::Dhcp)?;
    }
    if !gateway_config::http(spec).is_empty() {
        client.check_http(id, HTTP_CONFIG).await.map_err(Refusal::Http)?;
    }
    client
        .check_firewall(id, FIREWALL_CONFIG)
        .await
        .map_err(Refusal::Firewall)
}

/// The refusal as the API answers it, after taking back what the refused configuration left: a new gateway's
/// container, or a change (the record and the files return to what runs).
async fn refused(
    step: &Step<'_>,
    client: &ZosClient,
    id: u64,
    gateway: &Workload<GatewaySpec>,
    refusal: Refusal,
) -> Failure {
    let error = match refusal {
        Refusal::Firewall(err) | Refusal::Dhcp(err) | Refusal::Http(err)
            if !matches!(err, ZosError::Command { .. }) =>
        {
            return Failure::from(err);
        }
        Refusal::Firewall(err) => judge(err, &gateway.spec.advanced.firewall, "firewall", "portforwards"),
        Refusal::Dhcp(err) => judge(err, &None, "", "nics"),
        Refusal::Http(err) => judge(err, &gateway.spec.advanced.http, "http", "httpproxies"),
    };
    let undone = match (step.job.action, &gateway.spec.before_change) {
        (JobAction::Update, Some(before)) => undo_change(step, client, id, gateway, before).await,
        (JobAction::Create, _) => client.terminate_container(id).await.map_err(Failure::from),
        _ => Ok(()),
    };
    match undone {
        Ok(()) => Failure::Permanent(error),
        Err(failure) => failure,
    }
}

/// A program's refusal in API terms: the field at fault (`advanced` when the operator's own text is refused).
fn judge(err: ZosError, advanced: &Option<String>, advanced_field: &str, field: &str) -> JobError {
    let message = match err {
        ZosError::Command { message, .. } => message,
        other => other.to_string(),
    };
    let (status, code, field) = if message.contains("already in use") {
        (409, "port_in_use", "portforwards")
    } else if message.contains("duplicate dhcp-host") {
        (409, "duplicate_mac", "macaddress")
    } else if message.contains("outside every dhcp-range") {
        (400, "outside_subnet", "ipaddress")
    } else if advanced.is_some() {
        (400, "invalid_config", advanced_field)
    } else {
        (400, "invalid_config", field)
    };
    JobError::new(status, code, format!("the gateway refused: {message}"), Some(field))
}

/// Puts the record back to what ran before the refused change, and the files with it.
async fn undo_change(
    step: &Step<'_>,
    client: &ZosClient,
    id: u64,
    gateway: &Workload<GatewaySpec>,
    before: &(crate::model::gateway::GatewayUpdate, crate::model::gateway::Advanced),
) -> Result<(), Failure> {
    let store = step.store();
    let Some(current) = store.get::<Workload<GatewaySpec>>(&gateway.key)? else {
        return Ok(());
    };
    let mut record = current.value;
    (record.spec.gateway, record.spec.advanced) = before.clone();
    record.spec.before_change = None;
    write_files(client, id, &record.spec).await?;
    store.put(record, Expect::Version(current.version)).await?;
    Ok(())
}

/// dnsmasq and Caddy restarted on their new files (or stopped, with nothing to serve).
async fn restart(client: &ZosClient, id: u64, spec: &GatewaySpec) -> Result<(), ZosError> {
    let inside = client.inside(id);
    let running = inside.jobs().await?;
    let wanted = [
        (GatewayService::Dhcp, DHCP_CONFIG, gateway_config::dhcp(spec).is_some()),
        (
            GatewayService::Http,
            HTTP_CONFIG,
            !gateway_config::http(spec).is_empty(),
        ),
    ];
    for (service, config, wanted) in wanted {
        let prefix = service.job_prefix(&spec.name);
        for job in running.iter().filter(|job| is_engine_job(&job.cmd.id, &prefix)) {
            inside.kill_job(&job.cmd.id, crate::zos::commands::SIGTERM).await?;
        }
        if wanted {
            client
                .start_gateway_service(id, service, &engine_job_id(&prefix), config)
                .await?;
        }
    }
    Ok(())
}

/// The second half of a migration: the gateway runs here now, so its old node's container goes, and its old
/// record; then the new record forgets where it came from.
async fn leave_source(step: &mut Step<'_>, source: &str, gateway: &Workload<GatewaySpec>) -> Result<(), Failure> {
    step.progress(90, &format!("removing the gateway from node {source}"))
        .await?;
    let client = step.client_for(source)?;
    for id in client.find_containers(&tags(&gateway.spec.name)).await? {
        client.terminate_container(id).await?;
    }
    step.forget_source(source, gateway).await
}
