//! The TFTP side: read-only, serving the iPXE binaries, the handover scripts and the boot assets by name.
//!
//! Written by hand (on tokio) rather than with async-tftp, which we tried first: it drops malformed packets
//! without telling anyone (they must be counted here), runs every transfer on one single-threaded executor
//! (a 200-machine boot storm wants both cores), and hides when a transfer ends. The protocol is small: RFC 1350
//! with the option extension (RFC 2347: blksize 2348, timeout and tsize 2349, windowsize 7440), in [`packet`];
//! one task per transfer, in [`transfer`].

mod packet;
mod transfer;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::UdpSocket;

use super::{Boot, Served};
use crate::model::boot::{BootAsset, BootOutcome, BootProtocol, validate_asset_name};

/// Binds the TFTP socket now (so a bad address fails at start); returns its address and the serving future.
pub async fn bind(
    boot: Arc<Boot>,
    listen: SocketAddr,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()> + Send)> {
    let socket = UdpSocket::bind(listen).await?;
    let address = socket.local_addr()?;
    Ok((address, serve(boot, socket)))
}

/// Peers with a transfer running: a client that repeats its request while the first one is being answered (a
/// retransmitted RRQ) must not start a second transfer.
type InProgress = Arc<Mutex<HashSet<SocketAddr>>>;

async fn serve(boot: Arc<Boot>, socket: UdpSocket) {
    let local_ip = socket.local_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let in_progress: InProgress = Arc::default();
    // Requests are small; anything longer than this is malformed anyway.
    let mut buffer = vec![0u8; 2048];
    loop {
        let (len, peer) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(err) => {
                // E.g. an ICMP error for an earlier reply; the socket itself is fine.
                tracing::debug!(error = %err, "TFTP receive error");
                continue;
            }
        };
        let request = match packet::parse_request(&buffer[..len]) {
            Ok(request) => request,
            Err(reason) => {
                boot.recorder.metrics().tftp_malformed();
                tracing::debug!(peer = %peer, reason, "dropped a malformed TFTP packet");
                continue;
            }
        };
        if request.write {
            boot.recorder.metrics().tftp_refused();
            tracing::warn!(peer = %peer, file = %request.filename, "refused a TFTP write request (read-only server)");
            let _ = socket
                .send_to(&packet::error(packet::ERR_ACCESS, "read-only server"), peer)
                .await;
            continue;
        }
        if !in_progress.lock().unwrap_or_else(|p| p.into_inner()).insert(peer) {
            continue;
        }
        let (boot, in_progress) = (boot.clone(), in_progress.clone());
        tokio::spawn(async move {
            answer(&boot, peer, local_ip, request).await;
            in_progress.lock().unwrap_or_else(|p| p.into_inner()).remove(&peer);
        });
    }
}

/// What a name means: an iPXE binary, a generated script, or an uploaded asset. Only plain file names: absolute
/// paths, `..`, directories and escapes are refused outright rather than normalised.
fn content(boot: &Boot, name: &str) -> Result<bytes::Bytes, BootOutcome> {
    validate_asset_name("file", name).map_err(|_| BootOutcome::NotFound)?;
    if let Some(bytes) = boot.ipxe.get(name) {
        return Ok(bytes);
    }
    if let Some(script) = boot.tftp_script(name) {
        return Ok(script.into());
    }
    match boot.store.get::<BootAsset>(name) {
        Ok(Some(asset)) => boot.assets.bytes(name, &asset.value.sha256).map_err(|err| {
            tracing::error!(asset = %name, error = %err, "cannot read a boot asset");
            BootOutcome::Error
        }),
        _ => Err(BootOutcome::NotFound),
    }
}

async fn answer(boot: &Boot, peer: SocketAddr, local_ip: IpAddr, request: packet::Request) {
    let started = Instant::now();
    // Each transfer gets its own port (its TID), as RFC 1350 requires, connected to the client.
    let socket = match UdpSocket::bind((local_ip, 0)).await {
        Ok(socket) if socket.connect(peer).await.is_ok() => socket,
        Ok(_) | Err(_) => {
            tracing::warn!(peer = %peer, "cannot open a socket for a TFTP transfer");
            return;
        }
    };
    let (bytes, outcome) = match content(boot, &request.filename) {
        Ok(content) => transfer::send(&socket, &content, &request).await,
        Err(outcome) => {
            let message = if outcome == BootOutcome::NotFound {
                "file not found"
            } else {
                "cannot read file"
            };
            let _ = socket.send(&packet::error(packet::ERR_NOT_FOUND, message)).await;
            (0, outcome)
        }
    };
    boot.recorder.record(Served {
        mac: None,
        client: peer.to_string(),
        protocol: BootProtocol::Tftp,
        file: request.filename.chars().take(128).collect(),
        bytes,
        duration: started.elapsed(),
        outcome,
        profile: None,
        arch: None,
    });
}
