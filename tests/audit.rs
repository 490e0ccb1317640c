//! The audit log over real HTTP: every POST, PUT, PATCH and DELETE is recorded with who (token name and role, or
//! `anonymous`), what, when, from where and the status, refused ones too; token changes always, including the
//! bootstrap token and `token create`; never a secret; `GET /audit` is admin-only, newest first, paged and
//! filtered; the log survives a restart.

mod common;

use std::process::Command;

use common::{BIN, Server, admin_call, call_as, client, create_token, temp_data_dir};
use reqwest::Method;
use serde_json::{Value, json};

/// `GET /audit?<query>` with `token`: the status, the records and the `Link` header.
fn audit(server: &Server, token: &str, query: &str) -> (u16, Vec<Value>, Option<String>) {
    let response = server.get_as(token, &format!("/audit?{query}"));
    let status = response.status().as_u16();
    let link = response
        .headers()
        .get("link")
        .map(|link| link.to_str().unwrap().to_owned());
    let records = response.json::<Value>().unwrap();
    (status, records.as_array().cloned().unwrap_or_default(), link)
}

/// The one record that has every field of `wanted`.
fn find<'a>(records: &'a [Value], wanted: &Value) -> &'a Value {
    let fits = |record: &Value| {
        wanted
            .as_object()
            .unwrap()
            .iter()
            .all(|(key, value)| &record[key] == value)
    };
    let found: Vec<&Value> = records.iter().filter(|record| fits(record)).collect();
    assert_eq!(found.len(), 1, "one record with {wanted} in {records:#?}");
    found[0]
}

#[test]
fn every_change_and_every_refusal_is_recorded_with_who_what_when_and_from_where() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let admin = server.admin_token();
    let operator = create_token(&server, "operator", "ops");
    let viewer = create_token(&server, "viewer", "watcher");
    let body = json!({"id": "n1", "address": "127.0.0.2"});
    let patch = json!({"labels": {"rack": "r1"}});
    for (token, method, path, body, status) in [
        (None, Method::POST, "/nodes", Some(&body), 401),
        (Some(&viewer), Method::POST, "/nodes", Some(&body), 403),
        (Some(&operator), Method::POST, "/nodes", Some(&body), 201),
        (Some(&operator), Method::PATCH, "/nodes/n1", Some(&patch), 200),
        (Some(&operator), Method::DELETE, "/no/such/thing", None, 404),
        (Some(&operator), Method::GET, "/nodes", None, 200),
    ] {
        let said = call_as(&server, token.map(String::as_str), method.clone(), path, body.cloned());
        assert_eq!(said.0, status, "{method} {path}: {said:?}");
    }

    let (status, records, _) = audit(&server, &admin, "");
    assert_eq!(status, 200);
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "newest first: {ids:?}");
    assert!(records.iter().all(|r| r["method"] != "GET"), "reads are not recorded");

    let anonymous = find(
        &records,
        &json!({"actor": "anonymous", "method": "POST", "status": 401}),
    );
    assert_eq!(anonymous["route"], "/nodes");
    assert!(
        anonymous.get("role").is_none() && anonymous.get("tokenId").is_none(),
        "{anonymous}"
    );
    let forbidden = find(&records, &json!({"actor": "watcher", "status": 403}));
    assert_eq!(forbidden["role"], "viewer");
    let created = find(&records, &json!({"actor": "ops", "method": "POST", "status": 201}));
    assert_eq!(
        (&created["role"], &created["path"], &created["location"]),
        (&json!("operator"), &json!("/nodes"), &json!("/nodes/n1"))
    );
    assert!(
        created["tokenId"].as_str().is_some_and(|id| operator.contains(id)),
        "{created}"
    );
    assert!(
        created["client"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{created}"
    );
    let at = humantime::parse_rfc3339(created["at"].as_str().unwrap()).unwrap();
    assert!(at.elapsed().unwrap().as_secs() < 60, "{created}");
    let patched = find(&records, &json!({"method": "PATCH"}));
    assert_eq!(
        (&patched["route"], &patched["path"], &patched["status"]),
        (&json!("/nodes/{id}"), &json!("/nodes/n1"), &json!(200))
    );
    let unmatched = find(&records, &json!({"method": "DELETE", "status": 404}));
    assert_eq!(
        (&unmatched["route"], &unmatched["path"]),
        (&json!("unmatched"), &json!("/no/such/thing"))
    );

    // Filters, each alone and together; paging through the Link header keeps them.
    let (_, by_ops, _) = audit(&server, &admin, "actor=ops");
    assert_eq!(by_ops.len(), 3, "{by_ops:#?}");
    let (_, refused, _) = audit(&server, &admin, "outcome=4xx");
    assert!(!refused.is_empty() && refused.iter().all(|r| r["status"].as_u64().unwrap() >= 400));
    let (_, exact, _) = audit(&server, &admin, "outcome=403&method=post&path=/nod");
    assert_eq!(exact.len(), 1);
    let (_, future, _) = audit(&server, &admin, "since=2999-01-01T00:00:00Z");
    assert!(future.is_empty());
    let (_, past, _) = audit(&server, &admin, "until=2000-01-01T00:00:00Z");
    assert!(past.is_empty());
    let (_, all_ops, _) = audit(&server, &admin, "since=2000-01-01T00:00:00Z&actor=ops");
    assert_eq!(all_ops, by_ops);
    let mut paged = Vec::new();
    let mut query = "actor=ops&limit=2".to_owned();
    loop {
        let (status, page, link) = audit(&server, &admin, &query);
        assert_eq!(status, 200);
        assert!(page.len() <= 2);
        paged.extend(page);
        let Some(link) = link else { break };
        query = link.split_once('?').unwrap().1.split('>').next().unwrap().to_owned();
        assert!(query.contains("actor=ops"), "{query}");
    }
    assert_eq!(paged, by_ops);

    for bad in ["limit=0", "outcome=6xx", "since=yesterday", "actr=ops"] {
        let (status, _, _) = audit(&server, &admin, bad);
        assert_eq!(status, 400, "{bad}");
    }
    let (status, _, _) = audit(&server, &operator, "");
    assert_eq!(status, 403, "an operator may not read the log");
    let no_token = client().get(server.url("/audit")).send().unwrap();
    assert_eq!(no_token.status(), 401);
}

#[test]
fn token_changes_are_always_recorded_and_secrets_never_are() {
    let dir = temp_data_dir();
    let data = dir.path().join("data");

    // Made with the server stopped: the command line records it too.
    let output = Command::new(BIN)
        .args(["token", "create", "--role", "operator", "--name", "offline"])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let offline_secret = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let mut server = Server::start(&data);
    let admin = server.admin_token();
    let (status, created) = admin_call(
        &server,
        Method::POST,
        "/tokens",
        Some(json!({"name": "ci", "role": "admin"})),
    );
    assert_eq!(status, 201);
    let ci_secret = created["token"].as_str().unwrap().to_owned();
    let ci_id = created["id"].as_str().unwrap().to_owned();
    let bad_name = json!({"name": "bad name", "role": "viewer"});
    let sneaky = json!({"name": "sneaky", "role": "admin"});
    for (token, method, path, body, status) in [
        (&admin, Method::POST, "/tokens".to_owned(), Some(bad_name), 400),
        (&offline_secret, Method::POST, "/tokens".to_owned(), Some(sneaky), 403),
        // A token revoking itself is still recorded as its own doing.
        (&ci_secret, Method::DELETE, format!("/tokens/{ci_id}"), None, 204),
    ] {
        let said = call_as(&server, Some(token), method.clone(), &path, body);
        assert_eq!(said.0, status, "{method} {path}: {said:?}");
    }

    let check = |server: &Server| {
        let (_, records, _) = audit(server, &admin, "path=/tokens");
        let offline = find(&records, &json!({"actor": "cli", "client": "local"}));
        assert_eq!(offline["note"], "token 'offline' (operator)");
        let bootstrap = find(&records, &json!({"actor": "system"}));
        assert_eq!(bootstrap["note"], "token 'bootstrap-admin' (admin)");
        let created = find(&records, &json!({"actor": "bootstrap-admin", "status": 201}));
        assert_eq!(
            (&created["note"], &created["location"]),
            (&json!("token 'ci' (admin)"), &json!(format!("/tokens/{ci_id}")))
        );
        find(&records, &json!({"actor": "bootstrap-admin", "status": 400}));
        let sneaky = find(&records, &json!({"actor": "offline", "status": 403}));
        assert_eq!(sneaky["role"], "operator");
        let revoked = find(&records, &json!({"method": "DELETE", "status": 204}));
        assert_eq!(
            (&revoked["actor"], &revoked["note"]),
            (&json!("ci"), &json!("token 'ci' (admin)"))
        );
        records
    };
    let before = check(&server);
    let text = serde_json::to_string(&before).unwrap();
    for secret in [&admin, &offline_secret, &ci_secret] {
        let (_, tail) = secret.rsplit_once('_').unwrap();
        assert!(!text.contains(tail), "a secret in the audit log");
    }

    // Durable: the same records after a restart.
    server.terminate(std::time::Duration::from_secs(10));
    let server = Server::start(&data);
    assert_eq!(check(&server), before);
}

/// A client that goes away while its change is under way still leaves a record: the change may be made all the
/// same (here the job goes on), so the request is recorded with 499 as its outcome when it ended without an answer.
#[test]
fn a_request_whose_client_goes_away_is_still_recorded() {
    use std::io::Write;
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--apply-wait", "10"]);
    // No 0-core answers at the node's address: the pool's job waits, and so does the request.
    common::register_node(&server, "n1", json!({}));
    let body = json!({"name": "p1", "dataProfile": "single", "metadataProfile": "single", "devices": ["/dev/sdb"]});
    let body = body.to_string();
    let address = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /nodes/n1/storagepools HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.admin_token(),
        body.len()
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(stream);
    let mut status = None;
    common::wait_until(
        std::time::Duration::from_secs(5),
        "a record of the abandoned request",
        || {
            let (_, records, _) = audit(&server, &server.admin_token(), "path=/nodes/n1/storagepools");
            status = records.first().map(|record| record["status"].clone());
            status.is_some()
        },
    );
    assert_eq!(
        status,
        Some(json!(499)),
        "recorded before the 10 s wait ended, as unanswered"
    );
}
