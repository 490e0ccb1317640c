//! The TFTP side: read-only, serving the iPXE binaries, the handover scripts and the boot assets by name.
//!
//! Written by hand rather than with async-tftp, which we tried first: it drops malformed packets without telling
//! anyone (they must be counted here), runs every transfer on one single-threaded executor (a 200-machine boot
//! storm wants both cores), and hides when a transfer ends. The protocol is small: RFC 1350 with the option
//! extension (RFC 2347: blksize 2348, timeout and tsize 2349, windowsize 7440), in [`packet`]; one transfer is a
//! state machine, in [`transfer`]; worker threads with their own event loops run them, in [`worker`] (which says
//! why not tokio tasks).

mod packet;
mod transfer;
mod worker;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

use super::Boot;
use crate::model::boot::{BootAsset, BootOutcome, validate_asset_name};

/// Binds the TFTP port now (so a bad address fails at start), starts the workers, and returns the address.
///
/// One worker per core, each with its own socket on the port (`SO_REUSEPORT`): the kernel spreads clients over
/// them by address, and a client's packets always reach the same worker. Only sockets of the same user can join
/// the group, so another user cannot take a share of the requests.
pub fn bind(boot: Arc<Boot>, listen: SocketAddr) -> std::io::Result<SocketAddr> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let first = listener(listen)?;
    // With port 0 the first bind chose the port; the others join it.
    let address = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..workers {
        listeners.push(listener(address)?);
    }
    for (index, socket) in listeners.into_iter().enumerate() {
        let boot = boot.clone();
        std::thread::Builder::new()
            .name(format!("tftp-{index}"))
            .spawn(move || worker::run(boot, socket))?;
    }
    Ok(address)
}

fn listener(address: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    socket.bind(&address.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
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
        Ok(Some(asset)) => boot.assets.content_now(name, &asset.value.sha256).map_err(|err| {
            tracing::error!(asset = %name, error = %err, "cannot read a boot asset");
            BootOutcome::Error
        }),
        _ => Err(BootOutcome::NotFound),
    }
}
