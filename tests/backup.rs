//! `GET /admin/backup` and `zos-orchestrator restore`: a real server over loopback, real sled on disk, the real
//! binary restoring.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::etcd::EtcdCluster;
use common::{
    BIN, Server, admin_call, call_as, client, create_token, etcd_keys, file_names, register_node, temp_data_dir,
};
use reqwest::Method;
use serde_json::{Value, json};

/// Exit status of `restore` for a refused backup, and for a target it may not replace.
const EXIT_REFUSED: i32 = 3;
const EXIT_USAGE: i32 = 2;

/// A kernel-sized asset whose bytes are easy to find in the archive.
fn kernel_bytes() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    bytes[1000..1016].copy_from_slice(b"KERNEL-SIGNATURE");
    bytes
}

fn put_asset(server: &Server, name: &str, bytes: &[u8]) {
    let response = server
        .request_as(&server.admin_token(), Method::PUT, &format!("/boot/assets/{name}"))
        .body(bytes.to_vec())
        .send()
        .unwrap();
    assert_eq!(response.status(), 201, "uploading {name}");
}

fn download_backup(server: &Server, token: &str) -> Vec<u8> {
    let response = server.get_as(token, "/admin/backup");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    response.bytes().unwrap().to_vec()
}

/// Runs `restore FILE --data-dir DIR` (and `extra`): exit code, stdout, stderr.
fn restore(file: &Path, data_dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .arg("restore")
        .arg(file)
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env_remove("ZOS_DATA_DIR")
        .output()
        .expect("run zos-orchestrator restore");
    (
        output.status.code().expect("an exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every file under `dir` with its bytes (the proof that a refused restore changed nothing).
fn tree_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// What the API shows of the whole state, with `token`.
fn listings(server: &Server, token: &str) -> BTreeMap<&'static str, Value> {
    [
        "/nodes?fields=id,labels,address,createdAt,version",
        "/tokens",
        "/boot/assets",
        "/boot/profiles",
        "/boot/settings",
        "/audit",
    ]
    .into_iter()
    .map(|path| {
        let (status, body) = call_as(server, Some(token), Method::GET, path, None);
        assert_eq!(status, 200, "GET {path}");
        (path, body)
    })
    .collect()
}

#[test]
fn a_backup_restored_into_a_fresh_directory_serves_the_same_records_tokens_and_assets() {
    let dir = temp_data_dir();
    let mut server = Server::start(dir.path());
    let admin = server.admin_token();
    let operator = create_token(&server, "operator", "ops");
    let viewer = create_token(&server, "viewer", "dashboard");
    let revoked = create_token(&server, "viewer", "old-dashboard");
    let (_, tokens) = admin_call(&server, Method::GET, "/tokens", None);
    let revoked_id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|token| token["name"] == "old-dashboard")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/tokens/{revoked_id}");
    assert_eq!(admin_call(&server, Method::DELETE, &path, None).0, 204);
    for index in 0..5 {
        register_node(&server, &format!("node-{index}"), json!({"rack": format!("r{index}")}));
    }
    let kernel = kernel_bytes();
    put_asset(&server, "vmlinuz", &kernel);
    put_asset(&server, "initrd", b"initrd-bytes");
    let profile =
        json!({"name": "default", "kernel": {"asset": "vmlinuz"}, "initrds": ["initrd"], "cmdline": "console=ttyS0"});
    assert_eq!(
        admin_call(&server, Method::POST, "/boot/profiles", Some(profile)).0,
        201
    );

    for (token, status) in [
        (Some(viewer.as_str()), 403),
        (Some(operator.as_str()), 403),
        (None, 401),
    ] {
        let (got, body) = call_as(&server, token, Method::GET, "/admin/backup", None);
        assert_eq!(got, status, "{body}");
        assert!(body["code"].is_string(), "a JSON error: {body}");
    }
    let archive = download_backup(&server, &admin);
    let before = listings(&server, &admin);
    assert_eq!(server.terminate(Duration::from_secs(15)).code(), Some(0));

    let scratch = temp_data_dir();
    let file = scratch.path().join("state.zosbak");
    std::fs::write(&file, &archive).unwrap();
    let restored_dir = scratch.path().join("restored");
    let (code, stdout, stderr) = restore(&file, &restored_dir, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 files"), "{stdout}");
    assert!(
        !restored_dir.join("admin.token").exists(),
        "the admin token's secret is not in a backup"
    );

    let restored = Server::start(&restored_dir);
    let after = listings(&restored, &admin);
    for (path, listing) in &before {
        assert_eq!(&after[path], listing, "GET {path} after the restore");
    }
    for (token, role) in [(&admin, "admin"), (&operator, "operator"), (&viewer, "viewer")] {
        let (status, whoami) = call_as(&restored, Some(token), Method::GET, "/auth/whoami", None);
        assert_eq!((status, whoami["role"].as_str()), (200, Some(role)), "{whoami}");
    }
    let (status, _) = call_as(&restored, Some(&revoked), Method::GET, "/auth/whoami", None);
    assert_eq!(status, 401, "a revoked token stays revoked");
    let served = client().get(restored.url("/boot/assets/vmlinuz")).send().unwrap();
    assert_eq!(served.bytes().unwrap().to_vec(), kernel);

    // The restored store goes on from the backup's change position: a client resuming `/events` from before
    // it sees the next change after it.
    common::register_node_at(&restored.base, &admin, "node-after", json!({}));
    let mut events = restored
        .request_as(&admin, Method::GET, "/events")
        .header("last-event-id", "1")
        .send()
        .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("node-after") {
        let n = events.read(&mut buf).unwrap();
        assert!(n > 0, "the event stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn truncated_tampered_and_newer_backups_are_refused_and_change_nothing() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    register_node(&server, "node-1", json!({}));
    put_asset(&server, "vmlinuz", &kernel_bytes());
    let archive = download_backup(&server, &server.admin_token());

    let scratch = temp_data_dir();
    let file = scratch.path().join("state.zosbak");
    let target = scratch.path().join("target");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep.txt"), "the data that was here").unwrap();
    std::fs::write(&file, &archive).unwrap();
    let untouched = tree_of(&target);
    let beside = file_names(scratch.path());

    let signature = archive
        .windows(16)
        .position(|window| window == b"KERNEL-SIGNATURE")
        .expect("the asset's bytes are in the archive");
    let mut tampered = archive.clone();
    tampered[signature] ^= 0x01;
    let mut newer = archive.clone();
    newer[8..12].copy_from_slice(&2u32.to_be_bytes());
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("truncated", archive[..archive.len() / 2].to_vec(), "truncated"),
        (
            "cut before its checksum",
            archive[..archive.len() - 1].to_vec(),
            "truncated",
        ),
        ("tampered", tampered, "checksum does not match"),
        ("newer", newer, "format version 2"),
    ];
    for (what, bytes, says) in cases {
        std::fs::write(&file, &bytes).unwrap();
        let (code, _, stderr) = restore(&file, &target, &["--force"]);
        assert_eq!(code, EXIT_REFUSED, "{what}: {stderr}");
        assert!(stderr.contains(says), "{what}: {stderr}");
        assert!(stderr.contains("was not changed"), "{what}: {stderr}");
        assert_eq!(tree_of(&target), untouched, "{what}: the target changed");
        assert_eq!(
            file_names(scratch.path()),
            beside,
            "{what}: something was left beside the target"
        );
        let fresh = scratch.path().join("fresh");
        let (code, _, stderr) = restore(&file, &fresh, &[]);
        assert_eq!(code, EXIT_REFUSED, "{what}: {stderr}");
        assert!(!fresh.exists(), "{what}: a refused restore created its target");
    }

    std::fs::write(&file, &archive).unwrap();
    let (code, _, stderr) = restore(&file, &target, &[]);
    assert_eq!(code, EXIT_USAGE, "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(tree_of(&target), untouched);

    let (code, _, stderr) = restore(&file, dir.path(), &["--force"]);
    assert_eq!(code, EXIT_USAGE, "{stderr}");
    assert!(stderr.contains("in use by a running zos-orchestrator"), "{stderr}");
    assert_eq!(
        get_status(&server, "/nodes/node-1"),
        200,
        "the running server's data is intact"
    );

    let (code, stdout, stderr) = restore(&file, &target, &["--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("1 files"), "{stdout}");
    assert!(!target.join("keep.txt").exists(), "--force replaces the old contents");
    assert!(target.join("assets/vmlinuz").exists());
    assert_eq!(file_names(scratch.path()), beside, "nothing left beside the target");
}

fn get_status(server: &Server, path: &str) -> u16 {
    admin_call(server, Method::GET, path, None).0
}

/// Node ids that scatter over the key space, so a copy made tree by tree without the corrections would show
/// holes: a writer's later node present, an earlier one missing.
fn scattered_id(writer: usize, seq: usize) -> String {
    let mixed = (seq as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    format!("n{mixed:06x}-w{writer}-{seq}")
}

/// The most labels a node may have, each as long as allowed: nodes of about 8 KiB, so a slowly read backup
/// takes seconds while writers go on.
fn heavy_labels(seq: usize) -> Value {
    let labels: serde_json::Map<String, Value> = (0..64)
        .map(|i| {
            (
                format!("label-{i:02}-{}", "k".repeat(50)),
                json!(format!("{seq}-{}", "v".repeat(50))),
            )
        })
        .collect();
    Value::Object(labels)
}

#[test]
fn a_backup_taken_while_nodes_are_written_is_one_point_in_time() {
    const WRITERS: usize = 4;
    const SEEDED: usize = 1200;
    let dir = temp_data_dir();
    let mut server = Server::start(dir.path());
    let admin = server.admin_token();
    let base = server.base.clone();
    let register = |base: &str, writer: usize, seq: usize| {
        let response = client()
            .post(format!("{base}/nodes"))
            .bearer_auth(&admin)
            .json(&json!({"id": scattered_id(writer, seq), "address": "127.0.0.2", "labels": heavy_labels(seq)}))
            .send()
            .unwrap();
        assert_eq!(response.status(), 201);
    };
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let base = &base;
            scope.spawn(move || {
                for seq in (writer..SEEDED).step_by(WRITERS) {
                    register(base, WRITERS, seq);
                }
            });
        }
    });

    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(Barrier::new(WRITERS + 1));
    let (written, before, after) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (base, stop, started) = (&base, stop.clone(), started.clone());
                scope.spawn(move || {
                    started.wait();
                    let mut seq = 0;
                    while !stop.load(Ordering::SeqCst) {
                        register(base, writer, seq);
                        seq += 1;
                    }
                    seq
                })
            })
            .collect();
        started.wait();
        std::thread::sleep(Duration::from_millis(200));
        // A client that goes away after the first bytes (killed mid-download) ends that copy, nothing else.
        let mut dropped = server.get_as(&admin, "/admin/backup");
        dropped.read_exact(&mut [0u8; 4096]).unwrap();
        drop(dropped);
        let before = node_count(&server);
        // Read slowly, so the copy spans many writes.
        let mut response = server
            .request_as(&admin, Method::GET, "/admin/backup")
            .timeout(Duration::from_secs(120))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut archive = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = response.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            archive.extend_from_slice(&buf[..n]);
            std::thread::sleep(Duration::from_millis(15));
        }
        let after = node_count(&server);
        stop.store(true, Ordering::SeqCst);
        let written: Vec<usize> = writers.into_iter().map(|writer| writer.join().unwrap()).collect();
        let scratch = dir.path().join("backup.zosbak");
        std::fs::write(&scratch, &archive).unwrap();
        eprintln!(
            "backup of {} bytes; nodes before {before}, after {after}",
            archive.len()
        );
        assert!(
            after > before + 20,
            "writes went on during the backup ({before} → {after})"
        );
        (written, before, after)
    });
    let (_, all_nodes) = admin_call(&server, Method::GET, "/nodes", None);
    let original: BTreeMap<String, Value> = all_nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|node| (node["id"].as_str().unwrap().to_owned(), node.clone()))
        .collect();
    assert_eq!(server.terminate(Duration::from_secs(15)).code(), Some(0));

    // kill -9 during a restore: the target is absent, or complete if the kill came after the final rename;
    // a rerun succeeds and leaves nothing beside it.
    let backup = dir.path().join("backup.zosbak");
    let target = dir.path().join("restored");
    let mut interrupted = Command::new(BIN)
        .arg("restore")
        .arg(&backup)
        .arg("--data-dir")
        .arg(&target)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let _ = interrupted.kill();
    let finished = interrupted.wait().unwrap().success();
    eprintln!(
        "restore killed after 150 ms: finished first: {finished}, target exists: {}",
        target.exists()
    );
    if target.exists() {
        // Only a complete restore is renamed into place.
        assert!(
            target.join("db").is_dir() && target.join("assets").is_dir(),
            "a half-written target"
        );
    }
    let (code, _, stderr) = restore(&backup, &target, &["--force"]);
    assert_eq!(code, 0, "{stderr}");
    let leftovers: Vec<String> = file_names(dir.path())
        .into_iter()
        .filter(|name| name.starts_with(".restored."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let restored = Server::start(&target);
    let (status, nodes) = call_as(&restored, Some(&admin), Method::GET, "/nodes", None);
    assert_eq!(status, 200);
    let nodes = nodes.as_array().unwrap();
    assert!(
        (before..=after).contains(&nodes.len()),
        "{} restored nodes, {before} before the backup and {after} after",
        nodes.len()
    );
    let mut per_writer = vec![Vec::new(); WRITERS];
    for node in nodes {
        let id = node["id"].as_str().unwrap();
        assert_eq!(registered(node), registered(&original[id]), "node {id} restored whole");
        let (writer, seq) = id.split_once("-w").unwrap().1.split_once('-').unwrap();
        let (writer, seq): (usize, usize) = (writer.parse().unwrap(), seq.parse().unwrap());
        if writer < WRITERS {
            per_writer[writer].push(seq);
        }
    }
    for (writer, mut seqs) in per_writer.into_iter().enumerate() {
        seqs.sort_unstable();
        let expected: Vec<usize> = (0..seqs.len()).collect();
        assert_eq!(
            seqs, expected,
            "writer {writer}'s nodes are a prefix of what it wrote (one point in time)"
        );
        assert!(seqs.len() <= written[writer]);
    }
}

/// What the API wrote of a node (its observed state is the heartbeat's, and goes on changing).
fn registered(node: &Value) -> Value {
    json!([
        node["id"],
        node["address"],
        node["labels"],
        node["createdAt"],
        node["version"]
    ])
}

fn node_count(server: &Server) -> usize {
    let (status, nodes) = admin_call(server, Method::GET, "/nodes", None);
    assert_eq!(status, 200);
    nodes.as_array().unwrap().len()
}

#[test]
fn an_etcd_store_backs_up_while_serving_and_restores_into_a_fresh_prefix_and_into_sled() {
    let cluster = EtcdCluster::start(1);
    let dir = temp_data_dir();
    let mut server = Server::start_on(dir.path(), Some(&cluster), &["--heartbeat-interval", "3600"]);
    let admin = server.admin_token();
    let operator = create_token(&server, "operator", "ops");
    for index in 0..5 {
        register_node(&server, &format!("node-{index}"), json!({"rack": format!("r{index}")}));
    }
    let kernel = kernel_bytes();
    put_asset(&server, "vmlinuz", &kernel);
    let before = listings(&server, &admin);
    let archive = download_backup(&server, &admin);
    let scratch = temp_data_dir();
    let file = scratch.path().join("etcd.zosbak");
    std::fs::write(&file, &archive).unwrap();

    // Into a new prefix of the same cluster (the asset files as shared blobs), then served by an instance there.
    let url = cluster.store_url();
    let restored_dir = scratch.path().join("restored-etcd");
    let into_etcd = ["--store", url.as_str(), "--store-prefix", "restored"];
    let (code, stdout, stderr) = restore(&file, &restored_dir, &into_etcd);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("1 boot asset files into etcd prefix restored/"),
        "{stdout}"
    );
    let keys = etcd_keys(&cluster, "restored/").len();
    let (code, _, stderr) = restore(&file, &restored_dir, &into_etcd);
    assert_eq!(code, EXIT_USAGE, "a prefix that is not empty is refused: {stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(
        etcd_keys(&cluster, "restored/").len(),
        keys,
        "the refused restore changed the prefix"
    );
    let restarted = Server::start_with(
        &restored_dir,
        &[
            "--store",
            url.as_str(),
            "--store-prefix",
            "restored",
            "--heartbeat-interval",
            "3600",
        ],
    );
    // And into sled: one archive restores into either store.
    let sled_dir = scratch.path().join("restored-sled");
    let (code, _, stderr) = restore(&file, &sled_dir, &[]);
    assert_eq!(code, 0, "{stderr}");
    let on_sled = Server::start(&sled_dir);
    for restored in [&restarted, &on_sled] {
        let after = listings(restored, &admin);
        for (path, listing) in &before {
            assert_eq!(&after[path], listing, "GET {path} after the restore");
        }
        let (status, whoami) = call_as(restored, Some(&operator), Method::GET, "/auth/whoami", None);
        assert_eq!((status, whoami["role"].as_str()), (200, Some("operator")), "{whoami}");
        let served = client().get(restored.url("/boot/assets/vmlinuz")).send().unwrap();
        assert_eq!(served.bytes().unwrap().to_vec(), kernel);
    }

    // kill -9 of the server in the middle of a backup: the client holds a truncated archive, which restore
    // refuses without writing anything; a backup taken again after the restart is whole.
    put_asset(&server, "big", &vec![7u8; 16 << 20]);
    let mut download = server.get_as(&admin, "/admin/backup");
    let mut partial = vec![0u8; 64 * 1024];
    download.read_exact(&mut partial).unwrap();
    server.kill9();
    let mut rest = Vec::new();
    let _ = download.read_to_end(&mut rest);
    partial.extend(rest);
    std::fs::write(&file, &partial).unwrap();
    let cut_dir = scratch.path().join("cut");
    let (code, _, stderr) = restore(&file, &cut_dir, &["--store", url.as_str(), "--store-prefix", "cut"]);
    assert_eq!(code, EXIT_REFUSED, "{stderr}");
    assert!(stderr.contains("truncated"), "{stderr}");
    assert!(
        etcd_keys(&cluster, "cut/").is_empty(),
        "a refused restore wrote to etcd"
    );
    let again = Server::start_on(dir.path(), Some(&cluster), &["--heartbeat-interval", "3600"]);
    std::fs::write(&file, download_backup(&again, &admin)).unwrap();
    let (code, stdout, stderr) = restore(&file, &cut_dir, &["--store", url.as_str(), "--store-prefix", "cut"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 boot asset files"), "{stdout}");
}
