//! Storage engines on the emulated node: the one program an emulated node runs for real. When a container of the
//! storage engine's flist is asked to run `ardb-server` with its config, a real `redis-server` (RESP, like ARDB,
//! and what 0-disk's own tests used) starts on the host, bound to loopback on the config's port, with its data in
//! a host folder that stands for the emulated filesystem mounted at the config's `home`. It lives as long as its
//! job: `job.kill`, the container's end, the emulator's end (also a SIGKILL of it: the kernel's parent-death
//! signal) stop it. Nothing else an emulated node is asked to run is ever executed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::wire::Outcome;
use crate::zos::protocol::State;

/// The flist whose containers run storage engines (0-orchestrator's ARDB on rocksdb).
pub const ENGINE_FLIST: &str = "ardb-rocksdb.flist";
/// The program 0-orchestrator runs in them.
const ENGINE_PROGRAM: &str = "ardb-server";

/// The host folder of this process's emulated node `node`. Folders left by emulators that are gone (killed
/// outright, with no chance to clean up) are removed first, so test runs do not pile them up.
pub fn node_folder(node: &str) -> PathBuf {
    let temp = std::env::temp_dir();
    for entry in std::fs::read_dir(&temp).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let owner = name
            .to_str()
            .and_then(|name| name.strip_prefix("zos-sim-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = owner
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    temp.join(format!("zos-sim-{}-{node}", std::process::id()))
}

/// Where an engine listens and keeps its data, read from its config.
#[derive(Debug, PartialEq)]
pub struct EngineConfig {
    pub port: u16,
    /// Inside the container.
    pub home: String,
}

/// Whether `name` run in a container created with `arguments` is a storage engine.
pub fn is_engine(name: &str, arguments: &Value) -> bool {
    let root = arguments["root"].as_str().unwrap_or_default();
    name.rsplit('/').next() == Some(ENGINE_PROGRAM) && root.rsplit('/').next() == Some(ENGINE_FLIST)
}

/// ARDB's config lines that matter here: `home <dir>` and `server[0].listen <addr>:<port>`.
pub fn parse_config(text: &str) -> Result<EngineConfig, String> {
    let value = |key: &str| {
        text.lines()
            .filter_map(|line| line.trim().split_once(char::is_whitespace))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim().to_owned())
    };
    let listen = value("server[0].listen").ok_or("the config has no server[0].listen")?;
    let port = listen
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .ok_or_else(|| format!("server[0].listen '{listen}' has no port"))?;
    // The host's own services live below 1024: an emulated engine never takes one of their ports.
    if port < 1024 {
        return Err(format!(
            "server[0].listen '{listen}': ports below 1024 are refused on an emulated node"
        ));
    }
    let home = value("home").ok_or("the config has no home")?;
    Ok(EngineConfig { port, home })
}

/// The host folder standing for `home` in a container created with `arguments` (its `mount` map: node path →
/// container path), under the emulated node's folder `root`.
pub fn host_folder(root: &Path, arguments: &Value, home: &str) -> Result<PathBuf, String> {
    let mounts = arguments["mount"].as_object().into_iter().flatten();
    let (source, target) = mounts
        .filter_map(|(source, target)| Some((source, target.as_str()?)))
        .find(|(_, target)| home == *target || home.starts_with(&format!("{target}/")))
        .ok_or_else(|| format!("{home} is not on a mounted filesystem"))?;
    let below = home[target.len()..].trim_start_matches('/');
    let path = root.join(source.trim_start_matches('/')).join(below);
    if path.components().any(|c| c == std::path::Component::ParentDir) {
        return Err(format!("{home}: '..' is not allowed"));
    }
    Ok(path)
}

/// Starts the real engine for `config`, its data in `folder`.
pub fn spawn(config: &EngineConfig, folder: &Path) -> std::io::Result<tokio::process::Child> {
    std::fs::create_dir_all(folder)?;
    let mut command = tokio::process::Command::new("redis-server");
    command
        .args(["--bind", "127.0.0.1", "--port", &config.port.to_string()])
        .arg("--dir")
        .arg(folder)
        .args(["--appendonly", "yes", "--save", "", "--daemonize", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    // SAFETY: between fork and exec the closure only calls prctl(2), which is async-signal-safe. It makes the
    // kernel SIGKILL the engine when the emulator dies, however it dies (tokio's worker thread that spawns it
    // lives as long as the runtime), so no engine outlives its node.
    unsafe {
        command.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
    command.spawn()
}

/// Waits for the engine `child` to exit, or stops it at `kill`: the work of its job (see `Jobs::track`).
pub async fn follow(mut child: tokio::process::Child, kill: Arc<Notify>) -> Outcome {
    let exited = tokio::select! {
        status = child.wait() => status,
        () = kill.notified() => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Outcome::failed(State::Killed, "killed");
        }
    };
    match exited {
        Ok(status) => Outcome::failed(State::Error, &format!("the engine exited ({status})")),
        Err(err) => Outcome::error(&format!("the engine cannot be waited for: {err}")),
    }
}

/// `info.port`: the TCP ports listening on this machine's loopback and wildcard addresses (`/proc/net/tcp*`,
/// read, not run). Emulated nodes share the host's loopback, so each one sees the ports the others' engines took.
pub fn listening_ports() -> Value {
    let mut ports: Vec<Value> = Vec::new();
    for (file, network) in [("/proc/net/tcp", "tcp"), ("/proc/net/tcp6", "tcp6")] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // `sl local_address rem_address st …`; st 0A is LISTEN.
            if fields.len() > 3
                && fields[3] == "0A"
                && let Some(port) = fields[1]
                    .rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            {
                ports.push(json!({"network": network, "port": port, "ip": "", "pid": 0}));
            }
        }
    }
    Value::Array(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_gives_the_port_and_home_and_home_maps_to_the_filesystem_folder() {
        let config = parse_config("home /mnt/data\nserver[0].listen 10.0.0.1:2001\n").unwrap();
        assert_eq!(
            config,
            EngineConfig {
                port: 2001,
                home: "/mnt/data".into()
            }
        );
        assert!(parse_config("home /mnt/data\n").is_err());
        assert!(parse_config("home /mnt/data\nserver[0].listen 0.0.0.0:22\n").is_err());
        let arguments = json!({"mount": {"/storage/p/filesystems/f": "/mnt/data"}});
        assert_eq!(
            host_folder(Path::new("/sim"), &arguments, "/mnt/data").unwrap(),
            Path::new("/sim/storage/p/filesystems/f")
        );
        assert!(host_folder(Path::new("/sim"), &arguments, "/var/lib").is_err());
        assert!(is_engine(
            "/bin/ardb-server",
            &json!({"root": "https://hub/ardb-rocksdb.flist"})
        ));
        assert!(!is_engine(
            "/bin/ardb-server",
            &json!({"root": "https://hub/ubuntu-18.04.flist"})
        ));
    }
}
