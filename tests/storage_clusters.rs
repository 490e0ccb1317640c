//! Block storage clusters against the real binary: emulated nodes (`--demo`, or `sim` processes) whose storage
//! engines are real `redis-server`s, checked over plain RESP. A six-engine cluster on three nodes deploys, heals a
//! killed engine, survives an orchestrator killed mid-deploy, and leaves nothing behind when deleted or refused;
//! a vdisk storage on it keeps it from being deleted.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

use common::{Server, admin_call as call, get_json, registered_sim_node, temp_data_dir, wait_until};
use reqwest::Method;
use serde_json::{Value, json};

/// Engines pick the first free ports from 2000 on a shared loopback: deployments in this file take turns, so two
/// never pick the same port at the same moment.
static DEPLOYING: Mutex<()> = Mutex::new(());

/// Sends one command as a RESP array and reads the first line of the answer (a `+`, `-`, `:` or `$` line); for a
/// bulk string, its content.
fn resp(port: u16, command: &[&str]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request = format!("*{}\r\n", command.len());
    for part in command {
        request += &format!("${}\r\n{part}\r\n", part.len());
    }
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if let Some(length) = line.strip_prefix('$') {
        let length: usize = length.trim().parse().unwrap_or(0);
        let mut body = vec![0; length + 2];
        std::io::Read::read_exact(&mut reader, &mut body)?;
        return Ok(String::from_utf8_lossy(&body[..length]).into_owned());
    }
    Ok(line.trim_end().to_owned())
}

fn answers_ping(port: u16) -> bool {
    resp(port, &["PING"]).is_ok_and(|answer| answer == "+PONG")
}

/// The engine's process id, as it reports it (`INFO server`).
fn engine_pid(port: u16) -> i32 {
    let info = resp(port, &["INFO", "server"]).expect("INFO");
    info.lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("no process_id in {info}"))
}

fn ports(cluster: &Value) -> Vec<u16> {
    cluster["storageServers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|server| server["port"].as_u64().unwrap() as u16)
        .collect()
}

/// The cluster's pools mounted on `node` (`cluster_<node>_<label>_<disk>`).
fn cluster_mounts(server: &Server, node: &str, label: &str) -> usize {
    let mounts = get_json(server, &format!("/nodes/{node}/mounts"));
    let prefix = format!("/storage/cluster_{node}_{label}_");
    mounts
        .as_array()
        .unwrap()
        .iter()
        .filter(|mount| mount["mountpoint"].as_str().is_some_and(|m| m.starts_with(&prefix)))
        .count()
}

/// POSTs the cluster and waits for its job (201 at once, or 202 and the job); returns the job's outcome.
fn deploy(server: &Server, body: Value) -> (u16, Value) {
    let (status, answer) = call(server, Method::POST, "/storageclusters", Some(body));
    if status != 202 {
        return (status, answer);
    }
    let job_path = format!("/jobs/{}", answer["id"].as_str().unwrap());
    let mut job = Value::Null;
    wait_until(Duration::from_secs(90), "the deployment job ends", || {
        job = get_json(server, &job_path);
        job["state"] == "succeeded" || job["state"] == "failed"
    });
    match job["error"]["status"].as_u64() {
        Some(status) => (status as u16, job["error"].clone()),
        None => (201, job),
    }
}

fn demo_nodes(server: &Server) -> Vec<String> {
    let nodes = get_json(server, "/nodes");
    let mut ids: Vec<String> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_six_engine_cluster_on_three_demo_nodes_answers_heals_a_killed_engine_and_is_deleted_without_a_trace() {
    let _turn = DEPLOYING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_data_dir();
    let mut server = Server::start_with(dir.path(), &["--demo", "3", "--heartbeat-interval", "1"]);
    let nodes = demo_nodes(&server);
    assert_eq!(nodes.len(), 3);
    let body = json!({"label": "blocks", "servers": 6, "driveType": "hdd", "nodes": nodes});
    let (status, answer) = deploy(&server, body.clone());
    assert_eq!(status, 201, "{answer}");

    let cluster = get_json(&server, "/storageclusters/blocks");
    assert_eq!(cluster["status"], "ready", "{cluster}");
    let servers = cluster["storageServers"].as_array().unwrap();
    assert_eq!(servers.len(), 6, "{cluster}");
    for node in &nodes {
        let on_node: Vec<&Value> = servers.iter().filter(|s| s["node"] == node.as_str()).collect();
        assert_eq!(on_node.len(), 2, "two engines on {node}: {cluster}");
        assert_ne!(on_node[0]["disk"], on_node[1]["disk"], "one engine per disk");
        assert_eq!(cluster_mounts(&server, node, "blocks"), 2);
    }
    let ports = ports(&cluster);
    for port in &ports {
        assert!(*port >= 2000, "{port}");
        assert!(answers_ping(*port), "the engine on port {port} answers PING");
    }
    assert_eq!(
        cluster["config"].as_str().unwrap().matches("address: ").count(),
        6,
        "{cluster}"
    );
    assert_eq!(get_json(&server, "/storageclusters"), json!(["blocks"]));
    assert_eq!(
        get_json(&server, "/health/storageclusters"),
        json!([{"label": "blocks", "status": "OK"}])
    );
    let (status, error) = call(&server, Method::POST, "/storageclusters", Some(body));
    assert_eq!((status, error["field"].as_str()), (409, Some("label")), "{error}");

    // An engine killed behind the orchestrator's back: seen within two heartbeats, then restarted.
    let victim = ports[3];
    let pid = engine_pid(victim);
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let health = "/health/storageclusters/blocks";
    let down = |server: &Server| {
        get_json(server, health)[0]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["status"] == "ERROR" && m["id"].as_str().unwrap().ends_with(&format!(":{victim}")))
    };
    wait_until(
        Duration::from_millis(2500),
        "the dead engine shows in the cluster's health",
        || down(&server),
    );
    wait_until(Duration::from_secs(30), "the engine is restarted", || {
        answers_ping(victim) && get_json(&server, "/storageclusters/blocks")["status"] == "ready"
    });
    assert_ne!(engine_pid(victim), pid, "a new engine process");

    // A vdisk storage on the cluster: its clusters must exist, its id is unique, and it keeps the cluster alive.
    let post = |body: Value| call(&server, Method::POST, "/vdiskstorage", Some(body));
    let (status, error) = post(json!({"id": "vs", "blockCluster": "nosuch"}));
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("blockCluster")),
        "{error}"
    );
    let (status, error) = post(json!({"id": "vs", "blockCluster": "blocks", "slaveCluster": "nosuch"}));
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("slaveCluster")),
        "{error}"
    );
    let (status, error) = post(json!({"id": "vs", "blockCluster": "blocks", "objectCluster": "zerostor"}));
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("objectCluster")),
        "{error}"
    );
    let (status, created) = post(json!({"id": "vs", "blockCluster": "blocks"}));
    assert_eq!(
        (status, created["blockCluster"].as_str()),
        (201, Some("blocks")),
        "{created}"
    );
    let (status, error) = post(json!({"id": "vs", "blockCluster": "blocks"}));
    assert_eq!((status, error["field"].as_str()), (409, Some("id")), "{error}");
    assert_eq!(get_json(&server, "/vdiskstorage/vs")["id"], "vs");
    assert_eq!(get_json(&server, "/vdiskstorage").as_array().unwrap().len(), 1);
    assert_eq!(call(&server, Method::GET, "/vdiskstorage/nosuch", None).0, 404);
    let (status, error) = call(&server, Method::DELETE, "/storageclusters/blocks", None);
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("cluster_in_use")),
        "{error}"
    );
    assert_eq!(get_json(&server, "/storageclusters/blocks")["status"], "ready");
    assert_eq!(call(&server, Method::DELETE, "/vdiskstorage/vs", None).0, 204);
    assert_eq!(call(&server, Method::GET, "/vdiskstorage/vs", None).0, 404);

    // Deleted: no engine answers, no pool is left on the nodes.
    let (status, _) = call(&server, Method::DELETE, "/storageclusters/blocks", None);
    assert!(status == 204 || status == 202, "{status}");
    wait_until(Duration::from_secs(30), "the cluster is gone", || {
        call(&server, Method::GET, "/storageclusters/blocks", None).0 == 404
    });
    for port in &ports {
        assert!(!answers_ping(*port), "no engine left on port {port}");
    }
    for node in &nodes {
        assert_eq!(cluster_mounts(&server, node, "blocks"), 0);
    }

    // The engines end with the emulator that runs them, also when it is killed outright.
    let (status, answer) = deploy(
        &server,
        json!({"label": "again", "servers": 3, "driveType": "hdd", "nodes": nodes}),
    );
    assert_eq!(status, 201, "{answer}");
    let ports = self::ports(&get_json(&server, "/storageclusters/again"));
    assert!(ports.iter().all(|port| answers_ping(*port)));
    server.kill9();
    wait_until(Duration::from_secs(5), "no engine outlives the emulator", || {
        ports.iter().all(|port| !answers_ping(*port))
    });
}

#[test]
fn an_orchestrator_killed_mid_deploy_finishes_it_after_restart_with_one_engine_per_disk() {
    let _turn = DEPLOYING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_data_dir();
    let mut server = Server::start_with(dir.path(), &["--apply-wait", "0"]);
    let sims: Vec<_> = [61, 62, 63].map(|seed| registered_sim_node(&server, seed)).into();
    let nodes: Vec<&str> = sims.iter().map(|(_, node, _)| node.as_str()).collect();
    let body = json!({"label": "resumed", "servers": 6, "driveType": "hdd", "nodes": nodes});
    let (status, job) = call(&server, Method::POST, "/storageclusters", Some(body));
    assert_eq!(status, 202, "{job}");
    let job_path = format!("/jobs/{}", job["id"].as_str().unwrap());
    wait_until(Duration::from_secs(30), "the deployment is half-way", || {
        get_json(&server, &job_path)["step"]
            .as_str()
            .is_some_and(|step| step.starts_with("engine 3 of 6"))
    });
    server.kill9();

    let server = Server::start_with(dir.path(), &["--heartbeat-interval", "1"]);
    wait_until(Duration::from_secs(60), "the resumed deployment succeeds", || {
        get_json(&server, &job_path)["state"] == "succeeded"
    });
    let cluster = get_json(&server, "/storageclusters/resumed");
    assert_eq!(cluster["status"], "ready", "{cluster}");
    let ports = ports(&cluster);
    let mut distinct = ports.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 6, "six engines on six ports: {cluster}");
    assert!(ports.iter().all(|port| answers_ping(*port)));
    for node in &nodes {
        assert_eq!(
            cluster_mounts(&server, node, "resumed"),
            2,
            "one pool per disk on {node}"
        );
    }
}

#[test]
fn bad_input_is_refused_naming_the_field_and_a_node_short_of_disks_gets_nothing() {
    let _turn = DEPLOYING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let sims: Vec<_> = [71, 72, 73].map(|seed| registered_sim_node(&server, seed)).into();
    let nodes: Vec<&str> = sims.iter().map(|(_, node, _)| node.as_str()).collect();
    let post = |body: Value| call(&server, Method::POST, "/storageclusters", Some(body));
    // Each is a 400 that names the field at fault (where there is one).
    for (body, field) in [
        (
            json!({"label": "c", "servers": 6, "driveType": "floppy", "nodes": nodes}),
            Some("driveType"),
        ),
        (
            json!({"label": "c", "servers": 4, "driveType": "hdd", "nodes": nodes}),
            Some("servers"),
        ),
        (
            json!({"label": "c", "servers": 0, "driveType": "hdd", "nodes": nodes}),
            Some("servers"),
        ),
        (
            json!({"label": "c d", "servers": 3, "driveType": "hdd", "nodes": nodes}),
            Some("label"),
        ),
        (json!({"servers": 3, "driveType": "hdd", "nodes": nodes}), None),
        (
            json!({"label": "c", "servers": 3, "driveType": "hdd", "nodes": nodes, "slaveNodes": true}),
            None,
        ),
        (
            json!({"label": "c", "servers": 3, "driveType": "hdd", "nodes": [nodes[0], "nosuchnode", nodes[2]]}),
            Some("nodes[1]"),
        ),
        (
            json!({"label": "c", "servers": 3, "driveType": "hdd", "nodes": nodes, "clusterType": "object"}),
            Some("clusterType"),
        ),
    ] {
        let (status, error) = post(body.clone());
        assert_eq!(status, 400, "{body}: {error}");
        if let Some(field) = field {
            assert_eq!(error["field"], field, "{body}: {error}");
        }
    }
    // Emulated nodes have at most one NVMe disk: two per node cannot be had, and nothing is made on any node.
    let (status, error) = deploy(
        &server,
        json!({"label": "fast", "servers": 6, "driveType": "nvme", "nodes": nodes}),
    );
    assert_eq!((status, error["field"].as_str()), (400, Some("driveType")), "{error}");
    assert!(error["message"].as_str().unwrap().contains("free nvme disk"), "{error}");
    assert_eq!(call(&server, Method::GET, "/storageclusters/fast", None).0, 404);
    for node in &nodes {
        assert_eq!(cluster_mounts(&server, node, "fast"), 0);
    }
    assert_eq!(call(&server, Method::GET, "/storageclusters/nosuch", None).0, 404);
    assert_eq!(
        call(&server, Method::GET, "/health/storageclusters/nosuch", None).0,
        404
    );
    assert_eq!(call(&server, Method::DELETE, "/storageclusters/nosuch", None).0, 204);
}
