//! File contents kept in etcd beside the records, so every instance on a prefix can serve a file (a boot asset)
//! that only one of them received.
//!
//! A blob is named by its SHA-256 and cut into chunks of [`CHUNK`] bytes, each its own key
//! `PREFIX.blob/SHA256/NNNNNN` (etcd refuses requests over 1.5 MiB by default, so one key per file is out). The
//! keys sit beside the prefix, not under it: the replica loads and watches everything under `PREFIX/`, and
//! must not carry megabytes of content into every instance's memory at start and on every change. A record
//! names a blob only once all its chunks are written, so readers never meet a record without its content; the
//! chunk count follows from the size the record gives.

use std::path::Path;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::gateway::{Gateway, RangeResponse, TxnResponse, b64, prefix_end};
use super::replica::Slot;
use crate::store::{Result, StoreError};

/// Bytes per chunk: under etcd's default request limit (1.5 MiB) with room for the key and the envelope.
const CHUNK: u64 = 1 << 20;
/// Chunks fetched at once while reading a blob.
const READ_AHEAD: usize = 4;

/// A handle on the blobs of one prefix; cheap to clone.
#[derive(Clone)]
pub struct Blobs {
    gateway: Arc<Gateway>,
    /// `PREFIX.blob/`.
    root: Vec<u8>,
    /// `PREFIX/`, where the records are.
    records: Vec<u8>,
}

/// How many chunks a blob of `size` bytes has.
fn chunks(size: u64) -> u64 {
    size.div_ceil(CHUNK)
}

impl Blobs {
    pub fn new(gateway: Arc<Gateway>, prefix: &str) -> Blobs {
        Blobs {
            gateway,
            root: format!("{prefix}.blob/").into_bytes(),
            records: format!("{prefix}/").into_bytes(),
        }
    }

    fn dir(&self, sha256: &str) -> Vec<u8> {
        [&self.root, sha256.as_bytes(), b"/"].concat()
    }

    fn chunk_key(&self, sha256: &str, index: u64) -> Vec<u8> {
        [self.dir(sha256), format!("{index:06}").into_bytes()].concat()
    }

    /// Whether every chunk of the blob is in etcd.
    pub async fn complete(&self, sha256: &str, size: u64) -> Result<bool> {
        let dir = self.dir(sha256);
        let request = json!({"key": b64(&dir), "range_end": b64(&prefix_end(&dir)), "count_only": true});
        let answer: Value = self.gateway.call("/v3/kv/range", &request).await?;
        // 64-bit integers come as strings; a count of 0 is left out.
        let count = answer.get("count").and_then(Value::as_str).unwrap_or("0");
        let count: u64 = count
            .parse()
            .map_err(|err| StoreError::Etcd(format!("cannot read a count: {err}")))?;
        Ok(count == chunks(size))
    }

    /// Writes the content of `file` (whose SHA-256 the caller has checked) as the blob `sha256`, unless it is
    /// there already. Chunks go one after the other: each is a quorum write of a megabyte.
    pub async fn put(&self, sha256: &str, file: &Path) -> Result<()> {
        let mut file = tokio::fs::File::open(file).await?;
        let size = file.metadata().await?.len();
        if self.complete(sha256, size).await? {
            return Ok(());
        }
        let mut buffer = Vec::with_capacity(CHUNK as usize);
        for index in 0..chunks(size) {
            buffer.clear();
            (&mut file).take(CHUNK).read_to_end(&mut buffer).await?;
            let put = json!({"key": b64(&self.chunk_key(sha256, index)), "value": b64(&buffer)});
            self.gateway.call::<Value>("/v3/kv/put", &put).await?;
        }
        Ok(())
    }

    /// Writes the blob into a new file at `path` (synced), checking its size and SHA-256 on the way.
    pub async fn read_into(&self, sha256: &str, size: u64, path: &Path) -> Result<()> {
        let mut file = tokio::fs::File::create(path).await?;
        let mut hasher = Sha256::new();
        let mut read = 0u64;
        let mut chunks = std::pin::pin!(self.read(sha256, size));
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            read += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        let found = hex::encode(hasher.finalize());
        if read != size || found != sha256 {
            return Err(StoreError::Corrupt {
                collection: "blob",
                id: sha256.to_owned(),
                reason: format!("its chunks hold {read} bytes with SHA-256 {found}"),
            });
        }
        file.sync_all().await?;
        Ok(())
    }

    /// The blob's chunks in order, a few fetched ahead. A missing chunk is `NotFound`: the blob was removed.
    fn read(&self, sha256: &str, size: u64) -> impl Stream<Item = Result<Vec<u8>>> + '_ {
        let sha256 = sha256.to_owned();
        futures_util::stream::iter(0..chunks(size))
            .map(move |index| {
                let key = self.chunk_key(&sha256, index);
                let sha256 = sha256.clone();
                async move {
                    let answer: RangeResponse = self.gateway.call("/v3/kv/range", &json!({"key": b64(&key)})).await?;
                    answer
                        .kvs
                        .into_iter()
                        .next()
                        .map(|kv| kv.value)
                        .ok_or(StoreError::NotFound {
                            collection: "blob",
                            id: format!("{sha256} (chunk {index})"),
                        })
                }
            })
            .buffered(READ_AHEAD)
    }

    /// Removes the blob if no record of `collection` was written after revision `seen` (one transaction), so a
    /// record naming it that the caller has not seen keeps it. `false`: one was, look again.
    pub async fn remove_unless_written_since(&self, sha256: &str, collection: &str, seen: u64) -> Result<bool> {
        let records = Slot::Record {
            collection: collection.to_owned(),
            id: String::new(),
        }
        .key(&self.records);
        let dir = self.dir(sha256);
        let txn = json!({
            "compare": [{"key": b64(&records), "range_end": b64(&prefix_end(&records)),
                         "target": "MOD", "result": "LESS", "mod_revision": (seen + 1).to_string()}],
            "success": [{"request_delete_range": {"key": b64(&dir), "range_end": b64(&prefix_end(&dir))}}],
        });
        let answer: TxnResponse = self.gateway.call("/v3/kv/txn", &txn).await?;
        Ok(answer.succeeded)
    }

    /// Removes every blob of the prefix (a `store copy` starting over).
    pub async fn clear(&self) -> Result<()> {
        let range = json!({"key": b64(&self.root), "range_end": b64(&prefix_end(&self.root))});
        self.gateway.call::<Value>("/v3/kv/deleterange", &range).await?;
        Ok(())
    }
}

/// The SHA-256 of a file's content, hex (on a blocking thread: files are up to gigabytes).
pub async fn sha256_of(path: &Path) -> std::io::Result<String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher)?;
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(std::io::Error::other)?
}
