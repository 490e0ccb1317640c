//! `store copy`: every record, appended log entry and bookkeeping key from one store to another (sled ⇄ etcd),
//! never leaving a target that looks complete but is not.
//!
//! Into sled, the copy fills a new directory beside the target and renames it into place at the end (as
//! `restore` does). Into etcd, which has no rename, the target prefix is marked as being copied into before the
//! first entry is written and unmarked after the last: an etcd-backed `serve` refuses a marked prefix, and a
//! copy rerun after an interruption clears it and starts over. Either way a target that is not empty (and not
//! an interrupted copy) is refused. The change log is not copied: the target's feed starts at its own position,
//! and clients that resume from an older one are told to `reset`.
//!
//! The files records name ([`FileRecord`]: the boot assets) go with them: from a sled data directory's folder or
//! etcd's blobs, into the new directory's folder or the target's blobs (before the marker comes off), each
//! checked against the SHA-256 its record gives. A record whose file is missing or differs stops the copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::backup::{RestoreError, into_new_dir};
use super::embedded::{DEFAULT_TREE, Embedded, META_TREE};
use super::etcd::blobs::{Blobs, sha256_of};
use super::etcd::gateway::{Gateway, TxnResponse, b64, prefix_end};
use super::etcd::replica::Slot;
use super::etcd::{COPY_MARKER, load};
use super::{Access, DB_DIR, Location, Record, Security, StoreError, codec, feed};

/// How many puts one etcd transaction carries (etcd's default limit is 128 operations).
const BATCH: usize = 100;

/// One end of a copy: `sled:DIR` or `etcd://host:port[,…]` (with the prefix).
#[derive(Debug, Clone)]
pub enum Side {
    Sled(PathBuf),
    Etcd { access: Access, prefix: String },
}

impl Side {
    pub fn parse(text: &str, prefix: &str) -> Result<Side, String> {
        if let Some(dir) = text.strip_prefix("sled:").filter(|dir| !dir.is_empty()) {
            return Ok(Side::Sled(dir.into()));
        }
        match Location::parse(text, prefix)? {
            Location::Etcd { access, prefix } => Ok(Side::Etcd { access, prefix }),
            Location::Sled => Err("expected sled:DIR or etcd://host:port[,host:port…] (etcds:// for TLS)".into()),
        }
    }

    /// Adds etcd's TLS and user settings to an etcd side; a sled side is left as it is.
    pub fn secured(self, security: &Security) -> Result<Side, String> {
        match self {
            Side::Etcd { access, prefix } => Ok(Side::Etcd {
                access: access.secured(security.clone())?,
                prefix,
            }),
            sled => Ok(sled),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target {0} is not empty; copy into an empty directory or an unused prefix")]
    NotEmpty(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Restore(#[from] RestoreError),
}

/// Records that name a file kept beside the store: in a folder of the data directory with sled, as a blob (by
/// SHA-256) with etcd.
pub trait FileRecord: Record {
    /// The folder of a sled data directory that holds the files.
    const FOLDER: &'static str;
    /// The file's name in that folder, its SHA-256 (hex) and its size.
    fn file(&self) -> (&str, &str, u64);
}

/// A file a copied record names.
struct File {
    name: String,
    sha256: String,
    size: u64,
}

/// Where the source's files are read from.
enum Contents {
    Folder(PathBuf),
    Blobs(Blobs),
}

impl Contents {
    fn of(side: &Side, folder: &str) -> Result<Contents, StoreError> {
        Ok(match side {
            Side::Sled(dir) => Contents::Folder(dir.join(folder)),
            Side::Etcd { access, prefix } => Contents::Blobs(Blobs::new(Arc::new(Gateway::new(access)?), prefix)),
        })
    }

    /// The source's file, checked, written to `path`.
    async fn write_to(&self, file: &File, path: &Path) -> Result<(), StoreError> {
        match self {
            Contents::Folder(folder) => {
                tokio::fs::copy(folder.join(&file.name), path).await?;
                tokio::fs::File::open(path).await?.sync_all().await?;
                check(file, path).await
            }
            Contents::Blobs(blobs) => blobs.read_into(&file.sha256, file.size, path).await,
        }
    }

    /// Writes the source's file into `blobs`: straight from a sled folder, through a temporary file from etcd.
    async fn share(&self, file: &File, blobs: &Blobs) -> Result<(), StoreError> {
        match self {
            Contents::Folder(folder) => {
                let path = folder.join(&file.name);
                check(file, &path).await?;
                blobs.put(&file.sha256, &path).await
            }
            Contents::Blobs(_) => {
                let temp = std::env::temp_dir().join(format!(".zos-store-copy-{}", file.sha256));
                let shared = async {
                    self.write_to(file, &temp).await?;
                    blobs.put(&file.sha256, &temp).await
                }
                .await;
                let _ = tokio::fs::remove_file(&temp).await;
                shared
            }
        }
    }
}

/// The file's content is what its record says.
async fn check(file: &File, path: &Path) -> Result<(), StoreError> {
    let found = sha256_of(path)
        .await
        .map_err(|err| StoreError::Etcd(format!("cannot read {}: {err}", path.display())))?;
    if found != file.sha256 {
        return Err(StoreError::Corrupt {
            collection: "file",
            id: file.name.clone(),
            reason: format!(
                "{} has SHA-256 {found}, its record says {}",
                path.display(),
                file.sha256
            ),
        });
    }
    Ok(())
}

/// Copies everything, with the files the records of `F` name; returns how many entries and files.
/// `appended`: the collections written with `Store::append` (sled does not tell them from records, etcd keeps
/// them apart).
pub async fn copy<F: FileRecord>(from: &Side, to: &Side, appended: &[&str]) -> Result<(usize, usize), CopyError> {
    let entries = match from {
        Side::Sled(dir) => read_sled(dir, appended)?,
        Side::Etcd { access, prefix } => read_etcd(access, prefix).await?,
    };
    let files = files_named::<F>(&entries)?;
    let contents = Contents::of(from, F::FOLDER)?;
    let count = (entries.len(), files.len());
    match to {
        Side::Sled(dir) => write_sled(dir, entries, F::FOLDER, &files, &contents)?,
        Side::Etcd { access, prefix } => write_etcd(access, prefix, entries, &files, &contents).await?,
    }
    Ok(count)
}

fn files_named<F: FileRecord>(entries: &[(Slot, Vec<u8>)]) -> Result<Vec<File>, StoreError> {
    let mut files = Vec::new();
    for (slot, value) in entries {
        if let Slot::Record { collection, id } = slot
            && collection == F::COLLECTION
        {
            let record = codec::decode::<F>(F::COLLECTION, id, value)?.value;
            let (name, sha256, size) = record.file();
            files.push(File {
                name: name.to_owned(),
                sha256: sha256.to_owned(),
                size,
            });
        }
    }
    Ok(files)
}

fn read_sled(dir: &Path, appended: &[&str]) -> Result<Vec<(Slot, Vec<u8>)>, StoreError> {
    // Opening takes the directory's lock: a running server's store is refused, not copied mid-write.
    let sled = Embedded::open(dir)?;
    let mut entries = Vec::new();
    for name in sled.db.tree_names() {
        if name == DEFAULT_TREE || name == feed::LOG_TREE.as_bytes() {
            continue;
        }
        let collection = String::from_utf8_lossy(&name).into_owned();
        for entry in sled.db.open_tree(&name)?.iter() {
            let (key, value) = entry?;
            let id = String::from_utf8_lossy(&key).into_owned();
            let slot = if collection == META_TREE {
                Slot::Meta(id)
            } else if appended.contains(&collection.as_str()) {
                Slot::Appended {
                    collection: collection.clone(),
                    id,
                }
            } else {
                Slot::Record {
                    collection: collection.clone(),
                    id,
                }
            };
            entries.push((slot, value.to_vec()));
        }
    }
    Ok(entries)
}

async fn read_etcd(access: &Access, prefix: &str) -> Result<Vec<(Slot, Vec<u8>)>, CopyError> {
    let gateway = Gateway::new(access)?;
    let prefix = format!("{prefix}/").into_bytes();
    let (kvs, _) = load(&gateway, &prefix).await?;
    if kvs
        .iter()
        .any(|kv| Slot::parse(&prefix, &kv.key) == Some(Slot::Meta(COPY_MARKER.into())))
    {
        return Err(StoreError::Etcd("the source is an interrupted copy; rerun the copy into it first".into()).into());
    }
    Ok(kvs
        .into_iter()
        .filter_map(|kv| Slot::parse(&prefix, &kv.key).map(|slot| (slot, kv.value)))
        .collect())
}

fn write_sled(
    dir: &Path,
    entries: Vec<(Slot, Vec<u8>)>,
    folder: &str,
    files: &[File],
    contents: &Contents,
) -> Result<(), CopyError> {
    let filled = into_new_dir(dir, false, |staging| {
        let folder = staging.join(folder);
        std::fs::create_dir_all(&folder).map_err(StoreError::from)?;
        // The directory is filled on this (blocking) call; the files come through async code (etcd, tokio::fs).
        tokio::task::block_in_place(|| {
            let runtime = tokio::runtime::Handle::current();
            files
                .iter()
                .try_for_each(|file| runtime.block_on(contents.write_to(file, &folder.join(&file.name))))
        })?;
        let db = sled::Config::new().path(staging.join(DB_DIR)).open()?;
        for (slot, value) in entries {
            let (tree, key) = slot.into_sled();
            db.open_tree(tree)?.insert(key.as_bytes(), value)?;
        }
        db.flush()?;
        Ok(())
    });
    match filled {
        Err(RestoreError::NotEmpty(path)) => Err(CopyError::NotEmpty(path.display().to_string())),
        other => Ok(other?),
    }
}

async fn write_etcd(
    access: &Access,
    prefix: &str,
    entries: Vec<(Slot, Vec<u8>)>,
    files: &[File],
    contents: &Contents,
) -> Result<(), CopyError> {
    let gateway = Arc::new(Gateway::new(access)?);
    let blobs = Blobs::new(gateway.clone(), prefix);
    let key_prefix = format!("{prefix}/").into_bytes();
    let marker = Slot::Meta(COPY_MARKER.into()).key(&key_prefix);
    let (present, _) = load(&gateway, &key_prefix).await?;
    if present.iter().any(|kv| kv.key == marker) {
        tracing::info!("clearing what an interrupted copy left under {prefix}/");
        let range = json!({"key": b64(&key_prefix), "range_end": b64(&prefix_end(&key_prefix))});
        gateway.call::<serde_json::Value>("/v3/kv/deleterange", &range).await?;
        blobs.clear().await?;
    } else if !present.is_empty() {
        return Err(CopyError::NotEmpty(format!("prefix {prefix}/")));
    }
    // The marker goes in only where nothing is, so two copies into one prefix cannot both proceed.
    let mark = json!({
        "compare": [{"key": b64(&key_prefix), "range_end": b64(&prefix_end(&key_prefix)),
                     "target": "CREATE", "create_revision": "0", "result": "EQUAL"}],
        "success": [{"request_put": {"key": b64(&marker), "value": b64(b"copying")}}],
    });
    let marked: TxnResponse = gateway.call("/v3/kv/txn", &mark).await?;
    if !marked.succeeded {
        return Err(CopyError::NotEmpty(format!("prefix {prefix}/ (written to meanwhile)")));
    }
    // Contents before the records that name them.
    for file in files {
        contents.share(file, &blobs).await?;
    }
    for batch in entries.chunks(BATCH) {
        let puts: Vec<_> = batch
            .iter()
            .map(|(slot, value)| json!({"request_put": {"key": b64(&slot.key(&key_prefix)), "value": b64(value)}}))
            .collect();
        gateway
            .call::<TxnResponse>("/v3/kv/txn", &json!({"success": puts}))
            .await?;
    }
    gateway
        .call::<serde_json::Value>("/v3/kv/deleterange", &json!({"key": b64(&marker)}))
        .await?;
    Ok(())
}
