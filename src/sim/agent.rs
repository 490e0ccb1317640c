//! The emulated 0-core: takes commands off `core:default`, answers them from the inventory, and writes the flag
//! and result keys exactly as 0-core does. The transport is a trait so the same agent runs on the emulator's own
//! keyspace and, in tests, on a real redis-server: whatever the emulator does on the wire, real Redis does too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::inventory::Inventory;
use crate::zos::protocol::{self, Command, JobResult, State};

/// The list operations the agent needs from its transport.
pub trait Lists: Send + Sync + 'static {
    /// The next raw command from `core:default` (waits for one).
    fn pop_command(&self) -> impl std::future::Future<Output = Option<Vec<u8>>> + Send;
    fn push(&self, key: &str, value: Vec<u8>) -> impl std::future::Future<Output = ()> + Send;
    fn expire(&self, key: &str, seconds: u64) -> impl std::future::Future<Output = ()> + Send;
    fn exists(&self, key: &str) -> impl std::future::Future<Output = bool> + Send;
}

pub struct Agent {
    pub inventory: Mutex<Inventory>,
    /// Long-running jobs (0-core's own services), by id; `job.kill` removes them.
    jobs: Mutex<BTreeMap<String, &'static str>>,
    /// Emulated processes, by pid.
    processes: Mutex<BTreeMap<u32, &'static str>>,
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Agent {
    pub fn new(inventory: Inventory) -> Agent {
        let agent = Agent {
            inventory: Mutex::new(inventory),
            jobs: Mutex::default(),
            processes: Mutex::default(),
        };
        agent.boot();
        agent
    }

    /// The state right after boot: 0-core's usual services.
    fn boot(&self) {
        let services = [
            ("zerotier", "zerotier-one -d /tmp/zt"),
            ("redis", "redis-server /etc/redis.conf"),
        ];
        *self.jobs.lock().unwrap_or_else(|p| p.into_inner()) =
            services.iter().map(|(id, cmd)| (id.to_string(), *cmd)).collect();
        *self.processes.lock().unwrap_or_else(|p| p.into_inner()) =
            [(1, "/sbin/core0"), (112, services[0].1), (117, services[1].1)].into();
    }

    /// Runs one command; returns (state, level, data).
    pub fn execute(&self, command: &Command) -> (State, u16, String) {
        let json_ok = |value: Value| (State::Success, protocol::LEVEL_JSON, value.to_string());
        let error = |message: &str| (State::Error, 0, message.to_owned());
        let inventory = self.inventory.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match command.command.as_str() {
            "core.ping" => json_ok(json!("pong")),
            "info.cpu" => json_ok(inventory.cpu_info()),
            "info.mem" => json_ok(inventory.mem_info()),
            "info.disk" => json_ok(inventory.partitions()),
            "disk.list" => json_ok(inventory.disk_list()),
            "info.nic" => json_ok(inventory.nic_info()),
            "info.os" => json_ok(inventory.os_info()),
            "aggregator.query" => json_ok(inventory.stats()),
            "info.version" => json_ok(json!({"branch": "emulated", "revision": "0", "dirty": false})),
            "job.list" => {
                let started = inventory.booted_at * 1000;
                let jobs: Vec<Value> = self
                    .jobs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .map(|(id, cmd)| {
                        json!({"cmd": {"id": id, "command": "core.system", "arguments": {"name": cmd}},
                                            "starttime": started, "cpu": inventory.cpu_percent(1) / 10.0,
                                            "rss": 30_000_000u64, "vms": 120_000_000u64, "swap": 0})
                    })
                    .collect();
                json_ok(Value::Array(jobs))
            }
            "job.kill" => {
                let id = command.arguments["id"].as_str().unwrap_or_default();
                match self.jobs.lock().unwrap_or_else(|p| p.into_inner()).remove(id) {
                    Some(_) => json_ok(Value::Null),
                    None => error(&format!("job id '{id}' not found")),
                }
            }
            "process.list" => {
                let processes: Vec<Value> = self
                    .processes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .map(|(pid, cmdline)| json!({"pid": pid, "cmdline": cmdline, "cpu": {"guestnice": 0, "idle": 0,
                        "iowait": 0, "irq": 0, "nice": 0, "softirq": 0, "steal": 0, "stolen": 0, "system": 0.5,
                        "user": inventory.cpu_percent(*pid) / 20.0}, "rss": 20_000_000u64, "vms": 90_000_000u64, "swap": 0}))
                    .collect();
                json_ok(Value::Array(processes))
            }
            "process.kill" => {
                let pid = command.arguments["pid"].as_u64().unwrap_or_default() as u32;
                match pid {
                    1 => error("cannot kill core0 (pid 1)"),
                    _ => match self.processes.lock().unwrap_or_else(|p| p.into_inner()).remove(&pid) {
                        Some(_) => json_ok(Value::Null),
                        None => error(&format!("process {pid} not found")),
                    },
                }
            }
            "core.reboot" => {
                self.inventory.lock().unwrap_or_else(|p| p.into_inner()).booted_at = epoch_ms() / 1000;
                self.boot();
                json_ok(Value::Null)
            }
            other => (State::UnknownCmd, 0, format!("unknown command: {other}")),
        }
    }
}

/// Serves commands from `lists` forever, each in its own task (0-core runs jobs concurrently).
pub async fn run<L: Lists>(agent: Arc<Agent>, lists: Arc<L>) {
    while let Some(raw) = lists.pop_command().await {
        let (agent, lists) = (agent.clone(), lists.clone());
        tokio::spawn(async move { handle(&agent, &*lists, &raw).await });
    }
}

async fn handle<L: Lists>(agent: &Agent, lists: &L, raw: &[u8]) {
    let Ok(command) = serde_json::from_slice::<Command>(raw) else {
        // 0-core logs and drops what it cannot parse: there is no id to answer to.
        tracing::debug!("emulated node: dropped an unparsable command");
        return;
    };
    let flag = protocol::flag_key(&command.id);
    let result_key = protocol::result_key(&command.id);
    let started = Instant::now();
    let starttime = epoch_ms();
    let (state, level, data) = if lists.exists(&flag).await {
        (
            State::DuplicateId,
            0,
            format!("job id '{}' is already in use", command.id),
        )
    } else {
        lists.push(&flag, Vec::new()).await;
        agent.execute(&command)
    };
    let result = JobResult {
        id: command.id.clone(),
        command: command.command.clone(),
        data,
        streams: vec![String::new(), String::new()],
        critical: String::new(),
        level,
        state,
        code: if state == State::Success { 200 } else { 500 },
        starttime,
        time: started.elapsed().as_millis() as u64,
        tags: command.tags.clone(),
        container: 0,
    };
    let encoded = serde_json::to_vec(&result).unwrap_or_default();
    lists.push(&result_key, encoded).await;
    lists.expire(&result_key, protocol::RESULT_TTL_SECONDS).await;
    if state != State::DuplicateId {
        lists.expire(&flag, protocol::RESULT_TTL_SECONDS).await;
    }
}
