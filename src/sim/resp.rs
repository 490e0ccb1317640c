//! The Redis wire format (RESP2), as much as a 0-core client uses: requests are arrays of bulk strings, replies
//! are simple strings, errors, integers, bulk strings (or nil) and arrays.
//!
//! Written by hand: it is a few dozen lines of a frozen format, and the emulator must control exactly which
//! malformed inputs it accepts; a general RESP crate would bring its own frame types for no gain.

use bytes::{Buf, BytesMut};

/// Largest request the emulator accepts (a 0-core command is a few KiB of JSON).
const MAX_REQUEST: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(&'static str),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Status(text) => out.extend_from_slice(format!("+{text}\r\n").as_bytes()),
            Reply::Error(text) => out.extend_from_slice(format!("-{}\r\n", text.replace(['\r', '\n'], " ")).as_bytes()),
            Reply::Integer(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Reply::Bulk(None) | Reply::Array(None) => out.extend_from_slice(b"$-1\r\n"),
            Reply::Bulk(Some(bytes)) => {
                out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Array(Some(items)) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

/// Takes one complete request off the front of `buffer`: `Ok(None)` when more bytes are needed, `Err` when the
/// bytes can never become a valid request (the connection is then closed).
pub fn parse_request(buffer: &mut BytesMut) -> Result<Option<Vec<Vec<u8>>>, &'static str> {
    let mut cursor = 0usize;
    let line = |cursor: &mut usize, buffer: &BytesMut| -> Result<Option<Vec<u8>>, &'static str> {
        let rest = &buffer[*cursor..];
        match rest.windows(2).position(|w| w == b"\r\n") {
            Some(end) => {
                let line = rest[..end].to_vec();
                *cursor += end + 2;
                Ok(Some(line))
            }
            None if rest.len() > 64 * 1024 => Err("line too long"),
            None => Ok(None),
        }
    };
    let number = |line: &[u8]| -> Result<i64, &'static str> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("bad length")
    };
    let Some(header) = line(&mut cursor, buffer)? else {
        return Ok(None);
    };
    if header.first() != Some(&b'*') {
        // Inline command (`PING\r\n`), as redis-cli and telnet users send.
        let words = header
            .split(|b| *b == b' ')
            .filter(|w| !w.is_empty())
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>();
        buffer.advance(cursor);
        return if words.is_empty() {
            Err("empty request")
        } else {
            Ok(Some(words))
        };
    }
    let count = number(&header[1..])?;
    if !(1..=1024 * 1024).contains(&count) {
        return Err("bad array length");
    }
    let mut args = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let Some(bulk_header) = line(&mut cursor, buffer)? else {
            return Ok(None);
        };
        if bulk_header.first() != Some(&b'$') {
            return Err("expected a bulk string");
        }
        let len = number(&bulk_header[1..])?;
        if len < 0 || len as usize > MAX_REQUEST {
            return Err("bad bulk length");
        }
        let len = len as usize;
        if buffer.len() < cursor + len + 2 {
            return Ok(None);
        }
        if &buffer[cursor + len..cursor + len + 2] != b"\r\n" {
            return Err("bulk string not terminated");
        }
        args.push(buffer[cursor..cursor + len].to_vec());
        cursor += len + 2;
    }
    buffer.advance(cursor);
    Ok(Some(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arrays_inline_and_partial_requests() {
        let mut buffer = BytesMut::from(&b"*2\r\n$4\r\nAUTH\r\n$3\r\nabc\r\nPING\r\n*1\r\n$4\r\nPI"[..]);
        assert_eq!(
            parse_request(&mut buffer).unwrap(),
            Some(vec![b"AUTH".to_vec(), b"abc".to_vec()])
        );
        assert_eq!(parse_request(&mut buffer).unwrap(), Some(vec![b"PING".to_vec()]));
        assert_eq!(parse_request(&mut buffer).unwrap(), None, "incomplete");
        buffer.extend_from_slice(b"NG\r\n");
        assert_eq!(parse_request(&mut buffer).unwrap(), Some(vec![b"PING".to_vec()]));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"*x\r\n"[..],
            b"*1\r\n:5\r\n",
            b"*1\r\n$-5\r\n",
            b"*1\r\n$2\r\nabcd\r\n",
            b"*0\r\n",
            b"\r\n",
        ] {
            let mut buffer = BytesMut::from(bad);
            assert!(parse_request(&mut buffer).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn replies_encode() {
        let mut out = Vec::new();
        Reply::Array(Some(vec![
            Reply::Bulk(Some(b"a".to_vec())),
            Reply::Bulk(None),
            Reply::Integer(3),
        ]))
        .encode(&mut out);
        Reply::Error("ERR x\r\ny".into()).encode(&mut out);
        assert_eq!(out, b"*3\r\n$1\r\na\r\n$-1\r\n:3\r\n-ERR x  y\r\n");
    }
}
