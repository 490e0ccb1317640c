//! What real network boots need (the kit in `../shared/e2e/`): a kernel and the kit's initramfs uploaded as boot
//! assets, and a default profile whose command line carries the cluster's ZeroTier network, the marker's proof.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Killed, Server};

/// The marker line the kit's initramfs prints on the serial port.
pub const MARKER: &str = "ZOS-E2E-BOOTED";
/// The ZeroTier network the boots expect on the kernel command line.
pub const NETWORK: &str = "abcdef0123456789";

/// qemu's arguments for the kit's VM before its firmware, disks and network: TCG, 512 MiB, the serial console on
/// stdout, no monitor.
pub const QEMU_VM: [&str; 9] = [
    "-accel",
    "tcg",
    "-m",
    "512",
    "-nographic",
    "-monitor",
    "none",
    "-serial",
    "stdio",
];
/// The VM's MAC (the kit's default, passed explicitly so boot events can be checked against it).
pub const MAC: &str = "52:54:00:12:34:56";
/// The profile `create_profile` makes.
pub const PROFILE: &str = "e2e";

pub fn kit() -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/e2e");
    assert!(
        kit.join("netboot-vm.sh").exists(),
        "the e2e kit is missing at {}",
        kit.display()
    );
    kit
}

/// Where e2e tests keep their files (initramfs, serial logs).
pub fn work_dir() -> PathBuf {
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e");
    std::fs::create_dir_all(&work).unwrap();
    work
}

/// The kernel to boot: `$E2E_KERNEL`, else Debian's `/boot/vmlinuz-*` (package linux-image-amd64).
pub fn kernel() -> PathBuf {
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

fn upload(http: &reqwest::blocking::Client, base: &str, token: &str, name: &str, path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let response = http
        .put(format!("{base}/boot/assets/{name}"))
        .bearer_auth(token)
        .body(bytes)
        .send()
        .unwrap();
    assert_eq!(response.status(), 201, "upload {name}");
}

pub fn api(server: &Server, method: reqwest::Method, path: &str, body: Value) -> Value {
    let response = server
        .http
        .request(method, server.url(path))
        .bearer_auth(server.admin_token())
        .json(&body)
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().unwrap()
}

/// Builds the kit's initramfs (as `initrd_name` in the work directory), uploads it and the kernel to the server at
/// `base` through `http`, and creates profile `PROFILE` (`console=ttyS0 quiet zerotier={zerotier}`).
pub fn create_profile(http: &reqwest::blocking::Client, base: &str, token: &str, initrd_name: &str) {
    let initrd = work_dir().join(initrd_name);
    let built = Command::new(kit().join("build-initramfs.sh"))
        .arg(&initrd)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "build-initramfs.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    upload(http, base, token, "vmlinuz", &kernel());
    upload(http, base, token, "initrd.gz", &initrd);
    let response = http
        .post(format!("{base}/boot/profiles"))
        .bearer_auth(token)
        .json(
            &json!({"name": PROFILE, "kernel": {"asset": "vmlinuz"}, "initrds": ["initrd.gz"],
               "cmdline": "console=ttyS0 quiet zerotier={zerotier}"}),
        )
        .send()
        .unwrap();
    assert_eq!(response.status(), 201, "create the e2e profile");
}

/// `create_profile` on `server`, made the default, with `network` as the cluster network.
pub fn prepare(server: &Server, network: &str, initrd_name: &str) {
    create_profile(&server.http, &server.base, &server.admin_token(), initrd_name);
    api(
        server,
        reqwest::Method::PUT,
        "/boot/settings",
        json!({"zerotierNetwork": network, "defaultProfile": PROFILE}),
    );
}

/// The boot events the server recorded, newest first.
pub fn boot_events(server: &Server) -> Vec<Value> {
    server
        .http
        .get(server.url("/boot/events?limit=200"))
        .bearer_auth(server.admin_token())
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Boots the VM with the kit's options (`args`: how it finds the server); waits for the marker with
/// `zerotier=NETWORK`. Returns the marker line and how long the boot took, in seconds.
///
/// The kit is told to wait for `zerotier=NETWORK` itself, the end of the guest's marker line, rather than for the
/// line's start: it greps the serial log while the guest is still writing, so waiting for the start once returned a
/// half-written line. The whole line is then read back from the log.
pub fn boot(args: &[&str], log: &Path) -> (String, f64) {
    let started = Instant::now();
    let expected = format!("zerotier={NETWORK}");
    super::run_ok(
        Command::new(kit().join("netboot-vm.sh"))
            .args(args)
            .args(["--marker", &expected, "--mac", MAC, "--timeout", "150", "--log"])
            .arg(log),
        &format!("boot {args:?} (exit 3 means a missing tool: run scripts/test)"),
    );
    let serial = String::from_utf8_lossy(&std::fs::read(log).expect("the kit keeps the serial log")).into_owned();
    let line = serial.lines().find(|line| line.contains(&expected)).unwrap_or_default();
    let marker = line[line.find("ZOS-E2E-BOOTED").unwrap_or(0)..].trim().to_owned();
    assert!(
        marker.starts_with("ZOS-E2E-BOOTED"),
        "the first serial line with {expected} is the guest's marker: {line:?}"
    );
    (marker, started.elapsed().as_secs_f64())
}

/// Runs `qemu` (serial console on its stdout) until `marker` appears on a line of its own that has ended; returns
/// that line and the seconds it took. Panics with the log's last lines when qemu exits first or `timeout` passes.
pub fn run_until_marker(mut qemu: Command, marker: &str, log: &Path, timeout: Duration) -> (String, f64) {
    let serial = std::fs::File::create(log).unwrap();
    let started = Instant::now();
    let mut vm = Killed(
        qemu.stdin(Stdio::null())
            .stdout(serial.try_clone().unwrap())
            .stderr(serial)
            .spawn()
            .expect("start qemu"),
    );
    loop {
        let output = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
        // The serial log is read while qemu writes it: only a marker line that has ended is whole.
        if let Some(line) = output.find(marker).and_then(|at| output[at..].split_once('\n')) {
            return (line.0.trim_end().to_owned(), started.elapsed().as_secs_f64());
        }
        let failed = match vm.0.try_wait().unwrap() {
            Some(status) => Some(format!("qemu exited ({status}) before the marker")),
            None if started.elapsed() > timeout => Some(format!("no marker within {} s", timeout.as_secs())),
            None => None,
        };
        if let Some(failed) = failed {
            let tail: Vec<&str> = output.lines().rev().take(40).collect();
            panic!("{failed}; serial log {}:\n{}", log.display(), tail.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
