//! The 0-core client: how the orchestrator talks to a Zero-OS node.
//!
//! A command is a JSON object pushed onto the node's `core:default` list; the node answers by pushing one JSON
//! result onto `result:<id>`, which we read without consuming it (`BRPOPLPUSH` onto itself). Waiting blocks a
//! Redis connection, so each call takes its own connection from a small per-node pool. Every call has a
//! deadline: a node that never answers costs at most that, never a hang.
//!
//! The raw calls (a command named by a string) stay private to this module: the rest of the orchestrator sends
//! the typed commands of [`commands`], so every command it sends, with its arguments, is written there once.

pub mod commands;
mod connection;
mod output;
pub mod protocol;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngCore;
use serde::de::DeserializeOwned;
use serde_json::Value;

use connection::Connection;
pub use output::{JobStatus, OutputEvent};
use protocol::{COMMAND_QUEUE, Command, JobResult, LEVEL_JSON, State};

/// 0-core's Redis port, for node addresses given without one.
pub const DEFAULT_PORT: u16 = 6379;

/// One client per node address, so connections are reused across API calls.
pub struct Clients {
    by_address: Mutex<HashMap<String, Arc<ZosClient>>>,
    deadline: Duration,
}

impl Clients {
    pub fn new(deadline: Duration) -> Clients {
        Clients {
            by_address: Mutex::default(),
            deadline,
        }
    }

    /// The client for a node's `address` (`host` or `host:port`).
    pub fn get(&self, address: &str) -> Result<Arc<ZosClient>, ZosError> {
        let has_port = address.parse::<std::net::SocketAddr>().is_ok()
            || (address.parse::<std::net::IpAddr>().is_err() && address.contains(':'));
        let address = if has_port {
            address.to_owned()
        } else {
            format!("{address}:{DEFAULT_PORT}")
        };
        let mut clients = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&address) {
            return Ok(client.clone());
        }
        let client = Arc::new(ZosClient::new(&address, None, self.deadline)?);
        clients.insert(address, client.clone());
        Ok(client)
    }
}

/// Idle connections kept per node.
const POOL_SIZE: usize = 4;
/// Longest single blocking read, in seconds; the reference client reads in slices of at most 10 s.
const READ_SLICE_SECONDS: &[u8] = b"10";

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ZosError {
    #[error("node unreachable: {0}")]
    Unreachable(String),
    #[error("node refused the password: {0}")]
    AuthRefused(String),
    #[error("node did not answer within {0:?}")]
    Timeout(Duration),
    #[error("node answered {state:?} (code {code}): {message}")]
    Command { state: State, code: u32, message: String },
    #[error("node answered something that is not 0-core's protocol: {0}")]
    Protocol(String),
}

/// A client for one node.
pub struct ZosClient {
    address: String,
    password: Option<String>,
    idle: Mutex<Vec<Connection>>,
    deadline: Duration,
}

impl ZosClient {
    /// `address` is `host:port`; `password` is the node's AUTH secret, if it wants one. Nothing is sent until
    /// the first call.
    pub fn new(address: &str, password: Option<&str>, deadline: Duration) -> Result<ZosClient, ZosError> {
        let (host, port) = address
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.trim_matches(['[', ']']), port.parse::<u16>().ok()?)))
            .ok_or_else(|| ZosError::Unreachable(format!("'{address}' is not host:port")))?;
        let address = match host.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("[{host}]:{port}"),
            Err(_) => format!("{host}:{port}"),
        };
        Ok(ZosClient {
            address,
            password: password.map(str::to_owned),
            idle: Mutex::new(Vec::new()),
            deadline,
        })
    }

    async fn connection(&self) -> Result<Connection, ZosError> {
        if let Some(connection) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(connection);
        }
        Connection::open(&self.address, self.password.as_deref(), self.deadline).await
    }

    fn release(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if connection.is_clean() && idle.len() < POOL_SIZE {
            idle.push(connection);
        }
    }

    /// Runs `command` on the node and returns its result, whatever its state.
    async fn run(&self, command: &str, arguments: Value) -> Result<JobResult, ZosError> {
        self.run_tagged(command, arguments, None).await
    }

    /// `run`, with tags the node keeps with the job (and, for `corex.create`, with the container).
    async fn run_tagged(
        &self,
        command: &str,
        arguments: Value,
        tags: Option<Vec<String>>,
    ) -> Result<JobResult, ZosError> {
        tokio::time::timeout(self.deadline, async {
            let id = self.start(command, arguments, false, tags).await?;
            self.read_result(&id).await
        })
        .await
        .map_err(|_| ZosError::Timeout(self.deadline))?
    }

    /// Queues `command` and returns its job id at once; with `stream`, the node pushes its output to
    /// `stream:<id>` (see [`ZosClient::output`]). Streamed jobs run as long as they take; others get the deadline.
    async fn start(
        &self,
        command: &str,
        arguments: Value,
        stream: bool,
        tags: Option<Vec<String>>,
    ) -> Result<String, ZosError> {
        let command = self.command(command, arguments, stream, tags);
        let payload = serde_json::to_string(&command).map_err(|err| ZosError::Protocol(err.to_string()))?;
        tokio::time::timeout(self.deadline, async {
            let mut connection = self.connection().await?;
            let queue = [b"RPUSH", COMMAND_QUEUE.as_bytes(), payload.as_bytes()];
            connection.call(&queue).await?.integer()?;
            self.release(connection);
            Ok(command.id)
        })
        .await
        .map_err(|_| ZosError::Timeout(self.deadline))?
    }

    fn command(&self, command: &str, arguments: Value, stream: bool, tags: Option<Vec<String>>) -> Command {
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        Command {
            id: hex::encode(id),
            command: command.to_owned(),
            arguments,
            queue: None,
            max_time: (!stream).then(|| self.deadline.as_secs().max(1)),
            stream,
            tags,
        }
    }

    /// Waits for job `id`'s result (no deadline of its own: callers bound it).
    async fn read_result(&self, id: &str) -> Result<JobResult, ZosError> {
        let result_key = protocol::result_key(id);
        // A connection is only returned to the pool after a complete exchange: one abandoned mid-wait (deadline)
        // may still have a blocking read outstanding, and is dropped instead.
        let mut connection = self.connection().await?;
        let key = result_key.as_bytes();
        let raw = loop {
            let read = [&b"BRPOPLPUSH"[..], key, key, READ_SLICE_SECONDS];
            if let Some(raw) = connection.call(&read).await?.optional_text()? {
                break raw;
            }
        };
        self.release(connection);
        let result: JobResult = serde_json::from_str(&raw)
            .map_err(|err| ZosError::Protocol(format!("result is not a 0-core result: {err}")))?;
        if result.id != id {
            return Err(ZosError::Protocol(format!(
                "result for job {} arrived for job {id}",
                result.id
            )));
        }
        Ok(result)
    }

    /// Runs `command` and decodes its JSON data; any state but SUCCESS is an error.
    async fn json<T: DeserializeOwned>(&self, command: &str, arguments: Value) -> Result<T, ZosError> {
        decode(command, self.run(command, arguments).await?)
    }

    /// Runs `command` for what it does: its answer is checked like [`ZosClient::json`]'s, then dropped.
    async fn call(&self, command: &str, arguments: Value) -> Result<(), ZosError> {
        self.json::<Value>(command, arguments).await.map(drop)
    }
}

/// A result's JSON data; any state but SUCCESS is an error.
fn decode<T: DeserializeOwned>(command: &str, result: JobResult) -> Result<T, ZosError> {
    if result.state != State::Success {
        return Err(ZosError::Command {
            state: result.state,
            code: result.code,
            message: result.data,
        });
    }
    if result.level != LEVEL_JSON {
        return Err(ZosError::Protocol(format!(
            "{command} answered level {}, not JSON",
            result.level
        )));
    }
    serde_json::from_str(&result.data).map_err(|err| ZosError::Protocol(format!("{command}: {err}")))
}
