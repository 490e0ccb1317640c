//! The boot API over real HTTP: assets (streamed upload, Range, ETag, HEAD, interrupted uploads), profiles,
//! selectors and settings (validation and references), script rendering, and the 0-bootstrap URLs.

mod common;

use std::io::{Read, Write};

use common::{Server, client, create_token, get_with_header, register_node_at, temp_data_dir};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn call(server: &Server, method: Method, path: &str, body: Option<Value>) -> reqwest::blocking::Response {
    let mut request = client()
        .request(method, server.url(path))
        .bearer_auth(server.admin_token());
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().unwrap()
}

fn put_asset(server: &Server, name: &str, bytes: &[u8]) -> reqwest::blocking::Response {
    server
        .request_as(&server.admin_token(), Method::PUT, &format!("/boot/assets/{name}"))
        .body(bytes.to_vec())
        .send()
        .unwrap()
}

fn error_of(response: reqwest::blocking::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    response.json().unwrap()
}

#[test]
fn assets_stream_in_and_serve_with_range_etag_and_head() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let first: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let created = put_asset(&server, "kernel-a", &first);
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], "/boot/assets/kernel-a");
    let meta: Value = created.json().unwrap();
    assert_eq!(meta["size"], 200_000);
    assert_eq!(meta["sha256"], hex::encode(Sha256::digest(&first)));
    assert_eq!(
        std::fs::read(dir.path().join("assets/kernel-a")).unwrap(),
        first,
        "stored under the data directory"
    );

    let full = client().get(server.url("/boot/assets/kernel-a")).send().unwrap();
    assert_eq!(full.status(), 200, "machines download without a token");
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(full.headers()["content-length"], "200000");
    assert_eq!(full.bytes().unwrap().to_vec(), first);

    let head = client().head(server.url("/boot/assets/kernel-a")).send().unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "200000");
    assert_eq!(head.bytes().unwrap().len(), 0);

    let part = get_with_header(&server, "/boot/assets/kernel-a", "range", "bytes=1000-1999");
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 1000-1999/200000");
    assert_eq!(part.bytes().unwrap().to_vec(), first[1000..2000]);
    let suffix = get_with_header(&server, "/boot/assets/kernel-a", "range", "bytes=-10");
    assert_eq!(suffix.bytes().unwrap().to_vec(), first[199_990..]);
    let beyond = get_with_header(&server, "/boot/assets/kernel-a", "range", "bytes=300000-");
    assert_eq!(beyond.status(), 416);

    let cached = get_with_header(&server, "/boot/assets/kernel-a", "if-none-match", &etag);
    assert_eq!(cached.status(), 304);

    let second = vec![7u8; 5000];
    let replaced = put_asset(&server, "kernel-a", &second);
    assert_eq!(replaced.status(), 200, "PUT over an existing asset replaces it");
    let fresh = get_with_header(&server, "/boot/assets/kernel-a", "if-none-match", &etag);
    assert_eq!(fresh.status(), 200, "a new ETag after replacing");
    assert_eq!(fresh.bytes().unwrap().to_vec(), second);

    let listed: Vec<Value> = call(&server, Method::GET, "/boot/assets", None).json().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["sha256"], hex::encode(Sha256::digest(&second)));
}

#[test]
fn uploads_are_authenticated_validated_and_all_or_nothing() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let anonymous = client().put(server.url("/boot/assets/x")).body("abc").send().unwrap();
    assert_eq!(anonymous.status(), 401);
    let viewer = create_token(&server, "viewer", "look");
    let forbidden = server
        .request_as(&viewer, Method::PUT, "/boot/assets/x")
        .body("abc")
        .send()
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    for bad in [".hidden", "a%20b", "..", "x%2f..%2fy"] {
        let response = put_asset(&server, bad, b"abc");
        assert!(
            matches!(response.status().as_u16(), 400 | 404),
            "{bad}: {}",
            response.status()
        );
    }
    assert_eq!(put_asset(&server, "kept", b"original").status(), 201);

    // Too large by its Content-Length: refused before anything is stored.
    let address = server.base.trim_start_matches("http://");
    let token = server.admin_token();
    let raw = |request: String, body: &[u8], close_early: bool| {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        if close_early {
            stream.shutdown(std::net::Shutdown::Both).unwrap();
            return String::new();
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    };
    let huge = raw(
        format!(
            "PUT /boot/assets/kept HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Length: 5000000000\r\nConnection: close\r\n\r\n"
        ),
        b"",
        false,
    );
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");

    // An upload cut off mid-body leaves the old asset as it was and no temporary file behind.
    raw(
        format!(
            "PUT /boot/assets/kept HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Length: 100000\r\n\r\n"
        ),
        &[1u8; 40_000],
        true,
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let kept = client()
        .get(server.url("/boot/assets/kept"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(&kept[..], b"original");
    let files: Vec<String> = std::fs::read_dir(dir.path().join("assets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["kept"]);
}

#[test]
fn profiles_selectors_and_settings_keep_their_references_whole() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let post = |path: &str, body: Value| call(&server, Method::POST, path, Some(body));
    let put_settings = |body: Value| call(&server, Method::PUT, "/boot/settings", Some(body));
    let delete = |path: &str| call(&server, Method::DELETE, path, None);
    let selector = |body: Value| post("/boot/selectors", body);
    let profile = |name: &str, cmdline: &str| json!({"name": name, "kernel": {"asset": "vmlinuz"}, "initrds": ["initrd"], "cmdline": cmdline});
    let missing = post("/boot/profiles", profile("p1", "console=ttyS0"));
    assert_eq!(error_of(missing, 400)["field"], "kernel.asset");
    put_asset(&server, "vmlinuz", b"kernel");
    let missing_initrd = post("/boot/profiles", profile("p1", "console=ttyS0"));
    assert_eq!(error_of(missing_initrd, 400)["field"], "initrds[0]");
    put_asset(&server, "initrd", b"initrd");

    for bad in [
        "console=ttyS0 ${net0/mac}",
        "a;reboot",
        "x {nope}",
        "x {zerotier",
        "x {label:bad key}",
        "a||b",
    ] {
        let response = post("/boot/profiles", profile("p1", bad));
        assert_eq!(response.status(), 400, "{bad:?}");
        assert_eq!(response.json::<Value>().unwrap()["field"], "cmdline", "{bad:?}");
    }
    let good = "console=ttyS0 zerotier={zerotier} node={node} rack={label:rack} orchestrator={orchestrator}";
    assert_eq!(post("/boot/profiles", profile("p1", good)).status(), 201);
    assert_eq!(post("/boot/profiles", profile("p1", good)).status(), 409);
    assert_eq!(post("/boot/profiles", profile("p2", "console=tty0")).status(), 201);

    let bad_network = put_settings(json!({"zerotierNetwork": "xyz"}));
    assert_eq!(error_of(bad_network, 400)["field"], "zerotierNetwork");
    let bad_default = put_settings(json!({"defaultProfile": "nope"}));
    assert_eq!(error_of(bad_default, 400)["field"], "defaultProfile");
    let settings = put_settings(json!({"zerotierNetwork": "ABCDEF0123456789", "defaultProfile": "p2"}));
    assert_eq!(settings.status(), 200);
    assert_eq!(settings.json::<Value>().unwrap()["zerotierNetwork"], "abcdef0123456789");
    // A misspelt field is refused, not read as "no default profile"; nor is a nested one, nor a deep body.
    let typo = put_settings(json!({"zerotierNetwork": "abcdef0123456789", "defaultProfle": "p1"}));
    let typo = error_of(typo, 400);
    assert_eq!(
        (typo["code"].as_str(), typo["field"].as_str()),
        (Some("unknown_field"), Some("defaultProfle"))
    );
    assert!(typo["message"].as_str().unwrap().contains("defaultProfle"), "{typo}");
    let mut nested = profile("p3", "console=tty0");
    nested["kernel"]["sha256"] = json!("x");
    let nested = error_of(post("/boot/profiles", nested), 400);
    assert_eq!(nested["field"], "kernel", "{nested}");
    let deep = format!(
        r#"{{"name": "p3", "kernel": {{"asset": "vmlinuz"}}, "x": {}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep = server
        .request_as(&server.admin_token(), Method::POST, "/boot/profiles")
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .unwrap();
    assert_eq!(error_of(deep, 400)["code"], "body_too_deep");
    let kept: Value = call(&server, Method::GET, "/boot/settings", None).json().unwrap();
    assert_eq!(kept["defaultProfile"], "p2", "the refused requests changed nothing");
    assert_eq!(call(&server, Method::GET, "/boot/profiles/p3", None).status(), 404);

    let two_keys = selector(json!({"name": "s", "mac": "52:54:00:00:00:01", "uuid": "x", "profile": "p1"}));
    assert_eq!(error_of(two_keys, 400)["field"], "uuid");
    let no_profile = selector(json!({"name": "s", "mac": "52:54:00:00:00:01", "profile": "zz"}));
    assert_eq!(error_of(no_profile, 400)["field"], "profile");
    let by_mac = selector(json!({"name": "by-mac", "mac": "52-54-00-00-00-0A", "profile": "p1"}));
    assert_eq!(by_mac.status(), 201);
    assert_eq!(
        by_mac.json::<Value>().unwrap()["mac"],
        "52:54:00:00:00:0a",
        "normalised"
    );
    let same_mac = selector(json!({"name": "again", "mac": "52:54:00:00:00:0a", "profile": "p2"}));
    assert_eq!(error_of(same_mac, 409)["field"], "mac", "one selector per machine");
    let two = selector(json!({"name": "t", "mac": "52:54:00:00:00:0b", "label": "a=b", "profile": "p2"}));
    assert_eq!(
        error_of(two, 400)["field"],
        "label",
        "names the field that is one too many"
    );
    let by_label = selector(json!({"name": "by-label", "label": "rack=r7", "profile": "p1"}));
    assert_eq!(by_label.status(), 201);

    // Things in use cannot be deleted.
    assert_eq!(error_of(delete("/boot/assets/vmlinuz"), 409)["code"], "in_use");
    assert_eq!(error_of(delete("/boot/profiles/p1"), 409)["code"], "in_use");
    assert_eq!(error_of(delete("/boot/profiles/p2"), 409)["code"], "in_use");

    // Which machine boots what: MAC selector, label selector (via the registered node), default.
    register_node_at(
        &server.base,
        &server.admin_token(),
        "525400000007",
        json!({"rack": "r7"}),
    );
    let script = |mac: &str| {
        client()
            .get(server.url(&format!("/boot.ipxe?mac={mac}&platform=pcbios")))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let unusable = script("52:54:00:00:00:0a");
    assert!(
        unusable.contains("cannot be used: {label:rack} is used but the machine's node has no label 'rack'"),
        "p1 needs a node label this machine lacks, so it waits instead of booting:\n{unusable}"
    );
    register_node_at(
        &server.base,
        &server.admin_token(),
        "52540000000a",
        json!({"rack": "r1"}),
    );
    let mac_boot = script("52:54:00:00:00:0a");
    assert!(mac_boot.contains("boots profile p1"), "{mac_boot}");
    assert!(
        mac_boot.contains("/boot/assets/vmlinuz?mac=52:54:00:00:00:0a "),
        "asset URLs carry the MAC:\n{mac_boot}"
    );
    assert!(
        mac_boot.contains("zerotier=abcdef0123456789 node=52540000000a rack=r1 orchestrator=http://"),
        "{mac_boot}"
    );
    let label_boot = script("52:54:00:00:00:07");
    assert!(
        label_boot.contains("rack=r7") && label_boot.contains("boots profile p1"),
        "{label_boot}"
    );
    let default_boot = script("52:54:00:00:00:99");
    assert!(
        default_boot.contains("boots profile p2") && default_boot.contains("kernel http://"),
        "{default_boot}"
    );
    let efi = client()
        .get(server.url("/boot.ipxe?mac=52:54:00:00:00:99&platform=efi"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        efi.contains("initrd=initrd console=tty0"),
        "EFI kernels get initrd= on the command line:\n{efi}"
    );
    let bad_mac = client().get(server.url("/boot.ipxe?mac=zz")).send().unwrap();
    assert_eq!(error_of(bad_mac, 400)["field"], "mac");

    assert_eq!(delete("/boot/selectors/by-mac").status(), 204);
    assert_eq!(delete("/boot/selectors/by-label").status(), 204);
    assert_eq!(delete("/boot/profiles/p1").status(), 204);
    put_settings(json!({}));
    let waiting = script("52:54:00:00:00:99");
    assert!(
        waiting.contains("no boot profile") && waiting.contains("sleep 30"),
        "{waiting}"
    );
}

#[test]
fn zero_os_bootstrap_urls_keep_working() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let get = |path: &str| client().get(server.url(path)).send().unwrap();
    assert_eq!(
        get("/ipxe/master/abcdef0123456789").status(),
        404,
        "no kernel for the release yet"
    );
    put_asset(&server, "zero-os-master.efi", b"zos kernel");
    let host = server.base.trim_start_matches("http://");

    let script = get("/ipxe/master/abcdef0123456789/development%20debug%20organization=%22my-org%22")
        .text()
        .unwrap();
    assert!(script.starts_with("#!ipxe\n"), "{script}");
    let chain = format!(
        "chain http://{host}/kernel/zero-os-master.efi zerotier=abcdef0123456789 development debug organization=\"my-org\""
    );
    assert!(script.contains(&chain), "{script}");
    let no_network = get("/ipxe/master/null/debug").text().unwrap();
    assert!(
        no_network.contains("zero-os-master.efi debug") && !no_network.contains("zerotier="),
        "{no_network}"
    );
    assert!(
        get("/ipxe/master")
            .text()
            .unwrap()
            .contains("/kernel/zero-os-master.efi")
    );

    put_asset(&server, "v1.1.0.efi", b"older naming");
    assert!(
        get("/ipxe/v1.1.0/0").text().unwrap().contains("/kernel/v1.1.0.efi"),
        "fallback to <release>.efi"
    );

    assert_eq!(error_of(get("/ipxe/master/not-a-network"), 400)["field"], "network");
    assert_eq!(
        error_of(get("/ipxe/master/abcdef0123456789/x%3Breboot"), 400)["field"],
        "args"
    );
    assert_eq!(get("/ipxe/ma%24ter").status(), 400);
    let kernel = get("/kernel/zero-os-master.efi");
    assert_eq!(kernel.status(), 200);
    assert_eq!(kernel.bytes().unwrap().as_ref(), b"zos kernel");
    assert_eq!(get("/kernel/nope.efi").status(), 404);

    let health: Value = get("/health").json().unwrap();
    assert!(
        health["boot"]["ipxeOrigin"].as_str().unwrap().contains("ipxe"),
        "{health}"
    );
    assert_eq!(health["boot"]["tftp"], server.tftp.to_string());
    let http_port = server.base.rsplit(':').next().unwrap();
    assert_eq!(
        health["boot"]["httpBase"],
        format!("http://${{next-server}}:{http_port}")
    );
    let metrics = get("/metrics").text().unwrap();
    assert!(
        metrics.contains(r#"zos_boot_files_served_total{outcome="ok",protocol="http"}"#),
        "{metrics}"
    );
}

#[test]
fn the_configured_zerotier_network_is_applied_at_every_start_and_keeps_the_other_settings() {
    let dir = temp_data_dir();
    let mut server = Server::start_with_env(dir.path(), &[], &[("ZOS_ZEROTIER_NETWORK", "ABCDEF0123456789")]);
    let settings: Value = call(&server, Method::GET, "/boot/settings", None).json().unwrap();
    assert_eq!(
        settings["zerotierNetwork"], "abcdef0123456789",
        "from the env, lower-cased"
    );

    // The API can change it, and set the rest; the next start with the setting puts the network back.
    let changed = call(
        &server,
        Method::PUT,
        "/boot/settings",
        Some(json!({"zerotierNetwork": "1111111111111111", "kernelSource": "http://example.test/k"})),
    );
    assert_eq!(changed.status(), 200);
    server.terminate(std::time::Duration::from_secs(10));
    let server = Server::start_with(dir.path(), &["--zerotier-network", "2222222222222222"]);
    let settings: Value = call(&server, Method::GET, "/boot/settings", None).json().unwrap();
    assert_eq!(settings["zerotierNetwork"], "2222222222222222", "the flag");
    assert_eq!(settings["kernelSource"], "http://example.test/k", "other settings kept");
}
