//! The heartbeat, against the real binary: `--demo` nodes come online within seconds; a node that is down,
//! refuses the password or answers garbage gets that state with a reason, without holding up the others; and
//! a node that comes back recovers by itself.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server, client, free_port, start_sims, temp_data_dir};
use reqwest::Method;
use serde_json::{Value, json};

fn nodes(server: &Server) -> Vec<Value> {
    server.get_json_as(&server.admin_token(), "/nodes")
}

/// Polls until `check` holds for the node list (at most `within`); returns how long it took.
fn wait_for(server: &Server, within: Duration, what: &str, check: impl Fn(&[Value]) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let list = nodes(server);
        if check(&list) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what} not reached within {within:?}: {list:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn state_of<'a>(list: &'a [Value], id: &str) -> &'a str {
    list.iter()
        .find(|n| n["id"] == id)
        .and_then(|n| n["state"].as_str())
        .unwrap_or("missing")
}

#[test]
fn demo_nodes_come_online_within_five_seconds() {
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--demo", "3", "--heartbeat-interval", "1"]);
    let took = wait_for(&server, Duration::from_secs(5), "3 online demo nodes", |list| {
        list.len() == 3
            && list
                .iter()
                .all(|n| n["state"] == "online" && n["status"] == "running" && n["emulated"] == true)
    });
    eprintln!("demo nodes online after {took:?}");
    let node = &nodes(&server)[0];
    assert!(node["hostname"].as_str().unwrap().starts_with("zero-os-"));
    assert_eq!(node["labels"]["demo"], "true");
    assert!(node["lastSeen"].is_string());
    let inventory = &node["inventory"];
    assert!(inventory["cpus"].as_u64().unwrap() >= 8, "{node}");
    assert!(inventory["memoryBytes"].as_u64().unwrap() >= 32 << 30);
    assert!(!inventory["disks"].as_array().unwrap().is_empty());
    assert!(
        inventory["disks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| ["ssd", "hdd", "nvme"].contains(&d["kind"].as_str().unwrap()))
    );
    assert!(
        inventory["zerotierAddress"].as_str().unwrap().starts_with("10.147."),
        "{node}"
    );
    assert!(
        inventory["nics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|nic| nic["name"] == "eth0")
    );
}

fn register(server: &Server, id: &str, address: &str) {
    let response = server.send_json_as(
        &server.admin_token(),
        Method::POST,
        "/nodes",
        &json!({"id": id, "address": address}),
    );
    assert_eq!(response.status(), 201);
}

#[test]
fn failing_nodes_say_why_and_recover_by_themselves() {
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--demo", "1", "--heartbeat-interval", "1"]);

    // Down: nothing listens on its port (yet).
    let down_port = free_port();
    register(&server, "down", &format!("127.0.0.1:{down_port}"));
    // Refuses our (empty) password.
    let locked_sim = [
        "--listen",
        "127.0.0.1:0",
        "--password",
        "only-the-node-knows",
        "--seed",
        "9",
    ];
    let (locked, printed) = start_sims(&locked_sim, 1);
    let locked_address = printed[0]["address"].as_str().unwrap().to_owned();
    register(&server, "locked", &locked_address);
    // Answers garbage.
    let garbage = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    register(&server, "garbage", &garbage.local_addr().unwrap().to_string());
    // Each connection stays open until the client hangs up: closed at once, the client may see the close
    // before the garbage, and call the node unreachable instead (a flaky count on a loaded machine).
    std::thread::spawn(move || {
        for stream in garbage.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.write_all(b"%%% this is not redis %%%\r\n");
                let _ = std::io::copy(&mut stream, &mut std::io::sink());
            });
        }
    });

    wait_for(&server, Duration::from_secs(15), "each failure reported", |list| {
        state_of(list, "down") == "unreachable"
            && state_of(list, "locked") == "auth_failed"
            && state_of(list, "garbage") == "error"
            && list
                .iter()
                .filter(|n| n["emulated"] == true)
                .all(|n| n["state"] == "online")
    });
    let metrics = client().get(server.url("/metrics")).send().unwrap().text().unwrap();
    for (state, count) in [("online", 1), ("unreachable", 1), ("auth_failed", 1), ("error", 1)] {
        assert!(
            metrics.contains(&format!("zos_nodes{{state=\"{state}\"}} {count}")),
            "{state} in\n{metrics}"
        );
    }
    let list = nodes(&server);
    for id in ["down", "locked", "garbage"] {
        let node = list.iter().find(|n| n["id"] == id).unwrap();
        assert!(!node["reason"].as_str().unwrap().is_empty(), "{id} says why: {node}");
        assert_eq!(node["status"], "halted");
    }

    // The down node comes up on its port: it recovers without anyone doing anything.
    let mut revived = Command::new(BIN)
        .args(["sim", "--listen", &format!("127.0.0.1:{down_port}"), "--seed", "11"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let took = wait_for(&server, Duration::from_secs(10), "the revived node online", |list| {
        state_of(list, "down") == "online"
    });
    eprintln!("recovered after {took:?}");
    drop(locked);
    let _ = revived.kill();
    let _ = revived.wait();
}

#[test]
fn nodes_listed_in_the_config_file_are_registered_and_watched() {
    let (sim, printed) = start_sims(&["--listen", "127.0.0.1:0", "--seed", "21"], 1);
    let address = printed[0]["address"].as_str().unwrap().to_owned();
    let dir = temp_data_dir();
    let config = dir.path().join("zos.toml");
    std::fs::write(
        &config,
        format!("[[nodes]]\nid = \"rack1-n1\"\naddress = \"{address}\"\nlabels = {{ rack = \"r1\" }}\n"),
    )
    .unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap(), "--heartbeat-interval", "1"],
    );
    wait_for(&server, Duration::from_secs(5), "the listed node online", |list| {
        list.len() == 1 && state_of(list, "rack1-n1") == "online" && list[0]["labels"]["rack"] == "r1"
    });
    drop(sim);

    std::fs::write(&config, "[[nodes]]\nid = \"n2\"\naddress = \"not an address\"\n").unwrap();
    let (code, stderr) = common::serve_until_exit(&dir.path().join("other"), &["--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("nodes[0].address"), "{stderr}");
}
