//! The seam between the typed store and where its bytes live: sled in the data directory ([`Embedded`], the
//! default) or an etcd cluster ([`Etcd`]). Both hold, per collection, ids mapped to encoded records, take a
//! compare-and-swap on a record's old bytes, and keep a change feed with positions.
//!
//! An enum rather than a trait object: there are exactly two, the methods are partly async, and a `match` keeps
//! every call static and every difference visible here.

use std::ops::Bound;

use super::Result;
use super::embedded::Embedded;
use super::etcd::Etcd;
use super::feed::{Change, ChangeKind, Replay};

/// The ids a scan covers.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Called for each entry of a scan, in order; `Ok(false)` stops it.
pub type Visit<'a> = &'a mut dyn FnMut(&[u8], &[u8]) -> Result<bool>;

/// Hands `entries` to `visit` in their order, or in reverse, until it says stop.
pub fn walk<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    entries: impl DoubleEndedIterator<Item = Result<(K, V)>>,
    reverse: bool,
    visit: Visit,
) -> Result<()> {
    fn each<K: AsRef<[u8]>, V: AsRef<[u8]>>(entries: impl Iterator<Item = Result<(K, V)>>, visit: Visit) -> Result<()> {
        for entry in entries {
            let (key, value) = entry?;
            if !visit(key.as_ref(), value.as_ref())? {
                break;
            }
        }
        Ok(())
    }
    if reverse {
        each(entries.rev(), visit)
    } else {
        each(entries, visit)
    }
}

/// A compare-and-swap found something else than the old bytes it was given: what it found.
pub struct Conflict {
    pub actual: Option<Vec<u8>>,
}

/// One compare-and-swap of a record: if `id` in `collection` still holds `old` (is absent, for `None`), it
/// becomes `new` (is deleted, for `None`), and the change is recorded as `kind`.
pub struct Commit<'a> {
    pub collection: &'static str,
    pub id: &'a str,
    pub kind: ChangeKind,
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
    /// Embedded only: etcd acknowledges a write once a majority holds it, which is its durability.
    pub durability: Durability,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk before the call returns.
    Flushed,
    /// On disk within the backend's flush interval (sled's half second; etcd commits every write to a quorum).
    Background,
}

pub enum Backend {
    Embedded(Embedded),
    Etcd(Etcd),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded(_) => "sled",
            Backend::Etcd(_) => "etcd",
        }
    }

    pub fn get(&self, collection: &str, id: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Backend::Embedded(sled) => sled.get(collection, id),
            Backend::Etcd(etcd) => Ok(etcd.get(collection, id)),
        }
    }

    /// The entries of `collection` within `range`, in key order (or reverse), handed to `visit`.
    pub fn scan(&self, collection: &str, range: KeyRange, reverse: bool, visit: Visit) -> Result<()> {
        match self {
            Backend::Embedded(sled) => sled.scan(collection, range, reverse, visit),
            Backend::Etcd(etcd) => etcd.scan(collection, range, reverse, visit),
        }
    }

    /// Writes `new` (or removes the entry, for `None`) if the entry still holds `old`, and records the change.
    pub async fn commit(&self, commit: Commit<'_>) -> Result<Result<(), Conflict>> {
        match self {
            Backend::Embedded(sled) => sled.commit(commit).await,
            Backend::Etcd(etcd) => etcd.commit(commit).await,
        }
    }

    /// Adds an entry outside the change feed; `false` when the id was taken.
    pub async fn append(&self, collection: &str, id: &str, value: Vec<u8>, durable: bool) -> Result<bool> {
        match self {
            Backend::Embedded(sled) => sled.append(collection, id, value, durable).await,
            Backend::Etcd(etcd) => etcd.append(collection, id, value).await,
        }
    }

    pub fn remove_appended(&self, collection: &str, id: &str) -> Result<bool> {
        match self {
            Backend::Embedded(sled) => sled.remove_appended(collection, id),
            Backend::Etcd(etcd) => etcd.remove_appended(collection, id),
        }
    }

    pub fn watch(&self) -> tokio::sync::broadcast::Receiver<Change> {
        match self {
            Backend::Embedded(sled) => sled.watch(),
            Backend::Etcd(etcd) => etcd.watch(),
        }
    }

    pub fn last_change_seq(&self) -> u64 {
        match self {
            Backend::Embedded(sled) => sled.last_change_seq(),
            Backend::Etcd(etcd) => etcd.last_change_seq(),
        }
    }

    pub fn changes_since(&self, seq: u64) -> Result<Replay> {
        match self {
            Backend::Embedded(sled) => sled.changes_since(seq),
            Backend::Etcd(etcd) => Ok(etcd.changes_since(seq)),
        }
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Backend::Embedded(sled) => sled.meta_get(key),
            Backend::Etcd(etcd) => Ok(etcd.meta_get(key)),
        }
    }

    pub async fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        match self {
            Backend::Embedded(sled) => sled.meta_put(key, value).await,
            Backend::Etcd(etcd) => etcd.meta_put(key, value).await,
        }
    }

    /// sled: bytes on disk. etcd: bytes of the keys and values under the prefix, an error while the cluster
    /// cannot be reached.
    pub fn size(&self) -> Result<u64> {
        match self {
            Backend::Embedded(sled) => sled.size(),
            Backend::Etcd(etcd) => etcd.size(),
        }
    }

    /// Why the store cannot be reached now: etcd, while its last call found no member to serve it. sled is
    /// always at hand.
    pub fn out_of_reach(&self) -> Option<String> {
        match self {
            Backend::Embedded(_) => None,
            Backend::Etcd(etcd) => etcd.out_of_reach(),
        }
    }

    pub async fn flush(&self) -> Result<()> {
        match self {
            Backend::Embedded(sled) => sled.flush().await,
            // Every acknowledged etcd write is already in a quorum's log.
            Backend::Etcd(_) => Ok(()),
        }
    }

    /// Who runs the engine: sled's one process, or the instance etcd's election picks.
    pub fn elect(&self, instance: &str, lease: std::time::Duration) -> super::election::Election {
        match self {
            Backend::Embedded(_) => super::election::Election::alone(instance),
            Backend::Etcd(etcd) => etcd.elect(instance, lease),
        }
    }

    /// Where file contents shared by the instances go: etcd's blobs. sled's instance is alone with its files.
    pub fn blobs(&self) -> Option<&super::etcd::blobs::Blobs> {
        match self {
            Backend::Embedded(_) => None,
            Backend::Etcd(etcd) => Some(etcd.blobs()),
        }
    }
}
