//! NBD servers on the emulated node. When a container of 0-disk's flist is asked to run `nbdserver`, the
//! emulator serves the vdisks itself, in-process, with this program's own NBD server (`crate::nbd`): on a unix
//! socket at the asked path under the container's root folder (a real host folder, so the host's NBD clients
//! reach it), the vdisks and their engines read from the container's config file at each negotiation, as the real
//! server reads its config. Nothing is executed on the host. It lives as long as its job.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio::sync::Notify;

use super::wire::Outcome;
use crate::nbd::Exports;
use crate::zos::protocol::State;

/// The flist of NBD server containers (0-disk's).
pub const NBD_FLIST: &str = "0-disk-master.flist";
const PROGRAM: &str = "nbdserver";

/// Whether `name` run in a container created with `created` (its `corex.create` arguments) is an NBD server.
pub fn is_nbd_server(name: &str, created: &serde_json::Value) -> bool {
    let root = created["root"].as_str().unwrap_or_default();
    name.rsplit('/').next() == Some(PROGRAM) && root.rsplit('/').next() == Some(NBD_FLIST)
}

/// What the server was started with: `--id ID --address unix:PATH --config PATH` (paths inside the container).
#[derive(Debug, PartialEq)]
pub struct Invocation {
    pub id: String,
    pub socket: String,
    pub config: String,
}

pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .cloned()
            .ok_or_else(|| format!("nbdserver: {flag} is required"))
    };
    let address = value("--address")?;
    let socket = address
        .strip_prefix("unix:")
        .filter(|path| path.starts_with('/'))
        .ok_or_else(|| format!("nbdserver: --address '{address}': an emulated node serves on unix:/PATH only"))?;
    Ok(Invocation {
        id: value("--id")?,
        socket: socket.to_owned(),
        config: value("--config")?,
    })
}

/// Binds the socket `socket` of the container whose root is the host folder `root`, before the job is reported
/// started, so a client may connect as soon as the node lists the job.
pub fn bind(root: &Path, socket: &str) -> Result<(UnixListener, PathBuf), String> {
    let path = root.join(socket.trim_start_matches('/'));
    if path.components().any(|c| c == std::path::Component::ParentDir) {
        return Err(format!("{socket}: '..' is not allowed"));
    }
    let made = path.parent().map_or(Ok(()), std::fs::create_dir_all);
    // A socket left by an earlier server of the same container would make the bind fail.
    let _ = std::fs::remove_file(&path);
    let listener = made
        .and_then(|()| std::os::unix::net::UnixListener::bind(&path))
        .and_then(|listener| {
            listener.set_nonblocking(true)?;
            UnixListener::from_std(listener)
        })
        .map_err(|err| format!("listen on {socket}: {err}"))?;
    Ok((listener, path))
}

/// Serves until `kill` (the job's end), then takes the socket away.
pub async fn serve(listener: UnixListener, path: PathBuf, exports: Exports, id: String, kill: Arc<Notify>) -> Outcome {
    let outcome = tokio::select! {
        result = crate::nbd::serve_unix(listener, Arc::new(exports), id) => match result {
            Ok(()) => Outcome::failed(State::Error, "the NBD server stopped"),
            Err(err) => Outcome::failed(State::Error, &format!("the NBD server stopped: {err}")),
        },
        () = kill.notified() => Outcome::failed(State::Killed, "killed"),
    };
    let _ = std::fs::remove_file(&path);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invocation_names_the_socket_and_config_inside_the_container() {
        let args: Vec<String> = [
            "--id",
            "vm1",
            "--address",
            "unix:/server.socket.vm1",
            "--config",
            "/nbd.toml",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            parse(&args).unwrap(),
            Invocation {
                id: "vm1".into(),
                socket: "/server.socket.vm1".into(),
                config: "/nbd.toml".into()
            }
        );
        assert!(parse(&args[..4]).is_err());
        let mut tcp = args.clone();
        tcp[3] = "tcp:127.0.0.1:1".into();
        assert!(parse(&tcp).is_err());
        assert!(is_nbd_server(
            "/bin/nbdserver",
            &serde_json::json!({"root": "https://hub/0-disk-master.flist"})
        ));
        assert!(!is_nbd_server(
            "/bin/nbdserver",
            &serde_json::json!({"root": "https://hub/ubuntu-18.04.flist"})
        ));
    }
}
