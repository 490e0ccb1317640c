//! The transaction log of a boot or db vdisk, which lets it roll back to an earlier moment.
//!
//! The reference sends every write to a tlog server that keeps it in 0-stor, and rolls back by replaying that
//! log forward from the start. Without 0-stor, this is an undo journal on plain engines instead (those of the
//! vdisk storage's `objectCluster`): before blocks are overwritten, what they held is appended, with the
//! engine's time, to the stream `tlog:<vdiskid>` on engine `blockIndex % N`, as entries
//! `i <blockIndex> [b <bytes>]` (no `b`: the block was zeros). Rolling back to a moment restores, for each
//! block, what its earliest entry from that moment on recorded, then drops those entries. Why undo rather than
//! redo: a rollback then costs what was written since the moment, not the vdisk's whole history, and the
//! journal can be cut at its old end (entries older than the retention are trimmed as new ones arrive) without
//! losing the vdisk's current state. "The oldest state kept" is where the journal begins.
//!
//! One block's entries are all on one engine, in the order that engine received them, which is all a rollback
//! needs; the vdisk's writers are serialised while the journal is written (`VdiskBlocks`), so that order is the
//! order of the writes.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::try_join_all;

use super::{Block, BlockError, Shards};

/// How long the journal goes back: a write older than this can no longer be undone.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Entries read per round trip when rolling back.
const PAGE: usize = 1000;

/// A stream entry as the engine returns it: its id (`<ms>-<seq>`) and its fields, flattened.
type Entry = (String, Vec<Vec<u8>>);

pub struct Journal {
    key: String,
    shards: Shards,
}

impl Journal {
    pub fn new(vdisk: &str, shards: Shards) -> Journal {
        Journal {
            key: format!("tlog:{vdisk}"),
            shards,
        }
    }

    /// Appends what `blocks` held before a write, and trims what fell out of the retention.
    pub async fn record(&self, blocks: &[(u64, Block)]) -> Result<(), BlockError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let oldest_kept = now.saturating_sub(RETENTION).as_millis() as u64;
        let count = self.shards.count();
        self.shards
            .on_each(|shard, pipe| {
                for (index, block) in blocks.iter().filter(|(index, _)| index % count == shard) {
                    let add = pipe.cmd("XADD").arg(&self.key).arg("MINID").arg("~").arg(oldest_kept);
                    let add = add.arg("*").arg("i").arg(*index);
                    if let Some(bytes) = block {
                        add.arg("b").arg(bytes.as_slice());
                    }
                    add.ignore();
                }
            })
            .await
    }

    /// Undoes every write journaled at or after `since_ms` (Unix milliseconds, 0 for all of them): `restore`
    /// is handed each block's content before the first of those writes, a page at a time, and the entries are
    /// dropped only once everything is restored, so a rollback that stopped half-way gives the same result when
    /// run again. Returns how many blocks were restored.
    pub async fn undo_since<F, Fut>(&self, since_ms: u64, restore: F) -> Result<u64, BlockError>
    where
        F: Fn(Vec<(u64, Block)>) -> Fut,
        Fut: std::future::Future<Output = Result<(), BlockError>>,
    {
        let mut restored = 0;
        let mut undone: Vec<Vec<String>> = Vec::new();
        for shard in 0..self.shards.count() {
            let mut engine = self.shards.engine(shard);
            let mut seen = HashSet::new();
            let mut ids = Vec::new();
            let mut start = since_ms.to_string();
            loop {
                let page: Vec<Entry> = redis::cmd("XRANGE")
                    .arg(&self.key)
                    .arg(&start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(PAGE)
                    .query_async(&mut engine)
                    .await?;
                let Some((last, _)) = page.last() else { break };
                start = format!("({last}");
                let full = page.len() == PAGE;
                let mut earliest = Vec::new();
                for (id, fields) in page {
                    let (index, block) = parse_entry(&fields)
                        .ok_or_else(|| BlockError(format!("{}: entry {id} is not a journal entry", self.key)))?;
                    if seen.insert(index) {
                        earliest.push((index, block));
                    }
                    ids.push(id);
                }
                restored += earliest.len() as u64;
                restore(earliest).await?;
                if !full {
                    break;
                }
            }
            undone.push(ids);
        }
        let deletions = undone
            .into_iter()
            .enumerate()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(shard, ids)| {
                let mut engine = self.shards.engine(shard as u64);
                let key = &self.key;
                async move {
                    for chunk in ids.chunks(PAGE) {
                        redis::cmd("XDEL")
                            .arg(key)
                            .arg(chunk)
                            .query_async::<()>(&mut engine)
                            .await?;
                    }
                    Ok::<_, BlockError>(())
                }
            });
        try_join_all(deletions).await?;
        Ok(restored)
    }

    /// Drops the whole journal (the vdisk is deleted).
    pub async fn delete(&self) -> Result<(), BlockError> {
        self.shards
            .on_each(|_, pipe| {
                pipe.cmd("DEL").arg(&self.key).ignore();
            })
            .await
    }
}

/// `i <index> [b <bytes>]`, in any order.
fn parse_entry(fields: &[Vec<u8>]) -> Option<(u64, Block)> {
    let (mut index, mut block) = (None, None);
    for pair in fields.chunks(2) {
        match pair {
            [name, value] if name == b"i" => index = std::str::from_utf8(value).ok()?.parse().ok(),
            [name, value] if name == b"b" => block = Some(value.clone()),
            _ => return None,
        }
    }
    Some((index?, block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_without_bytes_was_a_block_of_zeros() {
        let fields = |list: &[&[u8]]| list.iter().map(|f| f.to_vec()).collect::<Vec<_>>();
        assert_eq!(parse_entry(&fields(&[b"i", b"7"])), Some((7, None)));
        assert_eq!(
            parse_entry(&fields(&[b"i", b"3", b"b", b"xy"])),
            Some((3, Some(b"xy".to_vec())))
        );
        assert_eq!(parse_entry(&fields(&[b"b", b"xy"])), None);
        assert_eq!(parse_entry(&fields(&[b"i", b"x"])), None);
        assert_eq!(parse_entry(&fields(&[b"i"])), None);
    }
}
