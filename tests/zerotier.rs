//! ZeroTier discovery against a stand-in for ZeroTier Central (tests/zerotier/central_standin.py) that
//! validates every request and response against the published OpenAPI document: a new member shows as pending,
//! an operator authorises it, and the orchestrator reaches the member's 0-core (an emulated node), registers it
//! under its MAC and names the member after it.

mod common;

use std::time::{Duration, Instant};

use common::{
    Server, ZT_NETWORK, ZT_TOKEN, client, start_central_standin, start_controller_standin, start_sim_node,
    temp_data_dir,
};
use serde_json::{Value, json};

const MEMBER: &str = "abcdef0123";

#[test]
fn a_pending_member_is_authorised_and_becomes_a_node() {
    let dir = temp_data_dir();
    // The node: an emulated 0-core on loopback; the member's ZeroTier IP is 127.0.0.1, its port is --node-port.
    let (_sim, node) = start_sim_node(77);
    let node_port = node["address"].as_str().unwrap().rsplit(':').next().unwrap().to_owned();
    let violations = dir.path().join("violations.txt");
    let members = json!([{"nodeId": MEMBER, "config": {"authorized": false, "ipAssignments": ["127.0.0.1"]}}]);
    let (_standin, api) = start_central_standin(&members, &violations);
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &[
            "--zerotier-api",
            &api,
            "--node-port",
            &node_port,
            "--heartbeat-interval",
            "1",
        ],
        &[("ZOS_ZEROTIER_TOKEN", ZT_TOKEN)],
    );
    let admin = server.admin_token();
    let settings = client()
        .put(server.url("/boot/settings"))
        .bearer_auth(&admin)
        .json(&json!({"zerotierNetwork": ZT_NETWORK}))
        .send()
        .unwrap();
    assert_eq!(settings.status(), 200);

    let members = |server: &Server| -> Vec<Value> {
        client()
            .get(server.url("/zerotier/members"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let wait = |what: &str, check: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !check() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{what} did not happen within 15 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("the member listed as pending", &|| {
        members(&server)
            .iter()
            .any(|m| m["id"] == MEMBER && m["authorized"] == false)
    });
    let nodes = || -> Vec<Value> {
        client()
            .get(server.url("/nodes"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert!(nodes().is_empty(), "an unauthorised member does not become a node");

    let authorised = client()
        .post(server.url(&format!("/zerotier/members/{MEMBER}/authorize")))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(authorised.status(), 200);
    assert_eq!(authorised.json::<Value>().unwrap()["authorized"], true);

    let id = node["id"].as_str().unwrap();
    wait("the node registered and online", &|| {
        nodes()
            .iter()
            .any(|n| n["id"] == id && n["state"] == "online" && n["address"] == format!("127.0.0.1:{node_port}"))
    });
    wait("the member named after the node", &|| {
        members(&server)
            .iter()
            .any(|m| m["id"] == MEMBER && m["name"] == id && m["node"] == id)
    });
    let said = std::fs::read_to_string(&violations).unwrap_or_default();
    assert!(
        said.is_empty(),
        "requests or responses that break the published API:\n{said}"
    );

    let missing = client()
        .post(server.url("/zerotier/members/0000000000/authorize"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[test]
fn a_self_hosted_controller_works_the_same_way() {
    let dir = temp_data_dir();
    let (_sim, node) = start_sim_node(78);
    let node_port = node["address"].as_str().unwrap().rsplit(':').next().unwrap().to_owned();
    let violations = dir.path().join("violations.txt");
    let members = json!([{"id": MEMBER, "authorized": false, "ipAssignments": ["127.0.0.1"]}]);
    let (_standin, url) = start_controller_standin(&members, &violations);
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &[
            "--zerotier-controller",
            &url,
            "--zerotier-authorize",
            "all",
            "--node-port",
            &node_port,
            "--heartbeat-interval",
            "1",
        ],
        &[("ZOS_ZEROTIER_TOKEN", ZT_TOKEN)],
    );
    let admin = server.admin_token();
    let settings = client()
        .put(server.url("/boot/settings"))
        .bearer_auth(&admin)
        .json(&json!({"zerotierNetwork": ZT_NETWORK}))
        .send()
        .unwrap();
    assert_eq!(settings.status(), 200);
    // Policy "all": nobody has to authorise; the member becomes a node on its own.
    let id = node["id"].as_str().unwrap();
    let started = Instant::now();
    loop {
        let nodes: Vec<Value> = client()
            .get(server.url("/nodes"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if nodes.iter().any(|n| n["id"] == id && n["state"] == "online") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the member did not become an online node: {nodes:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let members: Vec<Value> = client()
        .get(server.url("/zerotier/members"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        members
            .iter()
            .any(|m| m["id"] == MEMBER && m["authorized"] == true && m["node"] == id),
        "{members:?}"
    );
    let said = std::fs::read_to_string(&violations).unwrap_or_default();
    assert!(
        said.is_empty(),
        "requests or responses that break the published API:\n{said}"
    );
}

#[test]
fn the_allowlist_policy_adopts_listed_nodes_and_turns_others_away() {
    let dir = temp_data_dir();
    // Two members on different ZeroTier IPs, 0-core on the same port of each (as on real nodes).
    let (_listed, listed) = start_sim_node(81);
    let port = listed["address"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let mut stranger_process = std::process::Command::new(common::BIN)
        .args(["sim", "--listen", &format!("127.0.0.2:{port}"), "--seed", "82"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let line = std::io::BufRead::lines(std::io::BufReader::new(stranger_process.stdout.take().unwrap())).next();
    let stranger: Value = serde_json::from_str(&line.unwrap().unwrap()).unwrap();
    let _stranger = common::Killed(stranger_process);
    let violations = dir.path().join("violations.txt");
    let members = json!([
        {"nodeId": "aaaaaaaaaa", "config": {"authorized": false, "ipAssignments": ["127.0.0.1"]}},
        {"nodeId": "bbbbbbbbbb", "config": {"authorized": false, "ipAssignments": ["127.0.0.2"]}},
    ]);
    let (_standin, api) = start_central_standin(&members, &violations);
    let listed_id = listed["id"].as_str().unwrap();
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &[
            "--zerotier-api",
            &api,
            "--node-port",
            &port,
            "--heartbeat-interval",
            "1",
            "--zerotier-authorize",
            "allowlist",
        ],
        &[("ZOS_ZEROTIER_TOKEN", ZT_TOKEN), ("ZOS_ZEROTIER_ALLOW", listed_id)],
    );
    let admin = server.admin_token();
    let settings = client()
        .put(server.url("/boot/settings"))
        .bearer_auth(&admin)
        .json(&json!({"zerotierNetwork": ZT_NETWORK}))
        .send()
        .unwrap();
    assert_eq!(settings.status(), 200);
    let started = Instant::now();
    loop {
        let members: Vec<Value> = client()
            .get(server.url("/zerotier/members"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let done = members
            .iter()
            .any(|m| m["id"] == "aaaaaaaaaa" && m["authorized"] == true && m["node"] == listed_id)
            && members.iter().any(|m| {
                m["id"] == "bbbbbbbbbb"
                    && m["authorized"] == false
                    && m["refused"].as_str().is_some_and(|r| r.contains("allow list"))
            });
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "allowlist outcome not reached: {members:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let nodes: Vec<Value> = client()
        .get(server.url("/nodes"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [listed_id],
        "only the listed node was adopted (not {})",
        stranger["id"]
    );
    let said = std::fs::read_to_string(&violations).unwrap_or_default();
    assert!(
        said.is_empty(),
        "requests or responses that break the published API:\n{said}"
    );
}
