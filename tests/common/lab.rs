//! A network of our own for DHCP tests: two network namespaces made with iproute2, so broadcasts, port 67 and
//! VMs' taps stay off the host's network.
//!
//! ```text
//!   site namespace                         lan namespace
//!   site0 10.77.0.2/24  ── veth ──  up0 ── br0 10.77.0.1/24 ── tap0, tap1 … (VMs)
//!   (dnsmasq; the test)                     (the server under test, qemu)
//! ```
//!
//! The site's DHCP server and the test itself sit in `site`, as other machines on the LAN would; the server runs
//! in `lan` on the bridge. The test's own thread moves into `site` (setns), so its HTTP requests and DHCP
//! packets cross the veth like anyone else's. Names are unique per run; everything is removed on drop.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{BIN, Server};

/// The server's address on the bridge, and the site machine's.
pub const SERVER_IP: &str = "10.77.0.1";
pub const SITE_IP: &str = "10.77.0.2";
pub const BRIDGE: &str = "br0";

pub struct Lab {
    pub lan: String,
    pub site: String,
    /// An HTTP client made inside `site` (a client's connections are opened by its own thread, which is
    /// created in the namespace of the thread that builds the client).
    pub http: reqwest::blocking::Client,
    _namespaces: Namespaces,
}

/// Namespaces made so far, removed on drop (also when setting up the rest fails). Removing a namespace's name
/// destroys it, and the interfaces in it, once no process is left inside: the tests' process guards are dropped
/// before the lab.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for namespace in &self.0 {
            let _ = Command::new("ip")
                .args(["netns", "delete", namespace])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `ip ARGS`, failing the test with its stderr.
pub fn ip(args: &[&str]) {
    let mut command = Command::new(super::required_tool("ZOS_TEST_IP", "ip"));
    super::run_ok(command.args(args), &format!("ip {}", args.join(" ")));
}

impl Lab {
    /// Makes both namespaces and the wiring, and moves the calling thread into `site`.
    pub fn new() -> Lab {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let id = format!("{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
        let (lan, site) = (format!("zos-lan-{id}"), format!("zos-site-{id}"));
        let mut namespaces = Namespaces(Vec::new());
        for namespace in [&lan, &site] {
            ip(&["netns", "add", namespace]);
            namespaces.0.push(namespace.clone());
        }
        for step in [
            vec!["-n", &lan, "link", "set", "lo", "up"],
            vec!["-n", &lan, "link", "add", BRIDGE, "type", "bridge"],
            vec!["-n", &lan, "addr", "add", "10.77.0.1/24", "dev", BRIDGE],
            vec!["-n", &lan, "link", "set", BRIDGE, "up"],
            vec![
                "-n", &lan, "link", "add", "up0", "type", "veth", "peer", "name", "site0", "netns", &site,
            ],
            vec!["-n", &lan, "link", "set", "up0", "master", BRIDGE],
            vec!["-n", &lan, "link", "set", "up0", "up"],
            vec!["-n", &site, "link", "set", "lo", "up"],
            vec!["-n", &site, "addr", "add", "10.77.0.2/24", "dev", "site0"],
            vec!["-n", &site, "link", "set", "site0", "up"],
        ] {
            ip(&step);
        }
        enter(&site);
        let http = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("http client");
        Lab {
            lan,
            site,
            http,
            _namespaces: namespaces,
        }
    }

    /// `program` run inside `namespace` (`ip netns exec` execs it, so the child's pid is the program's).
    pub fn command(namespace: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", namespace]).arg(program);
        command
    }

    /// A tap on the bridge, for a VM.
    pub fn add_tap(&self, tap: &str) {
        ip(&["-n", &self.lan, "tuntap", "add", "dev", tap, "mode", "tap"]);
        ip(&["-n", &self.lan, "link", "set", tap, "master", BRIDGE]);
        ip(&["-n", &self.lan, "link", "set", tap, "up"]);
    }

    /// The server in `lan`, listening on every address there (HTTP on a free port, TFTP on 69) with `extra`
    /// arguments; its base URL and HTTP client are the ones the site side uses.
    pub fn server(&self, data_dir: &Path, extra: &[&str]) -> Server {
        let mut command = Lab::command(&self.lan, BIN);
        command
            .args(["serve", "--listen", "0.0.0.0:0", "--tftp-listen", "0.0.0.0:69"])
            .args(extra);
        let mut server = Server::spawn(command, data_dir);
        let port = server.base.rsplit(':').next().expect("a port").to_owned();
        server.base = format!("http://{SERVER_IP}:{port}");
        server.http = self.http.clone();
        server
    }
}

/// Moves the calling thread (only it: network namespaces are per thread) into `namespace`.
fn enter(namespace: &str) {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/run/netns/{namespace}")).expect("open the namespace");
    // SAFETY: setns takes a valid descriptor, kept open for the call; it changes only this thread's namespace.
    let done = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(done, 0, "setns {namespace}: {}", std::io::Error::last_os_error());
}
