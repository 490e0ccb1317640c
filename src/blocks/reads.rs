//! Reading a non-deduplicated vdisk's blocks straight into the buffer the NBD server answers from.
//!
//! Why this one command does not go through redis-rs: its reply is a `Value` tree, so every 4 KiB block of an
//! HMGET became a `Vec` of its own, parsed out of the connection's buffer, which the NBD server then copied into
//! its reply and again to cut the client's range out of it: four copies and 1,024 allocations for one 4 MiB read,
//! on CPUs the engines and the client share. Here the reply (RESP2: `*n`, then per field `$len` and the bytes, or
//! `$-1` for an absent block) is parsed as it arrives and each block's bytes go from the connection's read buffer
//! to their place in the caller's buffer: one copy. And the engine's connections are a pool, one per read in
//! flight (made when needed, kept while idle), so the reads of every NBD request ask the engine at once instead
//! of queueing on one multiplexed connection behind another's 2 MiB reply.

use std::sync::{Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{BlockError, ENGINE_DEADLINE};

/// Idle connections kept per engine: about as many as reads that go to it at once.
const IDLE_MAX: usize = 16;
/// A connection's read buffer: many blocks per read from the socket.
const READ_BUFFER: usize = 256 << 10;

type Connection = BufReader<TcpStream>;

/// The connections that read blocks from one engine.
pub struct Readers {
    address: String,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(address: &str) -> Readers {
        Readers {
            address: address.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// `HMGET key fields`, each field's value into its slot (`slots[i]` for `fields[i]`): cut to the slot or
    /// padded with zeros, and zeros for a field that is absent (a block of zeros is never stored).
    pub async fn hmget_into(&self, key: &str, fields: &[u64], slots: Vec<&mut [u8]>) -> Result<(), BlockError> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut connection = match idle {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        let command = redis::cmd("HMGET").arg(key).arg(fields).get_packed_command();
        tokio::time::timeout(ENGINE_DEADLINE, exchange(&mut connection, &command, slots))
            .await
            .map_err(|_| self.failed(format!("no answer in {ENGINE_DEADLINE:?}")))??;
        // Only a connection whose reply was read to its end can serve another; one that failed is dropped.
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_MAX {
            idle.push(connection);
        }
        Ok(())
    }

    async fn connect(&self) -> Result<Connection, BlockError> {
        let stream = tokio::time::timeout(ENGINE_DEADLINE, TcpStream::connect(&self.address))
            .await
            .map_err(|_| self.failed(format!("no connection in {ENGINE_DEADLINE:?}")))?
            .map_err(|err| self.failed(err))?;
        // A command is one write: nothing to gain from Nagle, a delayed ACK's 40 ms to lose.
        stream.set_nodelay(true).map_err(|err| self.failed(err))?;
        Ok(BufReader::with_capacity(READ_BUFFER, stream))
    }

    fn failed(&self, why: impl std::fmt::Display) -> BlockError {
        BlockError(format!("{}: {why}", self.address))
    }
}

/// Sends `command` and reads its array reply into `slots`.
async fn exchange(connection: &mut Connection, command: &[u8], slots: Vec<&mut [u8]>) -> Result<(), BlockError> {
    connection.get_mut().write_all(command).await?;
    let mut line = Vec::with_capacity(32);
    let count = header(connection, &mut line, b'*').await?;
    if count != slots.len() as i64 {
        return Err(BlockError(format!("{count} values for {} fields", slots.len())));
    }
    for slot in slots {
        let Ok(length) = usize::try_from(header(connection, &mut line, b'$').await?) else {
            slot.fill(0);
            continue;
        };
        let kept = length.min(slot.len());
        connection.read_exact(&mut slot[..kept]).await?;
        slot[kept..].fill(0);
        skip(connection, length - kept + 2).await?;
    }
    Ok(())
}

/// One reply header, `<kind><number>\r\n`, as its number; an error reply (`-…`) as the engine's message.
async fn header(connection: &mut Connection, line: &mut Vec<u8>, kind: u8) -> Result<i64, BlockError> {
    line.clear();
    connection.read_until(b'\n', line).await?;
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    match text.as_bytes().first() {
        Some(&first) if first == kind => text[1..]
            .parse()
            .map_err(|_| BlockError(format!("a malformed reply header '{text}'"))),
        Some(b'-') => Err(BlockError(text[1..].to_owned())),
        _ => Err(BlockError(format!("'{text}' where a '{}' reply belongs", kind as char))),
    }
}

/// Reads past `count` bytes: what a slot had no room for, and the CRLF after a value.
async fn skip(connection: &mut Connection, mut count: usize) -> Result<(), BlockError> {
    while count > 0 {
        let available = connection.fill_buf().await?.len();
        if available == 0 {
            return Err(BlockError("the engine closed the connection".into()));
        }
        let taken = available.min(count);
        connection.consume(taken);
        count -= taken;
    }
    Ok(())
}

impl From<std::io::Error> for BlockError {
    fn from(err: std::io::Error) -> BlockError {
        BlockError(err.to_string())
    }
}
