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
    /// Set for a cluster that speaks TLS to clients and wants a user (`start_secured`).
    secured: Option<Secured>,
}

/// The files and names of a secured cluster (all in the cluster's directory).
pub struct Secured {
    pub ca: PathBuf,
    /// The client certificate and key the members' `--client-cert-auth` checks.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The user the orchestrator logs in as (read-write on every key), and its password.
    pub user: &'static str,
    pub password: &'static str,
}

/// The root user's password: only the harness uses it, to turn authentication on.
const ROOT_PASSWORD: &str = "root-test-password";

fn loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl EtcdCluster {
    /// Starts `size` members and waits until the cluster has a leader.
    pub fn start(size: usize) -> EtcdCluster {
        EtcdCluster::launch_all(size, None)
    }

    /// Starts `size` members that serve clients over TLS only (certificates from a CA made here with
    /// `openssl`), check client certificates, and have authentication enabled with a user `zos` allowed to
    /// read and write every key.
    pub fn start_secured(size: usize) -> EtcdCluster {
        let dir = tempfile::tempdir().unwrap();
        let secured = make_certificates(dir.path());
        let mut cluster = EtcdCluster::launch_all_in(dir, size, Some(secured));
        cluster.enable_auth();
        cluster
    }

    fn launch_all(size: usize, secured: Option<Secured>) -> EtcdCluster {
        EtcdCluster::launch_all_in(tempfile::tempdir().unwrap(), size, secured)
    }

    /// Ports are picked by binding port 0 and letting it go, so another process (a test binary running beside
    /// this one) may bind one first; then the cluster starts again, from nothing, on other ports.
    fn launch_all_in(dir: tempfile::TempDir, size: usize, secured: Option<Secured>) -> EtcdCluster {
        let mut cluster = EtcdCluster {
            members: Vec::new(),
            dir,
            secured,
        };
        for _attempt in 0..3 {
            cluster.members = (0..size)
                .map(|index| Member {
                    name: format!("m{index}"),
                    client_port: loopback_port(),
                    peer_port: loopback_port(),
                    child: None,
                })
                .collect();
            for index in 0..size {
                cluster.launch(index);
            }
            let unhealthy = (0..size).find(|&index| !cluster.becomes_healthy(index));
            match unhealthy {
                None => return cluster,
                Some(_) if (0..size).any(|index| cluster.log(index).contains("address already in use")) => {
                    for index in 0..size {
                        cluster.kill(index);
                        let _ = std::fs::remove_dir_all(cluster.dir.path().join(&cluster.members[index].name));
                    }
                }
                Some(index) => cluster.unhealthy(index),
            }
        }
        panic!(
            "etcd could not bind its ports in three tries; the last log: {}",
            cluster.log(0)
        )
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
        let scheme = if self.secured.is_some() { "etcds" } else { "etcd" };
        format!("{scheme}://{}", self.endpoints())
    }

    /// A secured cluster's files and user.
    pub fn secured(&self) -> &Secured {
        self.secured.as_ref().expect("a cluster made with start_secured")
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
        let scheme = if self.secured.is_some() { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{}", member.client_port);
        let peer = format!("http://127.0.0.1:{}", member.peer_port);
        let data: PathBuf = self.dir.path().join(&member.name);
        let log = std::fs::File::create(self.dir.path().join(format!("{}.log", member.name))).unwrap();
        let mut etcd = Command::new("etcd");
        if self.secured.is_some() {
            let files = self.dir.path();
            etcd.arg("--cert-file")
                .arg(files.join("member.pem"))
                .arg("--key-file")
                .arg(files.join("member.key"))
                .arg("--trusted-ca-file")
                .arg(files.join("ca.pem"))
                .arg("--client-cert-auth");
        }
        let child = etcd
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

    fn wait_healthy(&mut self, index: usize) {
        if !self.becomes_healthy(index) {
            self.unhealthy(index);
        }
    }

    /// Whether member `index` answers healthy within 20 s (no longer waited for once its process has ended).
    fn becomes_healthy(&mut self, index: usize) -> bool {
        let port = self.members[index].client_port;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let answer = match &self.secured {
                None => health(port),
                Some(_) => Some(self.curl(index, "GET", "/health", None)),
            };
            if answer.is_some_and(|answer| answer.contains("\"health\":\"true\"")) {
                return true;
            }
            let ended = self.members[index]
                .child
                .as_mut()
                .is_none_or(|child| child.try_wait().ok().flatten().is_some());
            if ended {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn log(&self, index: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("m{index}.log"))).unwrap_or_default()
    }

    fn unhealthy(&self, index: usize) -> ! {
        panic!(
            "etcd member {index} did not become healthy within 20 s; its log: {}",
            self.log(index)
        )
    }
}

impl EtcdCluster {
    /// One request to member `index` of a secured cluster with `curl` (the harness's own client certificate):
    /// the answer's body, or the empty string when it could not be sent.
    fn curl(&self, index: usize, method: &str, path: &str, body: Option<&str>) -> String {
        let files = self.secured();
        let url = format!("https://127.0.0.1:{}{path}", self.members[index].client_port);
        let mut curl = Command::new("curl");
        curl.args(["-sS", "--max-time", "5", "-X", method])
            .arg("--cacert")
            .arg(&files.ca)
            .arg("--cert")
            .arg(&files.cert)
            .arg("--key")
            .arg(&files.key);
        if let Some(body) = body {
            curl.args(["-H", "Content-Type: application/json", "-d", body]);
        }
        let output = curl
            .arg(&url)
            .output()
            .expect("curl is required for the secured etcd tests (scripts/test installs it)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Adds the users and roles, then turns authentication on (etcd's v3 auth API, as `etcdctl` would).
    fn enable_auth(&mut self) {
        let all_keys = "AA=="; // "\0" as key and range end: every key
        let user = self.secured().user;
        let password = self.secured().password;
        let steps = [
            ("/v3/auth/role/add", r#"{"name":"root"}"#.to_owned()),
            (
                "/v3/auth/user/add",
                format!(r#"{{"name":"root","password":"{ROOT_PASSWORD}"}}"#),
            ),
            ("/v3/auth/user/grant", r#"{"user":"root","role":"root"}"#.to_owned()),
            ("/v3/auth/role/add", format!(r#"{{"name":"{user}"}}"#)),
            (
                "/v3/auth/role/grant",
                format!(
                    r#"{{"name":"{user}","perm":{{"permType":"READWRITE","key":"{all_keys}","range_end":"{all_keys}"}}}}"#
                ),
            ),
            (
                "/v3/auth/user/add",
                format!(r#"{{"name":"{user}","password":"{password}"}}"#),
            ),
            ("/v3/auth/user/grant", format!(r#"{{"user":"{user}","role":"{user}"}}"#)),
            ("/v3/auth/enable", "{}".to_owned()),
        ];
        for (path, body) in steps {
            let answer = self.curl(0, "POST", path, Some(&body));
            assert!(answer.contains("\"header\""), "etcd {path}: {answer}");
        }
    }
}

/// Makes a CA, a certificate for the members (127.0.0.1; server and client use, since etcd's own gateway
/// connects to its gRPC side with it), and a client certificate, with `openssl`.
fn make_certificates(dir: &std::path::Path) -> Secured {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is required for the secured etcd tests (scripts/test installs it)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        &[
            &["req", "-x509"],
            &key[..],
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=zos test CA",
            ],
        ]
        .concat(),
    );
    for (name, usage, san) in [
        (
            "member",
            "serverAuth,clientAuth",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        ),
        ("client", "clientAuth", ""),
    ] {
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("{san}extendedKeyUsage={usage}\n"),
        )
        .unwrap();
        let (key_file, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        // No CN for the client: with authentication on, etcd's gateway refuses a client certificate that has one.
        let subject = if name == "client" {
            "/O=zos test client".to_owned()
        } else {
            format!("/CN={name}")
        };
        openssl(
            &[
                &["req"],
                &key[..],
                &["-keyout", &key_file, "-out", &csr, "-subj", &subject],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            &ext,
        ]);
    }
    Secured {
        ca: dir.join("ca.pem"),
        cert: dir.join("client.pem"),
        key: dir.join("client.key"),
        user: "zos",
        password: "zos-test-password",
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
