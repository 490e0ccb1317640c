//! The web UI in real headless Chromium (Debian `chromium`, driven by `playwright-core` from tests/ui/).
//! Nodes: sign in with the bootstrap token, watch a node registered through the API appear without a reload,
//! register, edit and delete through the UI, and find who did it (and a refused attempt) on the Audit page
//! (screenshot target/ui/nodes.png). Nodes paging: 1,000 nodes registered while the page is open, 100 rows drawn
//! at a time, pages turned, live changes on a later page, the filter over every node (target/ui/nodes-paging.png).
//! Boot: upload assets, create a
//! profile, settings and a selector through the UI, and see a machine's boot request appear live
//! (screenshot target/ui/boot.png). Boot media: a USB image's link for a chosen network, release, profile and
//! arguments, downloaded (target/ui/boot-media.png). Demo: node detail with inventory and live stats. ZeroTier: authorise a
//! pending member and see it become a node. Containers: create one on a demo node through the form (field errors
//! from the API first), see it running, run commands in it with their output live, find its jobs on the Jobs
//! page, stop and delete it; once with the server waiting for the node, once with every change a job to follow
//! (screenshots target/ui/containers*.png, containers-jobs-first*.png). Storage, bridges, ZeroTier: a pool, a
//! filesystem and a snapshot made, rolled back and deleted through a node's Storage tab (refusals shown next to
//! their field), a bridge and a ZeroTier network through theirs; again with every change a job to follow
//! (screenshots target/ui/storage*.png, storage-jobs-first*.png). VMs: one created through a node's VMs tab (a
//! bridge NIC without a bridge and more memory than the node has free refused next to their fields), its load
//! shown, paused, resumed, stopped, edited while halted, started, shut down and deleted, its jobs on the Jobs page;
//! again with every change a job to follow (screenshots target/ui/vms*.png, vms-jobs-first*.png). Webhooks: one
//! created through the form (a bad URL refused next to its field), its signed deliveries to a real receiver shown
//! live, read-only for a viewer, deleted (screenshot target/ui/webhooks.png). Gateways: one created through a
//! node's Gateways tab (a private address without a prefix refused next to its field), a forward added, one on
//! the gateway's own DNS port refused by the gateway, the forward removed, stopped, started and deleted
//! (screenshots target/ui/gateways*.png). Vdisks: a vdisk storage, vdisks made, grown, refused a rollback, an
//! image imported with its progress and a boot vdisk made from it, all deleted (target/ui/vdisks.png).

mod common;

use std::path::Path;
use std::process::Command;

use common::{Server, ZeroTierRig, required_tool, temp_data_dir};

/// Runs one of the Node scripts in tests/ui/ against a fresh server (started with `server_args`) and checks its
/// verdict and screenshot.
fn run_ui_script(script: &str, server_args: &[&str]) {
    let dir = temp_data_dir();
    run_ui_script_against(script, &Server::start_with(dir.path(), server_args));
}

fn run_ui_script_against(script: &str, server: &Server) {
    run_ui_script_with(script, script, server, &[]);
}

/// Runs tests/ui/`script`.mjs with `envs` against `server`; its screenshots are target/ui/`name`*.png.
fn run_ui_script_with(script: &str, name: &str, server: &Server, envs: &[(&str, &str)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let node = required_tool("ZOS_NODE", "node");
    required_tool("ZOS_CHROMIUM", "/usr/bin/chromium");
    required_tool(
        "ZOS_PLAYWRIGHT",
        root.join("tests/ui/node_modules/playwright-core").to_str().unwrap(),
    );

    let screenshot = root.join(format!("target/ui/{name}.png"));
    let _ = std::fs::remove_file(&screenshot);
    let output = Command::new(node)
        .arg(root.join(format!("tests/ui/{script}.mjs")))
        .env("ZOS_URL", &server.base)
        .env("ZOS_TOKEN", server.admin_token())
        .env("SCREENSHOT", &screenshot)
        .envs(envs.iter().copied())
        .output()
        .expect("run node");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "UI test {script} failed:\n{said}");
    assert!(said.contains("ui: 1 passed, 0 failed"), "{said}");
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot ({} bytes)",
        png.len()
    );
}

/// `script` again on two demo nodes with a server that never waits for a node: every change is answered with a job
/// (202) the UI has to follow (`APPLY_WAIT=0` tells the script); its screenshots are `script`-jobs-first*.png.
fn run_jobs_first(script: &str) {
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--demo", "2", "--apply-wait", "0"]);
    run_ui_script_with(script, &format!("{script}-jobs-first"), &server, &[("APPLY_WAIT", "0")]);
}

#[test]
fn nodes_page_signs_in_and_updates_live_in_chromium() {
    run_ui_script("nodes", &[]);
}

/// 1,000 nodes: the Nodes page draws a page of them at a time, turns pages promptly and keeps live updates.
#[test]
fn nodes_page_pages_through_a_thousand_nodes_live_in_chromium() {
    run_ui_script("nodes-paging", &[]);
}

#[test]
fn webhooks_page_creates_shows_deliveries_and_deletes_in_chromium() {
    run_ui_script("webhooks", &["--heartbeat-interval", "3600"]);
}

#[test]
fn boot_page_configures_booting_and_shows_boots_live_in_chromium() {
    run_ui_script("boot", &[]);
}

/// Boot media: a USB image's link built from the chosen network, release, profile and arguments, downloaded in
/// the browser and with HEAD and GET; what lkrn and the EFI binary need shown (target/ui/boot-media.png).
#[test]
fn boot_media_tab_links_and_downloads_the_chosen_image_in_chromium() {
    run_ui_script("boot-media", &[]);
}

#[test]
fn a_storage_cluster_is_deployed_over_demo_nodes_shown_engine_by_engine_and_deleted_in_chromium() {
    run_ui_script("storage-clusters", &["--demo", "3", "--heartbeat-interval", "1"]);
}

/// Vdisk storages on the Storage page: a vdisk made, refused on its size, grown, its rollback refused with the
/// API's reason; an image imported from an HTTP server on loopback with its progress in bytes, a boot vdisk made
/// from it; all deleted (target/ui/vdisks.png).
#[test]
fn vdisk_storages_vdisks_and_image_imports_are_managed_in_chromium() {
    run_ui_script(
        "vdisks",
        &["--demo", "3", "--heartbeat-interval", "1", "--apply-wait", "0"],
    );
}

#[test]
fn demo_nodes_show_inventory_and_live_stats_in_chromium() {
    run_ui_script("demo", &["--demo", "3", "--heartbeat-interval", "2"]);
}

#[test]
fn a_nodes_health_checks_and_its_own_monitors_show_on_its_health_tab_in_chromium() {
    run_ui_script(
        "health",
        &[
            "--demo",
            "2",
            "--heartbeat-interval",
            "1",
            "--health-threads",
            "1,100000",
        ],
    );
}

#[test]
fn a_pending_zerotier_member_is_authorised_from_the_ui() {
    let members =
        serde_json::json!([{"nodeId": "abcdef0123", "config": {"authorized": false, "ipAssignments": ["127.0.0.1"]}}]);
    let rig = ZeroTierRig::start(false, &[77], members, &[], &[]);
    run_ui_script_against("zerotier", &rig.server);
    rig.assert_no_violations();
}

#[test]
fn a_container_is_created_runs_commands_with_live_output_and_its_jobs_show_in_chromium() {
    run_ui_script("containers", &["--demo", "2"]);
}

/// The same with a node slower than the server waits: every change is a job (202) that the UI follows.
#[test]
fn container_changes_answered_with_jobs_are_followed_in_chromium() {
    run_jobs_first("containers");
}

#[test]
fn storage_pools_filesystems_snapshots_bridges_and_zerotier_networks_are_managed_in_chromium() {
    run_ui_script("storage", &["--demo", "2"]);
}

/// The same with a node slower than the server waits: every change is a job (202) that the UI follows.
#[test]
fn storage_and_network_changes_answered_with_jobs_are_followed_in_chromium() {
    run_jobs_first("storage");
}

#[test]
fn a_vm_is_created_paused_stopped_edited_started_and_deleted_in_chromium() {
    run_ui_script("vms", &["--demo", "2"]);
}

#[test]
fn a_gateway_is_created_given_forwards_stopped_started_and_deleted_in_chromium() {
    run_ui_script("gateways", &["--demo", "2"]);
}

/// The same with a node slower than the server waits: every change is a job (202) that the UI follows.
#[test]
fn vm_changes_answered_with_jobs_are_followed_in_chromium() {
    run_jobs_first("vms");
}
