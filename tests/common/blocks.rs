//! What the block storage tests share: a six-engine cluster of real `redis-server`s on three demo nodes with a
//! vdisk storage on it, `zos-orchestrator nbdserver` on a unix socket, and the Debian tools that talk to them.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{BIN, Killed, Server, admin_call as call, get_json, required_tool, wait_until};

pub fn tool(name: &str) -> PathBuf {
    required_tool(&format!("ZOS_TEST_{}", name.to_uppercase().replace('-', "_")), name)
}

/// Runs `program args` and returns its stdout; fails with its stderr when it fails.
pub fn run(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().expect("run a tool");
    assert!(
        output.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn redis_cli(port: u16, command: &[&str]) -> String {
    let port = port.to_string();
    let mut args = vec!["-p", port.as_str()];
    args.extend_from_slice(command);
    run(&tool("redis-cli"), &args).trim().to_owned()
}

/// An NBD server process on a unix socket in `dir`, once the socket accepts.
pub fn start_nbd_server(dir: &Path, source: &[&str], envs: &[(&str, &str)]) -> (Killed, PathBuf) {
    let socket = dir.join("nbd.sock");
    let address = format!("unix:{}", socket.display());
    let mut args = vec!["nbdserver", "--id", "vm1", "--address", &address];
    args.extend_from_slice(source);
    let child = Command::new(BIN)
        .args(&args)
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn nbdserver");
    let server = Killed(child);
    wait_until(Duration::from_secs(10), "the NBD socket accepts", || {
        UnixStream::connect(&socket).is_ok()
    });
    (server, socket)
}

pub fn url(export: &str, socket: &Path) -> String {
    format!("nbd+unix:///{export}?socket={}", socket.display())
}

/// Engines pick the first free ports from 2000 on a shared loopback: deployments in this file take turns, so two
/// never pick the same port at the same moment.
pub static DEPLOYING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A six-engine cluster on three demo nodes and a vdisk storage `vs` on it; the engines' ports.
pub fn cluster(server: &Server) -> Vec<u16> {
    let _turn = DEPLOYING.lock().unwrap_or_else(|p| p.into_inner());
    let nodes: Vec<String> = get_json(server, "/nodes")
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .collect();
    let body = json!({"label": "blocks", "servers": 6, "driveType": "hdd", "nodes": nodes});
    let (status, answer) = call(server, Method::POST, "/storageclusters", Some(body));
    assert!(status == 201 || status == 202, "{answer}");
    wait_until(Duration::from_secs(120), "the cluster is ready", || {
        get_json(server, "/storageclusters/blocks")["status"] == "ready"
    });
    let body = json!({"id": "vs", "blockCluster": "blocks"});
    assert_eq!(call(server, Method::POST, "/vdiskstorage", Some(body)).0, 201);
    get_json(server, "/storageclusters/blocks")["storageServers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|engine| engine["port"].as_u64().unwrap() as u16)
        .collect()
}

/// The keys engine `port` holds, one a line, escaped (hashes are binary); the engines' health check's own key
/// aside.
pub fn keys(port: u16) -> Vec<String> {
    redis_cli(port, &["--no-raw", "KEYS", "*"])
        .lines()
        .filter(|line| !line.contains("keytest") && !line.contains("(empty"))
        .map(str::to_owned)
        .collect()
}
