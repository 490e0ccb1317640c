//! Several orchestrators on one etcd (`serve --store etcd://…`): what one writes, the others serve and tell
//! their `/events` subscribers about; `/health` names the store; a lost quorum is a clear 503.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::etcd::EtcdCluster;
use common::{Server, client, register_node, temp_data_dir};
use reqwest::Method;
use serde_json::{Value, json};

#[test]
fn a_node_registered_on_one_instance_is_served_and_announced_by_the_others_within_a_second() {
    let cluster = EtcdCluster::start(3);
    let (dirs, [a, b, c]) = Server::three_on_etcd(&cluster);
    // The bootstrap token was issued once, by whichever instance came first; it works on all three.
    let token = a.admin_token();
    for dir in &dirs[1..] {
        assert!(
            !dir.path().join("admin.token").exists(),
            "a later instance found the cluster bootstrapped"
        );
    }

    let events = c
        .request_as(&token, Method::GET, "/events")
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap();
    assert_eq!(events.status(), 200);
    let (tx, announced) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(events).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data:") {
                let _ = tx.send((Instant::now(), data.trim().to_owned()));
            }
        }
    });

    register_node(&a, "shared-1", json!({"rack": "r1"}));
    let written = Instant::now();
    for (name, other) in [("B", &b), ("C", &c)] {
        let read_after = loop {
            let response = other.get_as(&token, "/nodes/shared-1");
            if response.status() == 200 {
                let node: Value = response.json().unwrap();
                assert_eq!(node["labels"]["rack"], "r1");
                break written.elapsed();
            }
            assert!(
                written.elapsed() < Duration::from_secs(1),
                "{name} did not serve the node within a second"
            );
        };
        eprintln!("read on {name} after {read_after:?}");
    }
    let created = json!({"kind": "created", "collection": "nodes", "id": "shared-1"});
    let heard = loop {
        let (at, data) = announced
            .recv_timeout(Duration::from_secs(1))
            .expect("C's /events announces the node within a second");
        if serde_json::from_str::<Value>(&data).ok() == Some(created.clone()) {
            break at.saturating_duration_since(written);
        }
    };
    eprintln!("announced on C after {heard:?}");
    assert!(heard < Duration::from_secs(1), "announced after {heard:?}");

    let health: Value = client().get(b.url("/health")).send().unwrap().json().unwrap();
    assert_eq!(health["store"]["backend"], "etcd");
    assert_eq!(health["store"]["ok"], true);
}

#[test]
fn without_a_majority_writes_answer_503_store_unavailable_and_resume_after() {
    let mut cluster = EtcdCluster::start(3);
    let dir = temp_data_dir();
    let server = Server::on_etcd(dir.path(), &cluster);
    register_node(&server, "before", json!({}));
    cluster.kill(0);
    register_node(&server, "one-member-down", json!({}));
    cluster.kill(1);

    let refused = server.send_json_as(
        &server.admin_token(),
        Method::POST,
        "/nodes",
        &json!({"id": "no-majority", "address": "127.0.0.2"}),
    );
    assert_eq!(refused.status(), 503);
    let error: Value = refused.json().unwrap();
    assert_eq!(error["code"], "store_unavailable", "{error}");
    // Reads are served from the instance's copy meanwhile, and say it may be stale; /health says the store is
    // out of reach.
    let node = server.get_as(&server.admin_token(), "/nodes/before");
    assert_eq!(node.status(), 200);
    let warning = node
        .headers()
        .get("warning")
        .map(|value| value.to_str().unwrap().to_owned());
    assert!(
        warning
            .as_deref()
            .is_some_and(|text| text.starts_with("110 ") && text.contains("Stale")),
        "{warning:?}"
    );
    assert_eq!(client().get(server.url("/health")).send().unwrap().status(), 503);

    cluster.restart(1);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let retried = server.send_json_as(
            &server.admin_token(),
            Method::POST,
            "/nodes",
            &json!({"id": "no-majority", "address": "127.0.0.2"}),
        );
        match retried.status().as_u16() {
            // 409: the refused write had reached etcd before its answer timed out, and landed once the majority
            // was back (what a 503 warns of).
            201 | 409 => break,
            503 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            other => panic!("writes did not resume: {other}"),
        }
    }
    let listed: Value = server.get_json_as(&server.admin_token(), "/nodes");
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    let fresh = server.get_as(&server.admin_token(), "/nodes/before");
    assert!(
        fresh.headers().get("warning").is_none(),
        "no stale warning once the majority is back"
    );
}

/// The flags that point `serve` (or `store copy`) at a secured cluster, without the password.
fn secured_flags(cluster: &EtcdCluster) -> Vec<String> {
    let files = cluster.secured();
    let mut flags = vec!["--store".to_owned(), cluster.store_url()];
    for (flag, path) in [
        ("--etcd-cacert", &files.ca),
        ("--etcd-cert", &files.cert),
        ("--etcd-key", &files.key),
    ] {
        flags.extend([flag.to_owned(), path.display().to_string()]);
    }
    flags.extend(["--etcd-user".to_owned(), files.user.to_owned()]);
    flags
}

/// Runs `serve` with `flags` on a fresh data directory and expects it to give up: its exit code and log.
fn serve_refused(flags: &[String], password: &str) -> (Option<i32>, String) {
    let dir = temp_data_dir();
    let output = std::process::Command::new(common::BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tftp-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .args(flags)
        .env("ZOS_ETCD_PASSWORD", password)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn instances_reach_an_etcd_over_tls_as_an_etcd_user_and_a_wrong_password_or_ca_is_a_clear_error() {
    let cluster = EtcdCluster::start_secured(1);
    let files = cluster.secured();
    let mut flags = secured_flags(&cluster);
    flags.extend(["--heartbeat-interval".to_owned(), "3600".to_owned()]);
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();

    // A: the password in the environment; B: in a file. What A writes, B serves (B's watch runs as the user too).
    let (dir_a, dir_b) = (temp_data_dir(), temp_data_dir());
    let a = Server::start_with_env(dir_a.path(), &args, &[("ZOS_ETCD_PASSWORD", files.password)]);
    let password_file = dir_b.path().join("etcd-password");
    std::fs::write(&password_file, format!("{}\n", files.password)).unwrap();
    let mut with_file = args.clone();
    with_file.extend(["--etcd-password-file", password_file.to_str().unwrap()]);
    let b = Server::start_with(dir_b.path(), &with_file);
    let token = a.admin_token();
    register_node(&a, "tls-1", json!({"rack": "r9"}));
    let written = Instant::now();
    let served_on_b = loop {
        let response = b.get_as(&token, "/nodes/tls-1");
        if response.status() == 200 {
            break written.elapsed();
        }
        assert!(written.elapsed() < Duration::from_secs(2), "B never served A's node");
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!(
        "over TLS as etcd user '{}': B served A's node after {served_on_b:?}",
        files.user
    );
    for server in [&a, &b] {
        let health: Value = client().get(server.url("/health")).send().unwrap().json().unwrap();
        assert_eq!(health["store"]["ok"], true, "{health}");
    }
    drop((a, b));

    let (code, log) = serve_refused(&flags, "not-the-password");
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("etcd user 'zos' cannot log in") && log.contains("authentication failed"),
        "{log}"
    );
    assert!(!log.contains("not-the-password"), "the password was logged: {log}");

    let without_ca: Vec<String> = flags
        .iter()
        .filter(|flag| !flag.ends_with("ca.pem") && *flag != "--etcd-cacert")
        .cloned()
        .collect();
    let (code, log) = serve_refused(&without_ca, files.password);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.to_lowercase().contains("certificate"), "{log}");

    // Settings that cannot work are refused before anything is reached.
    let plain: Vec<String> = flags.iter().map(|flag| flag.replace("etcds://", "etcd://")).collect();
    let (code, log) = serve_refused(&plain, files.password);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("need an etcds:// store URL"), "{log}");
}
