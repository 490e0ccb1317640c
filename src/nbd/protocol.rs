//! The NBD wire protocol's numbers (`doc/proto.md` of NetworkBlockDevice/nbd), the fixed-newstyle subset this
//! server speaks: no TLS, no structured replies, simple replies only.

pub const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
pub const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

// Handshake flags (server) and client flags.
pub const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
pub const FLAG_NO_ZEROES: u16 = 1 << 1;

// Options.
pub const OPT_EXPORT_NAME: u32 = 1;
pub const OPT_ABORT: u32 = 2;
pub const OPT_LIST: u32 = 3;
pub const OPT_INFO: u32 = 6;
pub const OPT_GO: u32 = 7;

// Option replies.
pub const REP_ACK: u32 = 1;
pub const REP_SERVER: u32 = 2;
pub const REP_INFO: u32 = 3;
pub const REP_ERR_UNSUP: u32 = (1 << 31) + 1;
pub const REP_ERR_INVALID: u32 = (1 << 31) + 3;
pub const REP_ERR_UNKNOWN: u32 = (1 << 31) + 6;

// Information types.
pub const INFO_EXPORT: u16 = 0;
pub const INFO_BLOCK_SIZE: u16 = 3;

// Transmission flags.
pub const TFLAG_HAS_FLAGS: u16 = 1 << 0;
pub const TFLAG_READ_ONLY: u16 = 1 << 1;
pub const TFLAG_SEND_FLUSH: u16 = 1 << 2;
pub const TFLAG_SEND_FUA: u16 = 1 << 3;
pub const TFLAG_SEND_TRIM: u16 = 1 << 5;
pub const TFLAG_SEND_WRITE_ZEROES: u16 = 1 << 6;
pub const TFLAG_CAN_MULTI_CONN: u16 = 1 << 8;

// Commands.
pub const CMD_READ: u16 = 0;
pub const CMD_WRITE: u16 = 1;
pub const CMD_DISC: u16 = 2;
pub const CMD_FLUSH: u16 = 3;
pub const CMD_TRIM: u16 = 4;
pub const CMD_WRITE_ZEROES: u16 = 6;

// Errors (errno values, as the protocol fixes them).
pub const EPERM: u32 = 1;
pub const EIO: u32 = 5;
pub const EINVAL: u32 = 22;
pub const ENOSPC: u32 = 28;

/// The largest READ or WRITE payload served (the protocol's suggested maximum; qemu and nbdcopy stay below it).
pub const MAX_PAYLOAD: u32 = 32 << 20;
/// The largest option a client may send: a name of up to 4 KiB and its information requests.
pub const MAX_OPTION: u32 = 8 << 10;

/// A transmission-phase request header.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub kind: u16,
    pub handle: u64,
    pub offset: u64,
    pub length: u32,
}

impl Request {
    /// Parses the 28-byte header; `None` for a wrong magic (the connection cannot be trusted to be in step).
    pub fn parse(header: &[u8; 28]) -> Option<Request> {
        let u32_at = |at: usize| u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        let u64_at = |at: usize| (u64::from(u32_at(at)) << 32) | u64::from(u32_at(at + 4));
        (u32_at(0) == REQUEST_MAGIC).then(|| Request {
            kind: u16::from_be_bytes([header[6], header[7]]),
            handle: u64_at(8),
            offset: u64_at(16),
            length: u32_at(24),
        })
    }

    /// Whether the request stays within an export of `size` bytes.
    pub fn fits(&self, size: u64) -> bool {
        self.offset
            .checked_add(u64::from(self.length))
            .is_some_and(|end| end <= size)
    }
}

/// A simple reply's header.
pub fn reply_header(error: u32, handle: u64) -> [u8; 16] {
    let mut header = [0; 16];
    header[..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
    header[4..8].copy_from_slice(&error.to_be_bytes());
    header[8..].copy_from_slice(&handle.to_be_bytes());
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_header_parses_and_a_wrong_magic_does_not() {
        let mut header = [0u8; 28];
        header[..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        header[6..8].copy_from_slice(&CMD_WRITE.to_be_bytes());
        header[8..16].copy_from_slice(&7u64.to_be_bytes());
        header[16..24].copy_from_slice(&4096u64.to_be_bytes());
        header[24..].copy_from_slice(&512u32.to_be_bytes());
        let request = Request::parse(&header).unwrap();
        assert_eq!(
            (request.kind, request.handle, request.offset, request.length),
            (CMD_WRITE, 7, 4096, 512)
        );
        assert!(request.fits(4608) && !request.fits(4607));
        let past = Request {
            offset: u64::MAX,
            ..request
        };
        assert!(!past.fits(u64::MAX));
        header[0] = 0;
        assert!(Request::parse(&header).is_none());
    }
}
