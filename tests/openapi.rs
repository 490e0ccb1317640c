//! `/openapi.json`: a valid OpenAPI 3.1 document (checked by a real validator) that covers every route.

mod common;

use std::collections::BTreeSet;

use common::{Server, client, register_node, required_tool, temp_data_dir};
use serde_json::Value;

const ROUTES: &[(&str, &str)] = &[
    ("/admin/backup", "get"),
    ("/nodes", "get"),
    ("/nodes", "post"),
    ("/nodes/{id}", "get"),
    ("/nodes/{id}", "patch"),
    ("/nodes/{id}", "delete"),
    ("/nodes/{id}/ping", "post"),
    ("/nodes/{id}/reboot", "post"),
    ("/nodes/{id}/cpus", "get"),
    ("/nodes/{id}/mem", "get"),
    ("/nodes/{id}/disks", "get"),
    ("/nodes/{id}/nics", "get"),
    ("/nodes/{id}/info", "get"),
    ("/nodes/{id}/processes", "get"),
    ("/nodes/{id}/state", "get"),
    ("/nodes/{id}/mounts", "get"),
    ("/nodes/{id}/stats", "get"),
    ("/nodes/{id}/jobs", "get"),
    ("/nodes/{id}/jobs", "delete"),
    ("/nodes/{id}/jobs/{jobid}", "get"),
    ("/nodes/{id}/jobs/{jobid}", "delete"),
    ("/nodes/{id}/processes/{pid}", "get"),
    ("/nodes/{id}/processes/{pid}", "delete"),
    ("/nodes/{id}/containers", "get"),
    ("/nodes/{id}/containers", "post"),
    ("/nodes/{id}/containers/{name}", "get"),
    ("/nodes/{id}/containers/{name}", "delete"),
    ("/nodes/{id}/containers/{name}", "put"),
    ("/nodes/{id}/containers/{name}/start", "post"),
    ("/nodes/{id}/containers/{name}/stop", "post"),
    ("/nodes/{id}/containers/{name}/jobs", "get"),
    ("/nodes/{id}/containers/{name}/jobs", "post"),
    ("/nodes/{id}/containers/{name}/jobs", "delete"),
    ("/nodes/{id}/containers/{name}/jobs/{jobid}", "get"),
    ("/nodes/{id}/containers/{name}/jobs/{jobid}", "post"),
    ("/nodes/{id}/containers/{name}/jobs/{jobid}", "delete"),
    ("/nodes/{id}/containers/{name}/jobs/{jobid}/stream", "get"),
    ("/nodes/{id}/containers/{name}/ping", "post"),
    ("/nodes/{id}/containers/{name}/filesystem", "post"),
    ("/nodes/{id}/containers/{name}/filesystem", "get"),
    ("/nodes/{id}/containers/{name}/filesystem", "delete"),
    ("/nodes/{id}/containers/{name}/state", "get"),
    ("/nodes/{id}/containers/{name}/cpus", "get"),
    ("/nodes/{id}/containers/{name}/mem", "get"),
    ("/nodes/{id}/containers/{name}/nics", "get"),
    ("/nodes/{id}/containers/{name}/info", "get"),
    ("/nodes/{id}/containers/{name}/processes", "get"),
    ("/nodes/{id}/containers/{name}/disks", "get"),
    ("/nodes/{id}/containers/{name}/mounts", "get"),
    ("/nodes/{id}/containers/{name}/stats", "get"),
    ("/nodes/{id}/containers/{name}/processes/{pid}", "get"),
    ("/nodes/{id}/containers/{name}/processes/{pid}", "post"),
    ("/nodes/{id}/containers/{name}/processes/{pid}", "delete"),
    ("/storageclusters", "get"),
    ("/storageclusters", "post"),
    ("/storageclusters/{label}", "get"),
    ("/storageclusters/{label}", "delete"),
    ("/health/storageclusters", "get"),
    ("/health/storageclusters/{label}", "get"),
    ("/vdiskstorage", "get"),
    ("/vdiskstorage", "post"),
    ("/vdiskstorage/{id}", "get"),
    ("/vdiskstorage/{id}", "delete"),
    ("/vdiskstorage/{id}/vdisks", "get"),
    ("/vdiskstorage/{id}/vdisks", "post"),
    ("/vdiskstorage/{id}/vdisks/{vdiskid}", "get"),
    ("/vdiskstorage/{id}/vdisks/{vdiskid}", "delete"),
    ("/vdiskstorage/{id}/vdisks/{vdiskid}/resize", "post"),
    ("/vdiskstorage/{id}/vdisks/{vdiskid}/rollback", "post"),
    ("/vdiskstorage/{id}/images", "get"),
    ("/vdiskstorage/{id}/images", "post"),
    ("/vdiskstorage/{id}/images/{imageid}", "get"),
    ("/vdiskstorage/{id}/images/{imageid}", "delete"),
    ("/nodes/{id}/storagepools", "get"),
    ("/nodes/{id}/storagepools", "post"),
    ("/nodes/{id}/storagepools/{pool}", "get"),
    ("/nodes/{id}/storagepools/{pool}", "delete"),
    ("/nodes/{id}/storagepools/{pool}/devices", "get"),
    ("/nodes/{id}/storagepools/{pool}/devices", "post"),
    ("/nodes/{id}/storagepools/{pool}/devices/{uuid}", "get"),
    ("/nodes/{id}/storagepools/{pool}/devices/{uuid}", "delete"),
    ("/nodes/{id}/storagepools/{pool}/filesystems", "get"),
    ("/nodes/{id}/storagepools/{pool}/filesystems", "post"),
    ("/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}", "get"),
    ("/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}", "delete"),
    (
        "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}/snapshots",
        "get",
    ),
    (
        "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}/snapshots",
        "post",
    ),
    (
        "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}/snapshots/{snapshot}",
        "get",
    ),
    (
        "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}/snapshots/{snapshot}",
        "delete",
    ),
    (
        "/nodes/{id}/storagepools/{pool}/filesystems/{filesystem}/snapshots/{snapshot}/rollback",
        "post",
    ),
    ("/nodes/{id}/bridges", "get"),
    ("/nodes/{id}/bridges", "post"),
    ("/nodes/{id}/bridges/{bridge}", "get"),
    ("/nodes/{id}/bridges/{bridge}", "delete"),
    ("/nodes/{id}/zerotiers", "get"),
    ("/nodes/{id}/zerotiers", "post"),
    ("/nodes/{id}/zerotiers/{nwid}", "get"),
    ("/nodes/{id}/zerotiers/{nwid}", "delete"),
    ("/nodes/{id}/vms", "get"),
    ("/nodes/{id}/vms", "post"),
    ("/nodes/{id}/vms/{vmid}", "get"),
    ("/nodes/{id}/vms/{vmid}", "put"),
    ("/nodes/{id}/vms/{vmid}", "delete"),
    ("/nodes/{id}/vms/{vmid}/info", "get"),
    ("/nodes/{id}/vms/{vmid}/start", "post"),
    ("/nodes/{id}/vms/{vmid}/stop", "post"),
    ("/nodes/{id}/vms/{vmid}/shutdown", "post"),
    ("/nodes/{id}/vms/{vmid}/pause", "post"),
    ("/nodes/{id}/vms/{vmid}/resume", "post"),
    ("/nodes/{id}/vms/{vmid}/migrate", "post"),
    ("/nodes/{id}/vms/{vmid}/export", "post"),
    ("/nodes/{id}/vms/import", "post"),
    ("/nodes/{id}/gws", "get"),
    ("/nodes/{id}/gws", "post"),
    ("/nodes/{id}/gws/{gwname}", "get"),
    ("/nodes/{id}/gws/{gwname}", "put"),
    ("/nodes/{id}/gws/{gwname}", "delete"),
    ("/nodes/{id}/gws/{gwname}/start", "post"),
    ("/nodes/{id}/gws/{gwname}/stop", "post"),
    ("/nodes/{id}/gws/{gwname}/migrate", "post"),
    ("/nodes/{id}/gws/{gwname}/firewall/forwards", "get"),
    ("/nodes/{id}/gws/{gwname}/firewall/forwards", "post"),
    ("/nodes/{id}/gws/{gwname}/firewall/forwards/{forwardid}", "delete"),
    ("/nodes/{id}/gws/{gwname}/dhcp/{interface}/hosts", "get"),
    ("/nodes/{id}/gws/{gwname}/dhcp/{interface}/hosts", "post"),
    ("/nodes/{id}/gws/{gwname}/dhcp/{interface}/hosts/{macaddress}", "delete"),
    ("/nodes/{id}/gws/{gwname}/httpproxies", "get"),
    ("/nodes/{id}/gws/{gwname}/httpproxies", "post"),
    ("/nodes/{id}/gws/{gwname}/httpproxies/{proxyid}", "get"),
    ("/nodes/{id}/gws/{gwname}/httpproxies/{proxyid}", "delete"),
    ("/nodes/{id}/gws/{gwname}/advanced/http", "get"),
    ("/nodes/{id}/gws/{gwname}/advanced/http", "post"),
    ("/nodes/{id}/gws/{gwname}/advanced/firewall", "get"),
    ("/nodes/{id}/gws/{gwname}/advanced/firewall", "post"),
    ("/jobs", "get"),
    ("/jobs/{id}", "get"),
    ("/tokens", "get"),
    ("/tokens", "post"),
    ("/tokens/{id}", "delete"),
    ("/audit", "get"),
    ("/health/nodes", "get"),
    ("/health/nodes/{id}", "get"),
    ("/webhooks", "get"),
    ("/webhooks", "post"),
    ("/webhooks/{name}", "get"),
    ("/webhooks/{name}", "put"),
    ("/webhooks/{name}", "delete"),
    ("/auth/whoami", "get"),
    ("/zerotier/members", "get"),
    ("/zerotier/members/{id}/authorize", "post"),
    ("/events", "get"),
    ("/health", "get"),
    ("/metrics", "get"),
    ("/openapi.json", "get"),
    ("/boot/profiles", "get"),
    ("/boot/profiles", "post"),
    ("/boot/profiles/{name}", "get"),
    ("/boot/profiles/{name}", "put"),
    ("/boot/profiles/{name}", "delete"),
    ("/boot/selectors", "get"),
    ("/boot/selectors", "post"),
    ("/boot/selectors/{name}", "get"),
    ("/boot/selectors/{name}", "delete"),
    ("/boot/settings", "get"),
    ("/boot/settings", "put"),
    ("/boot/assets", "get"),
    ("/boot/assets/{name}", "put"),
    ("/boot/assets/{name}", "delete"),
    ("/boot/events", "get"),
    ("/boot.ipxe", "get"),
    ("/ipxe/{release}", "get"),
    ("/ipxe/{release}/{network}", "get"),
    ("/ipxe/{release}/{network}/{args}", "get"),
    ("/iso/{release}", "get"),
    ("/iso/{release}", "head"),
    ("/iso/{release}/{network}", "get"),
    ("/iso/{release}/{network}", "head"),
    ("/iso/{release}/{network}/{args}", "get"),
    ("/iso/{release}/{network}/{args}", "head"),
    ("/usb/{release}", "get"),
    ("/usb/{release}", "head"),
    ("/usb/{release}/{network}", "get"),
    ("/usb/{release}/{network}", "head"),
    ("/usb/{release}/{network}/{args}", "get"),
    ("/usb/{release}/{network}/{args}", "head"),
    ("/uefimg/{release}", "get"),
    ("/uefimg/{release}", "head"),
    ("/uefimg/{release}/{network}", "get"),
    ("/uefimg/{release}/{network}", "head"),
    ("/uefimg/{release}/{network}/{args}", "get"),
    ("/uefimg/{release}/{network}/{args}", "head"),
    ("/krn/{release}", "get"),
    ("/krn/{release}", "head"),
    ("/krn/{release}/{network}", "get"),
    ("/krn/{release}/{network}", "head"),
    ("/krn/{release}/{network}/{args}", "get"),
    ("/krn/{release}/{network}/{args}", "head"),
    ("/uefi/{release}", "get"),
    ("/uefi/{release}", "head"),
    ("/uefi/{release}/{network}", "get"),
    ("/uefi/{release}/{network}", "head"),
    ("/uefi/{release}/{network}/{args}", "get"),
    ("/uefi/{release}/{network}/{args}", "head"),
    ("/boot/ipxe/{name}", "get"),
    ("/boot/ipxe/{name}", "head"),
    ("/boot/assets/{name}", "get"),
    ("/boot/assets/{name}", "head"),
    ("/kernel/{file}", "get"),
    ("/kernel/{file}", "head"),
];

/// What firmware, monitoring and browsers read (GET and HEAD) without a token, besides every `/ipxe/…` script.
const PUBLIC_READS: &[&str] = &[
    "/health",
    "/metrics",
    "/openapi.json",
    "/boot.ipxe",
    "/boot/ipxe/{name}",
    "/boot/assets/{name}",
    "/kernel/{file}",
];

#[test]
fn the_document_validates_and_lists_every_route() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let response = client().get(server.url("/openapi.json")).send().unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES.iter().map(|(p, m)| (p.to_string(), m.to_string())).collect();
    assert_eq!(documented, expected);
    let mut operation_ids = BTreeSet::new();
    for (path, method) in ROUTES {
        let operation = &doc["paths"][path][method];
        assert!(
            operation_ids.insert(operation["operationId"].as_str().unwrap()),
            "{method} {path}: unique operationId"
        );
        // What firmware and boot media fetch carries no token: the iPXE scripts and the images per network.
        let firmware = ["/ipxe/", "/iso/", "/usb/", "/uefimg/", "/krn/", "/uefi/"];
        let public = firmware.iter().any(|prefix| path.starts_with(prefix))
            || (matches!(*method, "get" | "head") && PUBLIC_READS.contains(path));
        assert_eq!(operation["security"].is_array(), !public, "{method} {path} security");
    }

    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &text).unwrap();
    let validator = required_tool(
        "ZOS_OPENAPI_VALIDATOR",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/test-tools/venv/bin/openapi-spec-validator"
        ),
    );
    let output = std::process::Command::new(validator).arg(&file).output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "openapi-spec-validator rejected the document: {said}"
    );
    assert!(said.contains("OK"), "{said}");
}

/// Every documented operation: its template, a request for it (made-up path parameters, and the query a route
/// requires), and the operation's document.
fn operations(doc: &Value) -> Vec<(String, reqwest::Method, String, &Value)> {
    let mut found = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = template
            .split('/')
            .map(|segment| if segment.starts_with('{') { "1" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        // Container files take their path in a required query parameter.
        let query = if path.ends_with("/filesystem") { "?path=/x" } else { "" };
        for (method, operation) in item.as_object().unwrap() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            found.push((template.clone(), method, format!("{path}{query}"), operation));
        }
    }
    found
}

/// The document and the router come from one table: every documented operation is served (a request to it with
/// made-up path parameters is never a routing miss), and every one that needs a token refuses a request without
/// one, or with an `Authorization` header that is not text (401, never a 405 from another route tried after it);
/// no header that is not text turns into a 405 or a 500.
#[test]
fn every_documented_operation_is_served_and_guarded() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let http = client();
    let doc: Value = http.get(server.url("/openapi.json")).send().unwrap().json().unwrap();
    let not_text = reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap();
    let mut checked = 0;
    for (template, method, path, operation) in operations(&doc) {
        let secured = operation["security"].is_array();
        let request = || http.request(method.clone(), server.url(&path));
        let status_of = |request: reqwest::blocking::RequestBuilder| request.send().unwrap().status().as_u16();
        let status = status_of(request());
        assert_ne!(status, 405, "{method} {template}: not routed");
        if secured {
            assert_eq!(status, 401, "{method} {template}: served without a token");
        }
        let status = status_of(request().header("authorization", not_text.clone()));
        if secured {
            assert_eq!(
                status, 401,
                "{method} {template}: an Authorization header that is not text"
            );
        } else {
            assert!(
                status != 405 && status < 500,
                "{method} {template}: {status}, Authorization not text"
            );
        }
        // Every other header a route reads, not text, with a valid token: a 4xx of this route, never a 405.
        let mut with_token = request().bearer_auth(server.admin_token());
        for header in ["content-type", "if-match", "if-none-match", "range", "last-event-id"] {
            with_token = with_token.header(header, not_text.clone());
        }
        let status = status_of(with_token);
        assert!(
            status != 405 && status < 500,
            "{method} {template}: {status}, headers not text"
        );
        checked += 1;
    }
    assert_eq!(checked, ROUTES.len());
}

/// Every JSON request body refuses a field it does not know, naming it: a typo is an error, not a field left
/// at its default. (Array bodies have no fields.) Node `1` exists, so routes under a node get to read the body.
#[test]
fn every_json_body_refuses_unknown_fields() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    register_node(&server, "1", serde_json::json!({}));
    let http = client();
    let doc: Value = http.get(server.url("/openapi.json")).send().unwrap().json().unwrap();
    let mut checked = 0;
    for (template, method, path, operation) in operations(&doc) {
        let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
        let schema = match schema["$ref"].as_str() {
            Some(reference) => &doc["components"]["schemas"][reference.rsplit('/').next().unwrap()],
            None => schema,
        };
        if schema["type"] != "object" {
            continue;
        }
        let response = http
            .request(method.clone(), server.url(&path))
            .bearer_auth(server.admin_token())
            .json(&serde_json::json!({"zzUnknown": 1}))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        let error: Value = response.json().unwrap();
        assert_eq!(status, 400, "{method} {template}: {error}");
        assert_eq!(error["code"], "unknown_field", "{method} {template}: {error}");
        assert_eq!(error["field"], "zzUnknown", "{method} {template}: {error}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} JSON bodies documented");
}
