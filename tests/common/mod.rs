//! Shared test harness: runs the real `zos-orchestrator` binary on an ephemeral loopback port with a temp data
//! directory, and talks HTTP to it.

#![allow(dead_code)] // each test binary uses its own subset of the harness

pub mod blocks;
pub mod etcd;
pub mod lab;
pub mod netboot;
pub mod node;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_zos-orchestrator");

/// A running server. Killed (SIGKILL) when dropped if still running.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// Where its TFTP server listens.
    pub tftp: std::net::SocketAddr,
    pub data_dir: PathBuf,
    /// The HTTP client for this server: the shared one, or one made inside a network namespace (`lab`).
    pub http: reqwest::blocking::Client,
    startup_logs: Vec<String>,
    logs: mpsc::Receiver<String>,
}

/// A fresh data directory that outlives server restarts within one test.
pub fn temp_data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("zos-test-")
        .tempdir()
        .expect("create temp dir")
}

/// Runs `serve` on loopback with TFTP off and `extra_args` until it exits (a start that must be refused):
/// its exit code and its stderr.
pub fn serve_until_exit(data_dir: &Path, extra_args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--tftp-listen", "off"])
        .args(extra_args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("ZOS_PROXY_DHCP")
        .output()
        .expect("run zos-orchestrator");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The device paths (`/dev/<name>`) of a node's `GET /nodes/{id}/disks` answer (0-orchestrator's `DiskInfo[]`).
pub fn device_paths(disks: &serde_json::Value) -> Vec<String> {
    disks
        .as_array()
        .expect("DiskInfo[]")
        .iter()
        .map(|disk| disk["device"].as_str().expect("a disk's device").to_owned())
        .collect()
}

/// Defines, for a test `fn NAME(store: Option<&EtcdCluster>)`, a module NAME with two tests: `sled` (the
/// default store, `None`) and `etcd` (a real one-member etcd cluster, started for it).
#[macro_export]
macro_rules! on_both_stores {
    ($check:ident) => {
        mod $check {
            #[test]
            fn sled() {
                super::$check(None);
            }

            #[test]
            fn etcd() {
                let cluster = $crate::common::etcd::EtcdCluster::start(1);
                super::$check(Some(&cluster));
            }
        }
    };
}

impl Server {
    /// One of several instances sharing `cluster`, with the heartbeat out of the way (an hour): the etcd tests
    /// are about what the instances share, not about nodes answering.
    pub fn on_etcd(data_dir: &Path, cluster: &etcd::EtcdCluster) -> Server {
        Server::start_on(data_dir, Some(cluster), &["--heartbeat-interval", "3600"])
    }

    /// Three such instances, each with its own data directory (kept until the servers are gone).
    pub fn three_on_etcd(cluster: &etcd::EtcdCluster) -> ([tempfile::TempDir; 3], [Server; 3]) {
        let dirs = [temp_data_dir(), temp_data_dir(), temp_data_dir()];
        let servers = [0, 1, 2].map(|index| Server::on_etcd(dirs[index].path(), cluster));
        (dirs, servers)
    }

    /// Starts `serve` with `extra_args` on the store given: sled in `data_dir` (`None`), or the etcd cluster.
    pub fn start_on(data_dir: &Path, store: Option<&etcd::EtcdCluster>, extra_args: &[&str]) -> Server {
        let url = store.map(etcd::EtcdCluster::store_url);
        let mut args = extra_args.to_vec();
        if let Some(url) = &url {
            args.extend(["--store", url]);
        }
        Server::start_with(data_dir, &args)
    }

    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// Starts `serve` on 127.0.0.1:0 and waits for the "listening" log line to learn the port.
    pub fn start_with(data_dir: &Path, extra_args: &[&str]) -> Server {
        Server::start_with_env(data_dir, extra_args, &[])
    }

    /// `start_with`, with environment variables for the server (secrets that have no flag).
    pub fn start_with_env(data_dir: &Path, extra_args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--tftp-listen", "127.0.0.1:0"])
            .args(extra_args)
            .envs(envs.iter().copied());
        Server::spawn(command, data_dir)
    }

    /// Runs `command` (`serve` with its addresses, maybe behind a wrapper such as `ip netns exec`) with JSON logs
    /// and `data_dir`, and waits for the "listening" log line to learn the port.
    pub fn spawn(mut command: Command, data_dir: &Path) -> Server {
        let mut child = command
            .args(["--log-format", "json"])
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("ZOS_LISTEN")
            .env_remove("ZOS_DATA_DIR")
            .env_remove("ZOS_STORE")
            .env_remove("ZOS_STORE_PREFIX")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zos-orchestrator");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut startup_logs = Vec::new();
        loop {
            let Ok(line) = logs.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not report that it listens within 20 s: {startup_logs:?}");
            };
            let entry = serde_json::from_str::<serde_json::Value>(&line).unwrap_or_default();
            let url = entry["fields"]["url"]
                .as_str()
                .map(|url| url.trim_end_matches('/').to_owned());
            let tftp = entry["fields"]["tftp"].as_str().and_then(|tftp| tftp.parse().ok());
            startup_logs.push(line);
            if let (Some(base), Some(tftp)) = (url, tftp) {
                return Server {
                    child,
                    base,
                    tftp,
                    data_dir: data_dir.to_owned(),
                    http: client(),
                    startup_logs,
                    logs,
                };
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `method path` with `token` as the bearer: a request still open for headers and a body. Through the shared
    /// `client()`, so its connections are pooled with every other request of the test.
    pub fn request_as(&self, token: &str, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        client().request(method, self.url(path)).bearer_auth(token)
    }

    /// `method path` with `token` as the bearer and `body` as JSON, sent.
    pub fn send_json_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::blocking::Response {
        self.request_as(token, method, path).json(body).send().expect("send")
    }

    /// `GET path` with `token` as the bearer, sent.
    pub fn get_as(&self, token: &str, path: &str) -> reqwest::blocking::Response {
        self.request_as(token, reqwest::Method::GET, path).send().expect("GET")
    }

    /// `GET path` with `token` as the bearer, its answer as JSON.
    pub fn get_json_as<T: serde::de::DeserializeOwned>(&self, token: &str, path: &str) -> T {
        self.get_as(token, path).json().expect("JSON")
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin.token"))
            .expect("admin.token")
            .trim()
            .to_owned()
    }

    /// Every log line printed so far.
    pub fn logs(&mut self) -> Vec<String> {
        self.startup_logs.extend(self.logs.try_iter());
        self.startup_logs.clone()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status (at most `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for server") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within {timeout:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP client for the whole test binary (building one per request costs a thread and a runtime each).
pub fn client() -> reqwest::blocking::Client {
    static CLIENT: std::sync::OnceLock<reqwest::blocking::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client")
        })
        .clone()
}

/// Creates a token of `role` through the API with the admin token; returns the secret.
pub fn create_token(server: &Server, role: &str, name: &str) -> String {
    let response = client()
        .post(server.url("/tokens"))
        .bearer_auth(server.admin_token())
        .json(&serde_json::json!({"name": name, "role": role}))
        .send()
        .expect("POST /tokens");
    assert_eq!(response.status(), 201, "creating a {role} token");
    let body: serde_json::Value = response.json().expect("token JSON");
    body["token"].as_str().expect("token secret in response").to_owned()
}

/// Registers a node with the admin token; panics unless 201.
pub fn register_node(server: &Server, id: &str, labels: serde_json::Value) -> serde_json::Value {
    register_node_at(&server.base, &server.admin_token(), id, labels)
}

/// The same, for threads (a `Server` stays on the test's thread).
pub fn register_node_at(base: &str, token: &str, id: &str, labels: serde_json::Value) -> serde_json::Value {
    let response = client()
        .post(format!("{base}/nodes"))
        .bearer_auth(token)
        .json(&serde_json::json!({"id": id, "address": "127.0.0.2", "labels": labels}))
        .send()
        .expect("POST /nodes");
    assert_eq!(response.status(), 201, "registering node {id}");
    response.json().expect("node JSON")
}

/// A tool the tests need, installed by `scripts/test`: its path, or a loud failure naming how to get it.
pub fn required_tool(env_var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    let found = if path.components().count() > 1 {
        path.exists()
    } else {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {}", path.display()))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(
        found,
        "required test tool {} is missing ({env_var}); run scripts/test, which installs it",
        path.display()
    );
    path
}

/// Runs `command` to its end and fails the test unless it succeeds, naming it `what` with its exit code and
/// everything it printed.
pub fn run_ok(command: &mut Command, what: &str) -> std::process::Output {
    let output = command.output().unwrap_or_else(|error| panic!("run {what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed (exit {:?}):\n{}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The Python of the test tools' venv (made by `scripts/test`) that runs the stand-ins and file servers.
fn test_python(project: &Path) -> PathBuf {
    required_tool(
        "ZOS_TEST_PYTHON",
        project.join("target/test-tools/venv/bin/python").to_str().unwrap(),
    )
}

/// Sends `GET <path>` byte for byte (no normalisation) and returns the status code.
pub fn raw_get_status(server: &Server, path: &str) -> u16 {
    use std::io::{Read, Write};
    let address = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"))
}

/// A child process killed when dropped (emulated nodes, stand-ins).
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn first_stdout_line(child: &mut Child) -> String {
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .lines()
        .next()
        .expect("a first line")
        .expect("UTF-8")
}

/// One emulated Zero-OS node (`sim`) on a free loopback port; returns it and its `{"id", "address"}` line.
pub fn start_sim_node(seed: u64) -> (Killed, serde_json::Value) {
    start_sim_node_at("127.0.0.1:0", seed)
}

/// `start_sim_node` on a given address (to bring a node back where it was).
pub fn start_sim_node_at(listen: &str, seed: u64) -> (Killed, serde_json::Value) {
    let (sim, mut nodes) = start_sims(&["--listen", listen, "--seed", &seed.to_string()], 1);
    (sim, nodes.remove(0))
}

/// `sim ARGS` (emulated nodes behind one process), and the `count` lines it prints first: a node's
/// `{"id", "address"}` each.
pub fn start_sims(args: &[&str], count: usize) -> (Killed, Vec<serde_json::Value>) {
    let mut child = Command::new(BIN)
        .arg("sim")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn zos-orchestrator sim");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let nodes = (0..count)
        .map(|_| {
            let line = lines.next().expect("a line per node").expect("UTF-8");
            serde_json::from_str(&line).expect("a JSON line per node")
        })
        .collect();
    (Killed(child), nodes)
}

pub const ZT_NETWORK: &str = "8056c2e21c000001";
pub const ZT_TOKEN: &str = "central-api-token-for-tests";

/// The ZeroTier Central stand-in (tests/zerotier/central_standin.py) with `members`; every request and response
/// that breaks the published OpenAPI document is written to `violations`. Returns it and its API base URL.
pub fn start_central_standin(members: &serde_json::Value, violations: &Path) -> (Killed, String) {
    let (child, base) = start_standin("central", "zerotier-central.openapi.json", members, violations);
    (child, format!("{base}/api/v1"))
}

/// The same stand-in as a self-hosted controller (the ZeroTier One service); returns it and its base URL.
pub fn start_controller_standin(members: &serde_json::Value, violations: &Path) -> (Killed, String) {
    start_standin("controller", "zerotier-one.openapi.json", members, violations)
}

/// A real file server on loopback over `root` (tests/transfer/servers.py): `ftp` (pyftpdlib, user `vm`, password
/// `secret`) or `http` (GET, and PUT to store). Returns it and its port.
pub fn start_file_server(kind: &str, root: &Path) -> (Killed, u16) {
    start_file_server_with(kind, root, &[])
}

/// `start_file_server` with more of `servers.py`'s options (`--pace`).
pub fn start_file_server_with(kind: &str, root: &Path, options: &[&str]) -> (Killed, u16) {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(test_python(project))
        .arg(project.join("tests/transfer/servers.py"))
        .arg(format!("--{kind}"))
        .arg("--root")
        .arg(root)
        .args(options)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the file server");
    let port = first_stdout_line(&mut child)
        .trim()
        .parse()
        .expect("the file server's port (is pyftpdlib installed? run scripts/test)");
    (Killed(child), port)
}

fn start_standin(kind: &str, spec: &str, members: &serde_json::Value, violations: &Path) -> (Killed, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(test_python(root))
        .arg(root.join("tests/zerotier/central_standin.py"))
        .args(["--kind", kind, "--spec"])
        .arg(root.join("../shared/reference/zerotier").join(spec))
        .args([
            "--token",
            ZT_TOKEN,
            "--network",
            ZT_NETWORK,
            "--members",
            &members.to_string(),
        ])
        .arg("--violations")
        .arg(violations)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the ZeroTier Central stand-in");
    let port = first_stdout_line(&mut child);
    (Killed(child), format!("http://127.0.0.1:{port}"))
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 100 ms until it holds; fails naming `what` after `within`.
pub fn wait_until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < within, "{what} did not happen within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `method path` with the admin token and an optional JSON body; the status and the JSON answer (null if none).
pub fn admin_call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    call_as(server, Some(&server.admin_token()), method, path, body)
}

/// `admin_call` with `token` (none: no `Authorization` header).
pub fn call_as(
    server: &Server,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = client().request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .expect("send");
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

/// An emulated node (`sim`, seed `seed`) registered with `server`: the sim process, the node id, its address.
pub fn registered_sim_node(server: &Server, seed: u64) -> (Killed, String, String) {
    let (sim, line) = start_sim_node(seed);
    let (id, address) = (line["id"].as_str().unwrap(), line["address"].as_str().unwrap());
    let body = serde_json::json!({"id": id, "address": address});
    assert_eq!(admin_call(server, reqwest::Method::POST, "/nodes", Some(body)).0, 201);
    (sim, id.to_owned(), address.to_owned())
}

/// `GET path` without a token (as a browser or a booting machine asks) with one request header: `range`,
/// `if-none-match`, `accept`.
pub fn get_with_header(server: &Server, path: &str, header: &str, value: &str) -> reqwest::blocking::Response {
    client()
        .get(server.url(path))
        .header(header, value)
        .send()
        .expect("GET")
}

/// One emulated node registered with a fresh server (see `server_with_sim_node`), and the data directory: kept
/// alive for as long as the server runs.
pub struct SimNode {
    /// The node's id and its address.
    pub id: String,
    pub address: String,
    _sim: Killed,
    _dir: tempfile::TempDir,
}

/// A fresh server (default flags) with a `sim` node of `seed` registered: where the node-facing API tests start.
/// Bind them in this order (`let (node, server) = ...`): the server is dropped, and killed, first.
pub fn server_with_sim_node(seed: u64) -> (SimNode, Server) {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let (sim, id, address) = registered_sim_node(&server, seed);
    (
        SimNode {
            id,
            address,
            _sim: sim,
            _dir: dir,
        },
        server,
    )
}

/// GET `path` with the admin token, as JSON.
pub fn get_json(server: &Server, path: &str) -> serde_json::Value {
    server.get_json_as(&server.admin_token(), path)
}

/// Asserts `response` is `status` with a `Content-Type` that starts with `content_type`.
pub fn assert_status_and_type(response: &reqwest::blocking::Response, status: u16, content_type: &str) {
    assert_eq!(response.status(), status);
    let actual = response.headers()["content-type"].to_str().unwrap();
    assert!(
        actual.starts_with(content_type),
        "content-type {actual}, expected {content_type}"
    );
}

/// The names of the entries in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The string `key` of every object in the JSON array `list` (ids, actions), in order.
pub fn strings_of<'a>(list: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|item| item[key].as_str().expect("a string"))
        .collect()
}

/// Everything ZeroTier discovery needs, on loopback: emulated nodes (one per seed; node i on 127.0.0.(i+1), all
/// on the same 0-core port, as real nodes are), a controller stand-in with `members`, and a server with discovery
/// on and the cluster network set.
pub struct ZeroTierRig {
    pub server: Server,
    /// The emulated nodes' `{"id", "address"}` lines, in seed order.
    pub nodes: Vec<serde_json::Value>,
    violations: PathBuf,
    _processes: Vec<Killed>,
    _dir: tempfile::TempDir,
}

impl ZeroTierRig {
    /// `controller`: a self-hosted controller instead of Central. `extra` goes to `serve`, `envs` to its environment.
    pub fn start(
        controller: bool,
        seeds: &[u64],
        members: serde_json::Value,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> ZeroTierRig {
        let dir = temp_data_dir();
        let mut processes = Vec::new();
        let mut nodes = Vec::new();
        let mut port = String::from("0");
        for (index, seed) in seeds.iter().enumerate() {
            let mut child = Command::new(BIN)
                .args([
                    "sim",
                    "--listen",
                    &format!("127.0.0.{}:{port}", index + 1),
                    "--seed",
                    &seed.to_string(),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn zos-orchestrator sim");
            let node: serde_json::Value = serde_json::from_str(&first_stdout_line(&mut child)).expect("a node line");
            port = node["address"].as_str().unwrap().rsplit(':').next().unwrap().to_owned();
            processes.push(Killed(child));
            nodes.push(node);
        }
        let violations = dir.path().join("violations.txt");
        let (standin, url) = if controller {
            start_controller_standin(&members, &violations)
        } else {
            start_central_standin(&members, &violations)
        };
        processes.push(standin);
        let api_flag = if controller {
            "--zerotier-controller"
        } else {
            "--zerotier-api"
        };
        let mut args = vec![api_flag, &url, "--node-port", &port, "--heartbeat-interval", "1"];
        args.extend_from_slice(extra);
        let mut all_envs = vec![("ZOS_ZEROTIER_TOKEN", ZT_TOKEN)];
        all_envs.extend_from_slice(envs);
        let server = Server::start_with_env(&dir.path().join("data"), &args, &all_envs);
        let settings = client()
            .put(server.url("/boot/settings"))
            .bearer_auth(server.admin_token())
            .json(&serde_json::json!({"zerotierNetwork": ZT_NETWORK}))
            .send()
            .expect("PUT /boot/settings");
        assert_eq!(settings.status(), 200);
        ZeroTierRig {
            server,
            nodes,
            violations,
            _processes: processes,
            _dir: dir,
        }
    }

    pub fn members(&self) -> Vec<serde_json::Value> {
        serde_json::from_value(get_json(&self.server, "/zerotier/members")).expect("a member list")
    }

    /// Fails if any request or response broke the published API document.
    pub fn assert_no_violations(&self) {
        let said = std::fs::read_to_string(&self.violations).unwrap_or_default();
        assert!(
            said.is_empty(),
            "requests or responses that break the published API:\n{said}"
        );
    }
}

/// The keys that start with `start` (e.g. `PREFIX/`), read through etcd's JSON gateway.
pub fn etcd_keys(cluster: &etcd::EtcdCluster, start: &str) -> Vec<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let endpoint = cluster.endpoints().split(',').next().unwrap().to_owned();
    let mut end = start.as_bytes().to_vec();
    *end.last_mut().expect("a non-empty start") += 1;
    let answer: serde_json::Value = client()
        .post(format!("http://{endpoint}/v3/kv/range"))
        .json(&serde_json::json!({"key": b64.encode(start), "range_end": b64.encode(&end), "keys_only": true}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    answer["kvs"]
        .as_array()
        .map(|kvs| {
            kvs.iter()
                .map(|kv| String::from_utf8(b64.decode(kv["key"].as_str().unwrap()).unwrap()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// `size` pseudo-random bytes (xorshift64 from `seed`): content that compresses to nothing and differs per seed.
pub fn pseudo_random(size: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
