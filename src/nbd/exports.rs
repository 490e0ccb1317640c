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

use crate::blocks::{Shards, VdiskBlocks};
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

/// A vdisk with its engines' addresses.
type Resolved = (NbdVdisk, Vec<String>);

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
        let block_size = resolved.0.block_size;
        if !(512..=1 << 20).contains(&block_size) || !block_size.is_power_of_two() {
            return Err(format!(
                "vdisk '{name}': blockSize {block_size} is not a power of two from 512 to 1 MiB"
            ));
        }
        let made = self.made.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned();
        let (blocks, stripes) = match made {
            Some(made) if made.resolved.1 == resolved.1 && made.resolved.0.kind == resolved.0.kind => {
                (made.blocks, made.stripes)
            }
            _ => {
                let shards = Shards::connect(&resolved.1).await.map_err(|err| err.to_string())?;
                let blocks = Arc::new(VdiskBlocks::new(name, shards, resolved.0.kind == "boot"));
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
        let (vdisk, _) = resolved;
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
                let cluster = config.storage_clusters.remove(&vdisk.storage_cluster).ok_or_else(|| {
                    format!(
                        "vdisk '{name}' names storage cluster '{}', which is not in the config",
                        vdisk.storage_cluster
                    )
                })?;
                Ok(Some((vdisk, cluster.servers)))
            }
            Source::Api { .. } => {
                for storage in self.api_list("/vdiskstorage").await? {
                    let id = storage["id"].as_str().unwrap_or_default();
                    let Some(vdisk) = self.api_get(&format!("/vdiskstorage/{id}/vdisks/{name}")).await? else {
                        continue;
                    };
                    let label = storage["blockCluster"].as_str().unwrap_or_default();
                    let cluster = self
                        .api_get(&format!("/storageclusters/{label}"))
                        .await?
                        .ok_or_else(|| format!("storage cluster '{label}' does not exist"))?;
                    let servers = cluster["storageServers"].as_array().cloned().unwrap_or_default();
                    let addresses = servers
                        .iter()
                        .map(|server| format!("{}:{}", server["ip"].as_str().unwrap_or_default(), server["port"]))
                        .collect();
                    let config = NbdVdisk {
                        size: vdisk["size"].as_u64().unwrap_or(0),
                        block_size: vdisk["blocksize"].as_u64().unwrap_or(4096) as u32,
                        kind: vdisk["type"].as_str().unwrap_or_default().to_owned(),
                        read_only: vdisk["readOnly"].as_bool().unwrap_or(false),
                        storage_cluster: label.to_owned(),
                    };
                    return Ok(Some((config, addresses)));
                }
                Ok(None)
            }
        }
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
