//! Typed 0-core commands, one file per command family (ZOS-REFERENCE §3, Commands); this module is the `core.*`
//! family. These files are the only place outside the emulator that spells a command's name or its argument
//! fields: the API and the engine call these methods, so two callers of one command cannot drift apart. Answers
//! the orchestrator reads are typed; answers it passes on as the node sent them (hardware, processes, domains,
//! networks) stay `serde_json::Value`. Unknown fields are ignored, so newer nodes with more fields still parse.
//!
//! 0-core answers some families both on the node and inside a container (`core`, `job`, `process`, `info`,
//! `filesystem`): those are methods of [`Core`], which says where they run. The other families exist on the node
//! only and are methods of [`ZosClient`].

mod bridge;
mod btrfs;
mod corex;
mod disk;
mod filesystem;
mod gateway;
mod info;
mod job;
mod kvm;
mod process;
mod zerotier;

pub use gateway::GatewayService;
pub use info::Info;
pub use job::JobInfo;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::{ZosClient, ZosError};

/// The command every process runs under; a job known to run but without a result yet is shown with this name.
pub const SYSTEM: &str = "core.system";

/// Signals for `job.kill` and `process.kill`, which 0-core hands to kill(2) as they are.
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;

/// A 0-core to run commands on: the node's own, or the one inside a container (reached through `corex.dispatch`).
#[derive(Clone, Copy)]
pub struct Core<'a> {
    client: &'a ZosClient,
    container: Option<u64>,
}

impl ZosClient {
    /// The node's own 0-core.
    pub fn node(&self) -> Core<'_> {
        Core {
            client: self,
            container: None,
        }
    }

    /// The 0-core inside container `container` (0-core's id of it).
    pub fn inside(&self, container: u64) -> Core<'_> {
        Core {
            client: self,
            container: Some(container),
        }
    }

    /// `core.reboot`: the node restarts (a container has nothing to reboot).
    pub async fn reboot(&self) -> Result<(), ZosError> {
        self.call("core.reboot", json!({})).await
    }
}

/// The entry of a listing whose `field` is `value`.
fn find(listed: Vec<Value>, field: &str, value: &str) -> Option<Value> {
    listed.into_iter().find(|entry| entry[field] == value)
}

/// A process for `core.system`, as 0-orchestrator describes one.
pub struct System<'a> {
    pub name: &'a str,
    pub args: &'a [String],
    /// The working directory (0-core's `dir`).
    pub dir: Option<&'a str>,
    /// `KEY=VALUE` entries, as 0-orchestrator takes them; 0-core wants a map (entries without `=` are skipped).
    pub environment: &'a [String],
    pub stdin: Option<&'a str>,
}

impl<'a> System<'a> {
    /// `name` with `args`, in the default directory, with no environment and no stdin: how the engine runs the
    /// programs it owns.
    pub fn program(name: &'a str, args: &'a [String]) -> Self {
        System {
            name,
            args,
            dir: None,
            environment: &[],
            stdin: None,
        }
    }

    /// `core.system`'s arguments.
    fn arguments(&self) -> Value {
        let env: Map<String, Value> = self
            .environment
            .iter()
            .filter_map(|entry| entry.split_once('='))
            .map(|(key, value)| (key.to_owned(), json!(value)))
            .collect();
        json!({"name": self.name, "args": self.args, "dir": self.dir, "env": env, "stdin": self.stdin})
    }
}

impl Core<'_> {
    /// Runs `command` here and decodes its JSON answer; any state but SUCCESS is an error.
    async fn json<T: DeserializeOwned>(&self, command: &str, arguments: Value) -> Result<T, ZosError> {
        match self.container {
            None => self.client.json(command, arguments).await,
            Some(container) => self.client.json_in(container, command, arguments).await,
        }
    }

    /// Runs `command` here for what it does: its answer is checked like [`Core::json`]'s, then dropped.
    async fn call(&self, command: &str, arguments: Value) -> Result<(), ZosError> {
        self.json::<Value>(command, arguments).await.map(drop)
    }

    /// Queues `command` here and returns its job id at once (with `stream`, its output goes to `stream:<id>`).
    async fn start(&self, command: &str, arguments: Value, stream: bool) -> Result<String, ZosError> {
        match self.container {
            None => self.client.start(command, arguments, stream, None).await,
            Some(container) => self.client.dispatch(container, None, command, arguments, stream).await,
        }
    }

    /// `core.ping`: 0-core answers "pong".
    pub async fn ping(&self) -> Result<String, ZosError> {
        self.json("core.ping", json!({})).await
    }

    /// `core.system`: starts `process` and returns its job id (with `stream`, its output can be followed from
    /// the first line; see [`ZosClient::output`]).
    pub async fn system(&self, process: &System<'_>, stream: bool) -> Result<String, ZosError> {
        self.start(SYSTEM, process.arguments(), stream).await
    }

    /// `core.subscribe`: a new stream for job `job`, which runs already; returns the id to follow.
    pub async fn subscribe(&self, job: &str) -> Result<String, ZosError> {
        self.start("core.subscribe", json!({"id": job}), true).await
    }
}
