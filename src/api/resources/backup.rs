//! `GET /admin/backup` (admin): a consistent backup of the running store and its boot assets, streamed.
//!
//! The store writes the archive on a blocking thread (`Store::backup`, which explains the consistency) into a
//! bounded channel that is the response body: a slow client slows the copy down, memory stays at a few chunks,
//! and a client that goes away stops it. A backup that fails half-way aborts the response, so the client sees a
//! broken transfer (and `restore` a truncated archive), never a short file that looks complete.

use std::io::{self, Write};

use bytes::Bytes;
use tokio::sync::mpsc;
use warp::Reply;
use warp::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};

use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{Caller, Ctx, HandlerResult, set_header, with_ctx};
use crate::boot::assets::ASSETS_DIR;
use crate::model::Role;
use crate::model::boot::BootAsset;
use crate::store::backup::{Attachment, Snapshot};

/// Bytes per body chunk.
const CHUNK: usize = 256 * 1024;
/// Chunks buffered between the copy and the socket.
const IN_FLIGHT: usize = 4;

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    backup() [with_ctx(ctx), caller()],
];

#[utoipa::path(operation_id = "backup", get, path = "/admin/backup", tag = "admin",
    responses(
        (status = 200, description = "The backup archive, streamed: every record (tokens as their hashes), the \
            change-log position and every boot asset, at one point in time; `zos-orchestrator restore` reads it",
            content_type = "application/octet-stream", body = Vec<u8>),
        (status = 403, body = ErrorBody)))]
pub(crate) async fn backup(ctx: Ctx, caller: Caller) -> HandlerResult {
    let admin = caller.require(&ctx, Role::Admin)?;
    let (chunks, body) = mpsc::channel(IN_FLIGHT);
    let store = ctx.store.clone();
    let context = ctx.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            chunks,
            buf: Vec::with_capacity(CHUNK),
        };
        let attach = |snapshot: &Snapshot| asset_files(&context, snapshot);
        match store.backup(&mut out, attach) {
            Ok(summary) => tracing::info!(
                by = %admin.name,
                records = summary.records,
                files = summary.files,
                position = summary.position,
                "backup taken"
            ),
            Err(err) => {
                tracing::warn!(by = %admin.name, "backup failed: {err}");
                let _ = out.chunks.blocking_send(Err(io::Error::other(err.to_string())));
            }
        }
    });
    let mut response = warp::reply::stream(tokio_stream::wrappers::ReceiverStream::new(body)).into_response();
    set_header(&mut response, CONTENT_TYPE, "application/octet-stream");
    let name = format!(
        "attachment; filename=\"zos-backup-{}.zosbak\"",
        crate::model::now_rfc3339().replace(':', "")
    );
    set_header(&mut response, CONTENT_DISPOSITION, &name);
    Ok(response)
}

/// Every boot asset's file, as `assets/<name>`, opened at the snapshot's point in time. A record whose file is
/// missing (removed by hand) is left out with a warning: the backup copies what the server would serve.
fn asset_files(ctx: &Ctx, snapshot: &Snapshot) -> crate::store::Result<Vec<Attachment>> {
    let mut files = Vec::new();
    for name in snapshot.ids::<BootAsset>()? {
        let Some(path) = ctx.boot.assets.path(&name) else {
            continue;
        };
        match std::fs::File::open(&path) {
            Ok(file) => files.push(Attachment {
                path: format!("{ASSETS_DIR}/{name}"),
                file,
            }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                tracing::warn!(asset = %name, "backup: the asset's file is missing; left out");
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(files)
}

/// The archive's output: fills a chunk, then hands it to the response body (waiting while the body is full).
struct ChunkWriter {
    chunks: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let taken = data.len().min(room);
        self.buf.extend_from_slice(&data[..taken]);
        if self.buf.len() == CHUNK {
            self.flush()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.chunks
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}
