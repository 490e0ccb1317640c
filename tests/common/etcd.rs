//! A real etcd cluster for tests: Debian's `etcd` (package etcd-server, installed by scripts/test) on loopback
//! ports, its data in a temporary directory. Also compiled into the store's unit tests (`src/store/tests.rs`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

pub struct EtcdCluster {
    members: Vec<Member>,
    dir: tempfile::TempDir,
}

fn loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl EtcdCluster {
    /// Starts `size` members and waits until the cluster has a leader.
    pub fn start(size: usize) -> EtcdCluster {
        let members = (0..size)
            .map(|index| Member {
                name: format!("m{index}"),
                client_port: loopback_port(),
                peer_port: loopback_port(),
                child: None,
            })
            .collect();
        let mut cluster = EtcdCluster {
            members,
            dir: tempfile::tempdir().unwrap(),
        };
        for index in 0..size {
            cluster.launch(index);
        }
        for index in 0..size {
            cluster.wait_healthy(index);
        }
        cluster
    }

    /// `host:port,…` of every member's client address.
    pub fn endpoints(&self) -> String {
        let addresses: Vec<String> = self
            .members
            .iter()
            .map(|member| format!("127.0.0.1:{}", member.client_port))
            .collect();
        addresses.join(",")
    }

    /// The `--store` value for this cluster.
    pub fn store_url(&self) -> String {
        format!("etcd://{}", self.endpoints())
    }

    /// Kills a member with SIGKILL.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed member again, on its data, and waits until it serves.
    pub fn restart(&mut self, index: usize) {
        self.launch(index);
        self.wait_healthy(index);
    }

    fn launch(&mut self, index: usize) {
        let cluster: Vec<String> = self
            .members
            .iter()
            .map(|member| format!("{}=http://127.0.0.1:{}", member.name, member.peer_port))
            .collect();
        let member = &self.members[index];
        let client = format!("http://127.0.0.1:{}", member.client_port);
        let peer = format!("http://127.0.0.1:{}", member.peer_port);
        let data: PathBuf = self.dir.path().join(&member.name);
        let log = std::fs::File::create(self.dir.path().join(format!("{}.log", member.name))).unwrap();
        let child = Command::new("etcd")
            .args(["--name", &member.name])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &cluster.join(",")])
            .args(["--initial-cluster-state", "new", "--initial-cluster-token", "zos-test"])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd is required for the etcd store tests (Debian package etcd-server; scripts/test installs it)");
        self.members[index].child = Some(child);
    }

    fn wait_healthy(&self, index: usize) {
        let port = self.members[index].client_port;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if health(port).is_some_and(|answer| answer.contains("\"health\":\"true\"")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "etcd member {index} did not become healthy within 20 s; its log: {}",
            std::fs::read_to_string(self.dir.path().join(format!("m{index}.log"))).unwrap_or_default()
        );
    }
}

/// `GET /health` of a member, over a plain socket (the store's unit tests run inside a tokio runtime, where
/// reqwest's blocking client may not be used).
fn health(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for index in 0..self.members.len() {
            self.kill(index);
        }
    }
}
