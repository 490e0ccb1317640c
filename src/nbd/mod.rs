//! `nbdserver`: vdisks served over NBD from their storage engines, as 0-disk's `nbdserver` serves them to a VM's
//! qemu (`nbd+unix:///<vdiskid>?socket=<path>`). Each vdisk is an export named by its id; many clients, each
//! with many requests in flight, and every export at once.
//!
//! The protocol is written here by hand: the one NBD server crate (`nbd` 0.3) is synchronous, and it cannot
//! negotiate NBD_OPT_GO or list exports, which qemu needs. What is written is the small fixed-newstyle subset
//! (`protocol.rs`, `handshake.rs`, `transmission.rs`); the blocks themselves are `blocks`'.

mod exports;
mod handshake;
mod protocol;
mod transmission;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

use crate::config::{NbdAddress, NbdServerArgs};
pub use exports::{Exports, Source};

/// The send buffer asked for a unix-socket client (the system's `wmem_max` caps it, 4 MiB by default).
const UNIX_SEND_BUFFER: usize = 4 << 20;

/// Listens on `args.address` and serves every client until the process ends.
pub async fn run(args: NbdServerArgs, exports: Exports) -> std::io::Result<()> {
    let exports = Arc::new(exports);
    match &args.address {
        NbdAddress::Unix(path) => {
            // A socket left by an earlier run would make the bind fail.
            let _ = std::fs::remove_file(path);
            let listener = UnixListener::bind(path)?;
            tracing::info!(id = %args.id, socket = %path.display(), "NBD server listening");
            serve_unix(listener, exports, args.id).await
        }
        NbdAddress::Tcp(address) => {
            let listener = TcpListener::bind(address).await?;
            tracing::info!(id = %args.id, address = %listener.local_addr()?, "NBD server listening");
            loop {
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, exports.clone(), args.id.clone()));
            }
        }
    }
}

/// Serves every client of `listener`, until accepting fails or the future is dropped: then the clients'
/// connections end with it (they are its tasks), as they would with the process of a stopped NBD server
/// container, which is how an emulated node runs one.
pub async fn serve_unix(listener: UnixListener, exports: Arc<Exports>, id: String) -> std::io::Result<()> {
    let mut clients = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                // A READ reply is up to 32 MiB; the default buffer (about 200 KiB) would cut one 4 MiB reply
                // into twenty writes, each waiting for the client to read. The kernel caps what is granted.
                let _ = socket2::SockRef::from(&stream).set_send_buffer_size(UNIX_SEND_BUFFER);
                clients.spawn(connection(stream, exports.clone(), id.clone()));
            }
            Some(_) = clients.join_next() => {}
        }
    }
}

/// One client, from greeting to disconnect; its errors end only its connection.
async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    mut stream: S,
    exports: Arc<Exports>,
    id: String,
) {
    let export = match handshake::negotiate(&mut stream, &exports).await {
        Ok(Some(export)) => export,
        Ok(None) => return,
        // A client that connects and leaves (a probe) is not news; one that breaks the protocol is.
        Err(handshake::HandshakeError::Io(err)) => {
            tracing::debug!(%id, %err, "NBD client left during the handshake");
            return;
        }
        Err(err) => {
            tracing::info!(%id, %err, "NBD client dropped during the handshake");
            return;
        }
    };
    if let Err(err) = transmission::serve(stream, export).await {
        tracing::info!(%id, %err, "NBD client dropped");
    }
}
