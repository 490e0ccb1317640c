//! Which vdisks the NBD server offers and where their blocks are. Read again at every negotiation, so a vdisk
//! created or grown since the server started is served at its current size; the engines' connections and a
//! vdisk's blocks (with a boot vdisk's LBA) are made once and shared by every client.
//!
//! Two sources, as 0-disk's `nbdserver` reads its config from etcd or from a file:
//! - the orchestrator's API (`/vdiskstorage`, its vdisks, `/storageclusters/{label}`' engines), or
//! - a TOML file in 0-disk's config shape (`model::nbd_config`; the engine writes one for a VM's NBD server):
//!
//! ```toml
//! [storageClusters.blocks]
//! servers = ["10.0.0.1:2000", "10.0.0.2:2000"]
//!
//! [vdisks.vd1]
//! size = 64          # GiB
//! blockSize = 4096
//! type = "db"        # boot (deduplicated), db, cache or tmp
//! readOnly = false
//! storageCluster = "blocks"
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::blocks::{Journal, Shards, VdiskBlocks};
use crate::model::nbd_config::{NbdConfig, NbdVdisk};

/// One export, as negotiated.
pub struct Export {
    pub size: u64,
    pub blocksize: u32,
    pub read_only: bool,
    pub blocks: Arc<VdiskBlocks>,
    /// Serialises the read-modify-write of partly written blocks (striped by block index), across clients.
    pub stripes: Stripes,
}

pub type Stripes = Arc<Vec<tokio::sync::Mutex<()>>>;

/// What was made for one vdisk, with the config it was made for (a change of engines or type makes it again).
#[derive(Clone)]
struct Made {
    resolved: Resolved,
    blocks: Arc<VdiskBlocks>,
    stripes: Stripes,
}

pub enum Source {
    File(PathBuf),
    /// The config file's text from elsewhere: an emulated node serves a container's file from memory.
    Text(Box<dyn Fn() -> Result<String, String> + Send + Sync>),
    Api {
        base: String,
        token: String,
        http: reqwest::Client,
    },
}

/// A vdisk with its engines' addresses: its blocks', and its transaction log's when it keeps one.
#[derive(Clone)]
struct Resolved {
    vdisk: NbdVdisk,
    engines: Vec<String>,
    journal: Option<Vec<String>>,
}

impl Resolved {
    /// Whether the blocks made for `self` serve `other` too: the same engines and layout (a new size does not
    /// matter, and clients of the old size keep sharing the stripes with the new).
    fn same_blocks(&self, other: &Resolved) -> bool {
        self.engines == other.engines && self.journal == other.journal && self.vdisk.kind == other.vdisk.kind
    }
}

const STRIPES: usize = 64;

pub struct Exports {
    source: Source,
    made: Mutex<HashMap<String, Made>>,
}

impl Exports {
    pub fn new(source: Source) -> Exports {
        Exports {
            source,
            made: Mutex::new(HashMap::new()),
        }
    }

    /// The export names offered (for NBD_OPT_LIST).
    pub async fn names(&self) -> Result<Vec<String>, String> {
        match &self.source {
            Source::Api { .. } => {
                let mut names = Vec::new();
                for storage in self.api_list("/vdiskstorage").await? {
                    let storage = storage["id"].as_str().unwrap_or_default();
                    for vdisk in self.api_list(&format!("/vdiskstorage/{storage}/vdisks")).await? {
                        names.extend(vdisk["id"].as_str().map(str::to_owned));
                    }
                }
                Ok(names)
            }
            _ => Ok(self.config_file().await?.vdisks.into_keys().collect()),
        }
    }

    /// The export `name`, or `None` when no such vdisk exists.
    pub async fn find(&self, name: &str) -> Result<Option<Export>, String> {
        let Some(resolved) = self.resolve(name).await? else {
            return Ok(None);
        };
        let block_size = resolved.vdisk.block_size;
        if !(512..=1 << 20).contains(&block_size) || !block_size.is_power_of_two() {
            return Err(format!(
                "vdisk '{name}': blockSize {block_size} is not a power of two from 512 to 1 MiB"
            ));
        }
        let made = self.made.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned();
        let (blocks, stripes) = match made {
            Some(made) if made.resolved.same_blocks(&resolved) => (made.blocks, made.stripes),
            _ => {
                let connect = |engines| async move { Shards::connect(engines).await.map_err(|err| err.to_string()) };
                let mut blocks =
                    VdiskBlocks::new(name, connect(&resolved.engines).await?, resolved.vdisk.kind == "boot");
                if let Some(engines) = &resolved.journal {
                    blocks = blocks.with_journal(Journal::new(name, connect(engines).await?));
                }
                let blocks = Arc::new(blocks);
                let stripes = Arc::new((0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect());
                (blocks, stripes)
            }
        };
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let entry = Made {
            resolved: resolved.clone(),
            blocks: blocks.clone(),
            stripes: stripes.clone(),
        };
        made.insert(name.to_owned(), entry);
        let vdisk = resolved.vdisk;
        Ok(Some(Export {
            size: vdisk.size << 30,
            blocksize: vdisk.block_size,
            read_only: vdisk.read_only,
            blocks,
            stripes,
        }))
    }

    async fn resolve(&self, name: &str) -> Result<Option<Resolved>, String> {
        match &self.source {
            Source::File(_) | Source::Text(_) => {
                let mut config = self.config_file().await?;
                let Some(vdisk) = config.vdisks.remove(name) else {
                    return Ok(None);
                };
                let mut engines_of = |label: &String| {
                    let servers = config
                        .storage_clusters
                        .get(label)
                        .map(|cluster| cluster.servers.clone());
                    servers.ok_or_else(|| {
                        format!("vdisk '{name}' names storage cluster '{label}', which is not in the config")
                    })
                };
                let engines = engines_of(&vdisk.storage_cluster)?;
                let journal = vdisk.tlog_storage_cluster.as_ref().map(&mut engines_of).transpose()?;
                Ok(Some(Resolved {
                    vdisk,
                    engines,
                    journal,
                }))
            }
            Source::Api { .. } => {
                for storage in self.api_list("/vdiskstorage").await? {
                    let id = storage["id"].as_str().unwrap_or_default();
                    let Some(vdisk) = self.api_get(&format!("/vdiskstorage/{id}/vdisks/{name}")).await? else {
                        continue;
                    };
                    let label = storage["blockCluster"].as_str().unwrap_or_default().to_owned();
                    let kind = vdisk["type"].as_str().unwrap_or_default().to_owned();
                    let tlog = storage["objectCluster"]
                        .as_str()
                        .filter(|_| matches!(kind.as_str(), "boot" | "db"))
                        .map(str::to_owned);
                    let journal = match &tlog {
                        Some(label) => Some(self.api_engines(label).await?),
                        None => None,
                    };
                    let config = NbdVdisk {
                        size: vdisk["size"].as_u64().unwrap_or(0),
                        block_size: vdisk["blocksize"].as_u64().unwrap_or(4096) as u32,
                        kind,
                        read_only: vdisk["readOnly"].as_bool().unwrap_or(false),
                        storage_cluster: label.clone(),
                        tlog_storage_cluster: tlog,
                    };
                    let engines = self.api_engines(&label).await?;
                    return Ok(Some(Resolved {
                        vdisk: config,
                        engines,
                        journal,
                    }));
                }
                Ok(None)
            }
        }
    }

    /// The engines' `host:port` of the storage cluster `label`, in shard order.
    async fn api_engines(&self, label: &str) -> Result<Vec<String>, String> {
        let cluster = self
            .api_get(&format!("/storageclusters/{label}"))
            .await?
            .ok_or_else(|| format!("storage cluster '{label}' does not exist"))?;
        let servers = cluster["storageServers"].as_array().cloned().unwrap_or_default();
        Ok(servers
            .iter()
            .map(|server| format!("{}:{}", server["ip"].as_str().unwrap_or_default(), server["port"]))
            .collect())
    }

    /// The config of a file source (`--config`, or an emulated container's file).
    async fn config_file(&self) -> Result<NbdConfig, String> {
        let (text, origin) = match &self.source {
            Source::File(path) => {
                let text = tokio::fs::read_to_string(path).await;
                (text.map_err(|err| err.to_string()), path.display().to_string())
            }
            Source::Text(read) => (read(), "the config".to_owned()),
            Source::Api { .. } => return Ok(NbdConfig::default()),
        };
        let text = text.map_err(|err| format!("{origin}: {err}"))?;
        toml::from_str(&text).map_err(|err| format!("{origin}: {err}"))
    }

    /// GET `path` from the API: the JSON, or `None` for a 404.
    async fn api_get(&self, path: &str) -> Result<Option<Value>, String> {
        let Source::Api { base, token, http } = &self.source else {
            return Ok(None);
        };
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|err| format!("GET {path}: {err}"))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(format!("GET {path}: {}", response.status()));
        }
        response
            .json()
            .await
            .map(Some)
            .map_err(|err| format!("GET {path}: {err}"))
    }

    async fn api_list(&self, path: &str) -> Result<Vec<Value>, String> {
        Ok(self
            .api_get(path)
            .await?
            .and_then(|list| list.as_array().cloned())
            .unwrap_or_default())
    }
}
