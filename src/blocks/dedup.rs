//! Deduplicated blocks (boot vdisks), as 0-disk stores them: a block's content once, under its BLAKE2b-256
//! hash (`SET <hash> <bytes>` on engine `hash[0] % N`), and the vdisk's logical block address map in sectors of
//! 128 hashes (`HSET lba:<vdiskid> <sector> <128 × 32 bytes>` on engine `sector % N`; a hash of zeros is a block
//! of zeros). Vdisks made from one image share its blocks.

use std::collections::{HashMap, HashSet};

use blake2::{Blake2b, Digest, digest::consts::U32};
use futures_util::future::try_join_all;
use tokio::sync::Mutex;

use super::{Block, BlockError, Shards};

pub type Hash = [u8; 32];

const HASHES_PER_SECTOR: u64 = 128;
const SECTOR_BYTES: usize = HASHES_PER_SECTOR as usize * 32;
const ZERO: Hash = [0; 32];

fn hash_of(block: &[u8]) -> Hash {
    Blake2b::<U32>::digest(block).into()
}

/// A vdisk's LBA: its sectors, read from the engines once and kept. Held locked from reading a sector to
/// writing it back, so two writes into one sector cannot lose each other's hashes.
pub struct Lba {
    key: String,
    sectors: Mutex<HashMap<u64, Vec<u8>>>,
}

impl Lba {
    pub fn new(vdisk: &str) -> Lba {
        Lba {
            key: format!("lba:{vdisk}"),
            sectors: Mutex::new(HashMap::new()),
        }
    }

    /// Loads the sectors `wanted` that are not loaded yet (an absent one is all zeros).
    async fn load(
        &self,
        shards: &Shards,
        sectors: &mut HashMap<u64, Vec<u8>>,
        wanted: impl Iterator<Item = u64>,
    ) -> Result<(), BlockError> {
        let missing: Vec<u64> = wanted
            .filter(|s| !sectors.contains_key(s))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let reads = missing.iter().map(|&sector| {
            let mut engine = shards.engine(sector);
            let key = &self.key;
            async move {
                let bytes: Option<Vec<u8>> = redis::cmd("HGET").arg(key).arg(sector).query_async(&mut engine).await?;
                Ok::<_, BlockError>((sector, bytes))
            }
        });
        for (sector, bytes) in try_join_all(reads).await? {
            let bytes = bytes
                .filter(|b| b.len() == SECTOR_BYTES)
                .unwrap_or_else(|| vec![0; SECTOR_BYTES]);
            sectors.insert(sector, bytes);
        }
        Ok(())
    }

    fn slot(index: u64) -> (u64, usize) {
        (index / HASHES_PER_SECTOR, (index % HASHES_PER_SECTOR) as usize * 32)
    }

    pub async fn read(&self, shards: &Shards, indices: std::ops::Range<u64>) -> Result<Vec<Block>, BlockError> {
        let hashes: Vec<Hash> = {
            let mut sectors = self.sectors.lock().await;
            self.load(shards, &mut sectors, indices.clone().map(|i| Self::slot(i).0))
                .await?;
            indices
                .map(|index| {
                    let (sector, at) = Self::slot(index);
                    sectors[&sector][at..at + 32].try_into().unwrap_or(ZERO)
                })
                .collect()
        };
        let wanted: Vec<(usize, Hash)> = hashes
            .iter()
            .enumerate()
            .filter(|(_, h)| **h != ZERO)
            .map(|(i, h)| (i, *h))
            .collect();
        let gets = (0..shards.count()).map(|shard| {
            let mine: Vec<(usize, Hash)> = wanted
                .iter()
                .filter(|(_, h)| u64::from(h[0]) % shards.count() == shard)
                .copied()
                .collect();
            let mut engine = shards.engine(shard);
            async move {
                if mine.is_empty() {
                    return Ok::<_, BlockError>(Vec::new());
                }
                let keys: Vec<&[u8]> = mine.iter().map(|(_, h)| h.as_slice()).collect();
                let found: Vec<Block> = redis::cmd("MGET").arg(keys).query_async(&mut engine).await?;
                Ok(mine.into_iter().map(|(i, _)| i).zip(found).collect())
            }
        });
        let mut blocks = vec![None; hashes.len()];
        for (i, block) in try_join_all(gets).await?.into_iter().flatten() {
            blocks[i] = block;
        }
        Ok(blocks)
    }

    pub async fn write(&self, shards: &Shards, blocks: Vec<(u64, Block)>) -> Result<(), BlockError> {
        let hashed: Vec<(u64, Hash, Option<&Vec<u8>>)> = blocks
            .iter()
            .map(|(index, block)| (*index, block.as_deref().map_or(ZERO, hash_of), block.as_ref()))
            .collect();
        let count = shards.count();
        shards
            .on_each(|shard, pipe| {
                for (_, hash, block) in &hashed {
                    if let Some(block) = block.filter(|_| u64::from(hash[0]) % count == shard) {
                        pipe.cmd("SET").arg(hash.as_slice()).arg(block.as_slice()).ignore();
                    }
                }
            })
            .await?;
        let mut sectors = self.sectors.lock().await;
        self.load(shards, &mut sectors, hashed.iter().map(|(i, _, _)| Self::slot(*i).0))
            .await?;
        let mut changed = HashSet::new();
        for (index, hash, _) in &hashed {
            let (sector, at) = Self::slot(*index);
            if let Some(bytes) = sectors.get_mut(&sector) {
                bytes[at..at + 32].copy_from_slice(hash);
                changed.insert(sector);
            }
        }
        let key = &self.key;
        shards
            .on_each(|shard, pipe| {
                for sector in changed.iter().filter(|s| *s % count == shard) {
                    let bytes = &sectors[sector];
                    if bytes.iter().all(|&b| b == 0) {
                        pipe.cmd("HDEL").arg(key).arg(sector).ignore();
                    } else {
                        pipe.cmd("HSET").arg(key).arg(sector).arg(bytes.as_slice()).ignore();
                    }
                }
            })
            .await
    }

    /// Makes this LBA a copy of `source`'s, sector by sector on the engine that holds each: the vdisk then
    /// refers to the same blocks, none of which is copied.
    pub async fn copy_from(&self, shards: &Shards, source: &Lba) -> Result<(), BlockError> {
        let reads = (0..shards.count()).map(|shard| {
            let mut engine = shards.engine(shard);
            async move {
                redis::cmd("HGETALL")
                    .arg(&source.key)
                    .query_async::<Vec<(u64, Vec<u8>)>>(&mut engine)
                    .await
            }
        });
        let by_shard = try_join_all(reads).await?;
        let mut sectors = self.sectors.lock().await;
        sectors.clear();
        shards
            .on_each(|shard, pipe| {
                pipe.cmd("DEL").arg(&self.key).ignore();
                let theirs = &by_shard[shard as usize];
                if !theirs.is_empty() {
                    pipe.cmd("HSET").arg(&self.key).arg(theirs).ignore();
                }
            })
            .await
    }

    /// Every hash the LBA refers to, read from the engines.
    pub async fn hashes(&self, shards: &Shards) -> Result<HashSet<Hash>, BlockError> {
        let reads = (0..shards.count()).map(|shard| {
            let mut engine = shards.engine(shard);
            async move {
                redis::cmd("HVALS")
                    .arg(&self.key)
                    .query_async::<Vec<Vec<u8>>>(&mut engine)
                    .await
            }
        });
        let mut hashes = HashSet::new();
        for sector in try_join_all(reads).await?.into_iter().flatten() {
            for hash in sector.chunks_exact(32) {
                let hash: Hash = hash.try_into().unwrap_or(ZERO);
                if hash != ZERO {
                    hashes.insert(hash);
                }
            }
        }
        Ok(hashes)
    }

    /// Removes the LBA and the blocks only this vdisk referred to.
    pub async fn delete(&self, shards: &Shards, still_used: &HashSet<Hash>) -> Result<(), BlockError> {
        let mine = self.hashes(shards).await?;
        let count = shards.count();
        shards
            .on_each(|shard, pipe| {
                for hash in mine.difference(still_used).filter(|h| u64::from(h[0]) % count == shard) {
                    pipe.cmd("DEL").arg(hash.as_slice()).ignore();
                }
                pipe.cmd("DEL").arg(&self.key).ignore();
            })
            .await?;
        self.sectors.lock().await.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_lands_in_its_sector_slot() {
        assert_eq!(Lba::slot(0), (0, 0));
        assert_eq!(Lba::slot(127), (0, 127 * 32));
        assert_eq!(Lba::slot(128), (1, 0));
        assert_ne!(hash_of(&[1; 4096]), hash_of(&[2; 4096]));
    }
}
