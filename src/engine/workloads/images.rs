//! Image jobs, which need no node: an import reads the image from its URL in batches of whole blocks and writes
//! them into the vdisk storage's block cluster as a boot vdisk's (deduplicated), reporting bytes done of the
//! total as the job's progress; the image is usable once `ImageContent` is recorded, its last step. A deletion,
//! and a failed import, remove the blocks no other boot vdisk or image refers to, then the record.
//!
//! An import interrupted by a restart starts over: writing a block twice stores the same thing.

use std::time::{Duration, Instant};

use url::Url;

use super::{Failure, Runner, Step};
use crate::blocks::VdiskBlocks;
use crate::blocks::cluster::{self, ClusterError};
use crate::model::image::{Image, ImageContent, MOST_BYTES};
use crate::model::{Job, JobAction, JobError, now_rfc3339};
use crate::store::{Expect, Record};
use crate::transfer::{self, TransferError};

/// How long the image's server may keep us waiting, to connect or for more bytes.
const STALL: Duration = Duration::from_secs(30);
/// Bytes gathered before they are written to the engines (whole blocks, one pipeline per engine).
const BATCH: usize = 4 << 20;
/// How often the job's progress is recorded (each is a durable write).
const REPORT_EVERY: Duration = Duration::from_millis(500);

pub async fn apply(step: &mut Step<'_>) -> Result<(), Failure> {
    match step.job.action {
        JobAction::Delete => remove(step).await,
        _ => import(step).await,
    }
}

fn engines_failed(err: ClusterError) -> Failure {
    Failure::Transient(err.to_string())
}

/// The URL's trouble, in the API's terms: the caller gave a URL that serves no image.
fn source_failed(err: TransferError) -> Failure {
    let (status, code) = match err {
        TransferError::Unreachable(_) => (502, "source_unreachable"),
        TransferError::Url(_) | TransferError::Refused(_) => (400, "source_refused"),
    };
    Failure::Permanent(JobError::new(status, code, format!("url: {err}"), Some("url")))
}

fn too_large() -> Failure {
    Failure::Permanent(JobError::new(
        400,
        "too_large",
        format!("url: the image is larger than {MOST_BYTES} bytes, the largest vdisk"),
        Some("url"),
    ))
}

/// What the job's `step` says while importing.
fn describe(done: u64, total: Option<u64>) -> String {
    match total {
        Some(total) => format!("importing: {done} of {total} bytes"),
        None => format!("importing: {done} bytes"),
    }
}

fn percent(done: u64, total: Option<u64>) -> u8 {
    total
        .filter(|total| *total > 0)
        .map_or(0, |total| (done.saturating_mul(100) / total).min(99) as u8)
}

/// Writes `bytes` (whole blocks) as the blocks from `first` on; returns the next block's index.
async fn store_blocks(blocks: &VdiskBlocks, first: u64, bytes: &[u8], blocksize: usize) -> Result<u64, Failure> {
    let batch: Vec<_> = (first..)
        .zip(bytes.chunks(blocksize))
        .map(|(index, block)| (index, Some(block.to_vec())))
        .collect();
    let next = first + batch.len() as u64;
    blocks
        .write(batch)
        .await
        .map_err(|err| Failure::Transient(err.to_string()))?;
    Ok(next)
}

async fn import(step: &mut Step<'_>) -> Result<(), Failure> {
    let store = step.store().clone();
    let name = step.job.target.clone();
    let image = store
        .get::<Image>(&name)?
        .ok_or_else(|| Failure::not_found(format!("image '{name}' was deleted meanwhile")))?
        .value;
    if store.get::<ImageContent>(&name)?.is_some() {
        return Ok(()); // Recorded just before a restart.
    }
    let label = cluster::cluster_of(&store, &image.vdiskstorage)?
        .ok_or_else(|| Failure::not_found(format!("vdisk storage '{}' was deleted meanwhile", image.vdiskstorage)))?;
    let shards = cluster::engines(&store, &label).await.map_err(engines_failed)?;
    let url = Url::parse(&image.url).map_err(|err| source_failed(TransferError::Url(err.to_string())))?;
    let started = Instant::now();
    tracing::info!(image = %name, cluster = %label, from = %transfer::redacted(&url), "importing image");
    let mut download = transfer::open(&url, STALL).await.map_err(source_failed)?;
    let total = download.length();
    if total.is_some_and(|total| total > MOST_BYTES) {
        return Err(too_large());
    }
    let blocks = VdiskBlocks::new(&Image::blocks_id(&name), shards, true);
    let blocksize = usize::try_from(image.blocksize).unwrap_or(4096);
    let (mut pending, mut done, mut next_block) = (Vec::with_capacity(BATCH + blocksize), 0u64, 0u64);
    let mut reported = Instant::now();
    while let Some(chunk) = download
        .chunk()
        .await
        .map_err(|err| Failure::Transient(err.to_string()))?
    {
        done += chunk.len() as u64;
        if done > MOST_BYTES {
            return Err(too_large());
        }
        pending.extend_from_slice(&chunk);
        if pending.len() >= BATCH {
            let rest = pending.split_off(pending.len() / blocksize * blocksize);
            next_block = store_blocks(&blocks, next_block, &pending, blocksize).await?;
            pending = rest;
        }
        if reported.elapsed() >= REPORT_EVERY {
            step.progress(percent(done, total), &describe(done, total)).await?;
            reported = Instant::now();
        }
    }
    if let Some(total) = total.filter(|total| *total != done) {
        return Err(Failure::Transient(format!("the server sent {done} of {total} bytes")));
    }
    if done == 0 {
        return Err(source_failed(TransferError::Refused(format!(
            "{} is empty",
            transfer::redacted(&url)
        ))));
    }
    if !pending.is_empty() {
        pending.resize(pending.len().next_multiple_of(blocksize), 0);
        store_blocks(&blocks, next_block, &pending, blocksize).await?;
    }
    let content = ImageContent {
        name: name.clone(),
        size: done,
        imported_at: now_rfc3339(),
    };
    store.put(content, Expect::Absent).await?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(image = %name, bytes = done, seconds, "image imported");
    Ok(())
}

/// Removes the image: its blocks no other boot vdisk or image refers to, its content, its record. Also what a
/// failed import leaves behind.
pub async fn remove(step: &Step<'_>) -> Result<(), Failure> {
    let store = step.store();
    let name = &step.job.target;
    let Some(image) = store.get::<Image>(name)? else {
        return Ok(());
    };
    if let Some(label) = cluster::cluster_of(store, &image.value.vdiskstorage)? {
        cluster::remove(store, &label, &Image::blocks_id(name), true)
            .await
            .map_err(engines_failed)?;
    }
    store.delete::<ImageContent>(name, None).await?;
    store.delete::<Image>(name, None).await?;
    tracing::info!(image = %name, "image removed");
    Ok(())
}

/// An image whose job a crash lost (between the API's two writes) gets it now, as `Runner::adopt_orphans` does
/// for workloads.
pub async fn adopt_orphans(runner: &Runner) -> crate::store::Result<()> {
    for image in runner.store.all::<Image>()? {
        if image.job.is_empty() || runner.store.get::<Job>(&image.job)?.is_some() {
            continue;
        }
        let action = if image.deleting {
            JobAction::Delete
        } else {
            JobAction::Create
        };
        let mut job = Job::new(Image::COLLECTION, action, "", &image.name, &image.path());
        job.id = image.job.clone();
        tracing::warn!(job = %job.id, image = %image.name, ?action, "an image had no job (crash between two writes); adding it");
        runner.store.put(job, Expect::Absent).await?;
    }
    Ok(())
}
