//! This instance's copy of everything under the prefix, kept current by the watch (see `follow`).
//!
//! Reads are served from it, so they cost what sled's cost, need no round trip and keep working while etcd is
//! out of reach (possibly stale then; `/health` says so). Writes go to etcd and return once the watch has
//! brought them back here, so a caller reads its own writes. The watch's events are also the change feed: each
//! record write is a [`Change`] whose position is the etcd revision that made it, the same number on every
//! instance, so an `/events` client can resume on another instance.

use std::collections::{BTreeMap, VecDeque};
use std::sync::RwLock;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::gateway::{Event, KeyValue};
use crate::store::Result;
use crate::store::backend::{KeyRange, Visit, walk};
use crate::store::feed::{Change, ChangeKind, LIVE_BUFFER, RETAINED_CHANGES, Replay};

/// How long a writer waits for its write to come back over the watch before it goes on without (the write is
/// in etcd; only this instance's copy is late).
const READ_YOUR_WRITE_WAIT: Duration = Duration::from_secs(5);

/// Where under the prefix an etcd key belongs. (The engine's leader key, `leader`, is no slot: it is neither
/// state to copy nor a change to announce.)
#[derive(Debug, PartialEq, Eq)]
pub enum Slot {
    /// `c/COLLECTION/ID`: a record; its writes are changes on the feed.
    Record { collection: String, id: String },
    /// `a/COLLECTION/ID`: an entry of an append-only log (the audit log), outside the feed.
    Appended { collection: String, id: String },
    /// `m/KEY`: the process's bookkeeping.
    Meta(String),
}

impl Slot {
    pub fn key(&self, prefix: &[u8]) -> Vec<u8> {
        let rest = match self {
            Slot::Record { collection, id } => format!("c/{collection}/{id}"),
            Slot::Appended { collection, id } => format!("a/{collection}/{id}"),
            Slot::Meta(key) => format!("m/{key}"),
        };
        [prefix, rest.as_bytes()].concat()
    }

    /// Where the entry lives in a sled store: its tree and key (sled keeps appended entries in their
    /// collection's tree, beside nothing else, and bookkeeping in `meta`).
    pub fn into_sled(self) -> (String, String) {
        match self {
            Slot::Record { collection, id } | Slot::Appended { collection, id } => (collection, id),
            Slot::Meta(key) => (crate::store::embedded::META_TREE.to_owned(), key),
        }
    }

    pub fn parse(prefix: &[u8], key: &[u8]) -> Option<Slot> {
        let rest = std::str::from_utf8(key.strip_prefix(prefix)?).ok()?;
        let (kind, rest) = rest.split_once('/')?;
        let pair = || rest.split_once('/').map(|(c, id)| (c.to_owned(), id.to_owned()));
        match kind {
            "c" => pair().map(|(collection, id)| Slot::Record { collection, id }),
            "a" => pair().map(|(collection, id)| Slot::Appended { collection, id }),
            "m" => Some(Slot::Meta(rest.to_owned())),
            _ => None,
        }
    }
}

#[derive(Default)]
struct State {
    /// Records and appended entries, per collection, by id.
    collections: BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>,
    meta: BTreeMap<String, Vec<u8>>,
    /// The last record changes, oldest first.
    changes: VecDeque<Change>,
    /// Every change after this revision is in `changes` (those before came before this copy was loaded, or
    /// were trimmed).
    complete_after: u64,
}

pub struct Replica {
    prefix: Vec<u8>,
    state: RwLock<State>,
    live: broadcast::Sender<Change>,
    /// The newest revision applied.
    applied: watch::Sender<u64>,
}

impl Replica {
    /// A copy of `kvs`, the prefix's contents at `revision`.
    pub fn load(prefix: Vec<u8>, kvs: Vec<KeyValue>, revision: u64) -> Replica {
        let replica = Replica {
            prefix,
            state: RwLock::new(State::default()),
            live: broadcast::channel(LIVE_BUFFER).0,
            applied: watch::channel(revision).0,
        };
        replica.replace(kvs, revision);
        replica
    }

    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits until the revision a write made has been applied here.
    pub async fn caught_up(&self, revision: u64) {
        let mut applied = self.applied.subscribe();
        if tokio::time::timeout(READ_YOUR_WRITE_WAIT, applied.wait_for(|seen| *seen >= revision))
            .await
            .is_err()
        {
            tracing::warn!(
                revision,
                "the etcd watch has not delivered a write of ours yet; reads may be stale"
            );
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, collection: &str, id: &str) -> Option<Vec<u8>> {
        self.read().collections.get(collection)?.get(id.as_bytes()).cloned()
    }

    pub fn scan(&self, collection: &str, range: KeyRange, reverse: bool, visit: Visit) -> Result<()> {
        let state = self.read();
        let Some(entries) = state.collections.get(collection) else {
            return Ok(());
        };
        walk(entries.range(range).map(Ok), reverse, visit)
    }

    pub fn meta_get(&self, key: &str) -> Option<Vec<u8>> {
        self.read().meta.get(key).cloned()
    }

    /// Takes an appended entry out of this copy ahead of etcd (see `Etcd::remove_appended`).
    pub fn forget(&self, collection: &str, id: &str) -> bool {
        let mut state = self.write();
        state
            .collections
            .get_mut(collection)
            .is_some_and(|entries| entries.remove(id.as_bytes()).is_some())
    }

    /// Bytes of every key and value held.
    pub fn size(&self) -> u64 {
        let state = self.read();
        let entries = state.collections.values().flat_map(|entries| entries.iter());
        let meta = state.meta.iter().map(|(key, value)| (key.as_bytes(), value));
        entries
            .map(|(key, value)| (key.as_slice(), value))
            .chain(meta)
            .map(|(key, value)| (key.len() + value.len()) as u64)
            .sum()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.live.subscribe()
    }

    pub fn last_change_seq(&self) -> u64 {
        self.applied()
    }

    pub fn since(&self, seq: u64) -> Replay {
        let state = self.read();
        let last = self.applied();
        Replay {
            changes: state
                .changes
                .iter()
                .filter(|change| change.seq > seq)
                .cloned()
                .collect(),
            gap: seq < state.complete_after || seq > last,
        }
    }

    /// Applies one watch message's events, in order, and publishes the record changes.
    pub fn apply(&self, events: Vec<Event>) {
        let mut newest = self.applied();
        let mut published = Vec::new();
        {
            let mut state = self.write();
            for event in events {
                newest = newest.max(event.kv.mod_revision);
                let Some(slot) = Slot::parse(&self.prefix, &event.kv.key) else {
                    continue;
                };
                let kind = if event.is_delete() {
                    ChangeKind::Deleted
                } else if event.kv.create_revision == event.kv.mod_revision {
                    ChangeKind::Created
                } else {
                    ChangeKind::Updated
                };
                let value = (!event.is_delete()).then_some(event.kv.value);
                if let Some(change) = state.set(slot, value, kind, event.kv.mod_revision) {
                    published.push(change);
                }
            }
        }
        self.applied.send_modify(|applied| *applied = (*applied).max(newest));
        for change in published {
            // No receivers is fine: nobody is watching.
            let _ = self.live.send(change);
        }
    }

    /// Replaces the whole copy with the prefix's contents at `revision`: after the watch fell behind etcd's
    /// compaction, when the events in between are gone. Every record that differs becomes a change at
    /// `revision` for the live subscribers; the retained changes start over, so a resuming client gets `reset`.
    pub fn replace(&self, kvs: Vec<KeyValue>, revision: u64) {
        let mut fresh = State {
            complete_after: revision,
            ..State::default()
        };
        let mut published = Vec::new();
        {
            let mut state = self.write();
            for kv in kvs {
                if let Some(slot) = Slot::parse(&self.prefix, &kv.key) {
                    fresh.set(slot, Some(kv.value), ChangeKind::Created, revision);
                }
            }
            for (collection, entries) in &fresh.collections {
                let old = state.collections.get(collection);
                for (id, value) in entries {
                    let before = old.and_then(|old| old.get(id));
                    if before != Some(value) {
                        let kind = if before.is_some() {
                            ChangeKind::Updated
                        } else {
                            ChangeKind::Created
                        };
                        published.push(change(kind, collection, id, revision));
                    }
                }
            }
            for (collection, entries) in &state.collections {
                for id in entries.keys() {
                    if fresh
                        .collections
                        .get(collection)
                        .is_none_or(|now| !now.contains_key(id))
                    {
                        published.push(change(ChangeKind::Deleted, collection, id, revision));
                    }
                }
            }
            fresh.changes.clear();
            *state = fresh;
        }
        self.applied.send_modify(|applied| *applied = (*applied).max(revision));
        for change in published {
            let _ = self.live.send(change);
        }
    }
}

fn change(kind: ChangeKind, collection: &str, id: &[u8], seq: u64) -> Change {
    Change {
        seq,
        kind,
        collection: collection.to_owned(),
        id: String::from_utf8_lossy(id).into_owned(),
    }
}

impl State {
    /// Sets (or, with `None`, removes) what `slot` holds; the change to publish when it is a record.
    fn set(&mut self, slot: Slot, value: Option<Vec<u8>>, kind: ChangeKind, revision: u64) -> Option<Change> {
        let (collection, id, is_record) = match slot {
            Slot::Meta(key) => {
                match value {
                    Some(value) => self.meta.insert(key, value),
                    None => self.meta.remove(&key),
                };
                return None;
            }
            Slot::Record { collection, id } => (collection, id, true),
            Slot::Appended { collection, id } => (collection, id, false),
        };
        let entries = self.collections.entry(collection.clone()).or_default();
        match value {
            Some(value) => entries.insert(id.clone().into_bytes(), value),
            None => entries.remove(id.as_bytes()),
        };
        if !is_record {
            return None;
        }
        let change = change(kind, &collection, id.as_bytes(), revision);
        self.changes.push_back(change.clone());
        if self.changes.len() as u64 > RETAINED_CHANGES
            && let Some(dropped) = self.changes.pop_front()
        {
            self.complete_after = dropped.seq;
        }
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_slots_and_back() {
        let prefix = b"zos/".to_vec();
        for slot in [
            Slot::Record {
                collection: "nodes".into(),
                id: "n/1".into(),
            },
            Slot::Appended {
                collection: "audit".into(),
                id: "0001".into(),
            },
            Slot::Meta("bootstrap".into()),
        ] {
            assert_eq!(Slot::parse(&prefix, &slot.key(&prefix)), Some(slot));
        }
        assert_eq!(Slot::parse(&prefix, b"other/c/nodes/1"), None);
        assert_eq!(Slot::parse(&prefix, b"zos/x/nodes/1"), None);
    }
}
