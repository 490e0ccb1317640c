//! The emulated node's containers (`corex.*`): created from an flist of the emulated hub, found by their tags,
//! terminated, and able to run commands inside (`corex.dispatch`). Failures are the real ones: an flist the hub
//! does not have, a name or a host port already taken.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::jobs::Jobs;
use super::wire::Outcome;

/// The flists the emulated hub serves (by file name), as on the public Zero-OS hub.
const HUB: &[&str] = &[
    "ubuntu-16.04.flist",
    "ubuntu-18.04.flist",
    "alpine-3.8.flist",
    "busybox.flist",
    "nginx.flist",
    "redis.flist",
    "caddy.flist",
    super::engines::ENGINE_FLIST,
    super::gateway::GATEWAY_FLIST,
    super::nbd_servers::NBD_FLIST,
];

/// How long mounting an flist takes on the emulated node: long enough that a creation can be interrupted.
const FLIST_MOUNT: Duration = Duration::from_millis(600);

struct Emulated {
    arguments: Value,
    pid: u32,
}

pub struct Containers {
    by_id: Mutex<BTreeMap<u64, Emulated>>,
    next_id: Mutex<u64>,
    /// The emulated node's host folder: a container's root is a folder in it.
    folder: PathBuf,
}

impl Containers {
    pub fn new(folder: PathBuf) -> Containers {
        Containers {
            by_id: Mutex::default(),
            next_id: Mutex::default(),
            folder,
        }
    }

    /// Container `id`'s root, as `corex.list` reports it: where 0-core mounts it (`/mnt/containers/<id>`), under
    /// the node's host folder. It is a host path, so what a container's program puts there (an NBD server's
    /// socket) is reachable from the host at the path the node reports.
    pub fn root(&self, id: u64) -> PathBuf {
        self.folder.join("mnt/containers").join(id.to_string())
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<u64, Emulated>) -> R) -> R {
        f(&mut self.by_id.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn exists(&self, id: u64) -> bool {
        self.with(|all| all.contains_key(&id))
    }

    /// What container `id` was created with.
    pub fn arguments(&self, id: u64) -> Option<Value> {
        self.with(|all| all.get(&id).map(|c| c.arguments.clone()))
    }

    /// `corex.create`: checks, registers the container at once (so `corex.find` sees it while its flist mounts,
    /// as on a real node), then mounts the flist.
    pub async fn create(&self, jobs: &Jobs, arguments: &Value, tags: Option<&Vec<String>>) -> Outcome {
        let root = arguments["root"].as_str().unwrap_or_default();
        let file = root.rsplit('/').next().unwrap_or_default();
        if !HUB.contains(&file) {
            return Outcome::error(&format!("failed to download flist {root}: 404 Not Found"));
        }
        let name = arguments["name"].as_str().unwrap_or_default().to_owned();
        let ports: Vec<String> = arguments["port"]
            .as_object()
            .map(|ports| ports.keys().cloned().collect())
            .unwrap_or_default();
        let mut arguments = arguments.clone();
        arguments["tags"] = json!(tags.cloned().unwrap_or_default());
        let id = {
            let mut all = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
            if !name.is_empty() && all.values().any(|c| c.arguments["name"] == name.as_str()) {
                return Outcome::error(&format!("a container named '{name}' already exists"));
            }
            let taken = all
                .values()
                .flat_map(|c| c.arguments["port"].as_object().into_iter().flatten());
            if let Some((port, _)) = taken.clone().find(|(port, _)| ports.contains(port)) {
                return Outcome::error(&format!("host port {port} is already in use"));
            }
            let mut next = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            let pid = jobs.add_process(*next, &format!("coreX -core-id {}", *next));
            all.insert(*next, Emulated { arguments, pid });
            *next
        };
        tokio::time::sleep(FLIST_MOUNT).await;
        Outcome::json(json!(id))
    }

    /// `corex.list`, or `corex.find {tags}` when `tags` is given: id → `{container: {arguments, pid, root}, …}`.
    pub fn list(&self, tags: Option<&Value>) -> Value {
        let wanted: Vec<&str> = tags
            .and_then(Value::as_array)
            .map(|tags| tags.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let listed = self.with(|all| {
            all.iter()
                .filter(|(_, c)| {
                    let has = |tag: &&str| {
                        c.arguments["tags"]
                            .as_array()
                            .is_some_and(|t| t.iter().any(|x| x == *tag))
                    };
                    wanted.iter().all(has)
                })
                .map(|(id, c)| {
                    let root = self.root(*id);
                    let info = json!({"container": {"arguments": c.arguments, "pid": c.pid, "root": root},
                                      "cpu": 0.4, "rss": 12_000_000u64, "vms": 60_000_000u64, "swap": 0});
                    (id.to_string(), info)
                })
                .collect::<serde_json::Map<_, _>>()
        });
        Value::Object(listed)
    }

    /// `corex.nic-add {container, nic}` and `corex.nic-remove {container, index}`.
    pub fn nic(&self, command: &str, arguments: &Value) -> Outcome {
        let id = arguments["container"].as_u64().unwrap_or_default();
        self.with(|all| {
            let Some(container) = all.get_mut(&id) else {
                return Outcome::error(&format!("container {id} does not exist"));
            };
            if !container.arguments["nics"].is_array() {
                container.arguments["nics"] = json!([]);
            }
            let Some(nics) = container.arguments["nics"].as_array_mut() else {
                return Outcome::error("container has no nic list");
            };
            if command == "corex.nic-add" {
                nics.push(arguments["nic"].clone());
                return Outcome::json(Value::Null);
            }
            match arguments["index"].as_u64().map(|i| i as usize) {
                Some(index) if index < nics.len() => {
                    nics.remove(index);
                    Outcome::json(Value::Null)
                }
                _ => Outcome::error(&format!("container {id} has no nic at index {}", arguments["index"])),
            }
        })
    }

    /// `corex.terminate {container}`.
    pub fn terminate(&self, jobs: &Jobs, arguments: &Value) -> Outcome {
        let id = arguments["container"].as_u64().unwrap_or_default();
        match self.with(|all| all.remove(&id)) {
            Some(_) => {
                jobs.clear_container(id);
                let _ = std::fs::remove_dir_all(self.root(id));
                Outcome::json(Value::Null)
            }
            None => Outcome::error(&format!("container {id} does not exist")),
        }
    }
}
