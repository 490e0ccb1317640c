//! The transmission phase: requests read one after another and served concurrently (a client pipelines them;
//! replies go back in the order they finish, matched by handle), bounded by the bytes in flight.
//!
//! A WRITE is answered once every engine has acknowledged its blocks, so FLUSH only has to wait for the writes
//! still in flight on this connection. A request the server cannot keep in step with (wrong magic, a WRITE
//! payload larger than any served) ends the connection; any other bad request gets an error reply.

use std::sync::Arc;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{RwLock, Semaphore, mpsc};

use super::exports::Export;
use super::protocol::*;
use crate::blocks::BlockError;

/// What one connection may hold in request and reply payloads at once.
const IN_FLIGHT_BYTES: u32 = 64 << 20;
/// The unit of the in-flight budget.
const PERMIT_BYTES: u32 = 64 << 10;
/// Blocks changed per round trip when trimming or zeroing a large range.
const BLOCKS_PER_BATCH: u64 = 4096;

type Reply = ([u8; 16], Option<Bytes>);

/// Serves requests on `stream` until the client disconnects or breaks the protocol.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    export: Export,
) -> std::io::Result<()> {
    let (mut reader, writer) = tokio::io::split(stream);
    let (replies, outgoing) = mpsc::unbounded_channel::<Reply>();
    let writing = tokio::spawn(write_replies(writer, outgoing));
    let export = Arc::new(export);
    let budget = Arc::new(Semaphore::new((IN_FLIGHT_BYTES / PERMIT_BYTES) as usize));
    let writes = Arc::new(RwLock::new(()));
    let outcome = loop {
        let mut header = [0; 28];
        if let Err(err) = reader.read_exact(&mut header).await {
            break if err.kind() == std::io::ErrorKind::UnexpectedEof {
                Ok(())
            } else {
                Err(err)
            };
        }
        let Some(request) = Request::parse(&header) else {
            break Err(invalid("a request with a wrong magic"));
        };
        let carries_data = request.kind == CMD_WRITE;
        if carries_data && request.length > MAX_PAYLOAD {
            break Err(invalid(format!("a WRITE of {} bytes", request.length)));
        }
        let payload_length = if carries_data || request.kind == CMD_READ {
            request.length.min(MAX_PAYLOAD)
        } else {
            0
        };
        let permits = payload_length.div_ceil(PERMIT_BYTES).max(1);
        let Ok(permit) = budget.clone().acquire_many_owned(permits).await else {
            break Ok(());
        };
        let mut data = Vec::new();
        if carries_data {
            data.resize(request.length as usize, 0);
            if let Err(err) = reader.read_exact(&mut data).await {
                break Err(err);
            }
        }
        match request.kind {
            CMD_DISC => break Ok(()),
            CMD_FLUSH => {
                // Every write before it has been answered by the engines once this lock is free.
                drop(writes.write().await);
                let _ = replies.send((reply_header(0, request.handle), None));
            }
            _ => {
                let changes = matches!(request.kind, CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES);
                let guard = if changes {
                    Some(writes.clone().read_owned().await)
                } else {
                    None
                };
                let export = export.clone();
                let replies = replies.clone();
                tokio::spawn(async move {
                    let answer = handle(&export, request, data).await;
                    let _ = replies.send(answer);
                    drop((guard, permit));
                });
            }
        }
    };
    // Let the requests in flight answer (DISC: "the server must finish in-flight requests") before closing.
    drop(writes.write().await);
    let _ = budget.acquire_many(IN_FLIGHT_BYTES / PERMIT_BYTES).await;
    drop(replies);
    let written = writing.await.unwrap_or(Ok(()));
    outcome.and(written)
}

fn invalid(why: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.into())
}

async fn write_replies<W: AsyncWrite + Unpin>(
    writer: W,
    mut outgoing: mpsc::UnboundedReceiver<Reply>,
) -> std::io::Result<()> {
    let mut writer = BufWriter::with_capacity(256 << 10, writer);
    while let Some((header, data)) = outgoing.recv().await {
        // Header and data in one vectored write: a large reply goes past the buffer without a write of its own
        // for the 16-byte header first.
        let mut reply = Buf::chain(&header[..], data.unwrap_or_default());
        writer.write_all_buf(&mut reply).await?;
        if outgoing.is_empty() {
            writer.flush().await?;
        }
    }
    writer.flush().await?;
    writer.shutdown().await
}

/// Serves one READ, WRITE, TRIM or WRITE_ZEROES (anything else is EINVAL); its reply.
async fn handle(export: &Export, request: Request, data: Vec<u8>) -> Reply {
    let error = |errno| (reply_header(errno, request.handle), None);
    let writes = matches!(request.kind, CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES);
    if !matches!(request.kind, CMD_READ | CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES) {
        return error(EINVAL);
    }
    if writes && export.read_only {
        return error(EPERM);
    }
    if !request.fits(export.size) {
        return error(if writes { ENOSPC } else { EINVAL });
    }
    if request.kind == CMD_READ && request.length > MAX_PAYLOAD {
        return error(EINVAL);
    }
    let outcome = match request.kind {
        CMD_READ => read(export, request.offset, request.length).await.map(Some),
        CMD_WRITE => write(export, request.offset, &data).await.map(|()| None),
        _ => zero(export, request.offset, u64::from(request.length))
            .await
            .map(|()| None),
    };
    match outcome {
        Ok(data) => (reply_header(0, request.handle), data),
        Err(err) => {
            tracing::warn!(%err, offset = request.offset, length = request.length, "NBD request failed");
            error(EIO)
        }
    }
}

/// The bytes at `offset`, `length` long (blocks that are absent read as zeros). The blocks are read straight
/// into the buffer the reply is written from, and a range that does not start on a block is a view of it: the
/// engines' bytes are copied once on their way to the client.
async fn read(export: &Export, offset: u64, length: u32) -> Result<Bytes, BlockError> {
    let size = u64::from(export.blocksize);
    if length == 0 {
        return Ok(Bytes::new());
    }
    let first = offset / size;
    let end = (offset + u64::from(length)).div_ceil(size);
    let mut bytes = vec![0; ((end - first) * size) as usize];
    export.blocks.read_into(first, size as usize, &mut bytes).await?;
    let skip = (offset - first * size) as usize;
    Ok(Bytes::from(bytes).slice(skip..skip + length as usize))
}

/// Writes `data` at `offset`: whole blocks as they are; a block written only in part is read, changed and written
/// back under its stripe's lock, so two partial writes into one block both land.
async fn write(export: &Export, offset: u64, data: &[u8]) -> Result<(), BlockError> {
    if data.is_empty() {
        return Ok(());
    }
    let size = u64::from(export.blocksize);
    let first = offset / size;
    let end = (offset + data.len() as u64).div_ceil(size);
    let partial: Vec<u64> = [first, end - 1]
        .into_iter()
        .filter(|&index| index * size < offset || (index + 1) * size > offset + data.len() as u64)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut stripes: Vec<usize> = partial
        .iter()
        .map(|i| (*i % export.stripes.len() as u64) as usize)
        .collect();
    stripes.sort_unstable();
    stripes.dedup();
    let mut held = Vec::with_capacity(stripes.len());
    for stripe in stripes {
        held.push(export.stripes[stripe].lock().await);
    }
    let mut blocks = Vec::with_capacity((end - first) as usize);
    for index in first..end {
        let block_start = index * size;
        let mut block = if partial.contains(&index) {
            let old = export.blocks.read(index..index + 1).await?.pop().flatten();
            let mut old = old.unwrap_or_default();
            old.resize(size as usize, 0);
            old
        } else {
            vec![0; size as usize]
        };
        let from = block_start.max(offset);
        let to = (block_start + size).min(offset + data.len() as u64);
        block[(from - block_start) as usize..(to - block_start) as usize]
            .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
        blocks.push((index, Some(block)));
    }
    export.blocks.write(blocks).await
}

/// TRIM and WRITE_ZEROES: whole blocks are removed (absent reads as zeros), partial ones written with zeros.
async fn zero(export: &Export, offset: u64, length: u64) -> Result<(), BlockError> {
    let size = u64::from(export.blocksize);
    let end = offset + length;
    let whole_start = offset.div_ceil(size);
    let whole_end = end / size;
    if whole_start >= whole_end {
        return write(export, offset, &vec![0; length as usize]).await;
    }
    if offset < whole_start * size {
        write(export, offset, &vec![0; (whole_start * size - offset) as usize]).await?;
    }
    if end > whole_end * size {
        write(export, whole_end * size, &vec![0; (end - whole_end * size) as usize]).await?;
    }
    let mut index = whole_start;
    while index < whole_end {
        let batch = (index..whole_end.min(index + BLOCKS_PER_BATCH))
            .map(|i| (i, None))
            .collect();
        export.blocks.write(batch).await?;
        index += BLOCKS_PER_BATCH;
    }
    Ok(())
}
