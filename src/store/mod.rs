//! The state store: typed collections on top of a [`backend`] — sled in the data directory (the default), or an
//! etcd cluster shared by several orchestrators.
//!
//! Every value is a [`Versioned`] record encoded as MessagePack behind a one-byte schema version (see [`codec`]),
//! keyed by collection and id. Writes go through a single commit path, a compare-and-swap that also records the
//! change, so the change feed (`watch`) and the log that `/events` resumes from can never disagree with the data.
//! A write returns only once it is durable (sled: flushed to disk; etcd: committed by a quorum): once the API
//! acknowledges, a `kill -9` cannot take it back.

mod backend;
pub mod backup;
mod codec;
pub mod copy;
mod election;
mod embedded;
mod etcd;
mod feed;
mod flusher;
mod lock;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use backend::{Backend, Commit, Conflict, Durability};
pub use election::{Election, Leadership};
use embedded::Embedded;
use etcd::Etcd;
pub use etcd::access::{Access, Security};
pub use etcd::blobs::{Blobs, sha256_of};
pub use feed::{Change, ChangeKind, Replay};

/// The directory, inside the data directory, that holds sled's files.
const DB_DIR: &str = "db";
/// How often `drop_blob` looks again when records keep changing under it.
const DROP_BLOB_ATTEMPTS: usize = 5;

/// A type that lives in its own collection, keyed by a string id.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The sled tree (and `/events` collection name) holding these records.
    const COLLECTION: &'static str;
    fn id(&self) -> &str;
}

/// Declares a [`Record`] the way almost every record is one: `record!(Node, "nodes", id)` names the type, its
/// collection and the field that is its id.
macro_rules! record {
    ($record:ty, $collection:literal, $id:ident) => {
        impl $crate::store::Record for $record {
            const COLLECTION: &'static str = $collection;
            fn id(&self) -> &str {
                &self.$id
            }
        }
    };
}
pub(crate) use record;

/// A record together with its version: 1 on creation, +1 on every update. The version is the ETag the API hands
/// out and the compare-and-swap token it takes back.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Versioned<T> {
    pub version: u64,
    pub value: T,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{collection} '{id}' already exists")]
    AlreadyExists { collection: &'static str, id: String },
    #[error("{collection} '{id}' not found")]
    NotFound { collection: &'static str, id: String },
    #[error("{collection} '{id}' was changed concurrently: expected version {expected}, found {actual}")]
    VersionMismatch {
        collection: &'static str,
        id: String,
        expected: u64,
        actual: u64,
    },
    #[error("record {collection}/{id} cannot be decoded: {reason}")]
    Corrupt {
        collection: &'static str,
        id: String,
        reason: String,
    },
    #[error("data directory {path} is in use by another zos-orchestrator process")]
    Locked { path: PathBuf },
    #[error("state store I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("state store error: {0}")]
    Sled(#[from] sled::Error),
    /// The etcd cluster did not answer, or has no quorum: nothing was written.
    #[error("the state store (etcd) is unavailable: {0}")]
    Unavailable(String),
    /// etcd answered something this build cannot use (a refused request, an undecodable answer).
    #[error("the state store (etcd) refused the request: {0}")]
    Etcd(String),
    #[error("{0}")]
    Unsupported(&'static str),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What `list` returns: one page of records, in id order.
pub struct Page<T> {
    pub items: Vec<Versioned<T>>,
    /// The id to pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<String>,
}

/// How `put` treats the record that is already there.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// The id must be free (create).
    Absent,
    /// The record must exist at exactly this version (compare-and-swap update).
    Version(u64),
}

impl Expect {
    /// What a write over the record read as `current` expects: that version, or, when none was there, none.
    pub fn after<T>(current: Option<&Versioned<T>>) -> Expect {
        current.map_or(Expect::Absent, |record| Expect::Version(record.version))
    }
}

/// Where the state lives (`--store`).
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// sled, in the data directory.
    Sled,
    /// An etcd cluster: how to reach its members, and the prefix every key goes under.
    Etcd { access: Access, prefix: String },
}

impl Location {
    /// `sled`, or `etcd://host:port[,host:port…]` (`etcds://` for TLS), with `prefix` for etcd's keys.
    pub fn parse(text: &str, prefix: &str) -> std::result::Result<Location, String> {
        if text == "sled" {
            return Ok(Location::Sled);
        }
        let Some(access) = Access::parse(text) else {
            return Err("expected sled or etcd://host:port[,host:port…] (etcds:// for TLS)".into());
        };
        if prefix.is_empty() || prefix.ends_with('/') || prefix.chars().any(|c| c.is_control() || c == ' ') {
            return Err(format!(
                "store prefix '{prefix}' must be non-empty, without spaces, and not end with '/'"
            ));
        }
        Ok(Location::Etcd {
            access: access?,
            prefix: prefix.to_owned(),
        })
    }

    /// Adds etcd's TLS and user settings; any of them given for sled is refused rather than ignored.
    pub fn secured(self, security: Security) -> std::result::Result<Location, String> {
        match self {
            Location::Etcd { access, prefix } => Ok(Location::Etcd {
                access: access.secured(security)?,
                prefix,
            }),
            Location::Sled if security.is_empty() => Ok(Location::Sled),
            Location::Sled => Err("etcd TLS or user settings were given, but the store is sled".into()),
        }
    }
}

/// A cheap, clonable handle to the store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Backend>,
}

impl Store {
    /// A new embedded store in a directory of its own, for a unit test; the store lives as long as the directory.
    #[cfg(test)]
    pub fn scratch() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    /// Opens (or creates) the embedded store under `data_dir`. Takes an exclusive lock on the directory first, so
    /// a second process fails here before it reads or writes anything.
    pub fn open(data_dir: &Path) -> Result<Store> {
        Ok(Store {
            inner: Arc::new(Backend::Embedded(Embedded::open(data_dir)?)),
        })
    }

    /// Opens the store `location` names: sled under `data_dir`, or the records under `prefix` on an etcd cluster.
    pub async fn connect(location: &Location, data_dir: &Path) -> Result<Store> {
        match location {
            Location::Sled => Store::open(data_dir),
            Location::Etcd { access, prefix } => Ok(Store {
                inner: Arc::new(Backend::Etcd(Etcd::connect(access, prefix).await?)),
            }),
        }
    }

    /// `sled` or `etcd`, for `/health` and `/metrics`.
    pub fn backend_name(&self) -> &'static str {
        self.inner.name()
    }

    pub fn get<T: Record>(&self, id: &str) -> Result<Option<Versioned<T>>> {
        self.inner
            .get(T::COLLECTION, id)?
            .map(|raw| codec::decode(T::COLLECTION, id, &raw))
            .transpose()
    }

    /// Records in id order whose id starts with `prefix`, strictly after `after`, that pass `filter`; at most
    /// `limit` of them.
    pub fn list<T: Record>(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        filter: impl Fn(&T) -> bool,
    ) -> Result<Page<T>> {
        let start = match after {
            Some(after) if after.as_bytes() >= prefix.as_bytes() => Bound::Excluded(after.as_bytes().to_vec()),
            _ => Bound::Included(prefix.as_bytes().to_vec()),
        };
        let mut page = Pager::new(limit, filter);
        self.inner
            .scan(T::COLLECTION, (start, Bound::Unbounded), false, &mut |key, raw| {
                Ok(key.starts_with(prefix.as_bytes()) && page.offer(key, raw)?)
            })?;
        Ok(page.finish())
    }

    /// Every record of a collection, in id order (for small collections: settings, profiles, tokens, nodes).
    pub fn all<T: Record>(&self) -> Result<Vec<T>> {
        Ok(self
            .list::<T>("", None, usize::MAX, |_| true)?
            .items
            .into_iter()
            .map(|record| record.value)
            .collect())
    }

    /// The ids of a collection, in order, without decoding its records: for a sweep that only needs to know
    /// which exist (the heartbeat's, over every node's status).
    pub fn ids<T: Record>(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        self.inner.scan(
            T::COLLECTION,
            (Bound::Unbounded, Bound::Unbounded),
            false,
            &mut |key, _| {
                ids.push(String::from_utf8_lossy(key).into_owned());
                Ok(true)
            },
        )?;
        Ok(ids)
    }

    /// Up to `limit` records that pass `filter`, in reverse id order, strictly before `before` (newest first for
    /// time-ordered ids).
    pub fn list_newest<T: Record>(
        &self,
        before: Option<&str>,
        limit: usize,
        filter: impl Fn(&T) -> bool,
    ) -> Result<Page<T>> {
        let end = match before {
            Some(before) => Bound::Excluded(before.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut page = Pager::new(limit, filter);
        self.inner
            .scan(T::COLLECTION, (Bound::Unbounded, end), true, &mut |key, raw| {
                page.offer(key, raw)
            })?;
        Ok(page.finish())
    }

    /// Writes `value` if the current record matches `expect`, durably, and returns the stored record.
    pub async fn put<T: Record>(&self, value: T, expect: Expect) -> Result<Versioned<T>> {
        self.write(value, expect, Durability::Flushed).await
    }

    /// Creates a record without waiting for it to reach the disk (sled flushes within half a second): for
    /// high-volume observations (boot events) whose last moments a crash may lose.
    pub async fn insert_unflushed<T: Record>(&self, value: T) -> Result<Versioned<T>> {
        self.write(value, Expect::Absent, Durability::Background).await
    }

    /// Adds a record to an append-only log (the audit log), outside the change feed: nobody follows such a log
    /// live, every one of its records would push a change that clients resume from out of the feed's window, and
    /// `/events` would tell every viewer of records only an admin may read. `durable`: on disk before it returns.
    pub async fn append<T: Record>(&self, value: T, durable: bool) -> Result<()> {
        let id = value.id().to_owned();
        let encoded = codec::encode(&Versioned { version: 1, value })?;
        if !self.inner.append(T::COLLECTION, &id, encoded, durable).await? {
            return Err(StoreError::AlreadyExists {
                collection: T::COLLECTION,
                id,
            });
        }
        Ok(())
    }

    /// Drops a record of an append-only log (see `append`), without waiting for the disk; `false` when it was
    /// not there (someone else removed it first).
    pub fn remove_appended<T: Record>(&self, id: &str) -> Result<bool> {
        self.inner.remove_appended(T::COLLECTION, id)
    }

    /// The largest id in a collection.
    pub fn last_id<T: Record>(&self) -> Result<Option<String>> {
        let mut last = None;
        self.inner.scan(
            T::COLLECTION,
            (Bound::Unbounded, Bound::Unbounded),
            true,
            &mut |key, _| {
                last = Some(String::from_utf8_lossy(key).into_owned());
                Ok(false)
            },
        )?;
        Ok(last)
    }

    async fn write<T: Record>(&self, value: T, expect: Expect, durability: Durability) -> Result<Versioned<T>> {
        let id = value.id().to_owned();
        let current = self.get::<T>(&id)?;
        let version = match (expect, &current) {
            (Expect::Absent, None) => 1,
            (Expect::Absent, Some(_)) => {
                return Err(StoreError::AlreadyExists {
                    collection: T::COLLECTION,
                    id,
                });
            }
            (Expect::Version(_), None) => {
                return Err(StoreError::NotFound {
                    collection: T::COLLECTION,
                    id,
                });
            }
            (Expect::Version(expected), Some(cur)) if cur.version != expected => {
                return Err(StoreError::VersionMismatch {
                    collection: T::COLLECTION,
                    id,
                    expected,
                    actual: cur.version,
                });
            }
            (Expect::Version(expected), Some(_)) => expected + 1,
        };
        let record = Versioned { version, value };
        let encoded = codec::encode(&record)?;
        let kind = if version == 1 {
            ChangeKind::Created
        } else {
            ChangeKind::Updated
        };
        let old = current.map(|cur| codec::encode(&cur)).transpose()?;
        self.commit::<T>(&id, kind, old, Some(encoded), durability).await?;
        Ok(record)
    }

    /// Deletes the record; `Ok(false)` when there was none. With `expected`, only that version is deleted.
    pub async fn delete<T: Record>(&self, id: &str, expected: Option<u64>) -> Result<bool> {
        self.remove::<T>(id, expected, Durability::Flushed).await
    }

    /// `delete` without waiting for the disk (see `insert_unflushed`).
    pub async fn delete_unflushed<T: Record>(&self, id: &str) -> Result<bool> {
        self.remove::<T>(id, None, Durability::Background).await
    }

    async fn remove<T: Record>(&self, id: &str, expected: Option<u64>, durability: Durability) -> Result<bool> {
        let Some(current) = self.get::<T>(id)? else {
            return Ok(false);
        };
        if let Some(expected) = expected.filter(|e| *e != current.version) {
            return Err(StoreError::VersionMismatch {
                collection: T::COLLECTION,
                id: id.to_owned(),
                expected,
                actual: current.version,
            });
        }
        let old = codec::encode(&current)?;
        self.commit::<T>(id, ChangeKind::Deleted, Some(old), None, durability)
            .await?;
        Ok(true)
    }

    /// Subscribes to changes committed from now on.
    pub fn watch(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.inner.watch()
    }

    /// The position of the newest committed change (0 for a new store; etcd: its revision).
    pub fn last_change_seq(&self) -> u64 {
        self.inner.last_change_seq()
    }

    /// The retained changes after `seq` (for `/events` resume).
    pub fn changes_since(&self, seq: u64) -> Result<Replay> {
        self.inner.changes_since(seq)
    }

    /// A small key/value space for the process's own bookkeeping (e.g. "bootstrap token issued").
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.meta_get(key)
    }

    pub async fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.inner.meta_put(key, value).await
    }

    /// The content store the instances on one etcd prefix share, for files every one of them serves (boot
    /// assets); `None` with sled, whose one instance keeps its files in its data directory.
    pub fn blobs(&self) -> Option<Blobs> {
        self.inner.blobs().cloned()
    }

    /// Removes the blob `sha256` unless a record of `T` names it (`names`), also one another instance wrote
    /// after this one looked: the removal only happens if no record of `T` changed since, and is looked at again
    /// when one did. Nothing to do with sled.
    pub async fn drop_blob<T: Record>(&self, sha256: &str, names: impl Fn(&T) -> bool) -> Result<()> {
        let Some(blobs) = self.inner.blobs() else {
            return Ok(());
        };
        for _ in 0..DROP_BLOB_ATTEMPTS {
            let seen = self.last_change_seq();
            if !self.list::<T>("", None, 1, &names)?.items.is_empty()
                || blobs.remove_unless_written_since(sha256, T::COLLECTION, seen).await?
            {
                return Ok(());
            }
            // A record changed meanwhile: give the watch a moment to bring it here, then look again.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        tracing::warn!(
            sha256,
            "{} keep changing; the unused blob stays in etcd for now",
            T::COLLECTION
        );
        Ok(())
    }

    /// Starts the election of the instance that runs the engine: `instance` is this one's id, `lease` how long
    /// a leader that stopped renewing keeps the engine from the others (etcd only; with sled this instance
    /// leads from now on).
    pub fn elect(&self, instance: &str, lease: std::time::Duration) -> Election {
        self.inner.elect(instance, lease)
    }

    /// Why the store cannot be reached now (`None` for sled, or an etcd that answers): reads then come from this
    /// instance's last copy of the state, which may be stale.
    pub fn out_of_reach(&self) -> Option<String> {
        self.inner.out_of_reach()
    }

    /// Bytes the database takes (for `/health` and `/metrics`); an error when the store cannot be reached.
    pub fn size_on_disk(&self) -> Result<u64> {
        self.inner.size()
    }

    /// Flushes everything to disk; called on shutdown.
    pub async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }

    /// The one write path: a compare-and-swap against the bytes the caller read, which records the change too.
    async fn commit<T: Record>(
        &self,
        id: &str,
        kind: ChangeKind,
        old: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        durability: Durability,
    ) -> Result<()> {
        let expected = match &old {
            Some(old) => codec::decode::<T>(T::COLLECTION, id, old)?.version,
            None => 0,
        };
        let commit = Commit {
            collection: T::COLLECTION,
            id,
            kind,
            old,
            new,
            durability,
        };
        match self.inner.commit(commit).await? {
            Ok(()) => Ok(()),
            // A create that lost to another writer's create: the id is taken.
            Err(Conflict { actual: Some(_) }) if expected == 0 => Err(StoreError::AlreadyExists {
                collection: T::COLLECTION,
                id: id.to_owned(),
            }),
            Err(conflict) => {
                let actual = match conflict.actual {
                    Some(raw) => codec::decode::<T>(T::COLLECTION, id, &raw)?.version,
                    None => 0,
                };
                Err(StoreError::VersionMismatch {
                    collection: T::COLLECTION,
                    id: id.to_owned(),
                    expected,
                    actual,
                })
            }
        }
    }
}

/// Collects one page: up to `limit` records, offered in the order listed, that pass `filter`, and the id to
/// continue after when there are more.
struct Pager<T, F> {
    limit: usize,
    filter: F,
    items: Vec<Versioned<T>>,
    next_after: Option<String>,
}

impl<T: Record, F: Fn(&T) -> bool> Pager<T, F> {
    fn new(limit: usize, filter: F) -> Self {
        Pager {
            limit,
            filter,
            items: Vec::new(),
            next_after: None,
        }
    }

    /// Takes one entry; `false` once the page is full and one more matching record proved there are more.
    fn offer(&mut self, key: &[u8], raw: &[u8]) -> Result<bool> {
        let record: Versioned<T> = codec::decode(T::COLLECTION, &String::from_utf8_lossy(key), raw)?;
        if !(self.filter)(&record.value) {
            return Ok(true);
        }
        if self.items.len() == self.limit {
            self.next_after = self.items.last().map(|last| last.value.id().to_owned());
            return Ok(false);
        }
        self.items.push(record);
        Ok(true)
    }

    fn finish(self) -> Page<T> {
        Page {
            items: self.items,
            next_after: self.next_after,
        }
    }
}

#[cfg(test)]
mod tests;
