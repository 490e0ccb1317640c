//! The HTTP API against the real binary: auth, validation and status codes, nodes CRUD, tokens.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::etcd::EtcdCluster;
use common::{Server, assert_status_and_type, client, create_token, get_with_header, register_node, temp_data_dir};
use reqwest::Method;
use serde_json::{Value, json};

#[test]
fn fresh_start_is_healthy_fast_and_writes_a_private_admin_token() {
    let dir = temp_data_dir();
    let started = Instant::now();
    let mut server = Server::start(dir.path());
    let health = loop {
        if let Ok(response) = client().get(server.url("/health")).send() {
            break response;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    assert_eq!(health.status(), 200);
    assert!(elapsed < Duration::from_secs(1), "/health answered after {elapsed:?}");
    let body: Value = health.json().unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["store"]["ok"], true);
    assert!(body["uptimeSeconds"].as_u64().is_some());
    assert!(body["commit"].as_str().is_some_and(|c| !c.is_empty()));
    // With sled the one instance runs the engine; its id is kept in the data directory.
    let instance = std::fs::read_to_string(dir.path().join("instance-id")).unwrap();
    assert_eq!(body["engine"]["self"], instance.trim());
    assert_eq!(body["engine"]["leader"], instance.trim());
    assert_eq!(body["engine"]["leading"], true);
    assert!(body["engine"]["since"].as_u64().is_some());

    let token_file = dir.path().join("admin.token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "admin.token mode");
    let token = server.admin_token();
    assert!(token.starts_with("zos_"), "token format");
    let logs = server.logs().join("\n");
    assert!(logs.contains("admin.token"), "the token file's path is logged");
    assert!(!logs.contains(&token), "the token itself must never be logged");
}

#[test]
fn node_registration_needs_the_operator_role() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let body = json!({"id": "0cc47aab6702", "hostname": "node-1", "address": "127.0.0.2", "labels": {"rack": "r1"}});

    let anonymous = client().post(server.url("/nodes")).json(&body).send().unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["content-type"], "application/json");
    assert_eq!(anonymous.json::<Value>().unwrap()["code"], "unauthorized");

    let garbage = server.send_json_as("zos_0000000000000000_nope", Method::POST, "/nodes", &body);
    assert_eq!(garbage.status(), 401);

    let viewer = create_token(&server, "viewer", "dashboard");
    let forbidden = server.send_json_as(&viewer, Method::POST, "/nodes", &body);
    assert_eq!(forbidden.status(), 403);
    assert_eq!(forbidden.json::<Value>().unwrap()["code"], "forbidden");

    let created = server.send_json_as(&server.admin_token(), Method::POST, "/nodes", &body);
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], "/nodes/0cc47aab6702");
    let created: Value = created.json().unwrap();
    assert_eq!(created["ipaddress"], "127.0.0.2", "0-orchestrator field");
    assert_eq!(
        created["status"], "halted",
        "0-orchestrator status before the node was contacted"
    );
    assert_eq!(created["state"], "unknown");

    // A viewer may read what it may not write.
    let fetched = server.get_as(&viewer, "/nodes/0cc47aab6702");
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["etag"], "\"1\"");
    assert_eq!(fetched.json::<Value>().unwrap(), created);

    let operator = create_token(&server, "operator", "ops");
    let by_operator = server.send_json_as(
        &operator,
        Method::POST,
        "/nodes",
        &json!({"id": "second", "address": "localhost:1"}),
    );
    assert_eq!(by_operator.status(), 201);
    let tokens = server.get_as(&operator, "/tokens");
    assert_eq!(tokens.status(), 403, "tokens are admin-only");
}

fn assert_error(response: reqwest::blocking::Response, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(response.status(), status, "status for expected '{code}'");
    let body: Value = response.json().expect("error body is JSON");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{body}");
    }
}

#[test]
fn bad_requests_get_precise_json_errors_and_change_nothing() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let token = server.admin_token();
    // Each on a connection of its own: the server closes one whose body it did not read (the 413), and a pooled
    // client could send the next request down it as it closes.
    let post = |body: &str, content_type: &str| {
        server
            .request_as(&token, Method::POST, "/nodes")
            .header("connection", "close")
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .unwrap()
    };
    let json_type = "application/json";
    assert_error(
        post(r#"{"id": "n1", "address": "#, json_type),
        400,
        "invalid_json",
        None,
    );
    assert_error(
        post(r#"{"id": "n 1", "address": "10.0.0.1"}"#, json_type),
        400,
        "invalid_field",
        Some("id"),
    );
    assert_error(
        post(r#"{"id": "n1", "address": 5}"#, json_type),
        400,
        "invalid_field",
        Some("address"),
    );
    assert_error(post(r#"{"id": "n1"}"#, json_type), 400, "invalid_field", None);
    assert_error(
        post(r#"{"id": "n1", "address": "10.0.0.1", "colour": 1}"#, json_type),
        400,
        "unknown_field",
        Some("colour"),
    );
    assert_error(
        post(
            r#"{"id": "n1", "address": "10.0.0.1", "labels": {"rack": "a b"}}"#,
            json_type,
        ),
        400,
        "invalid_field",
        Some("labels.rack"),
    );
    assert_error(
        post(r#"{"id": "n1", "address": "10.0.0.1"} trailing"#, json_type),
        400,
        "invalid_json",
        None,
    );
    assert_error(
        post("id=n1", "application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
        None,
    );
    let huge = format!(
        r#"{{"id": "n1", "address": "10.0.0.1", "hostname": "{}"}}"#,
        "a".repeat(2 * 1024 * 1024)
    );
    assert_error(post(&huge, json_type), 413, "body_too_large", None);

    let list: Value = server.get_json_as(&token, "/nodes");
    assert_eq!(list, json!([]), "no rejected request left anything behind");

    register_node(&server, "n1", json!({}));
    assert_error(
        post(r#"{"id": "n1", "address": "10.0.0.9"}"#, json_type),
        409,
        "already_exists",
        None,
    );
    let kept: Value = server.get_json_as(&token, "/nodes/n1");
    assert_eq!(kept["address"], "127.0.0.2", "a conflicting create does not overwrite");

    let put = server.request_as(&token, Method::PUT, "/nodes").send().unwrap();
    assert_error(put, 405, "method_not_allowed", None);
    let missing = server.get_as(&token, "/nodes/nope");
    assert_error(missing, 404, "not_found", None);
    let no_route = client().get(server.url("/no/such/thing")).send().unwrap();
    assert_error(no_route, 404, "no_route", None);
    let bad_query = server.get_as(&token, "/nodes?limit=0");
    assert_error(bad_query, 400, "invalid_query", Some("limit"));
    let typo = server.get_as(&token, "/nodes?lmit=5");
    assert_error(typo, 400, "invalid_query", Some("lmit"));
}

on_both_stores!(nodes_list_paginates_filters_patches_and_deletes);
fn nodes_list_paginates_filters_patches_and_deletes(store: Option<&EtcdCluster>) {
    let dir = temp_data_dir();
    let server = Server::start_on(dir.path(), store, &[]);
    let token = server.admin_token();
    for i in 0..7 {
        let rack = if i % 2 == 0 { "r1" } else { "r2" };
        register_node(&server, &format!("node-{i}"), json!({"rack": rack}));
    }
    // Walk the pages through the Link header.
    let mut url = server.url("/nodes?limit=3");
    let mut seen = Vec::new();
    loop {
        let response = client().get(&url).bearer_auth(&token).send().unwrap();
        assert_eq!(response.status(), 200);
        let next = response.headers().get("link").map(|link| {
            let link = link.to_str().unwrap();
            assert!(link.ends_with("rel=\"next\""), "{link}");
            server.url(link.trim_start_matches('<').split('>').next().unwrap())
        });
        let page: Vec<Value> = response.json().unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.into_iter().map(|n| n["id"].as_str().unwrap().to_owned()));
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("node-{i}")).collect::<Vec<_>>());

    let r2: Vec<Value> = server.get_json_as(&token, "/nodes?label=rack=r2");
    let r2_ids: Vec<&str> = r2.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(r2_ids, ["node-1", "node-3", "node-5"]);

    // A summary list: only the fields asked for, in the view's order; an unknown field is named.
    let summary: Vec<Value> = server.get_json_as(&token, "/nodes?fields=state,id&label=rack=r1&limit=2");
    let shapes: Vec<(Vec<&String>, &Value)> = summary
        .iter()
        .map(|view| (view.as_object().unwrap().keys().collect(), &view["id"]))
        .collect();
    let (id, state) = (&"id".to_owned(), &"state".to_owned());
    assert_eq!(
        shapes,
        [(vec![id, state], &json!("node-0")), (vec![id, state], &json!("node-2"))]
    );
    let unknown = server.get_as(&token, "/nodes?fields=id,inventroy");
    assert_error(unknown, 400, "invalid_query", Some("fields"));

    // Merge-patch labels; a stale If-Match is a conflict and changes nothing.
    let patched = server
        .request_as(&token, Method::PATCH, "/nodes/node-1")
        .header("if-match", "\"1\"")
        .json(&json!({"hostname": "zero-os-node-1", "labels": {"rack": null, "role": "storage"}}))
        .send()
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.headers()["etag"], "\"2\"");
    let patched: Value = patched.json().unwrap();
    assert_eq!(patched["labels"], json!({"role": "storage"}));
    assert_eq!(patched["hostname"], "zero-os-node-1");
    let stale = server
        .request_as(&token, Method::PATCH, "/nodes/node-1")
        .header("if-match", "\"1\"")
        .json(&json!({"labels": {"rack": "r9"}}))
        .send()
        .unwrap();
    assert_error(stale, 409, "version_conflict", None);
    let bad_label = server.send_json_as(
        &token,
        Method::PATCH,
        "/nodes/node-1",
        &json!({"labels": {"bad key": "x"}}),
    );
    assert_error(bad_label, 400, "invalid_field", Some("labels.bad key"));
    let now: Value = server.get_json_as(&token, "/nodes/node-1");
    assert_eq!(now["labels"], json!({"role": "storage"}));
    assert_eq!(now["version"], 2);

    let deleted = server
        .request_as(&token, Method::DELETE, "/nodes/node-1")
        .send()
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = server.get_as(&token, "/nodes/node-1");
    assert_eq!(gone.status(), 404);
    let again = server
        .request_as(&token, Method::DELETE, "/nodes/node-1")
        .send()
        .unwrap();
    assert_eq!(
        again.status(),
        204,
        "deleting a missing node is 204, as in 0-orchestrator"
    );
}

on_both_stores!(tokens_are_listed_without_secrets_and_revocation_is_immediate);
fn tokens_are_listed_without_secrets_and_revocation_is_immediate(store: Option<&EtcdCluster>) {
    let dir = temp_data_dir();
    let server = Server::start_on(dir.path(), store, &[]);
    let admin = server.admin_token();
    let created = server.send_json_as(
        &admin,
        Method::POST,
        "/tokens",
        &json!({"name": "ci", "role": "operator"}),
    );
    assert_eq!(created.status(), 201);
    let created: Value = created.json().unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();

    let whoami: Value = server.get_json_as(&secret, "/auth/whoami");
    assert_eq!(whoami["name"], "ci");
    assert_eq!(whoami["role"], "operator");

    let listing = server.get_as(&admin, "/tokens").text().unwrap();
    assert!(listing.contains("\"ci\""));
    assert!(
        !listing.contains(&secret[secret.len() - 20..]),
        "GET /tokens must not show secrets"
    );
    assert!(!listing.contains("sha256"), "nor their hashes");

    let bad_role = server.send_json_as(&admin, Method::POST, "/tokens", &json!({"name": "x", "role": "root"}));
    assert_error(bad_role, 400, "invalid_field", Some("role"));

    let revoked = server
        .request_as(&admin, Method::DELETE, &format!("/tokens/{id}"))
        .send()
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let after = server.get_as(&secret, "/nodes");
    assert_error(after, 401, "unauthorized", None);
    let unknown = server
        .request_as(&admin, Method::DELETE, &format!("/tokens/{id}"))
        .send()
        .unwrap();
    assert_error(unknown, 404, "not_found", None);
}

#[test]
fn root_serves_the_ui_to_browsers_and_an_index_to_scripts() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let page = get_with_header(&server, "/", "accept", "text/html,*/*");
    assert_status_and_type(&page, 200, "text/html");
    let etag = page.headers()["etag"].to_str().unwrap().to_owned();
    assert!(page.text().unwrap().contains("<html"), "index.html");
    let cached = get_with_header(&server, "/ui/", "if-none-match", &etag);
    assert_eq!(cached.status(), 304, "ETag revalidation");

    let index: Value = client().get(server.url("/")).send().unwrap().json().unwrap();
    assert_eq!(index["openapi"], "/openapi.json");

    // Sent raw: an HTTP client library would normalise the dot segments away before they reach the server.
    for escape in [
        "/ui/../Cargo.toml",
        "/ui/%2e%2e/Cargo.toml",
        "/ui/..%2fCargo.toml",
        "/ui/../../etc/passwd",
        "/ui/nope.js",
    ] {
        let status = common::raw_get_status(&server, escape);
        assert_eq!(status, 404, "{escape}");
    }
}

/// An upload over the 32 MiB limit is judged after the caller: 401 without a token (the body is never read), 413
/// with one; never the 405 of another route. Sent raw, the body written while the answer is read: the server
/// answers before it has read the body and closes, so a client that only reads once it has written everything
/// (as reqwest does) may see its write fail instead of the answer.
#[test]
fn an_upload_over_the_limit_is_401_without_a_token_and_413_with_one() {
    use std::io::{Read, Write};
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let address = server.base.trim_start_matches("http://").to_owned();
    let boundary = "zos-test-boundary";
    let mut form =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big\"\r\n\r\n").into_bytes();
    form.resize(form.len() + 40_000_000, b'x');
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let form = std::sync::Arc::new(form);
    let upload = |authorization: &str| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "POST /nodes/n1/containers/c1/filesystem?path=/big HTTP/1.1\r\nHost: {address}\r\n{authorization}\
             Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
            form.len()
        );
        let mut writer = stream.try_clone().unwrap();
        let body = form.clone();
        let sending = std::thread::spawn(move || {
            let _ = writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(&body));
        });
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let _ = stream.shutdown(std::net::Shutdown::Both);
        sending.join().unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.split_whitespace().nth(1).unwrap_or_default().to_owned();
        (status, answer)
    };
    let (status, answer) = upload("");
    assert_eq!(status, "401", "{answer}");
    assert!(answer.contains("\"unauthorized\""), "{answer}");
    let (status, answer) = upload(&format!("Authorization: Bearer {}\r\n", server.admin_token()));
    assert_eq!(status, "413", "{answer}");
    assert!(answer.contains("\"body_too_large\""), "{answer}");
}
