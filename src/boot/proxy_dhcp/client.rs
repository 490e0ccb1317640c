//! Who is asking and what it gets: the proxy's decisions, apart from sockets so they can be tested alone.
//!
//! A proxyDHCP server must stay out of everyone else's way: it answers only PXE clients (vendor class
//! `PXEClient`), only with a boot file, and only the messages the PXE specification sends it (a discover on
//! port 67, a request on port 4011).

use dhcproto::v4::{DhcpOption, HType, Message, MessageType, Opcode, OptionCode};

use super::packet::PXE_CLIENT;

/// Which port a packet came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// 67: broadcast discovers, answered with an offer.
    Dhcp,
    /// 4011: the PXE client's request to the proxy, answered with an ack.
    Pxe,
}

/// What a client's firmware is, from the client system architecture (option 93) and user class (option 77).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// A BIOS PXE ROM (architecture 0).
    Bios,
    /// UEFI on x86-64 (architecture 7, EFI byte code, or 9, x86-64).
    UefiX64,
    /// Another architecture (ARM, IA32 UEFI, …): we have no iPXE binary for it.
    Other(u16),
}

impl Firmware {
    fn from_arch(arch: u16) -> Firmware {
        match arch {
            0 => Firmware::Bios,
            7 | 9 => Firmware::UefiX64,
            other => Firmware::Other(other),
        }
    }

    /// As boot events show it.
    pub fn label(self) -> String {
        match self {
            Firmware::Bios => "bios".into(),
            Firmware::UefiX64 => "uefi-x64".into(),
            Firmware::Other(arch) => format!("arch-{arch}"),
        }
    }
}

/// A PXE client the proxy may answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub mac: [u8; 6],
    pub firmware: Firmware,
    /// Already runs iPXE (user class `iPXE`): it can load its script over HTTP.
    pub ipxe: bool,
}

impl Client {
    /// `aa:bb:cc:dd:ee:ff`, as the rest of the boot server spells MACs.
    pub fn mac_text(&self) -> String {
        self.mac.map(|b| format!("{b:02x}")).join(":")
    }
}

/// Why a well-formed packet got no answer (the `reason` label in `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// A reply, or a message type the proxy does not answer on that port.
    NotForUs,
    /// Not an Ethernet hardware address.
    NotEthernet,
    /// No vendor class `PXEClient`: an ordinary DHCP client, the site's server's business.
    NotPxe,
    /// The client asked more often than any boot needs.
    RateLimited,
}

impl Ignored {
    pub fn label(self) -> &'static str {
        match self {
            Ignored::NotForUs => "not_for_us",
            Ignored::NotEthernet => "not_ethernet",
            Ignored::NotPxe => "not_pxe",
            Ignored::RateLimited => "rate_limited",
        }
    }
}

/// The PXE client behind `message` (from `packet::parse`), if it is one the proxy should answer on `port`.
pub fn classify(message: &Message, port: Port) -> Result<Client, Ignored> {
    let expected = match port {
        Port::Dhcp => MessageType::Discover,
        Port::Pxe => MessageType::Request,
    };
    if message.opcode() != Opcode::BootRequest || message.opts().msg_type() != Some(expected) {
        return Err(Ignored::NotForUs);
    }
    let mac: [u8; 6] = match (message.htype(), message.chaddr().try_into()) {
        (HType::Eth, Ok(mac)) => mac,
        _ => return Err(Ignored::NotEthernet),
    };
    let vendor_class = match message.opts().get(OptionCode::ClassIdentifier) {
        Some(DhcpOption::ClassIdentifier(class)) if class.starts_with(PXE_CLIENT) => class,
        _ => return Err(Ignored::NotPxe),
    };
    let arch = match message.opts().get(OptionCode::ClientSystemArchitecture) {
        Some(DhcpOption::ClientSystemArchitecture(arch)) => u16::from(*arch),
        // Clients older than RFC 4578 say it only in the vendor class (`PXEClient:Arch:00000:…`); the oldest
        // say nothing, and those are BIOS ROMs.
        _ => vendor_class
            .get(15..20)
            .filter(|_| vendor_class.get(9..15) == Some(b":Arch:"))
            .and_then(|digits| std::str::from_utf8(digits).ok()?.parse().ok())
            .unwrap_or(0),
    };
    let ipxe = match message.opts().get(OptionCode::UserClass) {
        // iPXE sends the bare string; RFC 3004 clients prefix each class with its length.
        Some(DhcpOption::UserClass(class)) => class == b"iPXE" || class == b"\x04iPXE",
        _ => false,
    };
    Ok(Client {
        mac,
        firmware: Firmware::from_arch(arch),
        ipxe,
    })
}

/// The boot file for `client`: iPXE loads its script over HTTP (`chain_url`); a PXE ROM loads iPXE over TFTP
/// first. `None`: there is no iPXE for its architecture. UEFI gets `snponly.efi`, which drives the network card
/// through the firmware's own driver, the one that just loaded it, rather than `ipxe.efi`'s own drivers.
pub fn boot_file(client: &Client, chain_url: &str) -> Option<String> {
    match (client.ipxe, client.firmware) {
        (true, _) => Some(chain_url.to_owned()),
        (false, Firmware::Bios) => Some("undionly.kpxe".into()),
        (false, Firmware::UefiX64) => Some("snponly.efi".into()),
        (false, Firmware::Other(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::{parse, tests::discover};
    use super::*;

    const URL: &str = "http://10.0.0.1:8080/boot.ipxe?mac=${net0/mac}";

    fn decide(options: &[(u8, &[u8])]) -> Result<Option<String>, Ignored> {
        classify(&parse(&discover(options)).unwrap(), Port::Dhcp).map(|client| boot_file(&client, URL))
    }

    #[test]
    fn bios_uefi_and_ipxe_clients_get_their_file() {
        let bios = decide(&[(60, b"PXEClient:Arch:00000:UNDI:002001"), (93, &[0, 0])]);
        assert_eq!(bios, Ok(Some("undionly.kpxe".into())));
        for arch in [7u8, 9] {
            let uefi = decide(&[(60, b"PXEClient:Arch:00007:UNDI:003000"), (93, &[0, arch])]);
            assert_eq!(uefi, Ok(Some("snponly.efi".into())), "arch {arch}");
        }
        for user_class in [&b"iPXE"[..], b"\x04iPXE"] {
            let ipxe = decide(&[
                (60, b"PXEClient:Arch:00000:UNDI:002001"),
                (93, &[0, 0]),
                (77, user_class),
            ]);
            assert_eq!(ipxe, Ok(Some(URL.into())));
        }
        let uefi_ipxe = decide(&[(60, b"PXEClient:Arch:00007:UNDI:003010"), (93, &[0, 7]), (77, b"iPXE")]);
        assert_eq!(uefi_ipxe, Ok(Some(URL.into())));
    }

    #[test]
    fn the_architecture_falls_back_to_the_vendor_class() {
        assert_eq!(
            decide(&[(60, b"PXEClient:Arch:00009:UNDI:003000")]),
            Ok(Some("snponly.efi".into()))
        );
        assert_eq!(decide(&[(60, b"PXEClient")]), Ok(Some("undionly.kpxe".into())));
        assert_eq!(
            decide(&[(60, b"PXEClient:Arch:00011:UNDI:003000")]),
            Ok(None),
            "ARM64: no iPXE here"
        );
        let message = parse(&discover(&[(60, b"PXEClient"), (93, &[0, 11])])).unwrap();
        assert_eq!(classify(&message, Port::Dhcp).unwrap().firmware.label(), "arch-11");
    }

    #[test]
    fn only_pxe_clients_and_the_right_messages_are_answered() {
        assert_eq!(decide(&[]), Err(Ignored::NotPxe));
        assert_eq!(decide(&[(60, b"MSFT 5.0")]), Err(Ignored::NotPxe));
        assert_eq!(decide(&[(60, b"pxeclient")]), Err(Ignored::NotPxe));
        assert_eq!(decide(&[(77, b"iPXE")]), Err(Ignored::NotPxe), "iPXE without PXEClient");

        let mut request = discover(&[(60, b"PXEClient")]);
        request[242] = 3; // message type: request
        let request = parse(&request).unwrap();
        assert_eq!(
            classify(&request, Port::Dhcp),
            Err(Ignored::NotForUs),
            "requests on 67 are the site's"
        );
        let client = classify(&request, Port::Pxe).unwrap();
        assert_eq!(client.mac_text(), "52:54:00:12:34:56");
        let discover_on_4011 = parse(&discover(&[(60, b"PXEClient")])).unwrap();
        assert_eq!(classify(&discover_on_4011, Port::Pxe), Err(Ignored::NotForUs));

        let mut reply = discover(&[(60, b"PXEClient")]);
        reply[0] = 2;
        assert_eq!(classify(&parse(&reply).unwrap(), Port::Dhcp), Err(Ignored::NotForUs));
        let mut token_ring = discover(&[(60, b"PXEClient")]);
        token_ring[1] = 6;
        assert_eq!(
            classify(&parse(&token_ring).unwrap(), Port::Dhcp),
            Err(Ignored::NotEthernet)
        );
    }
}
