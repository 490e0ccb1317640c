//! The emulated node's jobs and processes: 0-core's own services, and the programs that `core.system` runs.
//! A running program prints its lines into its result's `streams` and, when the job was started with
//! `stream: true` or someone attached with `core.subscribe`, into `stream:<id>` as it goes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

use super::programs::{self, Program, Step};
use super::wire::{Lists, Outcome};
use crate::zos::protocol::{self, LEVEL_STDERR, LEVEL_STDOUT, META_EXIT_ERROR, META_EXIT_SUCCESS, State};
use crate::zos::protocol::{StreamLine, StreamMessage};

/// A job the node knows about.
struct Job {
    /// The container it runs in (0: the node).
    container: u64,
    cmdline: String,
    started_ms: u64,
    pid: u32,
    /// Set for programs; 0-core's services have none and `job.kill` just forgets them.
    kill: Option<Arc<Notify>>,
    /// Stream keys that receive its output, each with a signal for when it ends (`core.subscribe`).
    subscribers: Vec<(String, Option<oneshot::Sender<()>>)>,
}

#[derive(Default)]
pub struct Jobs {
    table: Mutex<BTreeMap<String, Job>>,
    /// Processes without a job of their own (core0 itself), by pid.
    processes: Mutex<BTreeMap<u32, (u64, String)>>,
    next_pid: AtomicU32,
}

pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Jobs {
    /// The state right after boot: 0-core's usual services, and nothing else.
    pub fn boot(&self, booted_at_ms: u64) {
        self.next_pid.store(100, Ordering::Relaxed);
        let services = [
            ("zerotier", "zerotier-one -d /tmp/zt"),
            ("redis", "redis-server /etc/redis.conf"),
        ];
        let mut table = lock(&self.table);
        for job in table.values() {
            if let Some(kill) = &job.kill {
                kill.notify_one();
            }
        }
        table.clear();
        for (index, (id, cmdline)) in services.iter().enumerate() {
            let job = Job {
                container: 0,
                cmdline: (*cmdline).to_owned(),
                started_ms: booted_at_ms,
                pid: 112 + 5 * index as u32,
                kill: None,
                subscribers: Vec::new(),
            };
            table.insert((*id).to_owned(), job);
        }
        *lock(&self.processes) = [(1, (0, "/sbin/core0".to_owned()))].into();
    }

    /// Starts a container's init process (its coreX), which lives as long as the container.
    pub fn add_process(&self, container: u64, cmdline: &str) -> u32 {
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        lock(&self.processes).insert(pid, (container, cmdline.to_owned()));
        pid
    }

    /// Forgets everything that ran in `container` (it was terminated).
    pub fn clear_container(&self, container: u64) {
        lock(&self.processes).retain(|_, (owner, _)| *owner != container);
        for job in lock(&self.table).values().filter(|job| job.container == container) {
            if let Some(kill) = &job.kill {
                kill.notify_one();
            }
        }
    }

    pub fn list(&self, container: u64, cpu: f64) -> Value {
        let jobs: Vec<Value> = lock(&self.table)
            .iter()
            .filter(|(_, job)| job.container == container)
            .map(|(id, job)| {
                json!({"cmd": {"id": id, "command": "core.system", "arguments": {"name": job.cmdline}},
                       "starttime": job.started_ms, "cpu": cpu, "rss": 30_000_000u64, "vms": 120_000_000u64, "swap": 0})
            })
            .collect();
        Value::Array(jobs)
    }

    pub fn kill(&self, container: u64, id: &str) -> Outcome {
        let mut table = lock(&self.table);
        match table.get(id).filter(|job| job.container == container) {
            None => Outcome::error(&format!("job id '{id}' not found")),
            Some(Job { kill: Some(kill), .. }) => {
                kill.notify_one();
                Outcome::json(Value::Null)
            }
            Some(_) => {
                table.remove(id);
                Outcome::json(Value::Null)
            }
        }
    }

    pub fn processes(&self, container: u64, cpu: impl Fn(u32) -> f64) -> Value {
        let from_jobs: Vec<(u32, String)> = lock(&self.table)
            .values()
            .filter(|job| job.container == container)
            .map(|job| (job.pid, job.cmdline.clone()))
            .collect();
        let mut all: BTreeMap<u32, String> = lock(&self.processes)
            .iter()
            .filter(|(_, (owner, _))| *owner == container)
            .map(|(pid, (_, cmdline))| (*pid, cmdline.clone()))
            .collect();
        all.extend(from_jobs);
        all.iter()
            .map(|(pid, cmdline)| {
                json!({"pid": pid, "cmdline": cmdline, "cpu": {"guestnice": 0, "idle": 0, "iowait": 0, "irq": 0,
                       "nice": 0, "softirq": 0, "steal": 0, "stolen": 0, "system": 0.5, "user": cpu(*pid)},
                       "rss": 20_000_000u64, "vms": 90_000_000u64, "swap": 0})
            })
            .collect()
    }

    pub fn kill_process(&self, container: u64, pid: u32) -> Outcome {
        if pid == 1 && container == 0 {
            return Outcome::error("cannot kill core0 (pid 1)");
        }
        let job = lock(&self.table)
            .iter()
            .find(|(_, job)| job.pid == pid && job.container == container)
            .map(|(id, _)| id.clone());
        if let Some(id) = job {
            return self.kill(container, &id);
        }
        let mut processes = lock(&self.processes);
        match processes.get(&pid) {
            Some((owner, _)) if *owner == container => {
                processes.remove(&pid);
                Outcome::json(Value::Null)
            }
            _ => Outcome::error(&format!("process {pid} not found")),
        }
    }

    /// `core.system {name, args, dir, env, stdin}`: runs an emulated program to its end.
    pub async fn system<L: Lists>(
        &self,
        lists: &L,
        id: &str,
        container: u64,
        arguments: &Value,
        stream: bool,
    ) -> Outcome {
        let name = arguments["name"].as_str().unwrap_or_default();
        let args: Vec<String> = arguments["args"]
            .as_array()
            .map(|args| {
                args.iter()
                    .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        match programs::parse(name, &args) {
            Ok(program) => self.run(lists, id, container, program, stream).await,
            Err(message) => Outcome::error(&message),
        }
    }

    /// Runs `program` as job `id` to its end (or a kill), with its output in the result and, with `stream`, in
    /// `stream:<id>`.
    pub async fn run<L: Lists>(&self, lists: &L, id: &str, container: u64, program: Program, stream: bool) -> Outcome {
        let kill = Arc::new(Notify::new());
        let job = Job {
            container,
            cmdline: program.cmdline.clone(),
            started_ms: epoch_ms(),
            pid: self.next_pid.fetch_add(1, Ordering::Relaxed),
            kill: Some(kill.clone()),
            subscribers: if stream {
                vec![(protocol::stream_key(id), None)]
            } else {
                Vec::new()
            },
        };
        lock(&self.table).insert(id.to_owned(), job);
        let (state, streams) = self.run_program(lists, id, container, program, &kill).await;
        let job = lock(&self.table).remove(id);
        let flags = if state == State::Success {
            META_EXIT_SUCCESS
        } else {
            META_EXIT_ERROR
        };
        for (key, done) in job.map(|job| job.subscribers).unwrap_or_default() {
            push_line(
                lists,
                &key,
                id,
                container,
                StreamLine::new(0, flags, String::new(), epoch_ms()),
            )
            .await;
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
        Outcome {
            state,
            level: 0,
            data: String::new(),
            code: match state {
                State::Success => 200,
                State::Killed => 1000 + 128 + 9,
                _ => 1000 + streams.2,
            },
            streams: [streams.0, streams.1],
        }
    }

    /// Follows real work (a storage engine's process, an NBD server) as job `id`: listed and killable like any
    /// job, over when `work` ends. `work` is given the job's kill signal (`job.kill`, the container's end) and
    /// stops what it runs when it fires.
    pub async fn track<W: Future<Output = Outcome>>(
        &self,
        id: &str,
        container: u64,
        cmdline: String,
        pid: u32,
        work: impl FnOnce(Arc<Notify>) -> W,
    ) -> Outcome {
        let kill = Arc::new(Notify::new());
        let job = Job {
            container,
            cmdline,
            started_ms: epoch_ms(),
            pid,
            kill: Some(kill.clone()),
            subscribers: Vec::new(),
        };
        lock(&self.table).insert(id.to_owned(), job);
        let outcome = work(kill).await;
        lock(&self.table).remove(id);
        outcome
    }

    /// Runs the steps until the end or a kill; returns the state and (stdout, stderr, exit code).
    async fn run_program<L: Lists>(
        &self,
        lists: &L,
        id: &str,
        container: u64,
        program: Program,
        kill: &Notify,
    ) -> (State, (String, String, u32)) {
        let (mut stdout, mut stderr) = (String::new(), String::new());
        for step in program.steps {
            let (level, text) = match step {
                Step::Pause(pause) => {
                    tokio::select! {
                        () = tokio::time::sleep(pause) => continue,
                        () = kill.notified() => return (State::Killed, (stdout, stderr, 137)),
                    }
                }
                Step::Stdout(text) => (LEVEL_STDOUT, text),
                Step::Stderr(text) => (LEVEL_STDERR, text),
            };
            let buffer = if level == LEVEL_STDOUT {
                &mut stdout
            } else {
                &mut stderr
            };
            buffer.push_str(&text);
            buffer.push('\n');
            let keys: Vec<String> = lock(&self.table)
                .get(id)
                .map(|job| job.subscribers.iter().map(|(key, _)| key.clone()).collect())
                .unwrap_or_default();
            for key in keys {
                push_line(
                    lists,
                    &key,
                    id,
                    container,
                    StreamLine::new(level, 0, text.clone(), epoch_ms()),
                )
                .await;
            }
        }
        let state = if program.exit_code == 0 {
            State::Success
        } else {
            State::Error
        };
        (state, (stdout, stderr, program.exit_code))
    }

    /// `core.subscribe {id}`: from now on the job's output also goes to `stream:<subscriber>`; answers when the
    /// job ends.
    pub async fn subscribe(&self, subscriber: &str, container: u64, arguments: &Value) -> Outcome {
        let target = arguments["id"].as_str().unwrap_or_default();
        let (done, ended) = oneshot::channel();
        {
            let mut table = lock(&self.table);
            match table.get_mut(target).filter(|job| job.container == container) {
                Some(job) if job.kill.is_some() => {
                    job.subscribers.push((protocol::stream_key(subscriber), Some(done)));
                }
                Some(_) => return Outcome::error(&format!("job '{target}' has no output to subscribe to")),
                None => return Outcome::error(&format!("job id '{target}' not found")),
            }
        }
        let _ = ended.await;
        Outcome::json(Value::Null)
    }
}

async fn push_line<L: Lists>(lists: &L, key: &str, id: &str, container: u64, line: StreamLine) {
    let message = StreamMessage {
        core: container,
        command: id.to_owned(),
        message: line,
    };
    lists.push(key, serde_json::to_vec(&message).unwrap_or_default()).await;
    lists.expire(key, protocol::RESULT_TTL_SECONDS).await;
}
