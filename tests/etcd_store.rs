//! Several orchestrators on one etcd (`serve --store etcd://…`): what one writes, the others serve and tell
//! their `/events` subscribers about; `/health` names the store; a lost quorum is a clear 503.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::etcd::EtcdCluster;
use common::{Server, client, register_node, temp_data_dir};
use serde_json::{Value, json};

fn on_etcd(dir: &std::path::Path, cluster: &EtcdCluster) -> Server {
    Server::start_on(dir, Some(cluster), &["--heartbeat-interval", "3600"])
}

#[test]
fn a_node_registered_on_one_instance_is_served_and_announced_by_another_within_a_second() {
    let cluster = EtcdCluster::start(3);
    let (dir_a, dir_b) = (temp_data_dir(), temp_data_dir());
    let a = on_etcd(dir_a.path(), &cluster);
    let b = on_etcd(dir_b.path(), &cluster);
    // The bootstrap token was issued once, by whichever instance came first; it works on both.
    let token = a.admin_token();
    assert!(
        !dir_b.path().join("admin.token").exists(),
        "B found the cluster bootstrapped"
    );

    let events = client()
        .get(b.url("/events"))
        .bearer_auth(&token)
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
    let mut read_after = None;
    while written.elapsed() < Duration::from_secs(1) {
        let response = client()
            .get(b.url("/nodes/shared-1"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        if response.status() == 200 {
            let node: Value = response.json().unwrap();
            assert_eq!(node["labels"]["rack"], "r1");
            read_after = Some(written.elapsed());
            break;
        }
    }
    let read_after = read_after.expect("B serves the node within a second of A's 201");
    let created = json!({"kind": "created", "collection": "nodes", "id": "shared-1"});
    let heard = loop {
        let (at, data) = announced
            .recv_timeout(Duration::from_secs(1))
            .expect("B's /events announces the node within a second");
        if serde_json::from_str::<Value>(&data).ok() == Some(created.clone()) {
            break at.saturating_duration_since(written);
        }
    };
    eprintln!("read on B after {read_after:?}, announced on B after {heard:?}");
    assert!(heard < Duration::from_secs(1), "announced after {heard:?}");

    let health: Value = client().get(b.url("/health")).send().unwrap().json().unwrap();
    assert_eq!(health["store"]["backend"], "etcd");
    assert_eq!(health["store"]["ok"], true);
}

#[test]
fn without_a_majority_writes_answer_503_store_unavailable_and_resume_after() {
    let mut cluster = EtcdCluster::start(3);
    let dir = temp_data_dir();
    let server = on_etcd(dir.path(), &cluster);
    register_node(&server, "before", json!({}));
    cluster.kill(0);
    register_node(&server, "one-member-down", json!({}));
    cluster.kill(1);

    let refused = client()
        .post(server.url("/nodes"))
        .bearer_auth(server.admin_token())
        .json(&json!({"id": "no-majority", "address": "127.0.0.2"}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 503);
    let error: Value = refused.json().unwrap();
    assert_eq!(error["code"], "store_unavailable", "{error}");
    // Reads are served from the instance's copy meanwhile; /health says the store is out of reach.
    let node = client()
        .get(server.url("/nodes/before"))
        .bearer_auth(server.admin_token())
        .send()
        .unwrap();
    assert_eq!(node.status(), 200);
    assert_eq!(client().get(server.url("/health")).send().unwrap().status(), 503);

    cluster.restart(1);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let retried = client()
            .post(server.url("/nodes"))
            .bearer_auth(server.admin_token())
            .json(&json!({"id": "no-majority", "address": "127.0.0.2"}))
            .send()
            .unwrap();
        match retried.status().as_u16() {
            // 409: the refused write had reached etcd before its answer timed out, and landed once the majority
            // was back (what a 503 warns of).
            201 | 409 => break,
            503 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            other => panic!("writes did not resume: {other}"),
        }
    }
    let listed: Value = client()
        .get(server.url("/nodes"))
        .bearer_auth(server.admin_token())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
}
