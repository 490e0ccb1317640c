//! Real firmware, end to end: qemu's SeaBIOS + iPXE ROM network-boots from the real binary (the kit in
//! `../shared/e2e/`), over (a) our TFTP handover script, (b) HTTP straight from iPXE, and (c) our `undionly.kpxe`
//! chain-loaded over TFTP. Each boot must reach the kit's marker with `zerotier=<the configured network>` on the
//! kernel command line, and the boot events must name the VM's MAC.

mod common;

use common::netboot::{MAC, NETWORK, PROFILE, boot, boot_events, prepare, work_dir};
use common::{Server, temp_data_dir};
use serde_json::Value;

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
    assert!(with_mac.clone().all(|e| e["profile"] == PROFILE));
    assert!(
        with_mac
            .clone()
            .all(|e| e["client"].as_str().unwrap().parse::<std::net::SocketAddr>().is_ok()),
        "each HTTP boot event names the address it came from: {events:#?}"
    );
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
