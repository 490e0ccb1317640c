//! Images against real peers: a bootable ISO built here from the e2e kit (its kernel and initramfs, Debian's
//! ISOLINUX, `xorriso`), served by a real HTTP server on loopback, imported with `/images` into a six-engine
//! cluster of real `redis-server`s, made into a `boot` vdisk, and booted by qemu (TCG) from that vdisk through
//! `zos-orchestrator nbdserver` to the kit's marker.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::blocks::{cluster, keys, run, start_nbd_server, tool, url};
use common::netboot::{MARKER, QEMU_VM, kernel, kit, run_until_marker};
use common::{Server, admin_call as call, get_json, required_tool, start_file_server_with, temp_data_dir, wait_until};
use reqwest::Method;
use serde_json::{Value, json};

/// What the ISO's boot line adds to the kernel command line: the marker line shows the guest booted this image.
const IMAGE_ARGUMENT: &str = "image=kit-iso";

/// A hybrid ISO (boots from a CD or, through its MBR, from a hard disk) with the kit's kernel and initramfs,
/// ISOLINUX booting them with the serial console.
fn build_iso(out: &Path) {
    let staging = out.with_extension("root");
    std::fs::create_dir_all(staging.join("isolinux")).unwrap();
    let initrd = staging.join("initrd.gz");
    run(&kit().join("build-initramfs.sh"), &[initrd.to_str().unwrap()]);
    std::fs::copy(kernel(), staging.join("vmlinuz")).unwrap();
    for (from, to) in [
        ("/usr/lib/ISOLINUX/isolinux.bin", "isolinux/isolinux.bin"),
        ("/usr/lib/syslinux/modules/bios/ldlinux.c32", "isolinux/ldlinux.c32"),
    ] {
        std::fs::copy(from, staging.join(to))
            .unwrap_or_else(|e| panic!("{from} (packages isolinux, syslinux-common): {e}"));
    }
    let config = format!(
        "SERIAL 0 115200\nDEFAULT kit\nLABEL kit\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.gz console=ttyS0 quiet {IMAGE_ARGUMENT}\n"
    );
    std::fs::write(staging.join("isolinux/isolinux.cfg"), config).unwrap();
    run(
        &tool("xorriso"),
        &[
            "-as",
            "mkisofs",
            "-quiet",
            "-o",
            out.to_str().unwrap(),
            "-b",
            "isolinux/isolinux.bin",
            "-c",
            "isolinux/boot.cat",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "-isohybrid-mbr",
            "/usr/lib/ISOLINUX/isohdpfx.bin",
            staging.to_str().unwrap(),
        ],
    );
}

/// Follows job `id` until it finishes; returns it and every `step` seen on the way.
fn follow(server: &Server, id: &str) -> (Value, Vec<String>) {
    let mut steps = Vec::new();
    let started = Instant::now();
    loop {
        let job = get_json(server, &format!("/jobs/{id}"));
        let step = job["step"].as_str().unwrap_or_default().to_owned();
        if steps.last() != Some(&step) {
            steps.push(step);
        }
        if matches!(job["state"].as_str(), Some("succeeded" | "failed")) {
            return (job, steps);
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "job {id} still runs: {job}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts an import (the server answers 202: it waits for no job) and follows its job.
fn import(server: &Server, body: Value) -> (Value, Vec<String>) {
    let (status, answer) = call(server, Method::POST, "/vdiskstorage/vs/images", Some(body));
    assert_eq!(status, 202, "{answer}");
    follow(server, answer["id"].as_str().unwrap())
}

#[test]
fn an_image_imported_over_http_boots_a_vm_from_a_boot_vdisk_through_the_nbd_server() {
    let qemu = required_tool("E2E_QEMU", "qemu-system-x86_64");
    let qemu_img = tool("qemu-img");
    let dir = temp_data_dir();
    let server = Server::start_with(
        dir.path(),
        &["--demo", "3", "--heartbeat-interval", "1", "--apply-wait", "0"],
    );
    let ports = cluster(&server);
    let files = temp_data_dir();
    let iso = files.path().join("kit.iso");
    build_iso(&iso);
    let iso_bytes = std::fs::metadata(&iso).unwrap().len();
    let (_http, port) = start_file_server_with("http", files.path(), &["--pace", "0.05"]);
    let source = |file: &str| format!("http://127.0.0.1:{port}/{file}");

    // Bad input: refused at once, naming the field.
    let body = json!({"imageName": "kit", "url": source("kit.iso")});
    assert_eq!(
        call(&server, Method::POST, "/vdiskstorage/nope/images", Some(body.clone())).0,
        404
    );
    for (field, value) in [
        ("url", json!("ftp://127.0.0.1/kit.iso")),
        ("url", json!("kit.iso")),
        ("imageName", json!("a b")),
        ("diskBlockSize", json!(1000)),
    ] {
        let mut bad = body.clone();
        bad[field] = value.clone();
        let (status, answer) = call(&server, Method::POST, "/vdiskstorage/vs/images", Some(bad));
        assert_eq!(
            (status, answer["field"].as_str()),
            (400, Some(field)),
            "{field}: {value}: {answer}"
        );
    }
    // A source that serves nothing fails the job with the reason, and leaves no image.
    let (job, _) = import(&server, json!({"imageName": "bad", "url": source("missing.iso")}));
    assert_eq!(job["state"], "failed");
    assert_eq!(
        (job["error"]["code"].as_str(), job["error"]["field"].as_str()),
        (Some("source_refused"), Some("url"))
    );
    assert!(job["error"]["message"].as_str().unwrap().contains("404"), "{job}");
    assert_eq!(call(&server, Method::GET, "/vdiskstorage/vs/images/bad", None).0, 404);
    let (job, _) = import(
        &server,
        json!({"imageName": "bad", "url": "http://127.0.0.1:1/kit.iso"}),
    );
    assert_eq!(job["error"]["code"], "source_unreachable", "{job}");
    assert!(
        get_json(&server, "/vdiskstorage/vs/images")
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The import, followed: bytes done of the total on the way.
    let started = Instant::now();
    let (job, steps) = import(&server, body.clone());
    let import_seconds = started.elapsed().as_secs_f64();
    assert_eq!(
        (job["state"].as_str(), job["progress"].as_u64()),
        (Some("succeeded"), Some(100)),
        "{job}"
    );
    let total = format!(" of {iso_bytes} bytes");
    let midway = steps
        .iter()
        .find(|step| step.starts_with("importing: ") && step.ends_with(&total));
    assert!(midway.is_some(), "progress in bytes was shown: {steps:?}");
    let image = get_json(&server, "/vdiskstorage/vs/images/kit");
    assert_eq!(
        (
            &image["status"],
            &image["sizeBytes"],
            &image["size"],
            &image["blocksize"]
        ),
        (&json!("ready"), &json!(iso_bytes), &json!(1), &json!(4096)),
        "{image}"
    );
    assert_eq!(
        get_json(&server, "/vdiskstorage/vs/images").as_array().unwrap().len(),
        1
    );
    let (status, answer) = call(&server, Method::POST, "/vdiskstorage/vs/images", Some(body));
    assert_eq!((status, answer["field"].as_str()), (409, Some("imageName")), "{answer}");

    // A boot vdisk from it; one that does not fit it is refused.
    let vdisks = "/vdiskstorage/vs/vdisks";
    let refused = json!({"id": "boot2", "size": 1, "type": "boot", "imageId": "kit", "blocksize": 512});
    let (status, answer) = call(&server, Method::POST, vdisks, Some(refused));
    assert_eq!((status, answer["field"].as_str()), (400, Some("blocksize")), "{answer}");
    let create = json!({"id": "boot1", "size": 1, "type": "boot", "imageId": "kit"});
    let (status, created) = call(&server, Method::POST, vdisks, Some(create));
    assert_eq!((status, &created["imageId"]), (201, &json!("kit")), "{created}");

    // Served over NBD, the vdisk is the image: its bytes, then zeros to its end.
    let token = server.admin_token();
    let (_nbd, socket) = start_nbd_server(dir.path(), &["--api", &server.url("")], &[("ZOS_TOKEN", &token)]);
    let vdisk = url("boot1", &socket);
    let iso_path = iso.to_str().unwrap();
    run(&qemu_img, &["compare", "-f", "raw", "-F", "raw", iso_path, &vdisk]);

    // qemu boots it, from the NBD server, to the kit's marker with the ISO's own kernel argument.
    let mut vm = Command::new(qemu);
    vm.args(QEMU_VM).args([
        "-drive",
        &format!("file={vdisk},format=raw,if=ide"),
        "-boot",
        "c",
        "-no-reboot",
    ]);
    let log = files.path().join("serial.log");
    let (marker, boot_seconds) = run_until_marker(vm, MARKER, &log, Duration::from_secs(90));
    assert!(marker.contains(IMAGE_ARGUMENT), "{marker}");
    eprintln!(
        "image: {iso_bytes} bytes imported in {import_seconds:.1} s (paced); booted from NBD in {boot_seconds:.1} s"
    );

    // The vdisk shares the image's blocks: deleting the image keeps what the vdisk uses.
    let (status, answer) = call(&server, Method::DELETE, "/vdiskstorage/vs/images/kit", None);
    assert_eq!(status, 202, "{answer}");
    let (job, _) = follow(&server, answer["id"].as_str().unwrap());
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(call(&server, Method::GET, "/vdiskstorage/vs/images/kit", None).0, 404);
    run(&qemu_img, &["compare", "-f", "raw", "-F", "raw", iso_path, &vdisk]);
    let (status, answer) = call(&server, Method::DELETE, &format!("{vdisks}/boot1"), None);
    assert_eq!(status, 204, "{answer}");
    wait_until(Duration::from_secs(5), "nothing is left on the engines", || {
        ports.iter().all(|port| keys(*port).is_empty())
    });
}
