//! The TFTP side: read-only, serving the iPXE binaries, the handover scripts and the boot assets by name.
//!
//! The protocol (RFC 1350, options 2347/2348/2349, windowsize 7440) is async-tftp's; this file decides what a
//! name means, refuses everything else, and records each transfer as a boot event when its reader is dropped
//! (complete, or abandoned by the client).

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_tftp::packet;
use async_tftp::server::{Handler, TftpServerBuilder};
use futures_lite::AsyncRead;

use super::{Boot, Served};
use crate::model::boot::{BootAsset, BootOutcome, BootProtocol, validate_asset_name};

/// Binds the TFTP socket now (so a bad address fails at start), returns its address and the serving future.
pub async fn bind(
    boot: Arc<Boot>,
    listen: SocketAddr,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()> + Send)> {
    let socket = std::net::UdpSocket::bind(listen)?;
    let server = TftpServerBuilder::with_handler(TftpHandler { boot })
        .std_socket(socket)
        .map_err(std::io::Error::other)?
        // iPXE and PXE ROMs retry after ~1 s; 3 s per packet before giving up on a silent client.
        .timeout(Duration::from_secs(3))
        .build()
        .await
        .map_err(std::io::Error::other)?;
    let address = server.listen_addr().map_err(std::io::Error::other)?;
    Ok((address, async move {
        if let Err(err) = server.serve().await {
            tracing::error!(error = %err, "TFTP server stopped");
        }
    }))
}

struct TftpHandler {
    boot: Arc<Boot>,
}

/// A name a client may ask for: a plain file name, nothing else. Absolute paths, `..`, directories, NUL and
/// percent-escapes are refused outright rather than normalised.
fn requested_name(path: &Path) -> Option<&str> {
    let name = path.to_str()?;
    validate_asset_name("file", name).ok().map(|()| name)
}

impl Handler for TftpHandler {
    type Reader = ServedReader;
    type Writer = futures_lite::io::Sink;

    async fn read_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(ServedReader, Option<u64>), packet::Error> {
        let started = Instant::now();
        let refuse = |outcome: BootOutcome, error: packet::Error| {
            self.boot.recorder.record(Served {
                mac: None,
                client: client.to_string(),
                protocol: BootProtocol::Tftp,
                file: path.to_string_lossy().chars().take(128).collect(),
                bytes: 0,
                duration: started.elapsed(),
                outcome,
                profile: None,
            });
            Err(error)
        };
        let Some(name) = requested_name(path) else {
            return refuse(BootOutcome::NotFound, packet::Error::FileNotFound);
        };
        let content = if let Some(bytes) = self.boot.ipxe.get(name) {
            futures_lite::io::Cursor::new(bytes)
        } else if let Some(script) = self.boot.tftp_script(name) {
            futures_lite::io::Cursor::new(script.into())
        } else if let Ok(Some(asset)) = self.boot.store.get::<BootAsset>(name) {
            match self.boot.assets.bytes(name, &asset.value.sha256) {
                Ok(bytes) => futures_lite::io::Cursor::new(bytes),
                Err(err) => {
                    tracing::error!(asset = %name, error = %err, "cannot read a boot asset");
                    return refuse(BootOutcome::Error, packet::Error::FileNotFound);
                }
            }
        } else {
            return refuse(BootOutcome::NotFound, packet::Error::FileNotFound);
        };
        let size = content.get_ref().len() as u64;
        let reader = ServedReader {
            content,
            size,
            read: 0,
            started,
            boot: self.boot.clone(),
            client: *client,
            name: name.to_owned(),
        };
        Ok((reader, Some(size)))
    }

    async fn write_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
        _size: Option<u64>,
    ) -> Result<futures_lite::io::Sink, packet::Error> {
        tracing::warn!(client = %client, file = %path.display(), "refused a TFTP write request (the server is read-only)");
        Err(packet::Error::PermissionDenied)
    }
}

/// Everything served is in memory (binaries, scripts) or memory-mapped (assets).
type Content = futures_lite::io::Cursor<bytes::Bytes>;

/// Counts what was sent, and records the transfer when async-tftp lets go of it.
pub struct ServedReader {
    content: Content,
    size: u64,
    read: u64,
    started: Instant,
    boot: Arc<Boot>,
    client: SocketAddr,
    name: String,
}

impl AsyncRead for ServedReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.content).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.read += n as u64;
        }
        polled
    }
}

impl Drop for ServedReader {
    fn drop(&mut self) {
        let outcome = if self.read >= self.size {
            BootOutcome::Ok
        } else {
            BootOutcome::Aborted
        };
        self.boot.recorder.record(Served {
            mac: None,
            client: self.client.to_string(),
            protocol: BootProtocol::Tftp,
            file: std::mem::take(&mut self.name),
            bytes: self.read,
            duration: self.started.elapsed(),
            outcome,
            profile: None,
        });
    }
}
