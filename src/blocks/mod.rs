//! A vdisk's blocks in the storage engines of its cluster, laid out as 0-disk lays them out, so the data stays
//! readable by 0-disk's tools and the engines are plain redis-compatible servers:
//!
//! - `db`, `cache`, `tmp` (not deduplicated): `HSET nondedup:<vdiskid> <blockIndex> <bytes>` on engine
//!   `blockIndex % N`;
//! - `boot` (deduplicated, `dedup.rs`): each block once under its BLAKE2b-256 hash on engine `hash[0] % N`, and
//!   the vdisk's map from block to hash in LBA sectors of 128 hashes, `HSET lba:<vdiskid> <sector> <hashes>` on
//!   engine `sector % N`.
//!
//! A block of zeros is never stored (0-disk's rule): reading a block that is absent gives zeros, so trimming and
//! zeroing are deletions. A boot or db vdisk may also keep a transaction log (`journal.rs`) to roll back with.
//! Used by the API (deleting and rolling back a vdisk's blocks), the engine (importing an image) and the NBD server
//! (`nbd`); `cluster.rs` is what needs the store.

pub mod cluster;
mod dedup;
mod journal;
mod reads;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::try_join_all;
use redis::aio::MultiplexedConnection;

pub use dedup::Hash;
use dedup::Lba;
pub use journal::Journal;
use reads::Readers;

/// A block as it is read or written: `None` for a block of zeros.
pub type Block = Option<Vec<u8>>;

#[derive(Debug, thiserror::Error)]
#[error("storage engine: {0}")]
pub struct BlockError(String);

impl BlockError {
    pub fn no_engines() -> BlockError {
        BlockError("the storage cluster has no engines".into())
    }
}

impl From<redis::RedisError> for BlockError {
    fn from(err: redis::RedisError) -> BlockError {
        BlockError(err.to_string())
    }
}

/// How long an engine may take to connect or to answer one command before the I/O fails.
const ENGINE_DEADLINE: Duration = Duration::from_secs(10);

/// One multiplexed connection per engine of a cluster: requests from every task are pipelined on it. The NBD
/// server's block reads have their own connections (`reads.rs`).
#[derive(Clone)]
pub struct Shards {
    engines: Vec<MultiplexedConnection>,
    readers: Arc<Vec<Readers>>,
}

impl Shards {
    /// Connects to every engine (`host:port`), in the cluster's order (the order decides where a block goes).
    pub async fn connect(addresses: &[String]) -> Result<Shards, BlockError> {
        if addresses.is_empty() {
            return Err(BlockError::no_engines());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(ENGINE_DEADLINE))
            .set_response_timeout(Some(ENGINE_DEADLINE));
        let connect = |address: &String| {
            let config = config.clone();
            let url = format!("redis://{address}/");
            async move {
                let client = redis::Client::open(url)?;
                client.get_multiplexed_async_connection_with_config(&config).await
            }
        };
        let engines = try_join_all(addresses.iter().map(connect)).await?;
        let readers = Arc::new(addresses.iter().map(|address| Readers::new(address)).collect());
        Ok(Shards { engines, readers })
    }

    fn count(&self) -> u64 {
        self.engines.len() as u64
    }

    /// The engine that holds what `n` places (a block index, a sector index or a hash's first byte).
    fn engine(&self, n: u64) -> MultiplexedConnection {
        self.engines[(n % self.count()) as usize].clone()
    }

    /// Runs one pipeline per engine, each with the commands `build` gives it, all at once.
    async fn on_each(&self, mut build: impl FnMut(u64, &mut redis::Pipeline)) -> Result<(), BlockError> {
        let runs = (0..self.count()).filter_map(|shard| {
            let mut pipe = redis::pipe();
            build(shard, &mut pipe);
            let mut engine = self.engine(shard);
            (!pipe.is_empty()).then_some(async move { pipe.query_async::<()>(&mut engine).await })
        });
        try_join_all(runs).await?;
        Ok(())
    }
}

/// The blocks of one vdisk. Shared by every connection that serves it.
pub struct VdiskBlocks {
    id: String,
    shards: Shards,
    /// The LBA of a deduplicated vdisk.
    lba: Option<Lba>,
    /// The transaction log, for a vdisk that keeps one.
    journal: Option<Journal>,
    /// Held from reading what a write overwrites until the write is stored, when there is a journal: its
    /// entries then follow the order of the writes.
    journaling: tokio::sync::Mutex<()>,
}

impl VdiskBlocks {
    pub fn new(id: &str, shards: Shards, deduplicated: bool) -> VdiskBlocks {
        VdiskBlocks {
            id: id.to_owned(),
            lba: deduplicated.then(|| Lba::new(id)),
            shards,
            journal: None,
            journaling: tokio::sync::Mutex::new(()),
        }
    }

    /// The same, keeping a transaction log in `journal`.
    pub fn with_journal(self, journal: Journal) -> VdiskBlocks {
        VdiskBlocks {
            journal: Some(journal),
            ..self
        }
    }

    fn key(&self) -> String {
        format!("nondedup:{}", self.id)
    }

    /// Blocks `indices`, in order.
    pub async fn read(&self, indices: std::ops::Range<u64>) -> Result<Vec<Block>, BlockError> {
        if let Some(lba) = &self.lba {
            return lba.read(&self.shards, indices).await;
        }
        let key = self.key();
        let by_engine = (0..self.shards.count().min(indices.end - indices.start)).map(|offset| {
            let first = indices.start + offset;
            let fields: Vec<u64> = (first..indices.end).step_by(self.shards.count() as usize).collect();
            let mut engine = self.shards.engine(first);
            let key = &key;
            async move {
                let blocks: Vec<Block> = redis::cmd("HMGET")
                    .arg(key)
                    .arg(&fields)
                    .query_async(&mut engine)
                    .await?;
                Ok::<_, BlockError>((offset, blocks))
            }
        });
        let mut blocks = vec![None; (indices.end - indices.start) as usize];
        let step = self.shards.count() as usize;
        for (offset, found) in try_join_all(by_engine).await? {
            for (i, block) in found.into_iter().enumerate() {
                blocks[offset as usize + i * step] = block;
            }
        }
        Ok(blocks)
    }

    /// Blocks from `first` on into `into`, a whole number of `block_size` blocks: what `read` gives, each block
    /// cut or padded with zeros to its size (zeros for an absent one). A non-deduplicated vdisk's blocks go from
    /// the engines' replies straight to their place (`reads.rs`), every engine asked at once.
    pub async fn read_into(&self, first: u64, block_size: usize, into: &mut [u8]) -> Result<(), BlockError> {
        let count = (into.len() / block_size) as u64;
        if self.lba.is_some() {
            let blocks = self.read(first..first + count).await?;
            for (slot, block) in into.chunks_mut(block_size).zip(blocks) {
                let block = block.unwrap_or_default();
                let kept = block.len().min(block_size);
                slot[..kept].copy_from_slice(&block[..kept]);
                slot[kept..].fill(0);
            }
            return Ok(());
        }
        let key = self.key();
        let engines = self.shards.count();
        let mut asked: Vec<(Vec<u64>, Vec<&mut [u8]>)> = (0..engines).map(|_| Default::default()).collect();
        for (index, slot) in (first..).zip(into.chunks_mut(block_size)) {
            let (fields, slots) = &mut asked[(index % engines) as usize];
            fields.push(index);
            slots.push(slot);
        }
        let reads = asked
            .into_iter()
            .zip(self.shards.readers.iter())
            .filter(|((fields, _), _)| !fields.is_empty())
            .map(|((fields, slots), readers)| {
                let key = &key;
                async move { readers.hmget_into(key, &fields, slots).await }
            });
        try_join_all(reads).await?;
        Ok(())
    }

    /// Stores whole blocks (index, content); a block of zeros is removed instead. Returns once every engine
    /// has answered, so the blocks are in the engines (and what they overwrote in the journal, first).
    pub async fn write(&self, blocks: Vec<(u64, Block)>) -> Result<(), BlockError> {
        let Some(journal) = &self.journal else {
            return self.store(blocks).await;
        };
        let (Some(first), Some(last)) = (
            blocks.iter().map(|(index, _)| *index).min(),
            blocks.iter().map(|(index, _)| *index).max(),
        ) else {
            return Ok(());
        };
        let _in_order = self.journaling.lock().await;
        let before = self.read(first..last + 1).await?;
        let overwritten: Vec<(u64, Block)> = blocks
            .iter()
            .map(|(index, _)| (*index, before[(index - first) as usize].clone()))
            .collect();
        journal.record(&overwritten).await?;
        self.store(blocks).await
    }

    /// Rolls the vdisk back to how it was at `since_ms` (Unix milliseconds; 0: the oldest state the journal
    /// keeps). Returns how many blocks changed back; an error when the vdisk keeps no journal.
    pub async fn roll_back(&self, since_ms: u64) -> Result<u64, BlockError> {
        let journal = self
            .journal
            .as_ref()
            .ok_or_else(|| BlockError(format!("vdisk '{}' keeps no transaction log", self.id)))?;
        let _in_order = self.journaling.lock().await;
        journal.undo_since(since_ms, |blocks| self.store(blocks)).await
    }

    /// Writes blocks to the engines, journaling nothing.
    async fn store(&self, blocks: Vec<(u64, Block)>) -> Result<(), BlockError> {
        let blocks: Vec<(u64, Block)> = blocks
            .into_iter()
            .map(|(index, block)| (index, block.filter(|bytes| bytes.iter().any(|&b| b != 0))))
            .collect();
        if let Some(lba) = &self.lba {
            return lba.write(&self.shards, blocks).await;
        }
        let key = self.key();
        let count = self.shards.count();
        self.shards
            .on_each(|shard, pipe| {
                let mine = blocks.iter().filter(|(index, _)| index % count == shard);
                let (stored, zeros): (Vec<_>, Vec<_>) = mine.partition(|(_, block)| block.is_some());
                if !stored.is_empty() {
                    let pairs: Vec<(u64, &[u8])> = stored
                        .iter()
                        .map(|(i, b)| (*i, b.as_deref().unwrap_or_default()))
                        .collect();
                    pipe.cmd("HSET").arg(&key).arg(pairs).ignore();
                }
                if !zeros.is_empty() {
                    let fields: Vec<u64> = zeros.iter().map(|(i, _)| *i).collect();
                    pipe.cmd("HDEL").arg(&key).arg(fields).ignore();
                }
            })
            .await
    }

    /// Makes a deduplicated vdisk start as `source`, another deduplicated set (an image): it shares its blocks.
    pub async fn copy_from(&self, source: &VdiskBlocks) -> Result<(), BlockError> {
        match (&self.lba, &source.lba) {
            (Some(mine), Some(theirs)) => mine.copy_from(&self.shards, theirs).await,
            _ => Err(BlockError(
                "only a deduplicated vdisk starts as another's blocks".into(),
            )),
        }
    }

    /// The hashes a deduplicated vdisk refers to (none for the others).
    pub async fn hashes(&self) -> Result<HashSet<Hash>, BlockError> {
        match &self.lba {
            Some(lba) => lba.hashes(&self.shards).await,
            None => Ok(HashSet::new()),
        }
    }

    /// Removes every block of the vdisk from the engines; of a deduplicated one, every block no vdisk in
    /// `still_used` refers to.
    pub async fn delete(&self, still_used: &HashSet<Hash>) -> Result<(), BlockError> {
        if let Some(lba) = &self.lba {
            return lba.delete(&self.shards, still_used).await;
        }
        let key = self.key();
        self.shards
            .on_each(|_, pipe| {
                pipe.cmd("DEL").arg(&key).ignore();
            })
            .await
    }
}
