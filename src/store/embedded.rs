//! The embedded backend: sled, in the data directory. One sled tree per collection, the change log in its own
//! tree (see [`feed`]), writes made durable by the group-commit [`flusher`].

use std::path::Path;
use std::sync::Mutex;

use super::backend::{Commit, Conflict, Durability, KeyRange, Visit, walk};
use super::feed::{self, Change, Replay};
use super::flusher::Flusher;
use super::lock::DirLock;
use super::{DB_DIR, Result, StoreError};

/// The tree of bookkeeping keys (`meta_get`, `meta_put`).
pub(super) const META_TREE: &str = "meta";
/// sled's default tree, which the store never uses.
pub(super) const DEFAULT_TREE: &[u8] = b"__sled__default";

pub struct Embedded {
    pub(super) db: sled::Db,
    pub(super) feed: feed::Feed,
    flusher: Flusher,
    /// Serialises commits so change sequence numbers are published in the order they were committed: a client
    /// resuming `/events` after seq N must never miss an N-1 that committed late.
    pub(super) commit: Mutex<()>,
    _lock: DirLock,
}

impl Embedded {
    /// Takes an exclusive lock on the directory first, so a second process fails here before it reads or writes
    /// anything.
    pub fn open(data_dir: &Path) -> Result<Embedded> {
        std::fs::create_dir_all(data_dir)?;
        let lock = DirLock::acquire(data_dir)?;
        let db = sled::Config::new().path(data_dir.join(DB_DIR)).open()?;
        let feed = feed::Feed::open(&db)?;
        let flusher = Flusher::start(db.clone())?;
        Ok(Embedded {
            db,
            feed,
            flusher,
            commit: Mutex::new(()),
            _lock: lock,
        })
    }

    pub fn get(&self, collection: &str, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .open_tree(collection)?
            .get(id.as_bytes())?
            .map(|raw| raw.to_vec()))
    }

    pub fn scan(&self, collection: &str, range: KeyRange, reverse: bool, visit: Visit) -> Result<()> {
        let tree = self.db.open_tree(collection)?;
        let entries = tree.range(range).map(|entry| entry.map_err(StoreError::from));
        walk(entries, reverse, visit)
    }

    pub async fn append(&self, collection: &str, id: &str, value: Vec<u8>, durable: bool) -> Result<bool> {
        let inserted = self
            .db
            .open_tree(collection)?
            .compare_and_swap(id.as_bytes(), None::<&[u8]>, Some(value))?
            .is_ok();
        if inserted && durable {
            self.flusher.durable().await?;
        }
        Ok(inserted)
    }

    pub fn remove_appended(&self, collection: &str, id: &str) -> Result<bool> {
        Ok(self.db.open_tree(collection)?.remove(id.as_bytes())?.is_some())
    }

    /// Under the commit lock it appends the change to the log, then swaps the record in only if it still holds
    /// `old` (a writer may have raced us since the caller read it), then publishes the change; finally it waits
    /// until both are on disk.
    ///
    /// Why not one sled transaction: multi-tree transactions (and batches) take sled 0.34's global exclusive
    /// lock, behind which every reader and the log flusher then queue; the order below needs no such lock and
    /// gives the guarantee that matters: sled recovers a prefix of its log, so a record change that survived a
    /// crash always has its change entry. The reverse case (entry written, crash before the swap) costs a
    /// spurious event, which subscribers treat like any other hint to re-read.
    pub async fn commit(&self, commit: Commit<'_>) -> Result<Result<(), Conflict>> {
        let Commit {
            collection,
            id,
            kind,
            old,
            new,
            durability,
        } = commit;
        let tree = self.db.open_tree(collection)?;
        {
            let _serialised = self.commit.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let change = self.feed.next_change(kind, collection, id);
            self.feed.append(&change)?;
            match tree.compare_and_swap(id.as_bytes(), old.as_deref(), new)? {
                Ok(()) => self.feed.publish(change),
                Err(refused) => {
                    self.feed.retract(&change)?;
                    return Ok(Err(Conflict {
                        actual: refused.current.map(|raw| raw.to_vec()),
                    }));
                }
            }
        }
        if durability == Durability::Flushed {
            self.flusher.durable().await?;
        }
        Ok(Ok(()))
    }

    pub fn watch(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.feed.subscribe()
    }

    pub fn last_change_seq(&self) -> u64 {
        self.feed.last_seq()
    }

    pub fn changes_since(&self, seq: u64) -> Result<Replay> {
        self.feed.since(seq)
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.db.open_tree(META_TREE)?.get(key)?.map(|v| v.to_vec()))
    }

    pub async fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.db.open_tree(META_TREE)?.insert(key, value)?;
        self.flusher.durable().await
    }

    pub fn size(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }

    pub async fn flush(&self) -> Result<()> {
        self.flusher.durable().await
    }
}
