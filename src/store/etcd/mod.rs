//! The etcd backend: every record, appended entry and bookkeeping key under one prefix of an etcd v3 cluster,
//! so several orchestrators share one state.
//!
//! Layout under `PREFIX/`: `c/COLLECTION/ID` records, `a/COLLECTION/ID` append-only logs, `m/KEY` bookkeeping
//! (see [`replica::Slot`]), and `leader`, the engine's leader key (see `election`); beside it, under
//! `PREFIX.blob/`, the contents of files the records name (see [`blobs`]). A record's compare-and-swap is one etcd transaction comparing the key's value with
//! the bytes the writer read (or, to create, that the key does not exist). The change log is etcd's own history
//! of the prefix: a change's position is the revision that made it, delivered by a watch from a revision, and a
//! watch that fell behind compaction reloads and makes `/events` clients `reset`, as sled's trimmed log does.
//! Reads come from this instance's [`replica::Replica`].

pub mod access;
pub(super) mod blobs;
mod election;
mod follow;
pub(super) mod gateway;
pub(super) mod replica;

use std::sync::Arc;

use serde_json::json;

use super::backend::{Commit, Conflict, KeyRange, Visit};
use super::feed::{Change, Replay};
use super::{Result, StoreError};
use blobs::Blobs;
use gateway::{Gateway, RangeResponse, TxnResponse, b64, prefix_end};
use replica::{Replica, Slot};

/// The bookkeeping key `store copy` holds while it fills a prefix: a marked prefix is not served.
pub(super) const COPY_MARKER: &str = "store-copy-in-progress";

/// How many keys one range call of the initial load asks for.
const LOAD_PAGE: usize = 1000;

pub struct Etcd {
    gateway: Arc<Gateway>,
    replica: Arc<Replica>,
    blobs: Blobs,
    follower: tokio::task::JoinHandle<()>,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

impl Etcd {
    /// Loads the prefix's contents and starts following its changes.
    pub async fn connect(access: &access::Access, prefix: &str) -> Result<Etcd> {
        let gateway = Arc::new(Gateway::new(access)?);
        let blobs = Blobs::new(gateway.clone(), prefix);
        let prefix = format!("{prefix}/").into_bytes();
        let (kvs, revision) = load(&gateway, &prefix).await?;
        let replica = Arc::new(Replica::load(prefix, kvs, revision));
        if replica.meta_get(COPY_MARKER).is_some() {
            return Err(StoreError::Etcd(
                "this prefix holds an interrupted `store copy`; run the copy again to finish it".into(),
            ));
        }
        let follower = tokio::spawn(follow::follow(gateway.clone(), replica.clone()));
        Ok(Etcd {
            gateway,
            replica,
            blobs,
            follower,
        })
    }

    pub fn get(&self, collection: &str, id: &str) -> Option<Vec<u8>> {
        self.replica.get(collection, id)
    }

    pub fn scan(&self, collection: &str, range: KeyRange, reverse: bool, visit: Visit) -> Result<()> {
        self.replica.scan(collection, range, reverse, visit)
    }

    /// One transaction: if the key still holds `old` (does not exist, for `None`), put `new` (delete, for
    /// `None`); else read what it holds. Returns once the write is back in this instance's copy.
    pub async fn commit(&self, commit: Commit<'_>) -> Result<Result<(), Conflict>> {
        let Commit {
            collection,
            id,
            old,
            new,
            ..
        } = commit;
        let key = b64(&self.key(Slot::Record {
            collection: collection.to_owned(),
            id: id.to_owned(),
        }));
        let compare = match old {
            None => json!({"key": key, "target": "CREATE", "create_revision": "0", "result": "EQUAL"}),
            Some(old) => json!({"key": key, "target": "VALUE", "value": b64(&old), "result": "EQUAL"}),
        };
        let change = match new {
            Some(new) => json!({"request_put": {"key": key, "value": b64(&new)}}),
            None => json!({"request_delete_range": {"key": key}}),
        };
        let txn = json!({"compare": [compare], "success": [change], "failure": [{"request_range": {"key": key}}]});
        let answer: TxnResponse = self.gateway.call("/v3/kv/txn", &txn).await?;
        if !answer.succeeded {
            let actual = answer
                .responses
                .into_iter()
                .find_map(|op| op.response_range)
                .and_then(|range| range.kvs.into_iter().next())
                .map(|kv| kv.value);
            return Ok(Err(Conflict { actual }));
        }
        self.replica.caught_up(answer.header.revision).await;
        Ok(Ok(()))
    }

    /// Creates an appended entry; `false` when the id was taken.
    pub async fn append(&self, collection: &str, id: &str, value: Vec<u8>) -> Result<bool> {
        let key = b64(&self.key(Slot::Appended {
            collection: collection.to_owned(),
            id: id.to_owned(),
        }));
        let txn = json!({
            "compare": [{"key": key, "target": "CREATE", "create_revision": "0", "result": "EQUAL"}],
            "success": [{"request_put": {"key": key, "value": b64(&value)}}],
        });
        let answer: TxnResponse = self.gateway.call("/v3/kv/txn", &txn).await?;
        if answer.succeeded {
            self.replica.caught_up(answer.header.revision).await;
        }
        Ok(answer.succeeded)
    }

    /// Drops an appended entry from this copy at once and from etcd in the background: the caller (the audit
    /// log's trimming) does not wait for the disk on sled either, and an entry whose delete is lost is trimmed
    /// again on a later pass.
    pub fn remove_appended(&self, collection: &str, id: &str) -> Result<bool> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| StoreError::Unsupported("the etcd store is only used from within the runtime"))?;
        if !self.replica.forget(collection, id) {
            return Ok(false);
        }
        let key = self.key(Slot::Appended {
            collection: collection.to_owned(),
            id: id.to_owned(),
        });
        let gateway = self.gateway.clone();
        runtime.spawn(async move {
            let body = json!({"key": b64(&key)});
            if let Err(err) = gateway.call::<serde_json::Value>("/v3/kv/deleterange", &body).await {
                tracing::warn!("cannot remove an appended entry from etcd: {err}");
            }
        });
        Ok(true)
    }

    pub fn watch(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.replica.subscribe()
    }

    pub fn last_change_seq(&self) -> u64 {
        self.replica.last_change_seq()
    }

    pub fn changes_since(&self, seq: u64) -> Replay {
        self.replica.since(seq)
    }

    pub fn meta_get(&self, key: &str) -> Option<Vec<u8>> {
        self.replica.meta_get(key)
    }

    pub async fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        let body = json!({"key": b64(&self.key(Slot::Meta(key.to_owned()))), "value": b64(value)});
        let answer: TxnResponse = self.gateway.call("/v3/kv/put", &body).await?;
        self.replica.caught_up(answer.header.revision).await;
        Ok(())
    }

    /// Campaigns for the engine's leadership among the instances on this prefix.
    pub fn elect(&self, instance: &str, lease: std::time::Duration) -> super::election::Election {
        election::elect(self.gateway.clone(), self.replica.prefix(), instance, lease)
    }

    /// The bytes held under the prefix; an error while the last call to etcd found no member that could serve.
    pub fn size(&self) -> Result<u64> {
        match self.out_of_reach() {
            Some(problem) => Err(StoreError::Unavailable(problem)),
            None => Ok(self.replica.size()),
        }
    }

    /// Why the last call to etcd found no member that could serve it, until one does.
    pub fn out_of_reach(&self) -> Option<String> {
        self.gateway.trouble()
    }

    /// Every record, appended entry and bookkeeping key under the prefix at one revision, as the (tree, key,
    /// value) of a sled store, and that revision: what a backup holds.
    pub async fn snapshot(&self) -> Result<(Vec<(String, String, Vec<u8>)>, u64)> {
        let prefix = self.replica.prefix();
        let (kvs, revision) = load(&self.gateway, prefix).await?;
        let entries = kvs
            .into_iter()
            .filter_map(|kv| {
                let (tree, key) = Slot::parse(prefix, &kv.key)?.into_sled();
                Some((tree, key, kv.value))
            })
            .collect();
        Ok((entries, revision))
    }

    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    fn key(&self, slot: Slot) -> Vec<u8> {
        slot.key(self.replica.prefix())
    }
}

/// Everything under `prefix`, page by page at one revision, and that revision.
pub(super) async fn load(gateway: &Gateway, prefix: &[u8]) -> Result<(Vec<gateway::KeyValue>, u64)> {
    let end = b64(&prefix_end(prefix));
    let mut from = prefix.to_vec();
    let mut revision = 0;
    let mut kvs = Vec::new();
    loop {
        let mut request = json!({"key": b64(&from), "range_end": end, "limit": LOAD_PAGE.to_string()});
        if revision > 0 {
            request["revision"] = revision.to_string().into();
        }
        let page: RangeResponse = gateway.call("/v3/kv/range", &request).await?;
        if revision == 0 {
            revision = page.header.revision;
        }
        let more = page.more;
        if let Some(last) = page.kvs.last() {
            from = [last.key.as_slice(), &[0]].concat();
        }
        kvs.extend(page.kvs);
        if !more {
            return Ok((kvs, revision));
        }
    }
}
