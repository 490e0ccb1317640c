//! DHCP packets in and out: the checks a datagram must pass before the proxy looks at it, and the answer.
//!
//! dhcproto parses and encodes, but it is lenient by design: it does not check the magic cookie, stops at the
//! first option it cannot read and keeps what it had, reads fixed-width options without looking at their length
//! byte, panics in `Message::chaddr` when the header's `hlen` is above 16, and (in debug builds) on some option
//! lengths. So the bytes are checked here first: the option area is walked by hand, only the options the proxy
//! reads ([`READ`]) are decoded, each on its own and only if it encodes back to the same bytes, and a packet that fails any check
//! is dropped with a reason for `/metrics`.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, DhcpOptions, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

/// The BOOTP header (236 bytes) and the magic cookie.
const HEADER: usize = 240;
const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// The largest datagram accepted: the UDP payload of a full Ethernet frame. PXE ROMs send 300 to 600 bytes.
pub const MAX_PACKET: usize = 1472;
/// More options than any firmware sends (iPXE sends about 20); past this a packet is an option bomb.
const MAX_OPTIONS: usize = 64;
/// The options the proxy reads: message type, vendor class, user class, client architecture, machine UUID.
const READ: [OptionCode; 5] = [
    OptionCode::MessageType,
    OptionCode::ClassIdentifier,
    OptionCode::UserClass,
    OptionCode::ClientSystemArchitecture,
    OptionCode::ClientMachineIdentifier,
];
/// What proxyDHCP answers carry in the vendor class (option 60), as the PXE specification asks.
pub const PXE_CLIENT: &[u8] = b"PXEClient";
/// PXE vendor option 6 (discovery control) = 8: boot the file named in this packet, skip boot server
/// discovery; then End.
const SKIP_DISCOVERY: [u8; 4] = [6, 1, 8, 255];

/// Why a datagram was dropped before the proxy looked at it (the `reason` label in `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the BOOTP header and magic cookie.
    Truncated,
    Oversized,
    BadMagic,
    /// An op code that is neither request nor reply, or a hardware address longer than the field.
    BadHeader,
    /// An option that runs past the end, comes twice, or (one the proxy reads) does not parse as exactly its
    /// length.
    BadOptions,
    /// More options than [`MAX_OPTIONS`].
    OptionBomb,
}

impl Malformed {
    pub fn label(self) -> &'static str {
        match self {
            Malformed::Truncated => "truncated",
            Malformed::Oversized => "oversized",
            Malformed::BadMagic => "bad_magic",
            Malformed::BadHeader => "bad_header",
            Malformed::BadOptions => "bad_options",
            Malformed::OptionBomb => "option_bomb",
        }
    }
}

/// A checked DHCP message: `hlen` is at most 16 (so `chaddr()` cannot panic); its options are the ones in
/// [`READ`] that the client sent, each read whole.
pub fn parse(bytes: &[u8]) -> Result<Message, Malformed> {
    if bytes.len() > MAX_PACKET {
        return Err(Malformed::Oversized);
    }
    if bytes.len() < HEADER {
        return Err(Malformed::Truncated);
    }
    if bytes[236..HEADER] != MAGIC {
        return Err(Malformed::BadMagic);
    }
    if !matches!(bytes[0], 1 | 2) || bytes[2] > 16 {
        return Err(Malformed::BadHeader);
    }
    let options = options(&bytes[HEADER..])?;
    // The header alone (options ended at once): dhcproto must not read the options area itself.
    let header = [&bytes[..HEADER], &[255]].concat();
    let mut message = Message::decode(&mut Decoder::new(&header)).map_err(|_| Malformed::Truncated)?;
    message.set_opts(options);
    Ok(message)
}

/// Walks the options area: pads skipped, End (or the end of the datagram) ends it.
fn options(mut rest: &[u8]) -> Result<DhcpOptions, Malformed> {
    let mut options = DhcpOptions::new();
    let mut seen = [false; 256];
    let mut count = 0;
    loop {
        match rest {
            [] | [255, ..] => return Ok(options),
            [0, tail @ ..] => rest = tail,
            [code, len, tail @ ..] if tail.len() >= usize::from(*len) => {
                count += 1;
                if count > MAX_OPTIONS {
                    return Err(Malformed::OptionBomb);
                }
                if std::mem::replace(&mut seen[usize::from(*code)], true) {
                    return Err(Malformed::BadOptions);
                }
                let (whole, after) = rest.split_at(2 + usize::from(*len));
                if READ.contains(&OptionCode::from(*code)) {
                    // Read whole: what dhcproto understood encodes back to exactly these bytes.
                    let option = DhcpOption::decode(&mut Decoder::new(whole)).map_err(|_| Malformed::BadOptions)?;
                    if option.to_vec().ok().as_deref() != Some(whole) {
                        return Err(Malformed::BadOptions);
                    }
                    options.insert(option);
                }
                rest = after;
            }
            _ => return Err(Malformed::BadOptions),
        }
    }
}

/// What the proxy tells one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Offer (to a discover on port 67) or Ack (to a request on port 4011).
    pub kind: MessageType,
    /// This server: next-server and server identifier.
    pub server: Ipv4Addr,
    pub file: String,
    /// Whether to add PXE option 43 telling the client to boot `file` without boot server discovery. UEFI
    /// firmware gets no option 43 (some ignore such offers) and asks again on port 4011, as pixiecore found.
    pub skip_discovery: bool,
}

/// The proxyDHCP answer to `request`: never an address (yiaddr stays 0), this server as next-server, the boot
/// file both in the header (where it fits) and as option 67. `request` must come from [`parse`].
pub fn answer(request: &Message, reply: &Reply) -> Result<Vec<u8>, dhcproto::error::EncodeError> {
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let mut message = Message::new_with_id(
        request.xid(),
        unspecified,
        unspecified,
        reply.server,
        request.giaddr(),
        request.chaddr(),
    );
    message
        .set_opcode(Opcode::BootReply)
        .set_htype(request.htype())
        .set_flags(request.flags());
    // The BOOTP file field holds 127 bytes and a NUL; option 67 alone carries longer names.
    if reply.file.len() < 128 {
        message.set_fname_str(&reply.file);
    }
    if !reply.skip_discovery {
        message.set_sname_str(reply.server.to_string());
    }
    let options = message.opts_mut();
    options.insert(DhcpOption::MessageType(reply.kind));
    options.insert(DhcpOption::ServerIdentifier(reply.server));
    options.insert(DhcpOption::ClassIdentifier(PXE_CLIENT.to_vec()));
    options.insert(DhcpOption::BootfileName(reply.file.as_bytes().to_vec()));
    if reply.skip_discovery {
        options.insert(DhcpOption::VendorExtensions(SKIP_DISCOVERY.to_vec()));
    }
    // PXE clients check that the answer names the machine they are (client machine identifier, option 97).
    if let Some(uuid) = request.opts().get(OptionCode::ClientMachineIdentifier) {
        options.insert(uuid.clone());
    }
    message.to_vec()
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A PXE client's discover as the test suites build it: `options` after message type 53.
    pub fn discover(options: &[(u8, &[u8])]) -> Vec<u8> {
        let mut bytes = vec![0u8; HEADER];
        bytes[..4].copy_from_slice(&[1, 1, 6, 0]);
        bytes[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        bytes[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        bytes[236..HEADER].copy_from_slice(&MAGIC);
        bytes.extend_from_slice(&[53, 1, 1]);
        for (code, data) in options {
            bytes.push(*code);
            bytes.push(data.len() as u8);
            bytes.extend_from_slice(data);
        }
        bytes.push(255);
        bytes
    }

    #[test]
    fn a_pxe_discover_parses() {
        let bytes = discover(&[(60, b"PXEClient:Arch:00000:UNDI:002001"), (93, &[0, 0]), (97, &[0; 17])]);
        let message = parse(&bytes).unwrap();
        assert_eq!(message.xid(), 0x1234_5678);
        assert_eq!(message.chaddr(), [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(message.opts().msg_type(), Some(MessageType::Discover));
        assert!(message.opts().get(OptionCode::ClassIdentifier).is_some());
    }

    #[test]
    fn bad_datagrams_are_named() {
        let good = discover(&[(60, b"PXEClient")]);
        assert_eq!(parse(&good[..239]), Err(Malformed::Truncated));
        assert_eq!(parse(&[]), Err(Malformed::Truncated));
        let mut big = good.clone();
        big.resize(MAX_PACKET + 1, 0);
        assert_eq!(parse(&big), Err(Malformed::Oversized));
        let mut magic = good.clone();
        magic[239] ^= 1;
        assert_eq!(parse(&magic), Err(Malformed::BadMagic));
        let mut hlen = good.clone();
        hlen[2] = 200;
        assert_eq!(
            parse(&hlen),
            Err(Malformed::BadHeader),
            "hlen > 16 would make chaddr() panic"
        );
        // Cut inside an option, an option whose fixed width disagrees with its length, a repeated option.
        assert_eq!(parse(&good[..good.len() - 3]), Err(Malformed::BadOptions));
        assert_eq!(parse(&discover(&[(93, &[0, 0, 7])])), Err(Malformed::BadOptions));
        assert_eq!(parse(&discover(&[(53, &[1, 1])])), Err(Malformed::BadOptions));
        assert!(
            parse(&discover(&[(54, &[1, 2, 3])])).is_ok(),
            "options the proxy does not read are not decoded"
        );
        assert_eq!(parse(&discover(&[(60, b"a"), (60, b"b")])), Err(Malformed::BadOptions));
        let bomb: Vec<(u8, &[u8])> = (100..200).map(|code| (code, &b""[..])).collect();
        assert_eq!(parse(&discover(&bomb)), Err(Malformed::OptionBomb));
    }

    /// Every option code with every short length and a few data patterns, and random mutations of a real
    /// discover: no input panics.
    #[test]
    fn no_input_panics() {
        for code in 1..=254u8 {
            for len in 0..=40u8 {
                for fill in [0u8, 1, 0x20, 0xff] {
                    let data = vec![fill; usize::from(len)];
                    let _ = parse(&discover(&[(code, &data)]));
                }
            }
        }
        let good = discover(&[(60, b"PXEClient:Arch:00007:UNDI:003016"), (93, &[0, 7]), (77, b"iPXE")]);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut bytes = good.clone();
            let at = (seed as usize) % bytes.len();
            bytes[at] = (seed >> 32) as u8;
            bytes.truncate(HEADER + (seed >> 40) as usize % (bytes.len() - HEADER + 1));
            if let Ok(message) = parse(&bytes) {
                let _ = message.chaddr();
            }
        }
    }

    #[test]
    fn answers_offer_no_address_and_name_the_file() {
        let request = parse(&discover(&[(60, b"PXEClient"), (97, &[0; 17])])).unwrap();
        let server = Ipv4Addr::new(10, 1, 2, 3);
        let reply = Reply {
            kind: MessageType::Offer,
            server,
            file: "undionly.kpxe".into(),
            skip_discovery: true,
        };
        let decode = |bytes: Vec<u8>| Message::decode(&mut Decoder::new(&bytes)).unwrap();
        let answer_to = |reply: &Reply| decode(answer(&request, reply).unwrap());
        let answer = answer_to(&reply);
        assert_eq!(answer.opcode(), Opcode::BootReply);
        assert_eq!(answer.xid(), request.xid());
        assert_eq!(answer.chaddr(), request.chaddr());
        assert_eq!(
            answer.yiaddr(),
            Ipv4Addr::UNSPECIFIED,
            "a proxy never offers an address"
        );
        assert_eq!(answer.siaddr(), server);
        assert_eq!(
            answer.fname_str().unwrap().unwrap().trim_end_matches('\0'),
            "undionly.kpxe"
        );
        let options = answer.opts();
        assert_eq!(options.msg_type(), Some(MessageType::Offer));
        assert_eq!(
            options.get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(server))
        );
        assert_eq!(
            options.get(OptionCode::ClassIdentifier),
            Some(&DhcpOption::ClassIdentifier(PXE_CLIENT.to_vec()))
        );
        assert_eq!(
            options.get(OptionCode::VendorExtensions),
            Some(&DhcpOption::VendorExtensions(SKIP_DISCOVERY.to_vec()))
        );
        assert!(
            options.get(OptionCode::ClientMachineIdentifier).is_some(),
            "the UUID is echoed"
        );

        let long = Reply {
            file: format!("http://10.1.2.3:8080/{}", "x".repeat(150)),
            skip_discovery: false,
            ..reply
        };
        let answer = answer_to(&long);
        assert_eq!(answer.fname(), None, "too long for the header field");
        assert_eq!(
            answer.opts().get(OptionCode::BootfileName),
            Some(&DhcpOption::BootfileName(long.file.into_bytes()))
        );
        assert_eq!(answer.opts().get(OptionCode::VendorExtensions), None);
        assert_eq!(answer.sname_str().unwrap().unwrap().trim_end_matches('\0'), "10.1.2.3");
    }
}
