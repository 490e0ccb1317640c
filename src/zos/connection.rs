//! One connection to a node's 0-core: Redis's RESP2 over TCP, written by hand.
//!
//! Why not redis-rs, which the orchestrator used here before: its multiplexed connection keeps a driver task,
//! framed read and write buffers and a pipeline queue for as long as it lives, about 28 KB per connection. With
//! 10,000 nodes and an idle connection or two each, that was 280 MB, most of the orchestrator's memory
//! (bench/README.md). A 0-core exchange is strictly one command and one reply, so between calls a connection
//! here is the bare socket: a call writes its command from a buffer made for it and reads the reply through a
//! buffer made for it, and both are gone when it returns.
//!
//! Reading through a buffer that is dropped afterwards is safe because the node only ever sends the reply to the
//! one command in flight: nothing can be read ahead past it and lost.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::ZosError;

/// The buffer a reply is read through: most replies are one small JSON result.
const READ_BUFFER: usize = 4096;
/// Redis's own limit on one bulk string (`proto-max-bulk-len`); a longer length is not Redis talking.
const MAX_BULK: u64 = 512 << 20;
/// Longest array accepted in a reply (0-core's replies have one or two elements).
const MAX_ARRAY: i64 = 1 << 20;

/// A reply, as far as 0-core's commands need: an error reply is a [`ZosError`] instead.
#[derive(Debug, PartialEq)]
pub enum Reply {
    Nil,
    Status(String),
    /// An error reply's message; [`Connection::call`] returns it as a [`ZosError`].
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    /// Of scalar replies: no 0-core command answers with nested arrays.
    Array(Vec<Reply>),
}

impl Reply {
    /// The reply, or its error as a [`ZosError`].
    fn or_error(self) -> Result<Reply, ZosError> {
        match self {
            Reply::Error(message) => Err(error_reply(&message)),
            reply => Ok(reply),
        }
    }

    pub fn integer(self) -> Result<i64, ZosError> {
        match self {
            Reply::Integer(value) => Ok(value),
            other => Err(unexpected("an integer", &other)),
        }
    }

    /// A bulk string, or `None` for a nil reply (a blocking read that timed out).
    pub fn optional_text(self) -> Result<Option<String>, ZosError> {
        match self {
            Reply::Nil => Ok(None),
            Reply::Bulk(bytes) => text(bytes).map(Some),
            other => Err(unexpected("a bulk string", &other)),
        }
    }

    /// An array of bulk strings (a nil array is empty).
    pub fn texts(self) -> Result<Vec<String>, ZosError> {
        match self {
            Reply::Nil => Ok(Vec::new()),
            Reply::Array(items) => items
                .into_iter()
                .map(|item| {
                    item.optional_text()?
                        .ok_or_else(|| unexpected("a bulk string", &Reply::Nil))
                })
                .collect(),
            other => Err(unexpected("an array", &other)),
        }
    }
}

fn text(bytes: Vec<u8>) -> Result<String, ZosError> {
    String::from_utf8(bytes).map_err(|_| ZosError::Protocol("a reply is not UTF-8".to_owned()))
}

fn unexpected(wanted: &str, got: &Reply) -> ZosError {
    ZosError::Protocol(format!("expected {wanted} in the reply, got {got:?}"))
}

fn unreachable(err: std::io::Error) -> ZosError {
    ZosError::Unreachable(err.to_string())
}

/// A connection to one node, authenticated if the node wants a password.
pub struct Connection {
    stream: TcpStream,
    /// False from a command's first byte written to its reply's last byte read. A call dropped in between (its
    /// deadline passed) leaves a reply on the way that the next command would read as its own, so such a
    /// connection is never used again (and never pooled: see [`Connection::is_clean`]).
    clean: bool,
}

impl Connection {
    /// Connects to `host:port` within `deadline` and sends `AUTH` when there is a `password`.
    pub async fn open(address: &str, password: Option<&str>, deadline: Duration) -> Result<Connection, ZosError> {
        let stream = tokio::time::timeout(deadline, TcpStream::connect(address))
            .await
            .map_err(|_| ZosError::Unreachable(format!("no connection to {address} within {deadline:?}")))?
            .map_err(|err| ZosError::Unreachable(format!("{address}: {err}")))?;
        // Commands are small and each waits for its reply: never hold one back to fill a segment.
        stream.set_nodelay(true).map_err(unreachable)?;
        let mut connection = Connection { stream, clean: true };
        if let Some(password) = password {
            match connection.call(&[b"AUTH", password.as_bytes()]).await {
                Ok(_) => {}
                Err(ZosError::Protocol(message)) => return Err(ZosError::AuthRefused(message)),
                Err(err) => return Err(err),
            }
        }
        Ok(connection)
    }

    /// Sends one command (its name and arguments) and reads its reply. An error reply is
    /// [`ZosError::AuthRefused`] when it is about the password, [`ZosError::Protocol`] otherwise.
    pub async fn call(&mut self, command: &[&[u8]]) -> Result<Reply, ZosError> {
        if !self.clean {
            return Err(ZosError::Unreachable(
                "an earlier command on this connection was cut off before its reply".to_owned(),
            ));
        }
        self.clean = false;
        self.stream.write_all(&encode(command)).await.map_err(unreachable)?;
        let reply = read_reply(&mut BufReader::with_capacity(READ_BUFFER, &mut self.stream)).await?;
        // Read to its end, an error reply included; a broken or garbled one left the connection unusable.
        self.clean = true;
        reply.or_error()
    }

    /// Whether the connection may serve another command (no reply is pending or half read).
    pub fn is_clean(&self) -> bool {
        self.clean
    }
}

/// A command as RESP: an array of bulk strings.
fn encode(command: &[&[u8]]) -> Vec<u8> {
    let size = command.iter().map(|arg| arg.len() + 16).sum::<usize>() + 16;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(format!("*{}\r\n", command.len()).as_bytes());
    for arg in command {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A reply read up to its end, or the length of an array whose elements follow.
enum Header {
    Scalar(Reply),
    Array(usize),
}

/// One whole reply (an array with its elements).
async fn read_reply<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Result<Reply, ZosError> {
    let mut line = Vec::new();
    match read_header(reader, &mut line).await? {
        Header::Scalar(reply) => Ok(reply),
        Header::Array(count) => {
            let mut items = Vec::with_capacity(count.min(16));
            for _ in 0..count {
                match read_header(reader, &mut line).await? {
                    Header::Scalar(item) => items.push(item),
                    Header::Array(_) => return Err(ZosError::Protocol("a nested array in a reply".to_owned())),
                }
            }
            Ok(Reply::Array(items))
        }
    }
}

async fn read_header<R: AsyncRead + Unpin>(reader: &mut BufReader<R>, line: &mut Vec<u8>) -> Result<Header, ZosError> {
    line.clear();
    let read = reader.read_until(b'\n', line).await.map_err(unreachable)?;
    if read == 0 {
        return Err(ZosError::Unreachable("the node closed the connection".to_owned()));
    }
    let Some(body) = line.strip_suffix(b"\r\n").and_then(|body| body.split_first()) else {
        return Err(ZosError::Protocol("a reply line does not end with CRLF".to_owned()));
    };
    let (kind, rest) = body;
    let rest = std::str::from_utf8(rest).map_err(|_| ZosError::Protocol("a reply line is not UTF-8".to_owned()))?;
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| ZosError::Protocol(format!("'{rest}' is not a number")))
    };
    Ok(match kind {
        b'+' => Header::Scalar(Reply::Status(rest.to_owned())),
        b'-' => Header::Scalar(Reply::Error(rest.to_owned())),
        b':' => Header::Scalar(Reply::Integer(number()?)),
        b'$' => match number()? {
            -1 => Header::Scalar(Reply::Nil),
            length if (0..=MAX_BULK as i64).contains(&length) => {
                let mut bytes = Vec::new();
                let mut body = reader.take(length as u64 + 2);
                body.read_to_end(&mut bytes).await.map_err(unreachable)?;
                if (bytes.len() as i64) < length + 2 {
                    return Err(ZosError::Unreachable("a reply was cut short".to_owned()));
                }
                if !bytes.ends_with(b"\r\n") {
                    return Err(ZosError::Protocol("a bulk string does not end with CRLF".to_owned()));
                }
                bytes.truncate(length as usize);
                Header::Scalar(Reply::Bulk(bytes))
            }
            length => return Err(ZosError::Protocol(format!("a bulk string of {length} bytes"))),
        },
        b'*' => match number()? {
            -1 => Header::Scalar(Reply::Nil),
            count if (0..=MAX_ARRAY).contains(&count) => Header::Array(count as usize),
            count => return Err(ZosError::Protocol(format!("an array of {count} elements"))),
        },
        other => {
            return Err(ZosError::Protocol(format!(
                "a reply starting with {:?}",
                char::from(*other)
            )));
        }
    })
}

/// An error reply: about the password (Redis and 0-core's proxy word it differently), or anything else.
fn error_reply(message: &str) -> ZosError {
    let about_password = ["NOAUTH", "WRONGPASS", "invalid password", "invalid username-password"]
        .iter()
        .any(|sign| message.contains(sign));
    if about_password {
        ZosError::AuthRefused(message.to_owned())
    } else {
        ZosError::Protocol(message.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> Result<Reply, ZosError> {
        read_reply(&mut BufReader::new(bytes)).await?.or_error()
    }

    #[tokio::test]
    async fn a_call_cut_off_before_its_reply_leaves_the_connection_unusable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let node = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0; 64];
            let _ = socket.read(&mut request).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            // The reply to the first command, late: it must never be taken for the second one's.
            let _ = socket.write_all(b":1\r\n").await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let mut connection = Connection::open(&address, None, Duration::from_secs(2)).await.unwrap();
        assert!(connection.is_clean());
        let cut = tokio::time::timeout(Duration::from_millis(50), connection.call(&[b"BLPOP", b"k", b"1"])).await;
        assert!(cut.is_err(), "the call should have been cut off");
        assert!(!connection.is_clean());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(matches!(
            connection.call(&[b"EXISTS", b"k"]).await,
            Err(ZosError::Unreachable(_))
        ));
        node.abort();
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode(&[b"RPUSH", b"core:default", b"{\"a\":1}"]),
            b"*3\r\n$5\r\nRPUSH\r\n$12\r\ncore:default\r\n$7\r\n{\"a\":1}\r\n"
        );
    }

    #[tokio::test]
    async fn replies_parse_and_garbage_is_an_error() {
        assert_eq!(parse(b":42\r\n").await.unwrap(), Reply::Integer(42));
        assert_eq!(parse(b"$-1\r\n").await.unwrap(), Reply::Nil);
        assert_eq!(parse(b"$3\r\na\r\n\r\n").await.unwrap(), Reply::Bulk(b"a\r\n".to_vec()));
        assert_eq!(
            parse(b"*2\r\n$1\r\nk\r\n$0\r\n\r\n").await.unwrap().texts().unwrap(),
            vec!["k".to_owned(), String::new()]
        );
        assert_eq!(parse(b"+OK\r\n").await.unwrap(), Reply::Status("OK".to_owned()));
        assert!(matches!(
            parse(b"-NOAUTH Authentication required.\r\n").await,
            Err(ZosError::AuthRefused(_))
        ));
        assert!(matches!(
            parse(b"-ERR unknown command\r\n").await,
            Err(ZosError::Protocol(_))
        ));
        for garbage in [
            &b"?x\r\n"[..],
            b":1\n",
            b"$99999999999\r\n",
            b"*-5\r\n",
            b"*1\r\n*1\r\n:1\r\n",
            b":x\r\n",
            b"$2\r\nabXY",
        ] {
            assert!(
                matches!(parse(garbage).await, Err(ZosError::Protocol(_))),
                "{garbage:?}"
            );
        }
        for cut in [&b""[..], b"$5\r\nab", b"*2\r\n:1\r\n"] {
            assert!(matches!(parse(cut).await, Err(ZosError::Unreachable(_))), "{cut:?}");
        }
    }
}
