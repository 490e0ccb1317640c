//! The change feed: every committed write becomes a [`Change`] with a sequence number, stored in the `changes`
//! tree (the last [`RETAINED_CHANGES`] of them) and broadcast to live subscribers.
//!
//! Live subscribers get a bounded broadcast channel, so a slow reader can never hold up a writer: it lags, and
//! then catches up from the durable log with [`Feed::since`] — the same path a reconnecting `/events` client takes
//! with `Last-Event-ID`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::Result;

/// The tree the change log lives in.
pub const LOG_TREE: &str = "changes";
/// How many changes the log keeps for resuming clients.
pub const RETAINED_CHANGES: u64 = 10_000;
/// How many changes a live subscriber may fall behind before it has to catch up from the log.
pub const LIVE_BUFFER: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

/// One committed write, as `/events` shows it (the sequence number is the SSE event id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    #[serde(skip)]
    pub seq: u64,
    pub kind: ChangeKind,
    pub collection: String,
    pub id: String,
}

/// What the log still holds after a given sequence number.
pub struct Replay {
    pub changes: Vec<Change>,
    /// True when changes the caller has not seen were already trimmed (or the sequence number is from another
    /// database): the caller must re-read the state instead of trusting the replay alone.
    pub gap: bool,
}

pub struct Feed {
    log: sled::Tree,
    last_seq: AtomicU64,
    live: broadcast::Sender<Change>,
}

#[derive(Serialize, Deserialize)]
struct LogEntry {
    kind: ChangeKind,
    collection: String,
    id: String,
}

fn encode_change(change: &Change) -> Result<Vec<u8>> {
    let entry = LogEntry {
        kind: change.kind,
        collection: change.collection.clone(),
        id: change.id.clone(),
    };
    rmp_serde::to_vec_named(&entry).map_err(|err| std::io::Error::other(err.to_string()).into())
}

fn decode_change(key: &[u8], raw: &[u8]) -> Option<Change> {
    let seq = u64::from_be_bytes(key.try_into().ok()?);
    let entry: LogEntry = rmp_serde::from_slice(raw).ok()?;
    Some(Change {
        seq,
        kind: entry.kind,
        collection: entry.collection,
        id: entry.id,
    })
}

impl Feed {
    pub fn open(db: &sled::Db) -> Result<Feed> {
        let log = db.open_tree(LOG_TREE)?;
        let last_seq = match log.last()? {
            Some((key, _)) => u64::from_be_bytes(key.as_ref().try_into().unwrap_or_default()),
            None => 0,
        };
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        Ok(Feed {
            log,
            last_seq: AtomicU64::new(last_seq),
            live,
        })
    }

    /// Writes the change to the log (and drops the one that falls out of the retained window).
    pub fn append(&self, change: &Change) -> Result<()> {
        self.log.insert(change.seq.to_be_bytes(), encode_change(change)?)?;
        if let Some(expired) = change.seq.checked_sub(RETAINED_CHANGES) {
            self.log.remove(expired.to_be_bytes())?;
        }
        Ok(())
    }

    /// Takes back a change whose write did not happen.
    pub fn retract(&self, change: &Change) -> Result<()> {
        self.log.remove(change.seq.to_be_bytes())?;
        Ok(())
    }

    /// The change the next commit will record. Only called under the store's commit lock, so `publish` follows
    /// in the same order.
    pub fn next_change(&self, kind: ChangeKind, collection: &str, id: &str) -> Change {
        let seq = self.last_seq.load(Ordering::SeqCst) + 1;
        Change {
            seq,
            kind,
            collection: collection.to_owned(),
            id: id.to_owned(),
        }
    }

    pub fn publish(&self, change: Change) {
        self.last_seq.store(change.seq, Ordering::SeqCst);
        // No receivers is fine: nobody is watching.
        let _ = self.live.send(change);
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::SeqCst)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.live.subscribe()
    }

    pub fn since(&self, seq: u64) -> Result<Replay> {
        let last = self.last_seq.load(Ordering::SeqCst);
        let mut changes = Vec::new();
        for entry in self.log.range((seq + 1).to_be_bytes()..) {
            let (key, raw) = entry?;
            if let Some(change) = decode_change(&key, &raw) {
                changes.push(change);
            }
        }
        let first_retained = changes.first().map_or(last + 1, |c| c.seq);
        let gap = seq > last || first_retained > seq + 1;
        Ok(Replay { changes, gap })
    }
}
