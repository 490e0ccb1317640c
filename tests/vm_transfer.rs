//! VM export and import (`POST …/vms/{vmid}/export`, `POST /nodes/{id}/vms/import`) against real file servers on
//! loopback (tests/transfer/servers.py): pyftpdlib's FTP server with a user and password, and an HTTP server that
//! stores what is PUT. A VM's definition goes out to each, lands as a file, and comes back as a new VM; bad URLs,
//! refusing servers, unknown names and files that are no export get their codes, naming the field.

mod common;

use std::time::Duration;

use common::{Server, admin_call, get_json, start_file_server, temp_data_dir, wait_until};
use reqwest::Method;
use serde_json::{Value, json};

/// A storage cluster on the node and a vdisk storage on it, which an import names.
fn vdisk_storage(server: &Server, node: &str) {
    let cluster = json!({"label": "blocks", "servers": 1, "driveType": "ssd", "nodes": [node], "clusterType": "block"});
    let (status, answer) = admin_call(server, Method::POST, "/storageclusters", Some(cluster));
    assert!([201, 202].contains(&status), "{answer}");
    wait_until(Duration::from_secs(60), "the storage cluster ready", || {
        get_json(server, "/storageclusters/blocks")["status"] == "ready"
    });
    let storage = json!({"id": "vs", "blockCluster": "blocks"});
    assert_eq!(admin_call(server, Method::POST, "/vdiskstorage", Some(storage)).0, 201);
}

fn error_of(answer: &Value) -> (Option<&str>, Option<&str>) {
    (answer["code"].as_str(), answer["field"].as_str())
}

#[test]
fn a_vm_goes_out_over_ftp_and_http_and_comes_back_as_a_new_vm() {
    let files = tempfile::tempdir().unwrap();
    let (ftp_root, http_root) = (files.path().join("ftp"), files.path().join("http"));
    std::fs::create_dir_all(ftp_root.join("exports")).unwrap();
    std::fs::create_dir_all(&http_root).unwrap();
    let (_ftp, ftp_port) = start_file_server("ftp", &ftp_root);
    let (_http, http_port) = start_file_server("http", &http_root);

    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--demo", "1", "--heartbeat-interval", "1"]);
    wait_until(Duration::from_secs(15), "the demo node online", || {
        get_json(&server, "/nodes")[0]["state"] == "online"
    });
    let node = get_json(&server, "/nodes")[0]["id"].as_str().unwrap().to_owned();
    vdisk_storage(&server, &node);
    let vms = format!("/nodes/{node}/vms");
    let vm = json!({"id": "web", "memory": 2048, "cpu": 2, "nics": [{"type": "default"}],
        "disks": [{"vdiskid": "web-boot", "maxIOps": 500}]});
    assert_eq!(admin_call(&server, Method::POST, &vms, Some(vm)).0, 201);
    let export = format!("{vms}/web/export");
    let import = format!("{vms}/import");

    let targets = [
        (
            "ftp",
            format!("ftp://vm:secret@127.0.0.1:{ftp_port}/exports"),
            ftp_root.join("exports"),
        ),
        (
            "http",
            format!("http://127.0.0.1:{http_port}/exports/"),
            http_root.join("exports"),
        ),
    ];
    for (scheme, folder, on_disk) in targets {
        let (status, answer) = admin_call(&server, Method::POST, &export, Some(json!({"url": folder})));
        assert_eq!(status, 200, "{scheme}: {answer}");
        let url = answer["url"].as_str().unwrap().to_owned();
        let file = url.rsplit('/').next().unwrap();
        assert!(file.starts_with("web_"), "{url}");
        assert!(url.starts_with(folder.trim_end_matches('/')), "{url} is in {folder}");
        let written: Value = serde_json::from_slice(&std::fs::read(on_disk.join(file)).unwrap()).unwrap();
        assert_eq!(
            written,
            json!({"memory": 2048, "cpu": 2, "nics": [{"type": "default", "id": ""}],
                "disks": [{"vdiskid": "web-boot", "maxIOps": 500}]}),
            "{scheme}: the VM's definition, as written on the server"
        );

        let copy = format!("web-{scheme}");
        let body = json!({"url": url, "id": copy, "vdiskstorage": "vs"});
        let (status, answer) = admin_call(&server, Method::POST, &import, Some(body.clone()));
        assert_eq!(status, 200, "{scheme}: {answer}");
        let imported = get_json(&server, &format!("{vms}/{copy}"));
        assert_eq!(
            (imported["memory"].as_u64(), imported["cpu"].as_u64()),
            (Some(2048), Some(2))
        );
        assert_eq!(imported["disks"], json!([{"vdiskid": "web-boot", "maxIOps": 500}]));
        assert_eq!(imported["status"], "running", "{imported}");
        let (status, answer) = admin_call(&server, Method::POST, &import, Some(body));
        assert_eq!(
            (status, answer["code"].as_str()),
            (409, Some("already_exists")),
            "{answer}"
        );
    }

    // Bad input, each named.
    let refusals = [
        (
            &export,
            json!({"url": "gopher://127.0.0.1/x"}),
            400,
            "invalid_field",
            "url",
        ),
        (&export, json!({"url": "ftp://"}), 400, "invalid_field", "url"),
        (
            &export,
            json!({"url": format!("ftp://vm:wrong@127.0.0.1:{ftp_port}/exports")}),
            502,
            "transfer_failed",
            "url",
        ),
        (
            &export,
            json!({"url": "http://127.0.0.1:1/exports"}),
            502,
            "transfer_failed",
            "url",
        ),
        (
            &export,
            json!({"url": format!("ftp://vm:secret@127.0.0.1:{ftp_port}/no/such/dir")}),
            502,
            "transfer_failed",
            "url",
        ),
        (
            &export,
            json!({"url": "ftp://127.0.0.1/x", "nope": 1}),
            400,
            "unknown_field",
            "nope",
        ),
        (
            &import,
            json!({"url": format!("http://127.0.0.1:{http_port}/missing"), "id": "x", "vdiskstorage": "vs"}),
            502,
            "transfer_failed",
            "url",
        ),
        (
            &import,
            json!({"url": format!("http://127.0.0.1:{http_port}/exports"), "id": "x", "vdiskstorage": "nosuch"}),
            400,
            "unknown_vdiskstorage",
            "vdiskstorage",
        ),
        (
            &import,
            json!({"url": format!("http://127.0.0.1:{http_port}/exports"), "id": "Bad Id", "vdiskstorage": "vs"}),
            400,
            "invalid_field",
            "id",
        ),
        (
            &import,
            json!({"url": "file:///etc/passwd", "id": "x", "vdiskstorage": "vs"}),
            400,
            "invalid_field",
            "url",
        ),
    ];
    for (path, body, status, code, field) in refusals {
        let (got, answer) = admin_call(&server, Method::POST, path, Some(body.clone()));
        assert_eq!(
            (got, error_of(&answer)),
            (status, (Some(code), Some(field))),
            "{body}: {answer}"
        );
    }
    // A file that is no export: refused naming the url, and no VM made.
    std::fs::write(http_root.join("notes.txt"), "not a VM").unwrap();
    let body = json!({"url": format!("http://127.0.0.1:{http_port}/notes.txt"), "id": "notes", "vdiskstorage": "vs"});
    let (status, answer) = admin_call(&server, Method::POST, &import, Some(body));
    assert_eq!(
        (status, error_of(&answer)),
        (400, (Some("not_a_vm_export"), Some("url"))),
        "{answer}"
    );
    assert_eq!(admin_call(&server, Method::GET, &format!("{vms}/notes"), None).0, 404);
    // Unknown VM or node.
    let body = json!({"url": format!("http://127.0.0.1:{http_port}/exports")});
    assert_eq!(
        admin_call(
            &server,
            Method::POST,
            &format!("{vms}/nosuch/export"),
            Some(body.clone())
        )
        .0,
        404
    );
    assert_eq!(
        admin_call(&server, Method::POST, "/nodes/nosuch/vms/web/export", Some(body)).0,
        404
    );
    // A failed export leaves the VM as it was.
    assert_eq!(get_json(&server, &format!("{vms}/web"))["status"], "running");
}
