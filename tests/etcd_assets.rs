//! Boot assets on several orchestrators sharing one etcd: an asset uploaded on one instance is served
//! byte-identical by every instance (HTTP and TFTP), a replace or a delete on any instance reaches all of them,
//! etcd keeps no content that no record names, and an instance started later fetches the assets at start.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::etcd::EtcdCluster;
use common::{Server, client, etcd_keys, pseudo_random, required_tool, temp_data_dir, wait_until};
use reqwest::Method;

/// Where the asset contents live in etcd (`PREFIX.blob/`, beside the records' `PREFIX/`).
const BLOBS: &str = "zos-orchestrator.blob/";
const MIB: usize = 1 << 20;

fn upload(server: &Server, token: &str, name: &str, bytes: &[u8]) -> u16 {
    server
        .request_as(token, Method::PUT, &format!("/boot/assets/{name}"))
        .body(bytes.to_vec())
        .timeout(Duration::from_secs(60))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn delete(server: &Server, token: &str, name: &str) -> u16 {
    let url = server.url(&format!("/boot/assets/{name}"));
    client()
        .delete(url)
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// The status and body of a firmware's download of the asset.
fn download(server: &Server, name: &str) -> (u16, Vec<u8>) {
    let response = client()
        .get(server.url(&format!("/boot/assets/{name}")))
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap();
    (response.status().as_u16(), response.bytes().unwrap().to_vec())
}

/// Waits until `server` serves exactly `bytes` under `name` over HTTP; how long that took.
fn served_within(server: &Server, name: &str, bytes: &[u8], within: Duration) -> Duration {
    let started = Instant::now();
    wait_until(within, &format!("{} serving the new {name}", server.base), || {
        download(server, name) == (200, bytes.to_vec())
    });
    started.elapsed()
}

/// The asset fetched over TFTP with curl, once it comes whole (a file still being fetched from etcd is an
/// error packet).
fn tftp_within(server: &Server, name: &str, bytes: &[u8], within: Duration) {
    let curl = required_tool("ZOS_CURL", "curl");
    let out = tempfile::NamedTempFile::new().unwrap();
    let url = format!("tftp://127.0.0.1:{}/{name}", server.tftp.port());
    wait_until(within, &format!("TFTP of {name} from {}", server.base), || {
        let fetched = Command::new(&curl)
            .args(["-sSf", "--tftp-blksize", "1468", "-o"])
            .arg(out.path())
            .arg(&url)
            .status()
            .unwrap();
        fetched.success() && std::fs::read(out.path()).unwrap() == bytes
    });
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn assets_are_served_by_every_instance_and_their_changes_reach_all() {
    let cluster = EtcdCluster::start(1);
    let (dirs, [a, b, c]) = Server::three_on_etcd(&cluster);
    let token = a.admin_token();

    // 3.5 MiB: four chunks, the last one partial.
    let first = pseudo_random(7 * MIB / 2, 1);
    let started = Instant::now();
    assert_eq!(upload(&a, &token, "kernel", &first), 201);
    eprintln!("3.5 MiB uploaded on A in {:?}", started.elapsed());
    let blobs = etcd_keys(&cluster, BLOBS);
    assert_eq!(blobs.len(), 4, "{blobs:?}");
    assert!(blobs.iter().all(|key| key.contains(&sha256_hex(&first))), "{blobs:?}");

    // C fetches it on its own, from the change: its TFTP server serves it without any HTTP request first.
    tftp_within(&c, "kernel", &first, Duration::from_secs(10));
    let on_b = served_within(&b, "kernel", &first, Duration::from_secs(10));
    served_within(&c, "kernel", &first, Duration::from_secs(1));
    eprintln!("served byte-identical by B {on_b:?} after A's answer");
    for dir in &dirs {
        assert_eq!(std::fs::read(dir.path().join("assets/kernel")).unwrap(), first);
    }

    // Replaced on B: A and C serve the new bytes, and etcd holds only the new content.
    let second = pseudo_random(9 * MIB / 4, 2);
    assert_eq!(upload(&b, &token, "kernel", &second), 200);
    let on_a = served_within(&a, "kernel", &second, Duration::from_secs(10));
    let on_c = served_within(&c, "kernel", &second, Duration::from_secs(10));
    eprintln!("the replacement served by A after {on_a:?}, by C after {on_c:?}");
    tftp_within(&a, "kernel", &second, Duration::from_secs(5));
    let blobs = etcd_keys(&cluster, BLOBS);
    assert_eq!(blobs.len(), 3, "{blobs:?}");
    assert!(blobs.iter().all(|key| key.contains(&sha256_hex(&second))), "{blobs:?}");

    // Deleted on C: gone from A and B (their files too), and from etcd.
    assert_eq!(delete(&c, &token, "kernel"), 204);
    for server in [&a, &b] {
        wait_until(Duration::from_secs(5), "a 404 for the deleted asset", || {
            download(server, "kernel").0 == 404
        });
    }
    wait_until(Duration::from_secs(5), "the files removed", || {
        dirs.iter().all(|dir| !dir.path().join("assets/kernel").exists())
    });
    assert_eq!(etcd_keys(&cluster, BLOBS), Vec::<String>::new());

    // Two names with the same content share one blob, which stays while either is named.
    let shared = pseudo_random(MIB + 1, 3);
    assert_eq!(upload(&a, &token, "initrd", &shared), 201);
    assert_eq!(upload(&b, &token, "initrd-copy", &shared), 201);
    assert_eq!(etcd_keys(&cluster, BLOBS).len(), 2);
    assert_eq!(delete(&a, &token, "initrd"), 204);
    assert_eq!(etcd_keys(&cluster, BLOBS).len(), 2, "still named by initrd-copy");
    served_within(&c, "initrd-copy", &shared, Duration::from_secs(10));

    // An instance started now has the asset in its data directory soon after start, before anyone asks.
    let late_dir = temp_data_dir();
    let late = Server::on_etcd(late_dir.path(), &cluster);
    wait_until(Duration::from_secs(10), "the late instance's file", || {
        std::fs::read(late_dir.path().join("assets/initrd-copy")).is_ok_and(|bytes| bytes == shared)
    });
    served_within(&late, "initrd-copy", &shared, Duration::from_secs(1));
}

#[test]
fn an_instance_that_was_down_catches_up_and_drops_what_was_deleted_meanwhile() {
    let cluster = EtcdCluster::start(1);
    let (dir_a, dir_b) = (temp_data_dir(), temp_data_dir());
    let a = Server::on_etcd(dir_a.path(), &cluster);
    let mut b = Server::on_etcd(dir_b.path(), &cluster);
    let token = a.admin_token();
    let (old, new) = (pseudo_random(3 * MIB / 2, 4), pseudo_random(5 * MIB / 2, 5));
    assert_eq!(upload(&a, &token, "kernel", &old), 201);
    assert_eq!(upload(&a, &token, "gone", &old), 201);
    served_within(&b, "kernel", &old, Duration::from_secs(10));
    served_within(&b, "gone", &old, Duration::from_secs(10));

    // While B is down, `kernel` is replaced and `gone` deleted.
    b.terminate(Duration::from_secs(10));
    assert_eq!(upload(&a, &token, "kernel", &new), 200);
    assert_eq!(delete(&a, &token, "gone"), 204);

    let b = Server::on_etcd(dir_b.path(), &cluster);
    wait_until(Duration::from_secs(10), "B's files in line with the records", || {
        std::fs::read(dir_b.path().join("assets/kernel")).is_ok_and(|bytes| bytes == new)
            && !dir_b.path().join("assets/gone").exists()
    });
    assert_eq!(download(&b, "kernel"), (200, new.clone()));
    assert_eq!(download(&b, "gone").0, 404);
}
