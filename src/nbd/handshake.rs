//! The fixed-newstyle handshake: the server's greeting, then the client's options until one picks an export
//! (NBD_OPT_GO, or the old NBD_OPT_EXPORT_NAME) or it gives up (NBD_OPT_ABORT). A client that breaks the
//! protocol (wrong magic, an option longer than any this server takes, a malformed one) is answered with an
//! error where the protocol allows it and disconnected otherwise.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::exports::{Export, Exports};
use super::protocol::*;

/// Why a connection ends during the handshake.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(String),
}

fn broken(why: impl Into<String>) -> HandshakeError {
    HandshakeError::Protocol(why.into())
}

/// The transmission flags of `export`.
pub fn transmission_flags(export: &Export) -> u16 {
    let read_only = if export.read_only { TFLAG_READ_ONLY } else { 0 };
    TFLAG_HAS_FLAGS
        | read_only
        | TFLAG_SEND_FLUSH
        | TFLAG_SEND_FUA
        | TFLAG_SEND_TRIM
        | TFLAG_SEND_WRITE_ZEROES
        | TFLAG_CAN_MULTI_CONN
}

async fn reply<S: AsyncWrite + Unpin>(stream: &mut S, option: u32, kind: u32, data: &[u8]) -> std::io::Result<()> {
    let mut message = Vec::with_capacity(20 + data.len());
    message.extend_from_slice(&OPTION_REPLY_MAGIC.to_be_bytes());
    message.extend_from_slice(&option.to_be_bytes());
    message.extend_from_slice(&kind.to_be_bytes());
    message.extend_from_slice(&(data.len() as u32).to_be_bytes());
    message.extend_from_slice(data);
    stream.write_all(&message).await
}

/// Runs the handshake; the export the client chose, or `None` when it aborted.
pub async fn negotiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    exports: &Exports,
) -> Result<Option<Export>, HandshakeError> {
    let mut greeting = Vec::with_capacity(18);
    greeting.extend_from_slice(&NBDMAGIC.to_be_bytes());
    greeting.extend_from_slice(&IHAVEOPT.to_be_bytes());
    greeting.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    stream.write_all(&greeting).await?;
    let client_flags = stream.read_u32().await?;
    if client_flags & !u32::from(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES) != 0
        || client_flags & u32::from(FLAG_FIXED_NEWSTYLE) == 0
    {
        return Err(broken(format!(
            "client flags {client_flags:#x}: only fixed newstyle is served"
        )));
    }
    let no_zeroes = client_flags & u32::from(FLAG_NO_ZEROES) != 0;
    loop {
        if stream.read_u64().await? != IHAVEOPT {
            return Err(broken("an option without IHAVEOPT"));
        }
        let option = stream.read_u32().await?;
        let length = stream.read_u32().await?;
        if length > MAX_OPTION {
            return Err(broken(format!("option {option} of {length} bytes")));
        }
        let mut data = vec![0; length as usize];
        stream.read_exact(&mut data).await?;
        match option {
            OPT_EXPORT_NAME => {
                let name = String::from_utf8_lossy(&data);
                let export = find(exports, &name)
                    .await?
                    .ok_or_else(|| broken(format!("no export '{name}'")))?;
                let mut answer = Vec::with_capacity(10 + 124);
                answer.extend_from_slice(&export.size.to_be_bytes());
                answer.extend_from_slice(&transmission_flags(&export).to_be_bytes());
                if !no_zeroes {
                    answer.extend_from_slice(&[0; 124]);
                }
                stream.write_all(&answer).await?;
                return Ok(Some(export));
            }
            OPT_ABORT => {
                reply(stream, option, REP_ACK, &[]).await?;
                return Ok(None);
            }
            OPT_LIST if !data.is_empty() => reply(stream, option, REP_ERR_INVALID, b"LIST takes no data").await?,
            OPT_LIST => {
                let names = exports.names().await.map_err(broken)?;
                for name in names {
                    let mut entry = (name.len() as u32).to_be_bytes().to_vec();
                    entry.extend_from_slice(name.as_bytes());
                    reply(stream, option, REP_SERVER, &entry).await?;
                }
                reply(stream, option, REP_ACK, &[]).await?;
            }
            OPT_INFO | OPT_GO => {
                let Some((name, wants_block_size)) = parse_info(&data) else {
                    reply(stream, option, REP_ERR_INVALID, b"malformed INFO/GO").await?;
                    continue;
                };
                let Some(export) = find(exports, &name).await? else {
                    reply(
                        stream,
                        option,
                        REP_ERR_UNKNOWN,
                        format!("no export '{name}'").as_bytes(),
                    )
                    .await?;
                    continue;
                };
                let mut info = INFO_EXPORT.to_be_bytes().to_vec();
                info.extend_from_slice(&export.size.to_be_bytes());
                info.extend_from_slice(&transmission_flags(&export).to_be_bytes());
                reply(stream, option, REP_INFO, &info).await?;
                if wants_block_size {
                    // Any alignment is served (partial blocks are read, changed and written back); the vdisk's
                    // block size is the preferred one.
                    let mut info = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
                    for size in [1, export.blocksize, MAX_PAYLOAD] {
                        info.extend_from_slice(&size.to_be_bytes());
                    }
                    reply(stream, option, REP_INFO, &info).await?;
                }
                reply(stream, option, REP_ACK, &[]).await?;
                if option == OPT_GO {
                    return Ok(Some(export));
                }
            }
            _ => reply(stream, option, REP_ERR_UNSUP, b"not supported").await?,
        }
    }
}

async fn find(exports: &Exports, name: &str) -> Result<Option<Export>, HandshakeError> {
    exports.find(name).await.map_err(broken)
}

/// NBD_OPT_INFO / NBD_OPT_GO data: the export name and whether the client asks for block sizes; `None` when
/// the lengths do not add up.
fn parse_info(data: &[u8]) -> Option<(String, bool)> {
    let name_length = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let name = data.get(4..4usize.checked_add(name_length)?)?;
    let rest = &data[4 + name_length..];
    let count = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let requests = rest.get(2..)?;
    if requests.len() != count * 2 {
        return None;
    }
    let wants_block_size = requests
        .chunks_exact(2)
        .any(|request| u16::from_be_bytes([request[0], request[1]]) == INFO_BLOCK_SIZE);
    Some((String::from_utf8_lossy(name).into_owned(), wants_block_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_data_is_checked_before_it_is_read() {
        let mut data = 3u32.to_be_bytes().to_vec();
        data.extend_from_slice(b"vd1");
        data.extend_from_slice(&1u16.to_be_bytes());
        data.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
        assert_eq!(parse_info(&data), Some(("vd1".into(), true)));
        assert_eq!(parse_info(&data[..data.len() - 1]), None);
        assert_eq!(parse_info(&u32::MAX.to_be_bytes()), None);
        assert_eq!(parse_info(&[]), None);
    }
}
