//! Vdisks and the NBD server against real peers: a six-engine cluster of real `redis-server`s on three demo nodes,
//! `zos-orchestrator nbdserver` serving its vdisks on a unix socket, and Debian's NBD clients (`qemu-io`,
//! `qemu-img` from qemu-utils, `nbdinfo` from libnbd-bin) writing and reading through it; `redis-cli` looks at
//! where the blocks went. A malformed client, byte by byte, meets the server too.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::blocks::{cluster, keys, redis_cli, run, start_nbd_server, tool, url};
use common::{Killed, Server, admin_call as call, free_port, get_json, temp_data_dir, wait_until};
use reqwest::Method;
use serde_json::{Value, json};

fn refused(server: &Server, path: &str, body: Value) -> (u16, String) {
    let (status, answer) = call(server, Method::POST, path, Some(body));
    (status, answer["field"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn vdisks_are_served_over_nbd_from_blocks_spread_over_the_engines_and_leave_nothing_when_deleted() {
    let (qemu_io, qemu_img, nbdinfo) = (tool("qemu-io"), tool("qemu-img"), tool("nbdinfo"));
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--demo", "3", "--heartbeat-interval", "1"]);
    let ports = cluster(&server);
    assert_eq!(ports.len(), 6);

    // Bad input, each refusal naming its field.
    let vdisks = "/vdiskstorage/vs/vdisks";
    let base = json!({"id": "vd1", "size": 1, "type": "db"});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    for (field, value) in [
        ("type", json!("floppy")),
        ("size", json!(0)),
        ("size", json!(-1)),
        ("size", json!(2049)),
        ("blocksize", json!(4000)),
    ] {
        assert_eq!(
            refused(&server, vdisks, with(field, value.clone())),
            (400, field.to_owned()),
            "{field}: {value}"
        );
    }
    assert_eq!(
        call(&server, Method::POST, "/vdiskstorage/nope/vdisks", Some(base.clone())).0,
        404
    );
    let from_image = json!({"id": "vd9", "size": 1, "type": "boot", "imageId": "none"});
    assert_eq!(refused(&server, vdisks, from_image), (404, "imageId".to_owned()));
    let (status, created) = call(&server, Method::POST, vdisks, Some(base.clone()));
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created,
        json!({"id": "vd1", "status": "halted", "size": 1, "blocksize": 4096, "type": "db", "readOnly": false,
               "vdiskstorage": "vs"})
    );
    assert_eq!(refused(&server, vdisks, base.clone()), (409, "id".to_owned()));
    assert_eq!(call(&server, Method::GET, &format!("{vdisks}/nope"), None).0, 404);
    let boot = json!({"id": "vd2", "size": 1, "type": "boot"});
    assert_eq!(call(&server, Method::POST, vdisks, Some(boot)).0, 201);
    assert_eq!(get_json(&server, vdisks).as_array().unwrap().len(), 2);

    let token = server.admin_token();
    let (_nbd, socket) = start_nbd_server(dir.path(), &["--api", &server.url("")], &[("ZOS_TOKEN", &token)]);
    let listed = run(
        &nbdinfo,
        &["--list", "--json", &format!("nbd+unix:///?socket={}", socket.display())],
    );
    assert!(listed.contains("\"vd1\"") && listed.contains("\"vd2\""), "{listed}");
    assert_eq!(
        run(&nbdinfo, &["--size", &url("vd1", &socket)]).trim(),
        (1u64 << 30).to_string()
    );

    // A known 8 MiB: two 4 MiB patterns, and 1000 bytes that start and end inside blocks.
    let vd1 = url("vd1", &socket);
    run(
        &qemu_io,
        &[
            "-f",
            "raw",
            "-c",
            "write -P 0xa5 0 4M",
            "-c",
            "write -P 0x3c 4M 4M",
            "-c",
            "write -P 0x77 12345 1000",
            &vd1,
        ],
    );
    let copy = dir.path().join("vd1.raw");
    let out = format!("of={}", copy.display());
    run(
        &qemu_img,
        &[
            "dd",
            "-f",
            "raw",
            "-O",
            "raw",
            "bs=1M",
            "count=8",
            &format!("if={vd1}"),
            &out,
        ],
    );
    let read = std::fs::read(&copy).unwrap();
    let mut expected = vec![0xa5u8; 4 << 20];
    expected.extend(vec![0x3cu8; 4 << 20]);
    expected[12345..13345].fill(0x77);
    assert!(read == expected, "the 8 MiB read back differ from what was written");
    run(&qemu_io, &["-f", "raw", "-c", "read -P 0 8M 1M", &vd1]);

    let per_engine: Vec<u64> = ports
        .iter()
        .map(|port| redis_cli(*port, &["HLEN", "nondedup:vd1"]).parse().unwrap())
        .collect();
    assert_eq!(per_engine.iter().sum::<u64>(), 2048, "{per_engine:?}");
    assert!(
        per_engine.iter().all(|blocks| *blocks > 300),
        "every engine holds a share: {per_engine:?}"
    );

    // Deduplicated: 1 MiB of one repeated block is one block in the engines, behind an LBA.
    let vd2 = url("vd2", &socket);
    run(
        &qemu_io,
        &[
            "-f",
            "raw",
            "-c",
            "write -P 0x5a 0 1M",
            "-c",
            "write -P 0x11 1M 4096",
            &vd2,
        ],
    );
    run(
        &qemu_io,
        &[
            "-f",
            "raw",
            "-c",
            "read -P 0x5a 0 1M",
            "-c",
            "read -P 0x11 1M 4096",
            &vd2,
        ],
    );
    let all_keys: Vec<String> = ports.iter().flat_map(|port| keys(*port)).collect();
    // Blocks 0..=256 fill LBA sectors 0, 1 and 2, each on its own engine (sector % 6).
    assert_eq!(
        all_keys.iter().filter(|k| k.contains("\"lba:vd2\"")).count(),
        3,
        "{all_keys:?}"
    );
    // nondedup:vd1 on each engine, three LBA sector hashes, two distinct blocks.
    assert_eq!(all_keys.len(), 6 + 3 + 2, "{all_keys:?}");

    // Resize: only larger; a new negotiation sees the new size.
    assert_eq!(
        refused(&server, &format!("{vdisks}/vd1/resize"), json!({"newSize": 1})),
        (400, "newSize".to_owned())
    );
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("{vdisks}/vd1/resize"),
        Some(json!({"newSize": 2})),
    );
    assert_eq!(status, 204);
    assert_eq!(get_json(&server, &format!("{vdisks}/vd1"))["size"], 2);
    assert_eq!(run(&nbdinfo, &["--size", &vd1]).trim(), (2u64 << 30).to_string());
    run(&qemu_io, &["-f", "raw", "-c", "read -P 0x3c 4M 4M", &vd1]);

    // Rollback keeps the reference's refusals: here, a vdisk storage without an object cluster keeps no log.
    let rollback = format!("{vdisks}/vd1/rollback");
    assert_eq!(
        refused(&server, &rollback, json!({"epoch": -1})),
        (400, "epoch".to_owned())
    );
    let (status, answer) = call(&server, Method::POST, &rollback, Some(json!({"epoch": 0})));
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("no_transaction_log")),
        "{answer}"
    );

    // Delete: every block leaves the engines.
    for vdisk in ["vd1", "vd2"] {
        assert_eq!(call(&server, Method::DELETE, &format!("{vdisks}/{vdisk}"), None).0, 204);
        assert_eq!(call(&server, Method::GET, &format!("{vdisks}/{vdisk}"), None).0, 404);
    }
    for port in &ports {
        assert_eq!(keys(*port), Vec::<String>::new(), "engine {port} keeps keys");
    }
    assert_eq!(call(&server, Method::DELETE, &format!("{vdisks}/vd1"), None).0, 404);
}

/// Waits until the second it is now has passed; returns that second (Unix): whatever was written before the call
/// was written in it or earlier, whatever is written after, later.
fn second_passed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(Duration::from_millis(1050) - Duration::from_nanos(u64::from(now.subsec_nanos())));
    now.as_secs()
}

/// A vdisk storage with an object cluster keeps a transaction log of its db (and boot) vdisks on its engines: a
/// db vdisk rolls back to the end of a given second (the writes after it undone, a write inside one block
/// too) and to the oldest state kept (epoch 0); the log is gone once undone, and with the vdisk.
#[test]
fn a_db_vdisk_with_a_transaction_log_rolls_back_to_an_epoch_and_to_its_oldest_state() {
    let qemu_io = tool("qemu-io");
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--demo", "3", "--heartbeat-interval", "1"]);
    let ports = cluster(&server);
    let unknown = json!({"id": "vu", "blockCluster": "blocks", "objectCluster": "nope"});
    assert_eq!(refused(&server, "/vdiskstorage", unknown).0, 400);
    let logged = json!({"id": "vt", "blockCluster": "blocks", "objectCluster": "blocks"});
    assert_eq!(call(&server, Method::POST, "/vdiskstorage", Some(logged)).0, 201);
    let vdisks = "/vdiskstorage/vt/vdisks";
    for (id, kind) in [("logged", "db"), ("scratch", "cache")] {
        let body = json!({"id": id, "size": 1, "type": kind});
        assert_eq!(call(&server, Method::POST, vdisks, Some(body)).0, 201);
    }
    let token = server.admin_token();
    let (_nbd, socket) = start_nbd_server(dir.path(), &["--api", &server.url("")], &[("ZOS_TOKEN", &token)]);
    let disk = url("logged", &socket);
    let io = |commands: &[&str]| {
        let mut args = vec!["-f", "raw"];
        for command in commands {
            args.extend(["-c", command]);
        }
        args.push(&disk);
        run(&qemu_io, &args);
    };
    let journaled = || -> u64 {
        ports
            .iter()
            .map(|port| redis_cli(*port, &["XLEN", "tlog:logged"]).parse::<u64>().unwrap())
            .sum()
    };
    let roll_back = |vdisk: &str, epoch: u64| {
        let path = format!("{vdisks}/{vdisk}/rollback");
        call(&server, Method::POST, &path, Some(json!({"epoch": epoch})))
    };

    io(&["write -P 0x11 0 1M"]);
    let epoch = second_passed();
    io(&["write -P 0x22 0 512k", "write -P 0x33 4M 64k", "write -P 0x44 100 200"]);
    io(&["read -P 0x44 100 200", "read -P 0x33 4M 64k"]);
    // 256 blocks overwritten first, then 128 + 16 + 1 more.
    assert_eq!(journaled(), 256 + 128 + 16 + 1);

    let (status, answer) = roll_back("scratch", epoch);
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("not_rollbackable")),
        "{answer}"
    );
    assert_eq!(roll_back("nope", epoch).0, 404);
    let (status, answer) = roll_back("logged", epoch);
    assert_eq!(status, 204, "{answer}");
    io(&["read -P 0x11 0 1M", "read -P 0 4M 64k"]);
    assert_eq!(get_json(&server, &format!("{vdisks}/logged"))["status"], "halted");
    assert_eq!(journaled(), 256, "what was undone leaves the log");

    // Epoch 0: the oldest state kept, from before the first write.
    assert_eq!(roll_back("logged", 0).0, 204);
    io(&["read -P 0 0 1M"]);
    assert_eq!(journaled(), 0);
    let stored: u64 = ports
        .iter()
        .map(|port| redis_cli(*port, &["HLEN", "nondedup:logged"]).parse::<u64>().unwrap())
        .sum();
    assert_eq!(stored, 0, "a vdisk of zeros holds no blocks");

    // Deleted, the vdisk takes its log with it.
    io(&["write -P 0x55 0 64k"]);
    assert_eq!(journaled(), 16);
    assert_eq!(call(&server, Method::DELETE, &format!("{vdisks}/logged"), None).0, 204);
    assert_eq!(journaled(), 0);
}

/// The greeting read, fixed newstyle chosen, NBD_OPT_GO for `export`: a stream in the transmission phase.
fn negotiated(socket: &Path, export: &str) -> UnixStream {
    let mut stream = connect(socket);
    let mut greeting = [0; 18];
    stream.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting[..8], b"NBDMAGIC");
    stream.write_all(&3u32.to_be_bytes()).unwrap();
    let mut option = b"IHAVEOPT".to_vec();
    option.extend_from_slice(&7u32.to_be_bytes());
    option.extend_from_slice(&(4 + export.len() as u32 + 2).to_be_bytes());
    option.extend_from_slice(&(export.len() as u32).to_be_bytes());
    option.extend_from_slice(export.as_bytes());
    option.extend_from_slice(&0u16.to_be_bytes());
    stream.write_all(&option).unwrap();
    loop {
        let mut header = [0; 20];
        stream.read_exact(&mut header).unwrap();
        let kind = u32::from_be_bytes(header[12..16].try_into().unwrap());
        let length = u32::from_be_bytes(header[16..20].try_into().unwrap());
        let mut data = vec![0; length as usize];
        stream.read_exact(&mut data).unwrap();
        match kind {
            1 => return stream,
            3 => {}
            other => panic!("GO answered {other:#x}"),
        }
    }
}

fn request(kind: u16, handle: u64, offset: u64, length: u32) -> Vec<u8> {
    let mut frame = 0x2560_9513u32.to_be_bytes().to_vec();
    frame.extend_from_slice(&0u16.to_be_bytes());
    frame.extend_from_slice(&kind.to_be_bytes());
    frame.extend_from_slice(&handle.to_be_bytes());
    frame.extend_from_slice(&offset.to_be_bytes());
    frame.extend_from_slice(&length.to_be_bytes());
    frame
}

/// A simple reply's error and handle.
fn reply(stream: &mut UnixStream) -> (u32, u64) {
    let mut header = [0; 16];
    stream.read_exact(&mut header).unwrap();
    assert_eq!(u32::from_be_bytes(header[..4].try_into().unwrap()), 0x6744_6698);
    (
        u32::from_be_bytes(header[4..8].try_into().unwrap()),
        u64::from_be_bytes(header[8..].try_into().unwrap()),
    )
}

/// The server closed the connection: reads reach its end (or a reset) before the read timeout.
fn closed(stream: &mut UnixStream) -> bool {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(err) => !matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn connect(socket: &Path) -> UnixStream {
    let stream = UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

#[test]
fn malformed_clients_get_errors_or_a_closed_connection_and_others_keep_working() {
    let qemu_io = tool("qemu-io");
    let dir = temp_data_dir();
    let port = free_port();
    let _engine = Killed(
        Command::new(tool("redis-server"))
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(Duration::from_secs(10), "redis-server answers", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let config = dir.path().join("nbd.toml");
    std::fs::write(
        &config,
        format!(
            "[storageClusters.one]\nservers = [\"127.0.0.1:{port}\"]\n\
             [vdisks.vd1]\nsize = 1\nblockSize = 4096\ntype = \"db\"\nstorageCluster = \"one\"\n"
        ),
    )
    .unwrap();
    let (mut nbd, socket) = start_nbd_server(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let vd1 = url("vd1", &socket);
    run(&qemu_io, &["-f", "raw", "-c", "write -P 0x42 0 64k", &vd1]);

    // A healthy client holds its connection through everything below.
    let mut healthy = negotiated(&socket, "vd1");

    // Handshake: unknown client flags; an option far too long; an unknown export over GO (an error, then on).
    let mut stream = connect(&socket);
    stream.read_exact(&mut [0; 18]).unwrap();
    stream.write_all(&0xffu32.to_be_bytes()).unwrap();
    assert!(closed(&mut stream));
    let mut stream = connect(&socket);
    stream.read_exact(&mut [0; 18]).unwrap();
    let mut option = 3u32.to_be_bytes().to_vec();
    option.extend_from_slice(b"IHAVEOPT");
    option.extend_from_slice(&7u32.to_be_bytes());
    option.extend_from_slice(&u32::MAX.to_be_bytes());
    stream.write_all(&option).unwrap();
    assert!(closed(&mut stream));

    let mut stream = negotiated(&socket, "vd1");
    // Oversized and past-the-end reads are refused with EINVAL; a write past the end with ENOSPC.
    stream.write_all(&request(0, 1, 0, 64 << 20)).unwrap();
    assert_eq!(reply(&mut stream), (22, 1));
    stream.write_all(&request(0, 2, (1 << 30) - 512, 1024)).unwrap();
    assert_eq!(reply(&mut stream), (22, 2));
    let mut write = request(1, 3, 1 << 30, 512);
    write.extend_from_slice(&[0; 512]);
    stream.write_all(&write).unwrap();
    assert_eq!(reply(&mut stream), (28, 3));
    stream.write_all(&request(0, 4, u64::MAX - 10, 100)).unwrap();
    assert_eq!(reply(&mut stream), (22, 4));
    stream.write_all(&request(99, 5, 0, 0)).unwrap();
    assert_eq!(reply(&mut stream), (22, 5));
    // An oversized write cannot be skipped: the connection ends.
    stream.write_all(&request(1, 6, 0, 64 << 20)).unwrap();
    assert!(closed(&mut stream));

    // 10,000 random frames: with the request magic and random commands, each gets its reply; then a wrong
    // magic ends the connection.
    let mut stream = negotiated(&socket, "vd1");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut expected_data = std::collections::HashMap::new();
    let mut frames = Vec::new();
    for handle in 0..10_000u64 {
        let kind = [0u16, 3, 4, 5, 6, 7, 8, 12][(next() % 8) as usize];
        // Inside the vdisk past the first MiB (which holds the data checked at the end), or anywhere at all.
        let offset = if next() % 2 == 0 {
            (1 << 20) + next() % ((1 << 30) - (1 << 20))
        } else {
            next()
        };
        let length = (next() % 65_536) as u32;
        let fits = offset.checked_add(u64::from(length)).is_some_and(|end| end <= 1 << 30);
        if kind == 0 && fits {
            expected_data.insert(handle, length as usize);
        }
        frames.extend(request(kind, handle, offset, length));
    }
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || writer.write_all(&frames));
    let mut answered = 0;
    while answered < 10_000 {
        let (error, handle) = reply(&mut stream);
        if let Some(length) = expected_data.get(&handle).filter(|_| error == 0) {
            let mut data = vec![0; *length];
            stream.read_exact(&mut data).unwrap();
        }
        answered += 1;
    }
    sending.join().unwrap().unwrap();
    stream.write_all(&[0xde; 28]).unwrap();
    assert!(closed(&mut stream));

    // Random bytes from the first one: closed, never a crash.
    let mut stream = connect(&socket);
    let noise: Vec<u8> = (0..10_000 * 28).map(|_| next() as u8).collect();
    let _ = stream.write_all(&noise);
    assert!(closed(&mut stream));

    // An engine that answers a read with an error (the vdisk's key holds a string): EIO for that read, the
    // connection and its next reads unharmed; the blocks read again once the key is a hash of blocks.
    let mut stream = negotiated(&socket, "vd1");
    assert_eq!(redis_cli(port, &["TYPE", "nondedup:vd1"]), "hash");
    redis_cli(port, &["RENAME", "nondedup:vd1", "saved"]);
    redis_cli(port, &["SET", "nondedup:vd1", "not a hash"]);
    stream.write_all(&request(0, 80, 0, 8192)).unwrap();
    assert_eq!(reply(&mut stream), (5, 80));
    redis_cli(port, &["RENAME", "saved", "nondedup:vd1"]);
    stream.write_all(&request(0, 81, 2048, 8192)).unwrap();
    assert_eq!(reply(&mut stream), (0, 81));
    let mut data = vec![0; 8192];
    stream.read_exact(&mut data).unwrap();
    assert!(
        data.iter().all(|&b| b == 0x42),
        "the read after the error has the vdisk's bytes"
    );

    assert!(nbd.0.try_wait().unwrap().is_none(), "the NBD server is still running");
    healthy.write_all(&request(0, 77, 0, 4096)).unwrap();
    assert_eq!(reply(&mut healthy), (0, 77));
    let mut data = vec![0; 4096];
    healthy.read_exact(&mut data).unwrap();
    assert!(data.iter().all(|&b| b == 0x42));
    healthy.write_all(&request(3, 78, 0, 0)).unwrap();
    assert_eq!(reply(&mut healthy), (0, 78));
    run(&qemu_io, &["-f", "raw", "-c", "read -P 0x42 0 64k", &vd1]);
}

/// A VM with a vdisk on a demo node: the engine starts the node's NBD server for it (the reference's container),
/// `GET …/vms/{id}` shows each disk's URL, and Debian's NBD clients read and write through exactly that URL; the
/// blocks land in the cluster's engines. A migration moves the server with the VM; stopping the VM takes its
/// server (and the URL) away.
#[test]
fn a_vm_with_a_vdisk_is_served_by_its_nodes_nbd_server_at_the_url_it_shows() {
    let (qemu_io, nbdinfo) = (tool("qemu-io"), tool("nbdinfo"));
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--demo", "3", "--heartbeat-interval", "1"]);
    let ports = cluster(&server);
    let body = json!({"id": "vmdisk", "size": 1, "type": "db"});
    assert_eq!(
        call(&server, Method::POST, "/vdiskstorage/vs/vdisks", Some(body)).0,
        201
    );
    let node = get_json(&server, "/nodes")[0]["id"].as_str().unwrap().to_owned();
    let vms = format!("/nodes/{node}/vms");
    let vm = json!({"id": "vm1", "memory": 512, "cpu": 1, "disks": [{"vdiskid": "vmdisk", "maxIOps": 100}]});
    let (status, created) = call(&server, Method::POST, &vms, Some(vm));
    assert!(status == 201 || status == 202, "{created}");
    let shown = |path: &str| get_json(&server, path);
    wait_until(Duration::from_secs(60), "the VM runs", || {
        shown(&format!("{vms}/vm1"))["status"] == "running"
    });
    let url = shown(&format!("{vms}/vm1"))["disks"][0]["url"]
        .as_str()
        .expect("the disk shows its URL")
        .to_owned();
    let socket = url
        .strip_prefix("nbd+unix:///vmdisk?socket=")
        .unwrap_or_else(|| panic!("the URL is the reference's: {url}"));
    // The socket is in the NBD server container's root (a host folder on an emulated node).
    assert!(
        socket.contains("/mnt/containers/") && socket.ends_with("/server.socket.vm1"),
        "{url}"
    );

    assert_eq!(run(&nbdinfo, &["--size", &url]).trim(), (1u64 << 30).to_string());
    run(
        &qemu_io,
        &["-f", "raw", "-c", "write -P 0x5a 1M 2M", "-c", "flush", &url],
    );
    run(
        &qemu_io,
        &["-f", "raw", "-c", "read -P 0x5a 1M 2M", "-c", "read -P 0 0 1M", &url],
    );
    let holding = ports
        .iter()
        .filter(|port| redis_cli(**port, &["HLEN", "nondedup:vmdisk"]) != "0")
        .count();
    assert!(holding > 1, "the VM's writes are spread over the engines ({holding})");

    // Applying the VM again (as a restart of the orchestrator resumes it) keeps its server: same container, same
    // socket, the data still there.
    assert_eq!(call(&server, Method::POST, &format!("{vms}/vm1/start"), None).0, 204);
    assert_eq!(shown(&format!("{vms}/vm1"))["disks"][0]["url"], url.as_str());
    run(&qemu_io, &["-f", "raw", "-c", "read -P 0x5a 1M 2M", &url]);

    // Migrated, the VM has its server on its new node, and the old node's goes.
    let other = get_json(&server, "/nodes")[1]["id"].as_str().unwrap().to_owned();
    let migrate = json!({"nodeid": other});
    let (status, answer) = call(&server, Method::POST, &format!("{vms}/vm1/migrate"), Some(migrate));
    assert!(status == 204 || status == 202, "{answer}");
    let vms = format!("/nodes/{other}/vms");
    wait_until(Duration::from_secs(60), "the VM runs on its new node", || {
        shown(&format!("{vms}/vm1"))["disks"][0]["url"].is_string()
    });
    let moved = shown(&format!("{vms}/vm1"))["disks"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(moved, url);
    wait_until(Duration::from_secs(30), "the old node's NBD server stops", || {
        !Path::new(socket).exists()
    });
    run(&qemu_io, &["-f", "raw", "-c", "read -P 0x5a 1M 2M", &moved]);
    let socket = moved.split_once("?socket=").unwrap().1.to_owned();

    assert_eq!(call(&server, Method::POST, &format!("{vms}/vm1/stop"), None).0, 204);
    wait_until(Duration::from_secs(30), "the VM halts", || {
        shown(&format!("{vms}/vm1"))["status"] == "halted"
    });
    assert!(shown(&format!("{vms}/vm1"))["disks"][0].get("url").is_none());
    assert!(!Path::new(&socket).exists(), "the NBD server went with the VM");

    // A disk naming no vdisk of ours keeps the reference's `nbd://<vdiskid>` for the node: no server, no URL.
    let vm = json!({"id": "vm2", "memory": 512, "cpu": 1, "disks": [{"vdiskid": "nosuchdisk"}]});
    let (status, created) = call(&server, Method::POST, &vms, Some(vm));
    assert_eq!(status, 201, "{created}");
    assert!(created["disks"][0].get("url").is_none(), "{created}");
}
