//! The OpenAPI 3.1 document, generated from the handlers' and types' annotations (never written by hand, so it
//! cannot drift from the code).

use std::sync::LazyLock;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    boot_config, boot_serve, container_direct, container_files, containers, events, jobs, network, node_direct, nodes,
    pool_devices, storage, system, tokens, vms, zerotier,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "zos-orchestrator",
        description = "Bootstraps and runs a Zero-OS cluster. Paths and node fields follow the 0-orchestrator \
            REST API. Send `Authorization: Bearer <token>`; errors are `{code, message, field?}`.",
    ),
    paths(
        nodes::list, nodes::create, nodes::get, nodes::patch, nodes::delete,
        node_direct::ping, node_direct::reboot, node_direct::info, node_direct::list_jobs, node_direct::kill_job,
        node_direct::kill_process, node_direct::kill_jobs, node_direct::get_job, node_direct::get_process,
        containers::list, containers::create, containers::get, containers::delete, containers::update, containers::start, containers::stop,
        container_direct::list_jobs, container_direct::start_job, container_direct::kill_jobs, container_direct::get_job,
        container_direct::signal_job, container_direct::signal, container_direct::stream_job, container_direct::ping,
        container_direct::info, container_direct::get_process, container_direct::signal_process, container_direct::kill,
        storage::list_pools, storage::create_pool, storage::get_pool, storage::delete_pool,
        pool_devices::list, pool_devices::add, pool_devices::get, pool_devices::remove,
        storage::list_filesystems, storage::create_filesystem, storage::get_filesystem, storage::delete_filesystem,
        storage::list_snapshots, storage::create_snapshot, storage::get_snapshot, storage::delete_snapshot,
        storage::rollback_snapshot,
        network::list_bridges, network::create_bridge, network::get_bridge, network::delete_bridge,
        network::list_zerotiers, network::join_zerotier, network::get_zerotier, network::leave_zerotier,
        vms::list, vms::create, vms::get_vm, vms::update, vms::delete, vms::info, vms::power, vms::migrate,
        container_files::upload, container_files::download, container_files::remove,
        jobs::list, jobs::get,
        tokens::list, tokens::create, tokens::revoke, tokens::whoami,
        events::events,
        zerotier::list, zerotier::authorize,
        boot_config::list_profiles, boot_config::create_profile, boot_config::get_profile,
        boot_config::replace_profile, boot_config::delete_profile,
        boot_config::list_selectors, boot_config::create_selector, boot_config::get_selector,
        boot_config::delete_selector, boot_config::get_settings, boot_config::put_settings,
        boot_serve::machine_script, boot_serve::bootstrap_script, boot_serve::list_assets,
        boot_serve::upload_asset, boot_serve::delete_asset, boot_serve::list_events,
        system::health, system::metrics, system::openapi,
    ),
    components(schemas(crate::store::ChangeKind)),
    modifiers(&BearerAuth),
    tags(
        (name = "nodes", description = "The node inventory"),
        (name = "containers", description = "Containers on a node (0-orchestrator parity), and direct access inside them"),
        (name = "storage", description = "Storage pools (btrfs) on a node's disks, their filesystems and snapshots"),
        (name = "network", description = "A node's bridges and the ZeroTier networks it joins"),
        (name = "vms", description = "Virtual machines on a node"),
        (name = "jobs", description = "The orchestrator's jobs: progress and outcome of workload changes"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "events", description = "Live change feed"),
        (name = "zerotier", description = "Members of the cluster's ZeroTier network (discovery)"),
        (name = "boot", description = "Network boot: profiles, selectors, settings, assets, scripts, boot events"),
        (name = "system", description = "Health, metrics, this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// Built once, on first request.
pub static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
});
