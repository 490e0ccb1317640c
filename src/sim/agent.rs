//! The emulated 0-core: takes commands off `core:default`, answers them from the inventory, and writes the flag
//! and result keys exactly as 0-core does. The transport is a trait so the same agent runs on the emulator's own
//! keyspace and, in tests, on a real redis-server: whatever the emulator does on the wire, real Redis does too.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};

use super::containers::Containers;
use super::engines;
use super::files::Files;
use super::gateway;
use super::inventory::Inventory;
use super::jobs::{Jobs, epoch_ms};
use super::kvm::Kvm;
use super::nbd_servers;
use super::network::Networks;
use super::storage::Storage;
use super::wire::{Lists, Outcome};
use crate::nbd::{Exports, Source};
use crate::zos::protocol::{self, Command, JobResult, State};

pub struct Agent {
    pub inventory: Mutex<Inventory>,
    jobs: Jobs,
    containers: Containers,
    storage: Storage,
    networks: Networks,
    kvm: Kvm,
    files: Files,
    /// The host folder standing for the node's filesystems (what its storage engines keep).
    folder: std::path::PathBuf,
}

impl Agent {
    pub fn new(inventory: Inventory) -> Agent {
        let folder = engines::node_folder(&inventory.node_id());
        let agent = Agent {
            jobs: Jobs::default(),
            containers: Containers::new(folder.clone()),
            storage: Storage::default(),
            networks: Networks::default(),
            kvm: Kvm::default(),
            files: Files::default(),
            folder,
            inventory: Mutex::new(inventory),
        };
        agent.boot();
        agent
    }

    fn inventory(&self) -> Inventory {
        self.inventory.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The state right after boot.
    fn boot(&self) {
        self.jobs.boot(self.inventory().booted_at * 1000);
    }

    /// Runs one command for the node itself (container 0) or inside a container.
    pub async fn execute<L: Lists>(self: &Arc<Self>, lists: &Arc<L>, command: &Command, container: u64) -> Outcome {
        let inventory = self.inventory();
        let cpu = |n: u32| inventory.cpu_percent(n) / 20.0;
        let arguments = &command.arguments;
        if let Some(outcome) = self.files.execute(&command.command, arguments, container) {
            return outcome;
        }
        if command.command == "core.system"
            && let Some(program) = self.gateway_program(container, arguments)
        {
            return self
                .jobs
                .run(&**lists, &command.id, container, program, command.stream)
                .await;
        }
        if container == 0 {
            let name = command.command.as_str();
            let handled = (self.storage.execute(name, arguments, &inventory))
                .or_else(|| self.networks.execute(name, arguments, &inventory))
                .or_else(|| self.kvm.execute(name, arguments, &inventory));
            if let Some(outcome) = handled {
                self.forget_folder(name, arguments, &outcome);
                return outcome;
            }
        }
        match command.command.as_str() {
            "core.ping" => Outcome::json(json!("pong")),
            "info.cpu" => Outcome::json(inventory.cpu_info()),
            "info.mem" => Outcome::json(inventory.mem_info()),
            "info.disk" => {
                let mut mounts = inventory.partitions();
                if container == 0
                    && let Some(list) = mounts.as_array_mut()
                {
                    list.extend(self.storage.mounts());
                }
                Outcome::json(mounts)
            }
            "disk.list" => Outcome::json(inventory.disk_list()),
            "info.nic" => Outcome::json(inventory.nic_info()),
            "info.os" => Outcome::json(inventory.os_info()),
            "aggregator.query" => Outcome::json(inventory.stats()),
            "core.state" => {
                Outcome::json(json!({"cpu": cpu(1), "rss": 48_000_000u64, "vms": 210_000_000u64, "swap": 0}))
            }
            "info.version" => Outcome::json(json!({"branch": "emulated", "revision": "0", "dirty": false})),
            "job.list" => Outcome::json(self.jobs.list(container, cpu(1) * 2.0)),
            "job.kill" => self.jobs.kill(container, arguments["id"].as_str().unwrap_or_default()),
            "process.list" => Outcome::json(self.jobs.processes(container, cpu)),
            "process.kill" => self
                .jobs
                .kill_process(container, arguments["pid"].as_u64().unwrap_or_default() as u32),
            "info.port" => Outcome::json(engines::listening_ports()),
            "core.system" if self.runs_engine(container, arguments) => {
                self.run_engine(&command.id, container, arguments).await
            }
            "core.system" if self.runs_nbd_server(container, arguments) => {
                self.run_nbd_server(&command.id, container, arguments).await
            }
            "core.system" => {
                self.jobs
                    .system(&**lists, &command.id, container, arguments, command.stream)
                    .await
            }
            "core.subscribe" => self.jobs.subscribe(&command.id, container, arguments).await,
            "corex.create" if container == 0 => {
                self.containers
                    .create(&self.jobs, arguments, command.tags.as_ref())
                    .await
            }
            "corex.list" if container == 0 => Outcome::json(self.containers.list(None)),
            "corex.find" if container == 0 => Outcome::json(self.containers.list(Some(&arguments["tags"]))),
            "corex.nic-add" | "corex.nic-remove" if container == 0 => self.containers.nic(&command.command, arguments),
            "corex.terminate" if container == 0 => {
                self.files
                    .clear_container(arguments["container"].as_u64().unwrap_or_default());
                self.containers.terminate(&self.jobs, arguments)
            }
            protocol::DISPATCH if container == 0 => self.dispatch(lists, arguments),
            "core.reboot" if container == 0 => {
                self.inventory.lock().unwrap_or_else(|p| p.into_inner()).booted_at = epoch_ms() / 1000;
                self.boot();
                Outcome::json(Value::Null)
            }
            other => Outcome::failed(State::UnknownCmd, &format!("unknown command: {other}")),
        }
    }
}

impl Agent {
    /// Whether `core.system` with `arguments` in `container` asks for a storage engine (see `engines`).
    fn runs_engine(&self, container: u64, arguments: &Value) -> bool {
        container != 0
            && self
                .containers
                .arguments(container)
                .is_some_and(|created| engines::is_engine(arguments["name"].as_str().unwrap_or_default(), &created))
    }

    /// Whether `core.system` with `arguments` in `container` asks for an NBD server (see `nbd_servers`).
    fn runs_nbd_server(&self, container: u64, arguments: &Value) -> bool {
        let name = arguments["name"].as_str().unwrap_or_default();
        container != 0
            && (self.containers.arguments(container)).is_some_and(|created| nbd_servers::is_nbd_server(name, &created))
    }

    /// Serves the vdisks of the container's config file in-process, as a job, until the job is killed.
    async fn run_nbd_server(self: &Arc<Self>, id: &str, container: u64, arguments: &Value) -> Outcome {
        let args: Vec<String> = (arguments["args"].as_array().into_iter().flatten())
            .filter_map(|arg| arg.as_str().map(str::to_owned))
            .collect();
        let started = nbd_servers::parse(&args).and_then(|invocation| {
            let bound = nbd_servers::bind(&self.containers.root(container), &invocation.socket)?;
            Ok((invocation, bound))
        });
        let (invocation, (listener, path)) = match started {
            Ok(started) => started,
            Err(message) => return Outcome::error(&message),
        };
        let agent = Arc::downgrade(self);
        let config = invocation.config.clone();
        let read = move || {
            let content = agent
                .upgrade()
                .and_then(|agent| agent.files.content(container, &config));
            let text = content.ok_or_else(|| format!("open {config}: no such file or directory"))?;
            String::from_utf8(text).map_err(|err| err.to_string())
        };
        let exports = Exports::new(Source::Text(Box::new(read)));
        let cmdline = format!("/bin/nbdserver {}", args.join(" "));
        let work = |kill| nbd_servers::serve(listener, path, exports, invocation.id, kill);
        self.jobs.track(id, container, cmdline, 0, work).await
    }

    /// The gateway flist's program that `core.system` with `arguments` asks for in `container`, if it is one
    /// (see `gateway`): it reads the container's files.
    fn gateway_program(&self, container: u64, arguments: &Value) -> Option<super::programs::Program> {
        let name = arguments["name"].as_str()?;
        if container == 0 || !gateway::is_gateway_program(name, &self.containers.arguments(container)?) {
            return None;
        }
        let args: Vec<String> = arguments["args"]
            .as_array()?
            .iter()
            .filter_map(|arg| arg.as_str().map(str::to_owned))
            .collect();
        let read = |path: &str| {
            self.files
                .content(container, path)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        };
        Some(gateway::program(name, &args, read))
    }

    /// Runs the real storage engine the container's config file (the first argument) describes, as a job.
    async fn run_engine(&self, id: &str, container: u64, arguments: &Value) -> Outcome {
        let path = arguments["args"][0].as_str().unwrap_or_default();
        let Some(text) = self.files.content(container, path) else {
            return Outcome::error(&format!("open {path}: no such file or directory"));
        };
        let created = self.containers.arguments(container).unwrap_or_default();
        let started = engines::parse_config(&String::from_utf8_lossy(&text))
            .and_then(|config| Ok((engines::host_folder(&self.folder, &created, &config.home)?, config)))
            .and_then(|(folder, config)| {
                engines::spawn(&config, &folder).map_err(|err| format!("cannot start the engine: {err}"))
            });
        match started {
            Ok(child) => {
                let (cmdline, pid) = (format!("/bin/ardb-server {path}"), child.id().unwrap_or_default());
                let work = |kill| engines::follow(child, kill);
                self.jobs.track(id, container, cmdline, pid, work).await
            }
            Err(message) => Outcome::error(&message),
        }
    }

    /// A filesystem (or a pool) the node let go of takes its host folder along.
    fn forget_folder(&self, command: &str, arguments: &Value, outcome: &Outcome) {
        let path = match command {
            "btrfs.subvol_delete" => arguments["path"].as_str(),
            "disk.umount" => arguments["source"].as_str(),
            _ => None,
        };
        if let Some(path) = path.filter(|_| outcome.state == State::Success) {
            let _ = std::fs::remove_dir_all(self.folder.join(path.trim_start_matches('/')));
        }
    }

    /// `corex.dispatch {container, command}`: runs `command` inside the container, as its own job; answers the
    /// inner job's id at once.
    fn dispatch<L: Lists>(self: &Arc<Self>, lists: &Arc<L>, arguments: &Value) -> Outcome {
        let container = arguments["container"].as_u64().unwrap_or_default();
        if !self.containers.exists(container) {
            return Outcome::error(&format!("container {container} does not exist"));
        }
        let inner = match serde_json::from_value::<Command>(arguments["command"].clone()) {
            Ok(inner) if !inner.id.is_empty() => inner,
            Ok(_) => return Outcome::error("dispatched command has no id"),
            Err(err) => return Outcome::error(&format!("dispatched command is invalid: {err}")),
        };
        let id = inner.id.clone();
        let (agent, lists) = (self.clone(), lists.clone());
        tokio::spawn(async move { answer(&agent, &lists, inner, container).await });
        Outcome::json(json!(id))
    }
}

/// Serves commands from `lists` forever, each in its own task (0-core runs jobs concurrently).
pub async fn run<L: Lists>(agent: Arc<Agent>, lists: Arc<L>) {
    while let Some(raw) = lists.pop_command().await {
        let (agent, lists) = (agent.clone(), lists.clone());
        tokio::spawn(async move {
            match serde_json::from_slice::<Command>(&raw) {
                Ok(command) => answer(&agent, &lists, command, 0).await,
                // 0-core logs and drops what it cannot parse: there is no id to answer to.
                Err(_) => tracing::debug!("emulated node: dropped an unparsable command"),
            }
        });
    }
}

/// Runs `command` (in `container`, 0 for the node) and writes its flag and result keys as 0-core does.
async fn answer<L: Lists>(agent: &Arc<Agent>, lists: &Arc<L>, command: Command, container: u64) {
    let flag = protocol::flag_key(&command.id);
    let result_key = protocol::result_key(&command.id);
    let started = Instant::now();
    let starttime = epoch_ms();
    let outcome = if lists.exists(&flag).await {
        Outcome::failed(
            State::DuplicateId,
            &format!("job id '{}' is already in use", command.id),
        )
    } else {
        lists.push(&flag, Vec::new()).await;
        agent.execute(lists, &command, container).await
    };
    let state = outcome.state;
    let result = JobResult {
        id: command.id.clone(),
        command: command.command.clone(),
        data: outcome.data,
        streams: outcome.streams.to_vec(),
        critical: String::new(),
        level: outcome.level,
        state,
        code: outcome.code,
        starttime,
        time: started.elapsed().as_millis() as u64,
        tags: command.tags.clone(),
        container,
    };
    let encoded = serde_json::to_vec(&result).unwrap_or_default();
    lists.push(&result_key, encoded).await;
    lists.expire(&result_key, protocol::RESULT_TTL_SECONDS).await;
    if state != State::DuplicateId {
        lists.expire(&flag, protocol::RESULT_TTL_SECONDS).await;
    }
}
