//! Real firmware, end to end: qemu's SeaBIOS + iPXE ROM network-boots from the real binary (the kit in
//! `../shared/e2e/`), over (a) our TFTP handover script, (b) HTTP straight from iPXE, and (c) our `undionly.kpxe`
//! chain-loaded over TFTP. Each boot must reach the kit's marker with `zerotier=<the configured network>` on the
//! kernel command line, and the boot events must name the VM's MAC.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{Server, client, temp_data_dir};
use serde_json::{Value, json};

const NETWORK: &str = "abcdef0123456789";
const MAC: &str = "52:54:00:12:34:56";

fn kit() -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/e2e");
    assert!(
        kit.join("netboot-vm.sh").exists(),
        "the e2e kit is missing at {}",
        kit.display()
    );
    kit
}

/// The kernel to boot: `$E2E_KERNEL`, else Debian's `/boot/vmlinuz-*` (package linux-image-amd64).
fn kernel() -> PathBuf {
    if let Some(kernel) = std::env::var_os("E2E_KERNEL") {
        return kernel.into();
    }
    let mut kernels: Vec<PathBuf> = std::fs::read_dir("/boot")
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    kernels.retain(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
    });
    kernels.sort();
    kernels
        .pop()
        .expect("no /boot/vmlinuz-* kernel: run scripts/test (installs linux-image-amd64) or set E2E_KERNEL")
}

fn upload(server: &Server, name: &str, path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let response = client()
        .put(server.url(&format!("/boot/assets/{name}")))
        .bearer_auth(server.admin_token())
        .body(bytes)
        .send()
        .unwrap();
    assert_eq!(response.status(), 201, "upload {name}");
}

fn api(server: &Server, method: reqwest::Method, path: &str, body: Value) -> Value {
    let response = client()
        .request(method, server.url(path))
        .bearer_auth(server.admin_token())
        .json(&body)
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().unwrap()
}

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
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e");
    std::fs::create_dir_all(&work).unwrap();
    let initrd = work.join("initrd.gz");
    let built = Command::new(kit().join("build-initramfs.sh"))
        .arg(&initrd)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "build-initramfs.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );

    upload(&server, "vmlinuz", &kernel());
    upload(&server, "initrd.gz", &initrd);
    api(
        &server,
        reqwest::Method::POST,
        "/boot/profiles",
        json!({"name": "e2e", "kernel": {"asset": "vmlinuz"}, "initrds": ["initrd.gz"],
               "cmdline": "console=ttyS0 quiet zerotier={zerotier}"}),
    );
    api(
        &server,
        reqwest::Method::PUT,
        "/boot/settings",
        json!({"zerotierNetwork": NETWORK, "defaultProfile": "e2e"}),
    );

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
    let events: Vec<Value> = client()
        .get(server.url("/boot/events?limit=100"))
        .bearer_auth(server.admin_token())
        .send()
        .unwrap()
        .json()
        .unwrap();
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
