//! The state store: sled underneath, typed collections on top.
//!
//! Every collection is one sled tree named after it; every value is a [`Versioned`] record encoded as MessagePack
//! behind a one-byte schema version (see [`codec`]). Writes go through a single commit path that also appends to
//! the change log, so the change feed (`watch`) and the log that `/events` resumes from can never disagree with
//! the data. A write returns only after sled has flushed it to disk: once the API acknowledges, a `kill -9`
//! cannot take it back.

pub mod backup;
mod codec;
mod feed;
mod flusher;
mod lock;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use feed::{Change, ChangeKind, Replay};
use lock::DirLock;

/// The directory, inside the data directory, that holds sled's files.
const DB_DIR: &str = "db";

/// A type that lives in its own collection, keyed by a string id.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The sled tree (and `/events` collection name) holding these records.
    const COLLECTION: &'static str;
    fn id(&self) -> &str;
}

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

/// A cheap, clonable handle to the store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    feed: feed::Feed,
    flusher: flusher::Flusher,
    /// Serialises commits so change sequence numbers are published in the order they were committed: a client
    /// resuming `/events` after seq N must never miss an N-1 that committed late.
    commit: Mutex<()>,
    _lock: DirLock,
}

impl Store {
    /// Opens (or creates) the store under `data_dir`. Takes an exclusive lock on the directory first, so a second
    /// process fails here before it reads or writes anything.
    pub fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir)?;
        let lock = DirLock::acquire(data_dir)?;
        let db = sled::Config::new().path(data_dir.join(DB_DIR)).open()?;
        let feed = feed::Feed::open(&db)?;
        let flusher = flusher::Flusher::start(db.clone())?;
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                feed,
                flusher,
                commit: Mutex::new(()),
                _lock: lock,
            }),
        })
    }

    pub fn get<T: Record>(&self, id: &str) -> Result<Option<Versioned<T>>> {
        let tree = self.tree::<T>()?;
        tree.get(id.as_bytes())?
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
        let tree = self.tree::<T>()?;
        let start = match after {
            Some(after) if after.as_bytes() >= prefix.as_bytes() => Bound::Excluded(after.as_bytes().to_vec()),
            _ => Bound::Included(prefix.as_bytes().to_vec()),
        };
        let entries = tree.range((start, Bound::Unbounded)).take_while(|entry| {
            entry
                .as_ref()
                .map_or(true, |(key, _)| key.starts_with(prefix.as_bytes()))
        });
        page_of(entries, limit, filter)
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
        self.tree::<T>()?
            .iter()
            .keys()
            .map(|key| Ok(String::from_utf8_lossy(&key?).into_owned()))
            .collect()
    }

    /// Up to `limit` records that pass `filter`, in reverse id order, strictly before `before` (newest first for
    /// time-ordered ids).
    pub fn list_newest<T: Record>(
        &self,
        before: Option<&str>,
        limit: usize,
        filter: impl Fn(&T) -> bool,
    ) -> Result<Page<T>> {
        let tree = self.tree::<T>()?;
        let end = match before {
            Some(before) => Bound::Excluded(before.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        page_of(tree.range((Bound::Unbounded, end)).rev(), limit, filter)
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
        let tree = self.tree::<T>()?;
        let id = value.id().to_owned();
        let encoded = codec::encode(&Versioned { version: 1, value })?;
        if tree
            .compare_and_swap(id.as_bytes(), None::<&[u8]>, Some(encoded))?
            .is_err()
        {
            return Err(StoreError::AlreadyExists {
                collection: T::COLLECTION,
                id,
            });
        }
        if durable {
            self.inner.flusher.durable().await?;
        }
        Ok(())
    }

    /// Drops a record of an append-only log (see `append`), without waiting for the disk; `false` when it was
    /// not there (someone else removed it first).
    pub fn remove_appended<T: Record>(&self, id: &str) -> Result<bool> {
        Ok(self.tree::<T>()?.remove(id.as_bytes())?.is_some())
    }

    /// The largest id in a collection.
    pub fn last_id<T: Record>(&self) -> Result<Option<String>> {
        Ok(self
            .tree::<T>()?
            .last()?
            .map(|(key, _)| String::from_utf8_lossy(&key).into_owned()))
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
        self.inner.feed.subscribe()
    }

    /// The sequence number of the newest committed change (0 for a new store).
    pub fn last_change_seq(&self) -> u64 {
        self.inner.feed.last_seq()
    }

    /// The retained changes after `seq`, from the durable change log (for `/events` resume).
    pub fn changes_since(&self, seq: u64) -> Result<Replay> {
        self.inner.feed.since(seq)
    }

    /// A small key/value space for the process's own bookkeeping (e.g. "bootstrap token issued").
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.db.open_tree("meta")?.get(key)?.map(|v| v.to_vec()))
    }

    pub async fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.inner.db.open_tree("meta")?.insert(key, value)?;
        self.inner.flusher.durable().await?;
        Ok(())
    }

    /// Bytes the database takes on disk (for `/health` and `/metrics`).
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.inner.db.size_on_disk()?)
    }

    /// Flushes everything to disk; called on shutdown.
    pub async fn flush(&self) -> Result<()> {
        self.inner.flusher.durable().await?;
        Ok(())
    }

    fn tree<T: Record>(&self) -> Result<sled::Tree> {
        Ok(self.inner.db.open_tree(T::COLLECTION)?)
    }

    /// The one write path. Under the commit lock it appends the change to the log, then swaps the record in
    /// only if it still holds `old` (a writer may have raced us since `get`), then publishes the change; finally
    /// it waits until both are on disk.
    ///
    /// Why not one sled transaction: multi-tree transactions (and batches) take sled 0.34's global exclusive
    /// lock, behind which every reader and the log flusher then queue; the order below needs no such lock and
    /// gives the guarantee that matters: sled recovers a prefix of its log, so a record change that survived a
    /// crash always has its change entry. The reverse case (entry written, crash before the swap) costs a
    /// spurious event, which subscribers treat like any other hint to re-read.
    async fn commit<T: Record>(
        &self,
        id: &str,
        kind: ChangeKind,
        old: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        durability: Durability,
    ) -> Result<()> {
        let tree = self.tree::<T>()?;
        {
            let _serialised = self
                .inner
                .commit
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let change = self.inner.feed.next_change(kind, T::COLLECTION, id);
            self.inner.feed.append(&change)?;
            match tree.compare_and_swap(id.as_bytes(), old.as_deref(), new)? {
                Ok(()) => self.inner.feed.publish(change),
                Err(_) => {
                    self.inner.feed.retract(&change)?;
                    let actual = self.get::<T>(id)?.map_or(0, |r| r.version);
                    let expected = match old {
                        Some(old) => codec::decode::<T>(T::COLLECTION, id, &old)?.version,
                        None => 0,
                    };
                    return Err(StoreError::VersionMismatch {
                        collection: T::COLLECTION,
                        id: id.to_owned(),
                        expected,
                        actual,
                    });
                }
            }
        }
        if durability == Durability::Flushed {
            self.inner.flusher.durable().await?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// On disk before the call returns.
    Flushed,
    /// On disk within sled's flush interval.
    Background,
}

/// Up to `limit` records of `entries` (in the order given) that pass `filter`, and the id to continue after when
/// there are more.
fn page_of<T: Record>(
    entries: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    limit: usize,
    filter: impl Fn(&T) -> bool,
) -> Result<Page<T>> {
    let mut items = Vec::new();
    let mut next_after = None;
    for entry in entries {
        let (key, raw) = entry?;
        let record: Versioned<T> = codec::decode(T::COLLECTION, &String::from_utf8_lossy(&key), &raw)?;
        if !filter(&record.value) {
            continue;
        }
        if items.len() == limit {
            next_after = items.last().map(|last: &Versioned<T>| last.value.id().to_owned());
            break;
        }
        items.push(record);
    }
    Ok(Page { items, next_after })
}
