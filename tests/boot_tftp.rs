//! The TFTP server against real clients (curl, tftp-hpa, atftp with windowsize) and raw packets: every served
//! file arrives byte-identical, options are negotiated, writes and escapes are refused, garbage is survived, and
//! 200 concurrent transfers all complete.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use common::{Server, client, pseudo_random, required_tool, temp_data_dir};
use reqwest::Method;

fn http_bytes(server: &Server, path: &str) -> Vec<u8> {
    let response = client().get(server.url(path)).send().unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.bytes().unwrap().to_vec()
}

/// A pseudo-random asset larger than one TFTP window at any block size.
fn upload_asset(server: &Server, name: &str, size: usize) -> Vec<u8> {
    let bytes = pseudo_random(size, 0);
    let response = server
        .request_as(&server.admin_token(), Method::PUT, &format!("/boot/assets/{name}"))
        .body(bytes.clone())
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
    bytes
}

fn run(tool: &str, args: &[&str]) {
    let path = required_tool("ZOS_UNUSED", tool);
    let output = Command::new(path).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn real_clients_download_every_file_byte_identical() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let port = server.tftp.port().to_string();
    let asset = upload_asset(&server, "kernel.bin", 3 * 1024 * 1024 + 77);
    let out = dir.path().join("out");

    let mut expected: Vec<(&str, Vec<u8>)> = ["undionly.kpxe", "ipxe.efi", "snponly.efi"]
        .into_iter()
        .map(|name| (name, http_bytes(&server, &format!("/boot/ipxe/{name}"))))
        .collect();
    assert_eq!(
        expected[0].1,
        std::fs::read("/usr/lib/ipxe/undionly.kpxe").unwrap(),
        "the embedded binary"
    );
    expected.push(("kernel.bin", asset));

    let url = |name: &str| format!("tftp://127.0.0.1:{port}/{name}");
    for (name, bytes) in &expected {
        for blksize in ["512", "1468", "8192"] {
            let _ = std::fs::remove_file(&out);
            run(
                "curl",
                &[
                    "-sSf",
                    "--tftp-blksize",
                    blksize,
                    "-o",
                    out.to_str().unwrap(),
                    &url(name),
                ],
            );
            assert!(
                std::fs::read(&out).unwrap() == *bytes,
                "curl blksize {blksize}: {name} differs"
            );
        }
        let _ = std::fs::remove_file(&out);
        run(
            "curl",
            &["-sSf", "--tftp-no-options", "-o", out.to_str().unwrap(), &url(name)],
        );
        assert!(
            std::fs::read(&out).unwrap() == *bytes,
            "curl plain RFC 1350: {name} differs"
        );

        let _ = std::fs::remove_file(&out);
        run(
            "tftp",
            &[
                "-m",
                "binary",
                "127.0.0.1",
                &port,
                "-c",
                "get",
                name,
                out.to_str().unwrap(),
            ],
        );
        assert!(std::fs::read(&out).unwrap() == *bytes, "tftp-hpa: {name} differs");

        let _ = std::fs::remove_file(&out);
        let local = out.to_str().unwrap();
        run(
            "atftp",
            &[
                "--option",
                "blksize 1468",
                "--option",
                "windowsize 16",
                "-g",
                "-r",
                name,
                "-l",
                local,
                "127.0.0.1",
                &port,
            ],
        );
        assert!(
            std::fs::read(&out).unwrap() == *bytes,
            "atftp windowsize 16: {name} differs"
        );
    }

    // The handover scripts: iPXE scripts that continue over HTTP on our port.
    let http_port = server.base.rsplit(':').next().unwrap();
    for script in ["boot.ipxe", "undionly.ipxe"] {
        let _ = std::fs::remove_file(&out);
        run("curl", &["-sSf", "-o", out.to_str().unwrap(), &url(script)]);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.starts_with("#!ipxe\n"), "{text}");
        assert!(
            text.contains(&format!(
                "chain http://${{next-server}}:{http_port}/boot.ipxe?mac=${{net0/mac}}"
            )),
            "{text}"
        );
    }
}

/// Raw TFTP: a request from a fresh socket, and the first packet that comes back.
fn exchange(server: &Server, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    socket.send_to(packet, server.tftp).unwrap();
    let mut buf = [0u8; 70000];
    socket.recv_from(&mut buf).ok().map(|(n, _)| buf[..n].to_vec())
}

fn request(opcode: u8, name: &[u8], options: &[(&str, &str)]) -> Vec<u8> {
    let mut packet = vec![0, opcode];
    packet.extend_from_slice(name);
    packet.push(0);
    packet.extend_from_slice(b"octet\0");
    for (key, value) in options {
        packet.extend_from_slice(key.as_bytes());
        packet.push(0);
        packet.extend_from_slice(value.as_bytes());
        packet.push(0);
    }
    packet
}

fn options_of(oack: &[u8]) -> Vec<String> {
    assert_eq!(&oack[..2], &[0, 6], "an OACK");
    oack[2..]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

#[test]
fn options_are_negotiated_and_writes_and_escapes_are_refused() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let size = std::fs::read("/usr/lib/ipxe/undionly.kpxe").unwrap().len().to_string();

    let oack = exchange(
        &server,
        &request(
            1,
            b"undionly.kpxe",
            &[
                ("blksize", "1468"),
                ("tsize", "0"),
                ("timeout", "1"),
                ("windowsize", "16"),
            ],
        ),
    )
    .expect("an answer");
    let options = options_of(&oack);
    for expected in [
        ["blksize", "1468"],
        ["tsize", &size],
        ["timeout", "1"],
        ["windowsize", "16"],
    ] {
        let found = options
            .chunks(2)
            .any(|pair| pair[0].eq_ignore_ascii_case(expected[0]) && pair[1] == expected[1]);
        assert!(found, "{expected:?} in {options:?}");
    }

    let is_error = |answer: Option<Vec<u8>>| answer.is_none_or(|packet| packet[..2] == [0, 5]);
    for escape in [
        &b"../Cargo.toml"[..],
        b"/etc/passwd",
        b"%2e%2e/Cargo.toml",
        b"boot/../../etc/passwd",
        b"..",
        b".",
    ] {
        assert!(
            is_error(exchange(&server, &request(1, escape, &[]))),
            "{}",
            String::from_utf8_lossy(escape)
        );
    }
    // A NUL inside the name ends it early ("undionly.kpxe\0x" asks for mode "x..."): never the file's data.
    let mut nul = vec![0, 1];
    nul.extend_from_slice(b"undion\0ly.kpxe\0octet\0");
    assert!(is_error(exchange(&server, &nul)));
    let missing = exchange(&server, &request(1, b"no-such-file", &[])).expect("an error packet");
    assert_eq!(&missing[..4], &[0, 5, 0, 1], "file not found");

    let write = exchange(&server, &request(2, b"undionly.kpxe", &[])).expect("an error packet");
    assert_eq!(&write[..4], &[0, 5, 0, 2], "access violation for a write request");
    assert_eq!(
        http_bytes(&server, "/boot/ipxe/undionly.kpxe"),
        std::fs::read("/usr/lib/ipxe/undionly.kpxe").unwrap(),
        "nothing was overwritten"
    );
}

#[test]
fn garbage_is_survived_and_200_concurrent_transfers_complete() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut state = 7u64;
    for i in 0..2000usize {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = (state >> 33) as usize % 600;
        let mut packet: Vec<u8> = (0..len).map(|j| (state >> (j % 56)) as u8).collect();
        if i % 3 == 0 && packet.len() > 2 {
            packet[0] = 0;
            packet[1] = 1; // an RRQ with a garbage name and no terminator
        }
        socket.send_to(&packet, server.tftp).unwrap();
        if i % 50 == 49 {
            // Paced, so the kernel's socket buffer does not drop what we want counted.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let expected = http_bytes(&server, "/boot/ipxe/undionly.kpxe");

    let out_dir = dir.path().join("storm");
    std::fs::create_dir_all(&out_dir).unwrap();
    let url = format!("tftp://127.0.0.1:{}/undionly.kpxe", server.tftp.port());
    let mut args: Vec<String> = [
        "-sS",
        "--parallel",
        "--parallel-max",
        "200",
        "--tftp-blksize",
        "1468",
        "--max-time",
        "60",
    ]
    .map(String::from)
    .to_vec();
    for i in 0..200 {
        args.push("-o".into());
        args.push(out_dir.join(format!("{i}.kpxe")).display().to_string());
        args.push(url.clone());
    }
    let curl = required_tool("ZOS_CURL", "curl");
    let status = Command::new(curl).args(&args).status().unwrap();
    assert!(status.success(), "curl storm failed");
    for i in 0..200 {
        let got = std::fs::read(out_dir.join(format!("{i}.kpxe"))).unwrap_or_default();
        assert!(
            got == expected,
            "transfer {i} incomplete or corrupt ({} bytes)",
            got.len()
        );
    }
    assert_eq!(client().get(server.url("/health")).send().unwrap().status(), 200);
    let metrics = client().get(server.url("/metrics")).send().unwrap().text().unwrap();
    let malformed: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("zos_tftp_malformed_packets_total "))
        .expect("the malformed-packet counter")
        .parse()
        .unwrap();
    assert!(malformed >= 1900.0, "malformed packets are counted: {malformed}");
}
