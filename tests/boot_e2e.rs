//! Real firmware, end to end: qemu's SeaBIOS + iPXE ROM network-boots from the real binary (the kit in
//! `../shared/e2e/`), over (a) our TFTP handover script, (b) HTTP straight from iPXE, and (c) our `undionly.kpxe`
//! chain-loaded over TFTP. Each boot must reach the kit's marker with `zerotier=<the configured network>` on the
//! kernel command line, and the boot events must name the VM's MAC.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::netboot::{boot_events, kit, prepare, work_dir};
use common::{Server, temp_data_dir};
use serde_json::Value;

const NETWORK: &str = "abcdef0123456789";
const MAC: &str = "52:54:00:12:34:56";

/// Boots the VM with the kit's options; returns the marker line and how long it took.
fn boot(args: &[&str], log: &Path) -> (String, f64) {
    let started = Instant::now();
    let output = Command::new(kit().join("netboot-vm.sh"))
        .args(args)
        .args([
            "--expect",
            &format!("zerotier={NETWORK}"),
            "--mac",
            MAC,
            "--timeout",
            "150",
            "--log",
        ])
        .arg(log)
        .output()
        .expect("run netboot-vm.sh");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "boot {args:?} failed (exit {:?}; 3 means a missing tool: run scripts/test):\n{stdout}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    (stdout.trim().to_owned(), started.elapsed().as_secs_f64())
}

#[test]
fn qemu_firmware_boots_over_tftp_http_and_undionly() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let work = work_dir();
    prepare(&server, NETWORK, "initrd.gz");

    let tftp_port = server.tftp.port().to_string();
    let http = format!(
        "http://10.0.2.2:{}/boot.ipxe?mac=${{net0/mac}}&platform=${{platform}}",
        server.base.rsplit(':').next().unwrap()
    );
    let cases: [(&str, Vec<&str>); 3] = [
        (
            "tftp-script",
            vec!["--tftp-host-port", &tftp_port, "--tftp-file", "boot.ipxe"],
        ),
        ("http", vec!["--http", &http]),
        (
            "tftp-undionly",
            vec!["--tftp-host-port", &tftp_port, "--tftp-file", "undionly.ipxe"],
        ),
    ];
    for (name, args) in cases {
        let (marker, seconds) = boot(&args, &work.join(format!("serial-{name}.log")));
        assert!(
            marker.contains("ZOS-E2E-BOOTED") && marker.contains(&format!("zerotier={NETWORK}")),
            "{marker}"
        );
        eprintln!("boot {name}: {seconds:.1} s: {marker}");
    }

    // The boot events, through the API: the script requests carry the VM's MAC, and undionly.kpxe came from us.
    let events: Vec<Value> = boot_events(&server);
    let served = |protocol: &str, file: &str| {
        events
            .iter()
            .filter(|e| e["protocol"] == protocol && e["file"] == file && e["outcome"] == "ok")
            .count()
    };
    let with_mac = events
        .iter()
        .filter(|e| e["file"] == "boot.ipxe" && e["protocol"] == "http" && e["mac"] == MAC);
    assert_eq!(
        with_mac.clone().count(),
        3,
        "one HTTP boot script per boot, with the VM's MAC: {events:#?}"
    );
    assert!(with_mac.clone().all(|e| e["profile"] == "e2e"));
    assert_eq!(served("tftp", "boot.ipxe"), 1);
    assert_eq!(served("tftp", "undionly.kpxe"), 1);
    assert_eq!(
        served("tftp", "undionly.ipxe"),
        2,
        "once from the ROM, once from undionly"
    );
    assert_eq!(served("http", "vmlinuz"), 3);
    assert_eq!(served("http", "initrd.gz"), 3);
    let downloads_with_mac = events
        .iter()
        .filter(|e| e["protocol"] == "http" && e["file"] != "boot.ipxe" && e["mac"] == MAC);
    assert_eq!(
        downloads_with_mac.count(),
        6,
        "kernel and initrd downloads are tied to the machine"
    );
}
