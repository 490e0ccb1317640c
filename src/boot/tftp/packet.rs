//! TFTP packets (RFC 1350) with options (RFC 2347: blksize 2348, timeout/tsize 2349, windowsize 7440).
//! Parsing is total: any byte string gives a packet or a reason, never a panic.

use std::time::Duration;

pub const OP_RRQ: u16 = 1;
pub const OP_WRQ: u16 = 2;
pub const OP_DATA: u16 = 3;
pub const OP_ACK: u16 = 4;
pub const OP_ERROR: u16 = 5;
pub const OP_OACK: u16 = 6;

pub const ERR_NOT_FOUND: u16 = 1;
pub const ERR_ACCESS: u16 = 2;

/// A read or write request.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub write: bool,
    pub filename: String,
    pub mode: String,
    /// Option names lower-cased, in the order sent.
    pub options: Vec<(String, String)>,
}

/// What a transfer's own socket may receive from its client.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Ack(u16),
    Error(u16, String),
}

/// The options a transfer runs with after negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub block_size: usize,
    pub window_size: u16,
    pub timeout: Duration,
}

pub const DEFAULT_BLOCK_SIZE: usize = 512;
pub const MAX_BLOCK_SIZE: usize = 65464;
/// Larger windows buy nothing on a LAN and make a lost packet costlier.
pub const MAX_WINDOW_SIZE: u16 = 64;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

fn c_strings(bytes: &[u8]) -> Option<Vec<&str>> {
    // Every field ends with a NUL; a trailing unterminated field is malformed.
    if bytes.last() != Some(&0) {
        return None;
    }
    bytes[..bytes.len() - 1]
        .split(|b| *b == 0)
        .map(|field| std::str::from_utf8(field).ok())
        .collect()
}

/// Parses a packet arriving on the server port; `Err` says why it is not a well-formed request.
pub fn parse_request(packet: &[u8]) -> Result<Request, &'static str> {
    if packet.len() < 4 {
        return Err("too short");
    }
    let write = match u16::from_be_bytes([packet[0], packet[1]]) {
        OP_RRQ => false,
        OP_WRQ => true,
        _ => return Err("not a request"),
    };
    let fields = c_strings(&packet[2..]).ok_or("fields not NUL-terminated UTF-8")?;
    let [filename, mode, rest @ ..] = fields.as_slice() else {
        return Err("missing mode");
    };
    if filename.is_empty() || rest.len() % 2 != 0 || rest.len() > 32 {
        return Err("bad filename or options");
    }
    let mode = mode.to_ascii_lowercase();
    if !matches!(mode.as_str(), "octet" | "netascii" | "mail") {
        return Err("unknown mode");
    }
    let options = rest
        .chunks(2)
        .map(|pair| (pair[0].to_ascii_lowercase(), pair[1].to_owned()))
        .collect();
    Ok(Request {
        write,
        filename: (*filename).to_owned(),
        mode,
        options,
    })
}

pub fn parse_reply(packet: &[u8]) -> Option<Reply> {
    let opcode = u16::from_be_bytes([*packet.first()?, *packet.get(1)?]);
    let number = u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]);
    match opcode {
        OP_ACK => Some(Reply::Ack(number)),
        OP_ERROR => {
            let message = packet[4..].split(|b| *b == 0).next().unwrap_or_default();
            Some(Reply::Error(number, String::from_utf8_lossy(message).into_owned()))
        }
        _ => None,
    }
}

/// The options we accept from a request (unknown or out-of-range ones are left out, as RFC 2347 allows), and the
/// OACK fields for them. `tsize` is answered with the file's size.
pub fn negotiate(request: &Request, size: u64) -> (Options, Vec<(String, String)>) {
    let mut options = Options {
        block_size: DEFAULT_BLOCK_SIZE,
        window_size: 1,
        timeout: DEFAULT_TIMEOUT,
    };
    let mut accepted = Vec::new();
    for (name, value) in &request.options {
        match name.as_str() {
            "blksize" => {
                if let Ok(size) = value.parse::<usize>()
                    && size >= 8
                {
                    options.block_size = size.min(MAX_BLOCK_SIZE);
                    accepted.push((name.clone(), options.block_size.to_string()));
                }
            }
            "windowsize" => {
                if let Ok(window) = value.parse::<u16>()
                    && window >= 1
                {
                    options.window_size = window.min(MAX_WINDOW_SIZE);
                    accepted.push((name.clone(), options.window_size.to_string()));
                }
            }
            "timeout" => {
                if let Ok(seconds) = value.parse::<u64>()
                    && (1..=255).contains(&seconds)
                {
                    options.timeout = Duration::from_secs(seconds);
                    accepted.push((name.clone(), seconds.to_string()));
                }
            }
            "tsize" => accepted.push((name.clone(), size.to_string())),
            _ => {}
        }
    }
    (options, accepted)
}

pub fn oack(options: &[(String, String)]) -> Vec<u8> {
    let mut packet = OP_OACK.to_be_bytes().to_vec();
    for (name, value) in options {
        packet.extend_from_slice(name.as_bytes());
        packet.push(0);
        packet.extend_from_slice(value.as_bytes());
        packet.push(0);
    }
    packet
}

pub fn error(code: u16, message: &str) -> Vec<u8> {
    let mut packet = OP_ERROR.to_be_bytes().to_vec();
    packet.extend_from_slice(&code.to_be_bytes());
    packet.extend_from_slice(message.as_bytes());
    packet.push(0);
    packet
}

/// Writes a DATA header into the first four bytes of `buffer`.
pub fn data_header(buffer: &mut [u8], block: u16) {
    buffer[..2].copy_from_slice(&OP_DATA.to_be_bytes());
    buffer[2..4].copy_from_slice(&block.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrq(fields: &[&str]) -> Vec<u8> {
        let mut packet = vec![0, 1];
        for field in fields {
            packet.extend_from_slice(field.as_bytes());
            packet.push(0);
        }
        packet
    }

    #[test]
    fn requests_parse_with_options() {
        let request = parse_request(&rrq(&["undionly.kpxe", "OCTET", "BlkSize", "1468", "tsize", "0"])).unwrap();
        assert_eq!(request.filename, "undionly.kpxe");
        assert_eq!(request.mode, "octet");
        assert_eq!(
            request.options,
            [("blksize".into(), "1468".into()), ("tsize".into(), "0".into())]
        );
        let (options, oack) = negotiate(&request, 74213);
        assert_eq!(options.block_size, 1468);
        assert_eq!(
            oack,
            [
                ("blksize".to_owned(), "1468".to_owned()),
                ("tsize".to_owned(), "74213".to_owned())
            ]
        );
    }

    #[test]
    fn out_of_range_options_are_left_out_or_clamped() {
        let request = parse_request(&rrq(&[
            "f",
            "octet",
            "blksize",
            "4",
            "windowsize",
            "999",
            "timeout",
            "0",
            "x",
            "y",
        ]))
        .unwrap();
        let (options, oack) = negotiate(&request, 1);
        assert_eq!(options.block_size, DEFAULT_BLOCK_SIZE);
        assert_eq!(options.window_size, MAX_WINDOW_SIZE);
        assert_eq!(oack, [("windowsize".to_owned(), MAX_WINDOW_SIZE.to_string())]);
    }

    #[test]
    fn malformed_packets_are_rejected_not_panicked_on() {
        for bad in [
            &b""[..],
            b"\x00",
            b"\x00\x01",
            b"\x00\x01file",
            b"\x00\x01file\x00",
            b"\x00\x01\x00octet\x00",
            b"\x00\x03\x00\x01data",
            b"\x00\x01f\x00octet\x00blksize\x00",
            b"\x00\x01f\x00bogus\x00",
            b"\x00\x01\xff\xfe\x00octet\x00",
        ] {
            assert!(parse_request(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_reply(b"\x00\x04\x01\x02"), Some(Reply::Ack(258)));
        assert_eq!(
            parse_reply(b"\x00\x05\x00\x08no\x00"),
            Some(Reply::Error(8, "no".into()))
        );
        assert_eq!(parse_reply(b"\x00\x04\x01"), None);
    }
}
