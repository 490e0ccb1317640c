//! The container image, built by `scripts/image.sh` and run for real with podman: host networking on free loopback
//! ports and a fresh volume; `/health` and the image's HEALTHCHECK; the bootstrap token in the volume, written by
//! the non-root user; a TFTP download; one qemu network boot served by the container (`../shared/e2e/`); and the
//! state kept when the container stops and a new one starts on the same volume. It also checks what the image
//! holds (binary, CA bundle, passwd and group; nothing else), its size, and that NET_BIND_SERVICE lets the non-root
//! user bind ports 69 and 80 (in a network namespace of the container's own, so nothing on the host is touched).
//! Prints the image size, the cold start time to a healthy `/health` and the boot time.
//!
//! One test, not several: the phases share one image build, and image builds must not run side by side (they
//! share the build context directory).
//!
//! This machine's podman flags live here, not in the README: the runc runtime with the cgroupfs manager, and a
//! containers.conf without default ulimits (which these machines refuse).

mod common;

use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::netboot::{self, MAC, NETWORK, PROFILE};
use common::{client, register_node_at, required_tool, wait_until};
use serde_json::{Value, json};

/// The image's user (Containerfile).
const USER_ID: u32 = 10001;
const IMAGE_SIZE_GOAL: u64 = 40 * 1000 * 1000;
/// Files the engine itself puts into every container (mount points and the mtab link), beside the image's own.
const ENGINE_FILES: &[&str] = &["etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab"];
const IMAGE_FILES: &[&str] = &[
    "etc/group",
    "etc/passwd",
    "etc/ssl/certs/ca-certificates.crt",
    "usr/local/bin/zos-orchestrator",
];

/// podman with this machine's flags, and everything this test creates under names unique to the run; all of it is
/// removed when dropped, also when the test fails half-way.
struct Podman {
    program: PathBuf,
    /// Holds containers.conf.
    conf: tempfile::TempDir,
    unique: String,
    image: Option<String>,
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Podman {
    fn new() -> Podman {
        let program = required_tool("ZOS_PODMAN", "podman");
        required_tool("ZOS_RUNC", "runc");
        let conf = tempfile::tempdir().unwrap();
        std::fs::write(
            conf.path().join("containers.conf"),
            "[containers]\ndefault_ulimits = []\n",
        )
        .unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Podman {
            program,
            conf,
            unique: format!("{}-{nanos}", std::process::id()),
            image: None,
            containers: Vec::new(),
            volumes: Vec::new(),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .env("CONTAINERS_CONF", self.conf.path().join("containers.conf"))
            .args(["--runtime", "runc", "--cgroup-manager=cgroupfs"]);
        command
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run podman")
    }

    /// Runs podman; fails unless it succeeds; returns its stdout, trimmed.
    fn run(&self, args: &[&str]) -> String {
        let output = self.output(args);
        assert!(
            output.status.success(),
            "podman {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Builds the image with the project's script, under a tag of this run; returns the tag.
    fn build_image(&mut self) -> String {
        let tag = format!("localhost/zos-orchestrator-test:{}", self.unique);
        self.image = Some(tag.clone());
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let output = Command::new(root.join("scripts/image.sh"))
            .args(["--tag", &tag])
            .env("ZOS_IMAGE_ENGINE", &self.program)
            .env("CONTAINERS_CONF", self.conf.path().join("containers.conf"))
            .output()
            .expect("run scripts/image.sh");
        assert!(
            output.status.success(),
            "scripts/image.sh: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        tag
    }

    /// A container name of this run (removed when dropped).
    fn container(&mut self, what: &str) -> String {
        let name = format!("zos-test-{what}-{}", self.unique);
        self.containers.push(name.clone());
        name
    }

    fn volume(&mut self) -> String {
        let name = format!("zos-test-data-{}", self.unique);
        self.volumes.push(name.clone());
        self.run(&["volume", "create", &name]);
        name
    }

    /// Starts the image as `name` on host networking, on `ports` (HTTP, TFTP) of 127.0.0.1, with `volume` as /data
    /// and a read-only root; returns how long it took to answer `/health` with 200.
    fn serve(&self, name: &str, image: &str, volume: &str, (http, tftp): (u16, u16)) -> Duration {
        let started = Instant::now();
        self.run(&[
            "run",
            "-d",
            "--pull=never",
            "--name",
            name,
            "--network",
            "host",
            "--read-only",
            "-v",
            &format!("{volume}:/data"),
            "-e",
            &format!("ZOS_LISTEN=127.0.0.1:{http}"),
            "-e",
            &format!("ZOS_TFTP_LISTEN=127.0.0.1:{tftp}"),
            "-e",
            &format!("ZOS_ZEROTIER_NETWORK={NETWORK}"),
            image,
        ]);
        let health = format!("http://127.0.0.1:{http}/health");
        let deadline = started + Duration::from_secs(30);
        loop {
            if client().get(&health).send().is_ok_and(|r| r.status() == 200) {
                return started.elapsed();
            }
            assert!(
                Instant::now() < deadline,
                "container {name} not healthy within 30 s:\n{}",
                self.logs(name)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn logs(&self, name: &str) -> String {
        let output = self.output(&["logs", name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for container in &self.containers {
            let _ = self.output(&["rm", "-f", "-v", container]);
        }
        for volume in &self.volumes {
            let _ = self.output(&["volume", "rm", "-f", volume]);
        }
        if let Some(image) = &self.image {
            let _ = self.output(&["rmi", "-f", image]);
        }
    }
}

fn free_ports() -> (u16, u16) {
    let http = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tftp = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    (http, tftp)
}

fn get(base: &str, path: &str, token: &str) -> reqwest::blocking::Response {
    client().get(format!("{base}{path}")).bearer_auth(token).send().unwrap()
}

fn whoami(base: &str, token: &str) -> Value {
    let response = get(base, "/auth/whoami", token);
    assert_eq!(response.status(), 200, "the token works");
    response.json().unwrap()
}

/// The image's size, user and files: only what the binary needs.
fn check_contents(podman: &Podman, image: &str, container: &str, dir: &Path) -> u64 {
    let size: u64 = podman
        .run(&["image", "inspect", "--format", "{{.Size}}", image])
        .parse()
        .unwrap();
    assert!(
        size < IMAGE_SIZE_GOAL,
        "image size {size} bytes, goal < {IMAGE_SIZE_GOAL}"
    );
    let user = podman.run(&["image", "inspect", "--format", "{{.Config.User}}", image]);
    assert_eq!(user, format!("{USER_ID}:{USER_ID}"));
    let version = podman.run(&[
        "image",
        "inspect",
        "--format",
        "{{index .Labels \"org.opencontainers.image.version\"}}",
        image,
    ]);
    assert_eq!(version, env!("CARGO_PKG_VERSION"));

    let export = dir.join("export.tar");
    podman.run(&["export", "-o", export.to_str().unwrap(), container]);
    let listing = Command::new("tar").arg("-tf").arg(&export).output().unwrap();
    assert!(listing.status.success());
    let mut files: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|line| line.trim_start_matches("./").to_owned())
        .filter(|path| !path.is_empty() && !path.ends_with('/') && !ENGINE_FILES.contains(&path.as_str()))
        .collect();
    files.sort();
    assert_eq!(files, IMAGE_FILES, "the image holds nothing else");

    let bundle = dir.join("ca-certificates.crt");
    podman.run(&[
        "cp",
        &format!("{container}:/etc/ssl/certs/ca-certificates.crt"),
        bundle.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read(&bundle).unwrap() == std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap(),
        "Debian's CA bundle, where rustls-native-certs looks"
    );
    size
}

/// The README's claim: the non-root user binds ports below 1024 with NET_BIND_SERVICE, and only with it. Each
/// container has a network namespace of its own (`--network none`: loopback only).
fn check_low_ports(podman: &mut Podman, image: &str) {
    let low = ["-e", "ZOS_LISTEN=127.0.0.1:80", "-e", "ZOS_TFTP_LISTEN=0.0.0.0:69"];
    let denied = podman.container("nocap");
    let mut args = vec!["run", "--pull=never", "--name", &denied, "--network", "none"];
    // HTTP on a high port, so that the TFTP bind is the one that fails.
    args.extend_from_slice(&["-e", "ZOS_LISTEN=127.0.0.1:8080", "-e", "ZOS_TFTP_LISTEN=0.0.0.0:69"]);
    args.push(image);
    let output = podman.output(&args);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "binding port 69 without the capability: {said}"
    );
    assert!(
        said.contains("CAP_NET_BIND_SERVICE"),
        "the error names the capability: {said}"
    );

    let allowed = podman.container("cap");
    let mut args = vec!["run", "-d", "--pull=never", "--name", &allowed, "--network", "none"];
    args.extend_from_slice(&["--cap-add", "NET_BIND_SERVICE"]);
    args.extend_from_slice(&low);
    args.push(image);
    podman.run(&args);
    // The image's HEALTHCHECK, run inside the container's namespace: HTTP on port 80, and TFTP on 69 was bound
    // (the server stops when it cannot bind it).
    wait_until(
        Duration::from_secs(20),
        "healthy with NET_BIND_SERVICE on ports 80 and 69",
        || podman.output(&["healthcheck", "run", &allowed]).status.success(),
    );
}

#[test]
fn the_image_serves_boots_a_machine_and_keeps_its_state_in_the_volume() {
    let mut podman = Podman::new();
    let curl = required_tool("ZOS_CURL", "curl");
    let dir = tempfile::tempdir().unwrap();

    let build_started = Instant::now();
    let image = podman.build_image();
    let build_time = build_started.elapsed();

    let volume = podman.volume();
    let ports = free_ports();
    let base = format!("http://127.0.0.1:{}", ports.0);
    let first = podman.container("first");
    let cold_start = podman.serve(&first, &image, &volume, ports);
    podman.run(&["healthcheck", "run", &first]);
    let size = check_contents(&podman, &image, &first, dir.path());

    // The bootstrap token, in the volume, written by the image's non-root user and readable by it alone.
    let data = PathBuf::from(podman.run(&["volume", "inspect", "--format", "{{.Mountpoint}}", &volume]));
    let token_file = data.join("admin.token");
    let meta = std::fs::metadata(&token_file).expect("admin.token in the volume");
    assert_eq!((meta.uid(), meta.permissions().mode() & 0o777), (USER_ID, 0o600));
    let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    assert_eq!(whoami(&base, &admin)["role"], "admin");

    // TFTP from the container: the embedded iPXE binary, byte for byte.
    let out = dir.path().join("undionly.kpxe");
    let status = Command::new(&curl)
        .args(["-sSf", "-o"])
        .arg(&out)
        .arg(format!("tftp://127.0.0.1:{}/undionly.kpxe", ports.1))
        .status()
        .unwrap();
    assert!(status.success(), "curl over TFTP");
    assert!(std::fs::read(&out).unwrap() == std::fs::read("/usr/lib/ipxe/undionly.kpxe").unwrap());

    // One real network boot served by the container: TFTP script, then kernel and initrd over HTTP. The network
    // comes from ZOS_ZEROTIER_NETWORK; the default profile is set through the API.
    netboot::create_profile(&client(), &base, &admin, "initrd-image.gz");
    let mut settings: Value = get(&base, "/boot/settings", &admin).json().unwrap();
    assert_eq!(settings["zerotierNetwork"], NETWORK, "from the environment");
    settings["defaultProfile"] = json!(PROFILE);
    let put = client()
        .put(format!("{base}/boot/settings"))
        .bearer_auth(&admin)
        .json(&settings)
        .send()
        .unwrap();
    assert_eq!(put.status(), 200);
    let tftp_port = ports.1.to_string();
    let (marker, boot_time) = netboot::boot(
        &["--tftp-host-port", &tftp_port, "--tftp-file", "boot.ipxe"],
        &dir.path().join("serial.log"),
    );
    let events: Vec<Value> = get(&base, "/boot/events?limit=20", &admin).json().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["file"] == "boot.ipxe" && e["protocol"] == "http" && e["mac"] == MAC && e["profile"] == PROFILE),
        "{events:#?}"
    );

    // State made before the restart: a node and a viewer token.
    register_node_at(&base, &admin, "image-node", json!({"rack": "r7"}));
    let created = client()
        .post(format!("{base}/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"name": "image-viewer", "role": "viewer"}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let viewer = created.json::<Value>().unwrap()["token"].as_str().unwrap().to_owned();

    // SIGTERM from the engine: a clean exit. Then a new container on the same volume has all of it.
    podman.run(&["stop", "-t", "20", &first]);
    assert_eq!(podman.run(&["inspect", "--format", "{{.State.ExitCode}}", &first]), "0");
    podman.run(&["rm", &first]);
    let second = podman.container("second");
    let warm_start = podman.serve(&second, &image, &volume, ports);
    assert_eq!(whoami(&base, &viewer)["role"], "viewer");
    assert_eq!(whoami(&base, &admin)["role"], "admin");
    let node: Value = get(&base, "/nodes/image-node", &admin).json().unwrap();
    assert_eq!(node["labels"]["rack"], "r7");
    let assets: Value = get(&base, "/boot/assets", &admin).json().unwrap();
    assert_eq!(assets.as_array().map(Vec::len), Some(2), "{assets}");
    let settings: Value = get(&base, "/boot/settings", &admin).json().unwrap();
    assert_eq!(settings["defaultProfile"], PROFILE);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), admin);
    assert!(
        !podman.logs(&second).contains("bootstrap admin token written"),
        "the bootstrap token is issued once"
    );

    check_low_ports(&mut podman, &image);

    // Straight to stderr, not eprintln!: the test harness captures that, and these numbers belong in CI's log.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "image: {:.1} MB ({size} bytes), built in {:.1} s; cold start to a healthy /health: {} ms (restart on the \
         same volume: {} ms); qemu network boot from the container: {boot_time:.1} s ({marker})",
        size as f64 / 1e6,
        build_time.as_secs_f64(),
        cold_start.as_millis(),
        warm_start.as_millis(),
    );
}
