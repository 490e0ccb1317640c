//! Boot media (`/iso/…`, `/usb/…`, `/uefimg/…`, `/krn/…`, `/uefi/…`): the images' layout read back by the real
//! tools (`xorriso`, `fdisk`, `mtools`), their headers and validation, the bounded cache, and real firmware
//! booting them in qemu (the e2e kit's kernel and initramfs): the hybrid ISO as a CD and as a raw disk in SeaBIOS
//! with the embedded (bookworm) iPXE, and in OVMF from CD, raw disk, and the EFI disk image with Debian trixie's
//! iPXE (the first Debian build whose `ipxe.efi` runs `autoexec.ipxe`), each to the kit's marker.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::netboot::{MAC, MARKER, NETWORK, PROFILE, QEMU_VM, create_profile, run_until_marker, work_dir};
use common::{Server, required_tool, temp_data_dir};
use serde_json::Value;

/// What the guest calls our loopback server through slirp.
fn guest_host(server: &Server) -> String {
    format!("10.0.2.2:{}", server.base.rsplit(':').next().unwrap())
}

/// Downloads `path` as the guest would see it (`Host: 10.0.2.2:<port>`) into `file`; returns the headers.
fn download(server: &Server, path: &str, file: &Path) -> reqwest::header::HeaderMap {
    let response = server
        .http
        .get(server.url(path))
        .header("host", guest_host(server))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    let bytes = response.bytes().unwrap();
    assert_eq!(
        headers["content-length"].to_str().unwrap(),
        bytes.len().to_string(),
        "{path}"
    );
    std::fs::write(file, &bytes).unwrap();
    headers
}

fn tool(program: &str, args: &[&str]) -> String {
    let path = required_tool("PATH_UNUSED", program);
    let output = Command::new(path).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn health(server: &Server) -> Value {
    server.http.get(server.url("/health")).send().unwrap().json().unwrap()
}

#[test]
fn images_have_the_layout_headers_and_limits() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let work = work_dir();
    let host = guest_host(&server);
    let script_url = format!("http://{host}/ipxe/v1.2/{NETWORK}/console%3DttyS0%20debug");

    // The hybrid ISO: one download, timed (built, then cached).
    let iso = work.join("media-layout.iso");
    let started = Instant::now();
    let headers = download(&server, &format!("/iso/v1.2/{NETWORK}/console%3DttyS0%20debug"), &iso);
    let first = started.elapsed();
    assert_eq!(headers["x-boot-script"], script_url.as_str());
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"zos-v1.2-{NETWORK}.iso\"").as_str()
    );
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let started = Instant::now();
    let again = download(
        &server,
        &format!("/usb/v1.2/{NETWORK}/console%3DttyS0%20debug"),
        &work.join("media-layout.img"),
    );
    let cached = started.elapsed();
    assert_eq!(again["etag"].to_str().unwrap(), etag, "usb is the same image as iso");
    assert_eq!(
        std::fs::read(&iso).unwrap(),
        std::fs::read(work.join("media-layout.img")).unwrap()
    );
    eprintln!("iso: built and sent in {first:?}, from the cache in {cached:?}");
    assert!(first < Duration::from_secs(1), "{first:?}");

    let not_modified = server
        .http
        .get(server.url(&format!("/iso/v1.2/{NETWORK}/console%3DttyS0%20debug")))
        .header("host", &host)
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(not_modified.status(), 304);

    let image = iso.to_str().unwrap();
    let torito = tool("xorriso", &["-indev", image, "-report_el_torito", "plain"]);
    assert!(torito.contains("El Torito boot img :   1  BIOS  y   none"), "{torito}");
    assert!(torito.contains("El Torito boot img :   2  UEFI  y   none"), "{torito}");
    assert!(
        torito.contains("/ISOLINUX.BIN") && torito.contains("/EFI.IMG"),
        "{torito}"
    );
    assert!(torito.contains("boot-info-table isohybrid-suitable"), "{torito}");
    assert!(torito.contains("MBR isohybrid"), "{torito}");
    let partitions = tool("fdisk", &["-l", image]);
    let rows: Vec<&str> = partitions.lines().filter(|l| l.starts_with(image)).collect();
    assert_eq!(rows.len(), 2, "{partitions}");
    assert!(rows[0].contains(" * ") && rows[0].contains(" 0 Empty"), "{partitions}");
    assert!(rows[1].contains(" ef EFI"), "{partitions}");
    let script = work.join("media-layout-script.ipxe");
    let _ = std::fs::remove_file(&script);
    tool(
        "xorriso",
        &[
            "-osirrox",
            "on",
            "-indev",
            image,
            "-extract",
            "/BOOT.IPX",
            script.to_str().unwrap(),
        ],
    );
    let script = std::fs::read_to_string(&script).unwrap();
    assert!(
        script.starts_with("#!ipxe\n") && script.contains(&format!("chain {script_url} ||")),
        "{script}"
    );

    // The EFI disk image: a FAT file system with iPXE and the same script.
    let uefimg = work.join("media-layout-uefimg.img");
    let headers = download(&server, &format!("/uefimg/v1.2/{NETWORK}"), &uefimg);
    let listing = tool("mdir", &["-i", uefimg.to_str().unwrap(), "::/EFI/BOOT"]);
    assert!(
        listing.contains("BOOTX64  EFI") && listing.contains("autoexec.ipxe"),
        "{listing}"
    );
    let efi_script = tool("mtype", &["-i", uefimg.to_str().unwrap(), "::/autoexec.ipxe"]);
    assert!(
        efi_script.contains(&format!("chain http://{host}/ipxe/v1.2/{NETWORK} ||")),
        "{efi_script}"
    );
    assert!(
        headers["x-boot-media-note"].to_str().unwrap().contains("--ipxe-dir"),
        "bookworm's ipxe.efi ignores autoexec.ipxe, and the answer says so"
    );

    // The bare binaries: iPXE as served to PXE clients, with how to give it the script.
    let krn = download(&server, "/krn/v1.2", &work.join("media-layout.lkrn"));
    let lkrn = server
        .http
        .get(server.url("/boot/ipxe/ipxe.lkrn"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(std::fs::read(work.join("media-layout.lkrn")).unwrap(), lkrn.to_vec());
    let note = krn["x-boot-media-note"].to_str().unwrap();
    assert!(
        note.contains(&format!("load http://{host}/ipxe/v1.2 as its initrd")),
        "{note}"
    );
    let uefi = download(&server, "/uefi/v1.2/null/debug", &work.join("media-layout.efi"));
    let note = uefi["x-boot-media-note"].to_str().unwrap();
    assert!(
        note.contains(&format!("save http://{host}/ipxe/v1.2/0/debug as autoexec.ipxe")),
        "{note}"
    );

    // Bad input is refused before anything is built.
    let built = health(&server)["boot"]["mediaCache"]["entries"].clone();
    for (path, field) in [
        ("/iso/..bad", "release"),
        ("/usb/v1.2/abcdef01234567", "network"),
        ("/uefimg/v1.2/abcdef0123456789/%24%7Bnet0%7D", "args"),
        ("/iso/v1.2/abcdef0123456789/a%3Bb", "args"),
        ("/krn/v1.2?profile=no%20such", "profile"),
    ] {
        let response = server.http.get(server.url(path)).send().unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().unwrap();
        assert_eq!(
            (body["code"].as_str(), body["field"].as_str()),
            (Some("invalid_field"), Some(field)),
            "{path}"
        );
    }
    let missing = server.http.get(server.url("/iso/v1.2?profile=nope")).send().unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(health(&server)["boot"]["mediaCache"]["entries"], built);
    let origin = health(&server)["boot"]["mediaOrigin"].as_str().unwrap().to_owned();
    assert!(
        origin.contains("iPXE: Debian package ipxe") && origin.contains("ISOLINUX: Debian package isolinux"),
        "{origin}"
    );

    // A thousand networks: the cache stays within its limits, and so does the server's memory.
    let rss_before = rss_kib(&server);
    let started = Instant::now();
    for n in 0..1000u64 {
        let response = server
            .http
            .get(server.url(&format!("/uefimg/v1.2/{n:016x}")))
            .header("host", &host)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.bytes().unwrap().len() >= 1 << 20);
    }
    let cache = health(&server)["boot"]["mediaCache"].clone();
    let grown = rss_kib(&server) as i64 - rss_before as i64;
    eprintln!(
        "1000 networks in {:?}; cache {cache}; resident memory grew {grown} KiB",
        started.elapsed()
    );
    assert!(cache["entries"].as_u64() <= cache["maxEntries"].as_u64(), "{cache}");
    assert!(cache["bytes"].as_u64() <= cache["maxBytes"].as_u64(), "{cache}");
    assert!(
        grown < 200 << 10,
        "1000 images of 1 MiB or more must not all stay: grew {grown} KiB"
    );
}

fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// qemu with the VM the kit boots (serial on stdout, slirp networking, the kit's MAC), from `firmware` (`None`:
/// SeaBIOS) and the image as `drive` (`-cdrom`, or a raw disk), with qemu's iPXE ROM off so only ours can run.
fn qemu(firmware: Option<&Path>, image: &Path, cdrom: bool) -> Command {
    let mut command = Command::new(required_tool("E2E_QEMU", "qemu-system-x86_64"));
    command.args(QEMU_VM);
    command.args(["-no-reboot", "-netdev", "user,id=n0"]);
    command.args(["-device", &format!("virtio-net-pci,netdev=n0,mac={MAC},romfile=")]);
    if let Some(firmware) = firmware {
        command.arg("-bios").arg(firmware);
    }
    command.args([
        "-drive",
        // A CD is read-only; qemu refuses a read-only hard disk, so a disk writes to a throw-away snapshot.
        &format!(
            "file={},format=raw,if=none,id=image,{}",
            image.display(),
            if cdrom { "readonly=on" } else { "snapshot=on" }
        ),
    ]);
    let device = if cdrom { "ide-cd" } else { "ide-hd" };
    command.args(["-device", &format!("{device},drive=image,bootindex=0")]);
    command
}

/// The images `server` builds for the e2e profile: the hybrid ISO and the EFI disk image.
fn e2e_images(server: &Server, tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    create_profile(
        &server.http,
        &server.base,
        &server.admin_token(),
        &format!("media-{tag}-initrd.gz"),
    );
    let work = work_dir();
    let iso = work.join(format!("media-{tag}.iso"));
    download(server, &format!("/iso/e2e/{NETWORK}?profile={PROFILE}"), &iso);
    let uefimg = work.join(format!("media-{tag}-uefimg.img"));
    download(server, &format!("/uefimg/e2e/{NETWORK}?profile={PROFILE}"), &uefimg);
    (iso, uefimg)
}

/// Boots each (name, image, as a CD) from `firmware` to the kit's marker, which must carry the image's network.
fn boot_to_marker(firmware: Option<&Path>, boots: &[(&str, &Path, bool)]) {
    for &(name, image, cdrom) in boots {
        let log = work_dir().join(format!("serial-media-{name}.log"));
        let (marker, seconds) = run_until_marker(qemu(firmware, image, cdrom), MARKER, &log, Duration::from_secs(150));
        assert!(marker.contains(&format!("zerotier={NETWORK}")), "{name}: {marker}");
        eprintln!("media boot {name}: {seconds:.1} s: {marker}");
    }
}

/// The boot events of `server` for the profile's script fetched with the VM's MAC (the images' chain, as the
/// server saw it).
fn scripts_fetched(server: &Server) -> usize {
    let events: Vec<Value> = common::netboot::boot_events(server);
    events
        .iter()
        .filter(|e| e["file"] == format!("ipxe/e2e/{NETWORK}") && e["profile"] == PROFILE && e["mac"] == MAC)
        .count()
}

/// SeaBIOS with the embedded (Debian bookworm) iPXE: the ISO from a CD and from a raw disk.
#[test]
fn bios_boots_the_hybrid_image() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    // The profile's command line takes {zerotier} from the image's URL: the cluster has no network set.
    let (iso, _) = e2e_images(&server, "bios");
    boot_to_marker(None, &[("bios-cd", &iso, true), ("bios-disk", &iso, false)]);
    assert_eq!(scripts_fetched(&server), 2);
}

/// OVMF with Debian trixie's iPXE (`--ipxe-dir`; bookworm's `ipxe.efi` ignores `autoexec.ipxe`): the ISO from
/// a CD and from a raw disk, and the EFI disk image, each through the EFI side's `autoexec.ipxe`.
#[test]
fn uefi_boots_the_hybrid_and_efi_disk_images_with_trixies_ipxe() {
    let ovmf = required_tool("ZOS_TEST_OVMF", "/usr/share/ovmf/OVMF.fd");
    let ipxe = required_tool(
        "ZOS_TEST_IPXE_EFI_DIR",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/ipxe-trixie")
            .to_str()
            .unwrap(),
    );
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--ipxe-dir", ipxe.to_str().unwrap()]);
    let origin = health(&server)["boot"]["mediaOrigin"].as_str().unwrap().to_owned();
    assert!(origin.contains("UEFI script: autoexec.ipxe"), "{origin}");
    let (iso, uefimg) = e2e_images(&server, "uefi");
    let note = download(
        &server,
        &format!("/uefimg/e2e/{NETWORK}"),
        &work_dir().join("media-uefi-note.img"),
    );
    assert!(note.get("x-boot-media-note").is_none(), "{note:?}");
    boot_to_marker(
        Some(&ovmf),
        &[
            ("uefi-cd", &iso, true),
            ("uefi-disk", &iso, false),
            ("uefimg", &uefimg, false),
        ],
    );
    assert_eq!(scripts_fetched(&server), 3);
}
