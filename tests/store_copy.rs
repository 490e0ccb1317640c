//! `store copy`: sled → etcd → sled keeps every record and token; a copy killed with SIGKILL leaves a target
//! that is refused or complete, never served half-written, and a rerun finishes it.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::etcd::EtcdCluster;
use common::{BIN, Server, client, etcd_keys, pseudo_random, register_node_at, serve_until_exit, temp_data_dir};
use reqwest::Method;
use serde_json::{Value, json};

const NODES: usize = 600;

fn copy_command(from: &str, to: &str, prefix: &str) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["store", "copy", "--from", from, "--to", to, "--store-prefix", prefix])
        .env_remove("ZOS_STORE_PREFIX");
    command
}

fn copy(from: &str, to: &str, prefix: &str) -> Output {
    copy_command(from, to, prefix).output().expect("run store copy")
}

/// Asserts that `output` is of a run that exited with `code`, showing its stderr if not.
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `copy`, which must succeed: what it printed.
fn copy_ok(from: &str, to: &str, prefix: &str) -> String {
    let copied = copy(from, to, prefix);
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
    String::from_utf8_lossy(&copied.stdout).into_owned()
}

/// The node ids a server lists, all pages.
fn node_ids(server: &Server, token: &str) -> Vec<String> {
    let response = server.get_as(token, &format!("/nodes?limit={}", NODES + 10));
    assert_eq!(response.status(), 200);
    let nodes: Vec<Value> = response.json().unwrap();
    nodes
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .collect()
}

fn sled(dir: &Path) -> String {
    format!("sled:{}", dir.display())
}

#[test]
fn copies_both_ways_and_a_killed_copy_is_never_served_half_written() {
    // A sled store with NODES nodes (and their audit entries) and the bootstrap token.
    let source = temp_data_dir();
    let mut server = Server::start_with(source.path(), &["--heartbeat-interval", "3600"]);
    let token = server.admin_token();
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let (base, token) = (&server.base, &token);
            scope.spawn(move || {
                for i in (worker..NODES).step_by(8) {
                    register_node_at(base, token, &format!("n{i:04}"), json!({}));
                }
            });
        }
    });
    let expected = node_ids(&server, &token);
    assert_eq!(expected.len(), NODES);
    // A running server's directory is refused rather than copied mid-write.
    let cluster = EtcdCluster::start(1);
    let refused = copy(&sled(source.path()), &cluster.store_url(), "busy");
    assert_exit(&refused, 1);
    server.terminate(Duration::from_secs(10));

    // sled → etcd, then served from etcd by a new instance: the same nodes, and the old token works.
    copy_ok(&sled(source.path()), &cluster.store_url(), "copied");
    let complete = etcd_keys(&cluster, "copied/").len();
    let elsewhere = temp_data_dir();
    let on_etcd = Server::start_with(
        elsewhere.path(),
        &["--store", &cluster.store_url(), "--store-prefix", "copied"],
    );
    assert_eq!(node_ids(&on_etcd, &token), expected);
    drop(on_etcd);
    // A target that is not empty is refused (exit 2) and left alone.
    let again = copy(&sled(source.path()), &cluster.store_url(), "copied");
    assert_exit(&again, 2);

    // Killed with SIGKILL at growing delays, and as soon as the copy's marker shows (so at least one kill lands
    // mid-copy however fast or loaded the machine is): each time the prefix is empty (killed before it began),
    // marked as an interrupted copy (and refused by `serve`), or complete — never partly filled and unmarked.
    let mut interrupted = 0;
    let kills = [Some(5u64), Some(40), Some(320), None, None, None];
    for (attempt, delay_ms) in kills.into_iter().enumerate() {
        let prefix = format!("killed-{attempt}");
        let mut child = copy_command(&sled(source.path()), &cluster.store_url(), &prefix)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        match delay_ms {
            Some(delay_ms) => std::thread::sleep(Duration::from_millis(delay_ms)),
            None => {
                let deadline = std::time::Instant::now() + Duration::from_secs(20);
                while !etcd_keys(&cluster, &format!("{prefix}/"))
                    .iter()
                    .any(|key| key.ends_with("/m/store-copy-in-progress"))
                {
                    assert!(std::time::Instant::now() < deadline, "the copy never marked {prefix}/");
                    assert!(
                        child.try_wait().unwrap().is_none(),
                        "the copy ended before its marker was seen"
                    );
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let keys = etcd_keys(&cluster, &format!("{prefix}/"));
        let marked = keys.iter().any(|key| key.ends_with("/m/store-copy-in-progress"));
        if marked {
            interrupted += 1;
            let probe = temp_data_dir();
            let store = cluster.store_url();
            let (code, stderr) = serve_until_exit(probe.path(), &["--store", &store, "--store-prefix", &prefix]);
            assert_eq!(code, Some(1), "{stderr}");
            assert!(stderr.contains("interrupted `store copy`"), "{stderr}");
        } else {
            assert!(
                keys.is_empty() || keys.len() == complete,
                "attempt {attempt}: {} keys unmarked",
                keys.len()
            );
        }
        if keys.len() != complete || marked {
            copy_ok(&sled(source.path()), &cluster.store_url(), &prefix);
        }
        assert_eq!(
            etcd_keys(&cluster, &format!("{prefix}/")).len(),
            complete,
            "after the rerun of attempt {attempt}"
        );
    }
    eprintln!(
        "{interrupted} of {} kills landed mid-copy ({complete} keys)",
        kills.len()
    );
    assert!(interrupted > 0, "no kill landed while the copy was writing");

    // etcd → sled, into a new directory: served as it was.
    let back = temp_data_dir();
    let target = back.path().join("restored");
    copy_ok(&cluster.store_url(), &sled(&target), "copied");
    let on_sled = Server::start_with(&target, &["--heartbeat-interval", "3600"]);
    assert_eq!(node_ids(&on_sled, &token), expected);
}

#[test]
fn boot_asset_files_go_with_their_records_both_ways() {
    let source = temp_data_dir();
    let mut server = Server::start_with(source.path(), &["--heartbeat-interval", "3600"]);
    let token = server.admin_token();
    let kernel = pseudo_random(5 << 19, 7); // 2.5 MiB: three chunks in etcd
    let uploaded = server
        .request_as(&token, Method::PUT, "/boot/assets/kernel")
        .body(kernel.clone())
        .send()
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    server.terminate(Duration::from_secs(10));

    // sled → etcd: the content is in etcd before the copy ends, and an etcd instance serves it.
    let cluster = EtcdCluster::start(1);
    let copied = copy_ok(&sled(source.path()), &cluster.store_url(), "assets");
    assert!(copied.contains("and 1 boot asset files"));
    assert_eq!(etcd_keys(&cluster, "assets.blob/").len(), 3);
    let elsewhere = temp_data_dir();
    let on_etcd = Server::start_with(
        elsewhere.path(),
        &["--store", &cluster.store_url(), "--store-prefix", "assets"],
    );
    let served = client().get(on_etcd.url("/boot/assets/kernel")).send().unwrap();
    assert_eq!(served.status(), 200);
    assert!(served.bytes().unwrap() == kernel);
    drop(on_etcd);

    // etcd → sled: the file is in the new directory, and a sled server serves it.
    let back = temp_data_dir();
    let target = back.path().join("restored");
    copy_ok(&cluster.store_url(), &sled(&target), "assets");
    assert_eq!(std::fs::read(target.join("assets/kernel")).unwrap(), kernel);
    let on_sled = Server::start_with(&target, &["--heartbeat-interval", "3600"]);
    let served = client().get(on_sled.url("/boot/assets/kernel")).send().unwrap();
    assert_eq!(served.status(), 200);
    assert!(served.bytes().unwrap() == kernel);

    // A record whose file differs from what it says stops the copy: no content written, the prefix left marked
    // as an interrupted copy (which `serve` refuses).
    std::fs::write(source.path().join("assets/kernel"), b"not the kernel").unwrap();
    let refused = copy(&sled(source.path()), &cluster.store_url(), "tampered");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("SHA-256"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(etcd_keys(&cluster, "tampered.blob/"), Vec::<String>::new());
    assert_eq!(etcd_keys(&cluster, "tampered/"), ["tampered/m/store-copy-in-progress"]);
}
