//! Backups of a running store, and restoring one into a new data directory.
//!
//! A backup is one point in time of every tree (every collection, the change log, meta) plus the files the
//! caller attaches (the boot assets), written in the [`archive`] format. An etcd store's backup has the same
//! trees (minus the change log, which is etcd's history) and is consistent by etcd's own means (`from_etcd`), so
//! one archive restores into either store.
//!
//! **How a sled copy is consistent.** sled has no snapshot across trees, and holding the commit lock while every
//! tree streams to a client would stop every writer for as long as the slowest download takes. Instead the
//! copy runs in two steps:
//!
//! 1. Without any lock, note the change log's position `w0`, then stream every tree as it is. Writes go on;
//!    a key written meanwhile may be copied before or after its change.
//! 2. Under the commit lock (every write to a collection takes it, and logs its change under it): note the
//!    position `w1`, and re-read exactly the keys the log names between `w0` and `w1`, and those log entries.
//!    They are written after the first copy as corrections (a record, or its removal), so applying the
//!    archive in order gives each key its value at `w1`; a key not in the log was not written since `w0`, so
//!    its first copy already is its value at `w1`. The attachments are opened under the same lock: asset files
//!    are only ever replaced by rename, so an open file keeps the content it had at `w1`.
//!
//! The lock is held for a lookup per key changed during the copy, not for the copy. Two kinds of trees are
//! written outside the commit path and so are copied as step 1 saw them: the audit log (append-only; records
//! appended during the backup may be missing) and `meta` (bookkeeping that changes only at first start). When
//! more changes happen during step 1 than the log keeps, the corrections cannot be known and the backup fails
//! rather than produce an inconsistent archive.

mod archive;
mod restore;

use std::collections::BTreeSet;
use std::io::Write;

pub(crate) use restore::into_new_dir;
pub use restore::{RestoreError, restore};

use super::backend::Backend;
use super::embedded::{DEFAULT_TREE, Embedded};
use super::etcd::Etcd;
use super::{Record, Result, Store, StoreError, feed};
use archive::ArchiveWriter;

/// A file to put in the archive beside the records.
pub struct Attachment {
    /// Where it goes, relative to the data directory (e.g. `assets/kernel.efi`).
    pub path: String,
    pub file: std::fs::File,
}

/// The store as it is at the backup's point in time, for choosing the attachments.
pub struct Snapshot<'a> {
    source: Source<'a>,
}

enum Source<'a> {
    /// sled, under the commit lock.
    Sled(&'a sled::Db),
    /// etcd's entries at the backup's revision, as (tree, key, value).
    Entries(&'a [(String, String, Vec<u8>)]),
}

impl Snapshot<'_> {
    /// The ids of a collection.
    pub fn ids<T: Record>(&self) -> Result<Vec<String>> {
        match self.source {
            Source::Sled(db) => db
                .open_tree(T::COLLECTION)?
                .iter()
                .keys()
                .map(|key| Ok(String::from_utf8_lossy(&key?).into_owned()))
                .collect(),
            Source::Entries(entries) => Ok(entries
                .iter()
                .filter(|(tree, _, _)| tree == T::COLLECTION)
                .map(|(_, id, _)| id.clone())
                .collect()),
        }
    }
}

/// What a backup held.
#[derive(Debug)]
pub struct Summary {
    pub records: u64,
    pub files: u64,
    /// The change log's sequence number the backup is a copy at.
    pub position: u64,
}

/// A key re-read under the commit lock: its value then, or `None` when it was gone.
struct Correction {
    tree: String,
    key: Vec<u8>,
    value: Option<sled::IVec>,
}

/// Chooses the files to attach, at the backup's point in time.
type Attach<'f> = &'f mut dyn FnMut(&Snapshot) -> Result<Vec<Attachment>>;

impl Store {
    /// Writes a consistent backup to `out` (see the module's documentation), with the files `attach` chooses
    /// at the backup's point in time. Blocking: run it off the async runtime (on a blocking thread of it).
    pub fn backup<W: Write>(
        &self,
        out: W,
        mut attach: impl FnMut(&Snapshot) -> Result<Vec<Attachment>>,
    ) -> Result<Summary> {
        match &*self.inner {
            Backend::Embedded(sled) => from_sled(sled, out, &mut attach),
            Backend::Etcd(etcd) => from_etcd(etcd, out, &mut attach),
        }
    }
}

/// etcd keeps every key's history until it is compacted, so a range at one revision is a consistent copy of the
/// whole prefix: no lock and no corrections, unlike sled. Asset files are opened right after that revision was
/// read (they live in the data directory, outside etcd).
fn from_etcd<W: Write>(etcd: &Etcd, out: W, attach: Attach) -> Result<Summary> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| StoreError::Unsupported("an etcd backup is taken from within the runtime"))?;
    let (entries, revision) = runtime.block_on(etcd.snapshot())?;
    let attachments = attach(&Snapshot {
        source: Source::Entries(&entries),
    })?;
    let mut archive = ArchiveWriter::start(out)?;
    for (tree, key, value) in &entries {
        archive.record(tree, key.as_bytes(), value)?;
    }
    let summary = Summary {
        records: entries.len() as u64,
        files: attachments.len() as u64,
        position: revision,
    };
    write_files(&mut archive, attachments)?;
    archive.finish(revision)?;
    Ok(summary)
}

fn write_files<W: Write>(archive: &mut ArchiveWriter<W>, attachments: Vec<Attachment>) -> Result<()> {
    for attachment in attachments {
        let size = attachment.file.metadata()?.len();
        archive.file(&attachment.path, size, &attachment.file)?;
    }
    Ok(())
}

fn from_sled<W: Write>(sled: &Embedded, out: W, attach: Attach) -> Result<Summary> {
    let db = &sled.db;
    let mut archive = ArchiveWriter::start(out)?;
    let watermark = sled.feed.last_seq();
    let mut records = 0;
    for name in db.tree_names() {
        if name == DEFAULT_TREE {
            continue;
        }
        let tree_name = String::from_utf8_lossy(&name).into_owned();
        for entry in db.open_tree(&name)?.iter() {
            let (key, value) = entry?;
            archive.record(&tree_name, &key, &value)?;
            records += 1;
        }
    }

    let (corrections, attachments, position) = {
        let _serialised = sled.commit.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let position = sled.feed.last_seq();
        let replay = sled.feed.since(watermark)?;
        if replay.gap {
            return Err(StoreError::Io(std::io::Error::other(format!(
                "more than {} changes were made while the backup was copied; try again when the cluster \
                 is quieter",
                feed::RETAINED_CHANGES
            ))));
        }
        let log = db.open_tree(feed::LOG_TREE)?;
        let mut corrections = Vec::new();
        let mut seen = BTreeSet::new();
        for change in replay.changes {
            let seq = change.seq.to_be_bytes();
            corrections.push(Correction {
                tree: feed::LOG_TREE.to_owned(),
                key: seq.to_vec(),
                value: log.get(seq)?,
            });
            if seen.insert((change.collection.clone(), change.id.clone())) {
                let value = db.open_tree(&change.collection)?.get(change.id.as_bytes())?;
                corrections.push(Correction {
                    tree: change.collection,
                    key: change.id.into_bytes(),
                    value,
                });
            }
        }
        let snapshot = Snapshot {
            source: Source::Sled(db),
        };
        (corrections, attach(&snapshot)?, position)
    };

    for correction in corrections {
        match correction.value {
            Some(value) => archive.record(&correction.tree, &correction.key, &value)?,
            None => archive.removed(&correction.tree, &correction.key)?,
        }
        records += 1;
    }
    let files = attachments.len() as u64;
    write_files(&mut archive, attachments)?;
    archive.finish(position)?;
    Ok(Summary {
        records,
        files,
        position,
    })
}
