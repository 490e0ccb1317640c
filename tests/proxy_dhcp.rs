//! proxyDHCP with real parts, in network namespaces of our own (`common::lab`): the real binary on a bridge,
//! answering DHCP packets from a machine on the same network; 10,000 malformed packets; and real firmware (SeaBIOS
//! with qemu's iPXE ROM, and OVMF's own UEFI PXE) booting to the kit's marker while Debian's dnsmasq, the site's
//! plain DHCP server, hands out the addresses.

mod common;

use std::io::Write;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use common::lab::{BRIDGE, Lab, SERVER_IP, SITE_IP};
use common::netboot::{MARKER, QEMU_VM, boot_events, prepare, run_until_marker, work_dir};
use common::{Killed, Server, required_tool, temp_data_dir, wait_until};
use dhcproto::v4::{Architecture, DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};
use serde_json::Value;

const NETWORK: &str = "abcdef0123456789";
const BIOS_CLASS: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";
const UEFI_CLASS: &[u8] = b"PXEClient:Arch:00007:UNDI:003016";

/// A client's DHCP message with these options (message type first).
fn message(kind: MessageType, mac: [u8; 6], xid: u32, options: &[DhcpOption]) -> Vec<u8> {
    let none = Ipv4Addr::UNSPECIFIED;
    let mut message = Message::new_with_id(xid, none, none, none, none, &mac);
    message.opts_mut().insert(DhcpOption::MessageType(kind));
    for option in options {
        message.opts_mut().insert(option.clone());
    }
    message.to_vec().unwrap()
}

fn pxe_options(class: &[u8], arch: u16) -> Vec<DhcpOption> {
    vec![
        DhcpOption::ClassIdentifier(class.to_vec()),
        DhcpOption::ClientSystemArchitecture(Architecture::from(arch)),
        DhcpOption::ClientMachineIdentifier([0u8; 17].to_vec()),
    ]
}

/// The site machine's DHCP client socket (port 68, where broadcast offers arrive).
fn client_socket() -> UdpSocket {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 68)).expect("bind UDP 68 in the site namespace");
    socket.set_broadcast(true).unwrap();
    socket
}

/// Answers arriving within `within` (stops early at `count`).
fn answers(socket: &UdpSocket, count: usize, within: Duration) -> Vec<Message> {
    let deadline = Instant::now() + within;
    let mut answers = Vec::new();
    let mut buffer = [0u8; 2048];
    while answers.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket.set_read_timeout(Some(left)).unwrap();
        match socket.recv_from(&mut buffer) {
            Ok((len, _)) => answers.push(Message::decode(&mut Decoder::new(&buffer[..len])).expect("a DHCP answer")),
            Err(_) => break,
        }
    }
    answers
}

fn text(option: Option<&DhcpOption>) -> String {
    match option {
        Some(DhcpOption::BootfileName(bytes) | DhcpOption::ClassIdentifier(bytes)) => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        other => panic!("not a text option: {other:?}"),
    }
}

/// A counter from `/metrics` (0 when absent), e.g. `counter(s, "zos_proxy_dhcp_malformed_packets_total", "")`
/// sums every label; `labels` narrows it (`reason="truncated"`).
fn counter(server: &Server, name: &str, labels: &str) -> u64 {
    let body = server.http.get(server.url("/metrics")).send().unwrap().text().unwrap();
    body.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn proxy_server(lab: &Lab, dir: &Path) -> Server {
    let server = lab.server(dir, &["--proxy-dhcp", BRIDGE]);
    let health: Value = server.http.get(server.url("/health")).send().unwrap().json().unwrap();
    assert_eq!(health["boot"]["proxyDhcp"], format!("{BRIDGE} ({SERVER_IP})"));
    server
}

#[test]
fn pxe_clients_get_their_boot_file_others_nothing_and_floods_are_limited() {
    let lab = Lab::new();
    let dir = temp_data_dir();
    let server = proxy_server(&lab, dir.path());
    let socket = client_socket();
    let dhcp = (SERVER_IP, 67);
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let bios_mac = [0x52, 0x54, 0, 0, 0, 1];

    // Those the proxy must not answer go first: the first answer must then be the PXE client's.
    let plain = message(MessageType::Discover, [0x52, 0x54, 0, 0, 0, 9], 1, &[]);
    let msft = message(
        MessageType::Discover,
        [0x52, 0x54, 0, 0, 0, 9],
        2,
        &[DhcpOption::ClassIdentifier(b"MSFT 5.0".to_vec())],
    );
    let arm = message(
        MessageType::Discover,
        [0x52, 0x54, 0, 0, 0, 11],
        3,
        &pxe_options(b"PXEClient", 11),
    );
    let bios = message(MessageType::Discover, bios_mac, 4, &pxe_options(BIOS_CLASS, 0));
    for packet in [&plain, &msft, &arm, &bios] {
        socket.send_to(packet, dhcp).unwrap();
    }
    let offer = answers(&socket, 1, Duration::from_secs(5))
        .pop()
        .expect("an offer for the BIOS PXE client");
    assert_eq!(
        offer.xid(),
        4,
        "only the PXE client with an iPXE for its architecture is answered"
    );
    assert_eq!(offer.opcode(), Opcode::BootReply);
    assert_eq!(offer.chaddr(), bios_mac);
    assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED, "a proxy offers no address");
    assert_eq!(offer.siaddr(), SERVER_IP.parse::<Ipv4Addr>().unwrap());
    assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
    assert_eq!(text(offer.opts().get(OptionCode::ClassIdentifier)), "PXEClient");
    assert_eq!(text(offer.opts().get(OptionCode::BootfileName)), "undionly.kpxe");
    assert_eq!(
        counter(&server, "zos_proxy_dhcp_ignored_packets_total", "reason=\"not_pxe\""),
        2
    );

    // UEFI gets snponly.efi, iPXE its script's URL; the PXE request on 4011 an ack, back to the client.
    let uefi = message(
        MessageType::Discover,
        [0x52, 0x54, 0, 0, 0, 7],
        5,
        &pxe_options(UEFI_CLASS, 7),
    );
    let mut ipxe_options = pxe_options(BIOS_CLASS, 0);
    ipxe_options.push(DhcpOption::UserClass(b"iPXE".to_vec()));
    let ipxe = message(MessageType::Discover, [0x52, 0x54, 0, 0, 0, 2], 6, &ipxe_options);
    socket.send_to(&uefi, dhcp).unwrap();
    socket.send_to(&ipxe, dhcp).unwrap();
    let request = message(MessageType::Request, bios_mac, 7, &pxe_options(BIOS_CLASS, 0));
    socket.send_to(&request, (SERVER_IP, 4011)).unwrap();
    let got = answers(&socket, 3, Duration::from_secs(5));
    let by_xid = |xid: u32| {
        got.iter()
            .find(|m| m.xid() == xid)
            .unwrap_or_else(|| panic!("no answer {xid}"))
    };
    assert_eq!(text(by_xid(5).opts().get(OptionCode::BootfileName)), "snponly.efi");
    assert_eq!(
        by_xid(5).opts().get(OptionCode::VendorExtensions),
        None,
        "UEFI asks again on 4011"
    );
    let url = text(by_xid(6).opts().get(OptionCode::BootfileName));
    assert_eq!(
        url,
        format!(
            "http://{SERVER_IP}:{port}/boot.ipxe?mac=${{net0/mac}}&uuid=${{uuid}}&arch=${{buildarch}}&platform=${{platform}}"
        )
    );
    assert_eq!(by_xid(7).opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(text(by_xid(7).opts().get(OptionCode::BootfileName)), "undionly.kpxe");

    // A flood from one MAC: a boot's worth of answers, the rest counted.
    let flood_mac = [0x52, 0x54, 0, 0, 0, 0x42];
    for xid in 100..120 {
        let flood = message(MessageType::Discover, flood_mac, xid, &pxe_options(BIOS_CLASS, 0));
        socket.send_to(&flood, dhcp).unwrap();
    }
    assert_eq!(answers(&socket, 20, Duration::from_secs(3)).len(), 8);
    assert_eq!(
        counter(
            &server,
            "zos_proxy_dhcp_ignored_packets_total",
            "reason=\"rate_limited\""
        ),
        12
    );

    // Every answer, and the PXE client we had nothing for, are boot events with MAC and architecture (the
    // flood's repeats within a second are one event, with their count).
    wait_until(Duration::from_secs(5), "the boot events", || {
        let dhcp: Vec<Value> = boot_events(&server)
            .into_iter()
            .filter(|e| e["protocol"] == "dhcp")
            .collect();
        dhcp.iter().map(|e| e["count"].as_u64().unwrap()).sum::<u64>() == 13 && dhcp.len() < 13
    });
    let events = boot_events(&server);
    let event = |mac: &str| {
        events
            .iter()
            .find(|e| e["protocol"] == "dhcp" && e["mac"] == mac)
            .unwrap_or_else(|| panic!("no dhcp event for {mac}: {events:#?}"))
    };
    assert_eq!(event("52:54:00:00:00:07")["arch"], "uefi-x64");
    assert_eq!(event("52:54:00:00:00:07")["file"], "snponly.efi");
    assert_eq!(event("52:54:00:00:00:02")["file"], url);
    assert_eq!(event("52:54:00:00:00:0b")["arch"], "arch-11");
    assert_eq!(event("52:54:00:00:00:0b")["outcome"], "not_found");
    assert_eq!(event("52:54:00:00:00:01")["arch"], "bios");
    assert_eq!(counter(&server, "zos_boot_files_served_total", "protocol=\"dhcp\""), 13);
}

/// xorshift64: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// One malformed datagram of kind `i % 5`: truncated, oversized, wrong magic cookie, option bomb, random.
fn malformed(noise: &mut Noise, good: &[u8], i: usize) -> Vec<u8> {
    match i % 5 {
        0 => good[..noise.below(240)].to_vec(),
        1 => {
            let mut big = good.to_vec();
            big.resize(1473 + noise.below(3000), 0);
            big
        }
        2 => {
            let mut bad = good.to_vec();
            bad[236 + noise.below(4)] ^= 1 + noise.below(255) as u8;
            bad
        }
        3 => {
            // More distinct options than any client sends (none the proxy decodes, so only their number is wrong).
            let mut bomb = good[..240].to_vec();
            let codes: Vec<u8> = (100..=250).collect();
            for code in &codes[..65 + noise.below(80)] {
                let len = noise.below(3);
                bomb.extend([*code, len as u8]);
                bomb.extend(noise.bytes(len));
            }
            bomb
        }
        _ => {
            let len = noise.below(2000);
            let mut random = noise.bytes(len);
            if random.len() >= 240 {
                random[236] = 0; // never the magic cookie's first byte (99)
            }
            random
        }
    }
}

#[test]
fn ten_thousand_malformed_packets_are_dropped_and_counted_and_a_pxe_client_still_gets_its_answer() {
    let lab = Lab::new();
    let dir = temp_data_dir();
    let server = proxy_server(&lab, dir.path());
    let socket = client_socket();
    let mac = [0x52, 0x54, 0, 0, 0, 0x99];
    let good = message(MessageType::Discover, mac, 42, &pxe_options(BIOS_CLASS, 0));
    let mut noise = Noise(0x5eed_1234_abcd_0001);
    let malformed_total = || counter(&server, "zos_proxy_dhcp_malformed_packets_total", "");

    let started = Instant::now();
    // In batches small enough for the server's socket buffer (oversized ones arrive as reassembled fragments of
    // several KiB), each waited for: no packet is lost even when the machine is busy, so the count is exact.
    const BATCH: usize = 25;
    for batch in 0..10_000 / BATCH {
        for i in 0..BATCH {
            let packet = malformed(&mut noise, &good, batch * BATCH + i);
            socket.send_to(&packet, (SERVER_IP, 67)).unwrap();
        }
        let sent = ((batch + 1) * BATCH) as u64;
        let deadline = Instant::now() + Duration::from_secs(20);
        while malformed_total() != sent {
            assert!(
                Instant::now() < deadline,
                "{} of {sent} malformed packets counted",
                malformed_total()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        answers(&socket, 1, Duration::from_millis(500)).is_empty(),
        "nothing malformed was answered"
    );
    let by_reason: Vec<(&str, u64)> = [
        "truncated",
        "oversized",
        "bad_magic",
        "bad_header",
        "bad_options",
        "option_bomb",
    ]
    .into_iter()
    .map(|reason| {
        let labels = format!("reason=\"{reason}\"");
        (
            reason,
            counter(&server, "zos_proxy_dhcp_malformed_packets_total", &labels),
        )
    })
    .collect();
    writeln!(
        std::io::stderr(),
        "proxyDHCP fuzz: 10000 malformed packets dropped in {seconds:.2} s from {SITE_IP}: {by_reason:?}"
    )
    .unwrap();
    assert_eq!(by_reason.iter().map(|(_, n)| n).sum::<u64>(), 10_000);
    for (reason, at_least) in [
        ("truncated", 2000),
        ("oversized", 2000),
        ("bad_magic", 2000),
        ("option_bomb", 2000),
    ] {
        let counted = by_reason.iter().find(|(r, _)| *r == reason).unwrap().1;
        assert!(counted >= at_least, "{reason}: {counted}");
    }

    socket.send_to(&good, (SERVER_IP, 67)).unwrap();
    let offer = answers(&socket, 1, Duration::from_secs(5))
        .pop()
        .expect("the server still answers");
    assert_eq!((offer.xid(), offer.chaddr()), (42, &mac[..]));
    assert_eq!(text(offer.opts().get(OptionCode::BootfileName)), "undionly.kpxe");
    assert_eq!(counter(&server, "zos_boot_files_served_total", "protocol=\"dhcp\""), 1);
}

/// Boots a VM on `tap` until the kit's marker appears on its serial port; returns the marker line and seconds.
/// `ovmf`: UEFI with that firmware and its own virtio driver (no iPXE ROM), else SeaBIOS with qemu's iPXE ROM.
fn boot_vm(lab: &Lab, tap: &str, mac: &str, ovmf: Option<&Path>, log: &Path) -> (String, f64) {
    lab.add_tap(tap);
    let mut command = Lab::command(&lab.lan, required_tool("E2E_QEMU", "qemu-system-x86_64"));
    command.args(QEMU_VM).args([
        "-no-reboot",
        "-netdev",
        &format!("tap,id=n0,ifname={tap},script=no,downscript=no"),
    ]);
    match ovmf {
        Some(firmware) => command.arg("-bios").arg(firmware).args([
            "-device",
            &format!("virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1"),
        ]),
        None => command
            .args(["-boot", "order=n,reboot-timeout=1000"])
            .args(["-device", &format!("virtio-net-pci,netdev=n0,mac={mac}")]),
    };
    run_until_marker(command, MARKER, log, Duration::from_secs(180))
}

#[test]
fn bios_and_uefi_machines_boot_through_proxy_dhcp_beside_the_sites_dnsmasq() {
    let dnsmasq_bin = required_tool("ZOS_TEST_DNSMASQ", "dnsmasq");
    let ovmf = required_tool("ZOS_TEST_OVMF", "/usr/share/ovmf/OVMF.fd");
    let lab = Lab::new();
    let dir = temp_data_dir();
    let leases = dir.path().join("dnsmasq.leases");
    let dnsmasq_log = dir.path().join("dnsmasq.log");
    // The site's DHCP server: addresses only, no PXE options, no DNS, no config file but these flags.
    let _dnsmasq = Killed(
        Lab::command(&lab.site, dnsmasq_bin)
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--port=0",
                "--interface=site0",
            ])
            .args([
                "--bind-interfaces",
                "--dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,1h",
            ])
            .args(["--user=root", "--group=root", "--log-dhcp", "--log-facility=-"])
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .arg(format!("--pid-file={}", dir.path().join("dnsmasq.pid").display()))
            .stderr(std::fs::File::create(&dnsmasq_log).unwrap())
            .spawn()
            .expect("start dnsmasq"),
    );
    let server = proxy_server(&lab, &dir.path().join("data"));
    prepare(&server, NETWORK, "proxy-dhcp-initrd.gz");

    let machines = [
        ("bios", "52:54:00:b1:05:01", None),
        ("uefi", "52:54:00:ef:01:07", Some(ovmf.as_path())),
    ];
    for (name, mac, firmware) in machines {
        let log = work_dir().join(format!("serial-proxy-dhcp-{name}.log"));
        let (marker, seconds) = boot_vm(&lab, &format!("tap-{name}"), mac, firmware, &log);
        assert!(marker.contains(&format!("zerotier={NETWORK}")), "{name}: {marker}");
        writeln!(std::io::stderr(), "proxyDHCP boot {name}: {seconds:.1} s: {marker}").unwrap();
    }

    // The site's server gave both machines their addresses; we told them what to boot.
    let leased = std::fs::read_to_string(&leases).unwrap_or_default();
    let events = boot_events(&server);
    let has = |what: &dyn Fn(&Value) -> bool| events.iter().any(what);
    for (name, mac, _) in machines {
        assert!(
            leased.contains(mac),
            "{name}: no dnsmasq lease for {mac}: {leased}\n{}",
            std::fs::read_to_string(&dnsmasq_log).unwrap_or_default()
        );
        assert!(
            has(&|e| e["protocol"] == "http" && e["file"] == "boot.ipxe" && e["mac"] == mac && e["profile"] == "e2e"),
            "{name}: its boot script over HTTP: {events:#?}"
        );
        assert!(
            has(&|e| e["protocol"] == "dhcp" && e["mac"] == mac && e["file"].as_str().unwrap().starts_with("http://")),
            "{name}: iPXE was sent to its script: {events:#?}"
        );
    }
    let (_, bios_mac, _) = machines[0];
    let (_, uefi_mac, _) = machines[1];
    assert!(has(&|e| e["protocol"] == "dhcp"
        && e["mac"] == bios_mac
        && e["arch"] == "bios"));
    assert!(
        has(&|e| e["protocol"] == "dhcp"
            && e["mac"] == uefi_mac
            && e["arch"] == "uefi-x64"
            && e["file"] == "snponly.efi"),
        "the UEFI firmware was sent to snponly.efi: {events:#?}"
    );
    assert!(
        has(&|e| e["protocol"] == "tftp" && e["file"] == "snponly.efi" && e["outcome"] == "ok"),
        "and loaded it over TFTP: {events:#?}"
    );
}

#[test]
fn a_missing_interface_fails_at_start_naming_the_setting() {
    let dir = temp_data_dir();
    let (code, stderr) = common::serve_until_exit(dir.path(), &["--proxy-dhcp", "zos-nosuch0"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--proxy-dhcp") && stderr.contains("zos-nosuch0"),
        "{stderr}"
    );
}
