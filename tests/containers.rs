//! Containers through the API, on an emulated node in its own `sim` process: create (validation, the node's
//! refusals, nothing partial left), jobs inside with live output, start/stop, delete; and a creation cut by
//! SIGKILL that the restarted server finishes without creating the container twice.

mod common;

use std::time::Duration;

use common::node::containers_on_node;
use common::{
    Server, client, get_json, registered_sim_node, server_with_sim_node, start_sim_node_at, strings_of, temp_data_dir,
    wait_until,
};
use reqwest::Method;
use serde_json::{Value, json};

const FLIST: &str = "https://hub.grid.tf/tf-official-apps/ubuntu-18.04.flist";

fn call(server: &Server, method: Method, path: &str, body: Option<Value>) -> reqwest::blocking::Response {
    let request = client()
        .request(method, server.url(path))
        .bearer_auth(server.admin_token());
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .unwrap()
}

/// POSTs `content` as the multipart field `file` (0-orchestrator's upload), built by hand as a browser would.
fn upload(server: &Server, path: &str, content: &[u8]) -> u16 {
    let boundary = "zos-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    server
        .request_as(&server.admin_token(), Method::POST, path)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn containers_are_created_validated_run_jobs_with_live_output_and_are_deleted() {
    let (sim, server) = server_with_sim_node(31);
    let (node, address) = (sim.id.clone(), sim.address.clone());
    let containers = format!("/nodes/{node}/containers");
    let post = |body: Value| call(&server, Method::POST, &containers, Some(body));
    let error = |response: reqwest::blocking::Response| -> (u16, Value) {
        (response.status().as_u16(), response.json().unwrap())
    };

    // Bad input: 400 naming the field, unknown node 404; nothing is created.
    let (status, body) = error(post(json!({"name": "bad name", "flist": FLIST})));
    assert_eq!((status, body["field"].as_str()), (400, Some("name")), "{body}");
    let (status, body) = error(post(json!({"name": "web", "flist": "ubuntu"})));
    assert_eq!((status, body["field"].as_str()), (400, Some("flist")), "{body}");
    let (status, body) = error(post(json!({"name": "web"})));
    assert_eq!((status, body["field"].as_str()), (400, Some("flist")), "{body}");
    let body = json!({"name": "web", "flist": FLIST});
    let unknown_node = call(&server, Method::POST, "/nodes/nope/containers", Some(body));
    assert_eq!(unknown_node.status(), 404);

    // Created and running on the node once the POST answers; the init process runs in it.
    let init = json!({"name": "ping", "args": ["-c", "1000", "-i", "1", "127.0.0.1"]});
    let created = post(
        json!({"name": "web", "hostname": "web", "flist": FLIST, "ports": ["8080:80"],
        "nics": [{"type": "default"}], "initProcesses": [init]}),
    );
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], format!("{containers}/web").as_str());
    let web: Value = created.json().unwrap();
    assert_eq!(
        (web["status"].as_str(), web["state"].as_str()),
        (Some("running"), Some("running")),
        "{web}"
    );
    assert_eq!(
        web["initprocesses"][0]["name"], "ping",
        "0-orchestrator's spelling on GET"
    );
    let on_node = containers_on_node(&address);
    assert_eq!(on_node.len(), 1);
    assert_eq!(
        on_node[&web["coreId"].to_string()]["container"]["arguments"]["name"],
        "web"
    );
    let job: Value = get_json(&server, &format!("/jobs/{}", web["job"].as_str().unwrap()));
    assert_eq!(
        (job["state"].as_str(), job["progress"].as_u64()),
        (Some("succeeded"), Some(100)),
        "{job}"
    );

    // The node's refusals come back as the caller's errors, and leave nothing behind.
    let (status, body) = error(post(json!({"name": "web", "flist": FLIST})));
    assert_eq!((status, body["code"].as_str()), (409, Some("already_exists")), "{body}");
    let missing_flist = "https://hub.grid.tf/nobody/does-not-exist.flist";
    let (status, body) = error(post(json!({"name": "other", "flist": missing_flist})));
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (400, Some("unknown_flist"), Some("flist")),
        "{body}"
    );
    let (status, body) = error(post(json!({"name": "clash", "flist": FLIST, "ports": ["8080:8080"]})));
    assert_eq!((status, body["code"].as_str()), (409, Some("port_in_use")), "{body}");
    let listed = get_json(&server, &containers);
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "failed creations leave nothing: {listed}"
    );
    assert_eq!(containers_on_node(&address).len(), 1);

    // Inside the container: its jobs, a new job followed live, its result, a kill.
    let inside = |rest: &str| format!("{containers}/web/{rest}");
    let jobs = get_json(&server, &inside("jobs"));
    assert_eq!(jobs.as_array().unwrap().len(), 1, "the init process: {jobs}");
    let started = call(
        &server,
        Method::POST,
        &inside("jobs"),
        Some(json!({"name": "seq", "args": ["3"]})),
    );
    assert_eq!(started.status(), 202);
    let job_path = started.headers()["location"].to_str().unwrap().to_owned();
    let events = call(&server, Method::GET, &format!("{job_path}/stream"), None)
        .text()
        .unwrap();
    let outputs: Vec<&str> = events
        .lines()
        .filter(|l| l.starts_with("data:") && l.contains("text"))
        .collect();
    assert_eq!(outputs.len(), 3, "{events}");
    assert!(
        outputs[2].contains(r#""text":"3""#) && events.contains("event:end"),
        "{events}"
    );
    let result = get_json(&server, &job_path);
    assert_eq!(
        (result["state"].as_str(), result["stdout"].as_str()),
        (Some("success"), Some("1\n2\n3\n"))
    );
    let sleeper = call(
        &server,
        Method::POST,
        &inside("jobs"),
        Some(json!({"name": "sleep", "args": ["60"]})),
    );
    let sleeper_path = sleeper.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(get_json(&server, &sleeper_path)["state"], "running");
    assert_eq!(call(&server, Method::DELETE, &sleeper_path, None).status(), 204);
    wait_until(Duration::from_secs(5), "the killed job's result", || {
        get_json(&server, &sleeper_path)["state"] == "killed"
    });
    let bad_process = call(&server, Method::POST, &inside("jobs"), Some(json!({"name": ""})));
    assert_eq!(
        error(bad_process),
        (
            400,
            json!({"code": "invalid_field", "field": "name", "message": "name: must not be empty"})
        )
    );
    assert_eq!(
        call(&server, Method::POST, &inside("ping"), None)
            .json::<Value>()
            .unwrap(),
        json!(true)
    );
    assert!(get_json(&server, &inside("state"))["rss"].as_u64().unwrap() > 0);
    let processes = get_json(&server, &inside("processes"));
    assert!(
        processes
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["cmdline"].as_str().unwrap().starts_with("ping")),
        "{processes}"
    );

    // Files in and out of the container (multipart upload, octet-stream download), and refused paths.
    let content: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(upload(&server, &inside("filesystem?path=/etc/app.conf"), &content), 204);
    let downloaded = call(&server, Method::GET, &inside("filesystem?path=/etc/app.conf"), None);
    assert_eq!(downloaded.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        downloaded.bytes().unwrap().as_ref(),
        content.as_slice(),
        "byte-identical round trip"
    );
    assert_eq!(upload(&server, &inside("filesystem?path=/etc/../root/x"), b"x"), 400);
    let (status, body) = error(call(&server, Method::GET, &inside("filesystem?path=/nope"), None));
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
    let remove = json!({"path": "/etc/app.conf"});
    assert_eq!(
        call(&server, Method::DELETE, &inside("filesystem"), Some(remove.clone())).status(),
        204
    );
    assert_eq!(
        call(&server, Method::DELETE, &inside("filesystem"), Some(remove)).status(),
        404
    );

    // NICs are hot-plugged: the node's container gets exactly the NICs asked for.
    let nics = json!({"nics": [{"type": "zerotier", "id": "8056c2e21c000001"}, {"type": "default"}]});
    assert_eq!(call(&server, Method::PUT, &inside(""), Some(nics)).status(), 204);
    let on_node = containers_on_node(&address);
    let plugged = &on_node.values().next().unwrap()["container"]["arguments"]["nics"];
    assert_eq!(plugged.as_array().unwrap().len(), 2, "{plugged}");
    assert!(
        plugged.as_array().unwrap().iter().any(|nic| nic["type"] == "zerotier"),
        "{plugged}"
    );
    let (status, body) = error(call(
        &server,
        Method::PUT,
        &inside(""),
        Some(json!({"nics": [{"type": "vlan"}]})),
    ));
    assert_eq!((status, body["field"].as_str()), (400, Some("nics[0].id")));
    assert_eq!(
        get_json(&server, &inside(""))["nics"].as_array().unwrap().len(),
        2,
        "a refused update changes nothing"
    );

    // Stop (the node lets go of it), start again, delete.
    assert_eq!(call(&server, Method::POST, &inside("stop"), None).status(), 204);
    assert_eq!(get_json(&server, &inside(""))["status"], "halted");
    assert!(containers_on_node(&address).is_empty());
    let (status, body) = error(call(&server, Method::GET, &inside("jobs"), None));
    assert_eq!((status, body["code"].as_str()), (409, Some("container_not_running")));
    assert_eq!(call(&server, Method::POST, &inside("start"), None).status(), 201);
    assert_eq!(get_json(&server, &inside(""))["status"], "running");
    assert_eq!(containers_on_node(&address).len(), 1);
    assert_eq!(call(&server, Method::DELETE, &inside(""), None).status(), 204);
    assert_eq!(call(&server, Method::GET, &inside(""), None).status(), 404);
    assert!(containers_on_node(&address).is_empty());
    assert_eq!(
        call(&server, Method::DELETE, &inside(""), None).status(),
        204,
        "deletes are idempotent"
    );

    let jobs = get_json(&server, "/jobs");
    let actions = strings_of(&jobs, "action");
    assert_eq!(
        actions[..4],
        ["delete", "start", "stop", "update"],
        "newest first: {jobs}"
    );
}

#[test]
fn a_creation_cut_by_sigkill_is_finished_after_restart_and_the_container_exists_once() {
    let dir = temp_data_dir();
    let mut server = Server::start_with(dir.path(), &["--apply-wait", "0"]);
    let (_sim, node, address) = registered_sim_node(&server, 32);
    let body = json!({"name": "db", "flist": "https://hub.grid.tf/tf-official-apps/redis.flist"});
    let accepted = call(&server, Method::POST, &format!("/nodes/{node}/containers"), Some(body));
    assert_eq!(
        accepted.status(),
        202,
        "with --apply-wait 0 the job is handed back at once"
    );
    let job: Value = accepted.json().unwrap();
    // The node has started creating it (its flist takes a while to mount): kill the orchestrator now.
    wait_until(
        Duration::from_secs(10),
        "the node starts creating the container",
        || !containers_on_node(&address).is_empty(),
    );
    server.kill9();

    let mut server = Server::start(dir.path());
    let job_path = format!("/jobs/{}", job["id"].as_str().unwrap());
    wait_until(Duration::from_secs(20), "the resumed job succeeds", || {
        get_json(&server, &job_path)["state"] == "succeeded"
    });
    assert!(
        server.logs().iter().any(|line| line.contains("resuming job")),
        "the restarted server resumed the unfinished job"
    );
    assert_eq!(containers_on_node(&address).len(), 1, "created exactly once");
    assert_eq!(
        get_json(&server, &format!("/nodes/{node}/containers/db"))["status"],
        "running"
    );
}

#[test]
fn a_creation_on_an_unreachable_node_is_retried_with_backoff_until_the_node_is_back() {
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--apply-wait", "0"]);
    let (sim, node, address) = registered_sim_node(&server, 37);
    drop(sim);
    let body = json!({"name": "late", "flist": "https://hub.grid.tf/tf-official-apps/alpine-3.8.flist"});
    let accepted = call(&server, Method::POST, &format!("/nodes/{node}/containers"), Some(body));
    assert_eq!(accepted.status(), 202);
    let job_path = format!("/jobs/{}", accepted.json::<Value>().unwrap()["id"].as_str().unwrap());
    // One snapshot must show both: a later read may already be inside the next attempt.
    wait_until(
        Duration::from_secs(15),
        "a second try that failed and waits to retry",
        || {
            let job = get_json(&server, &job_path);
            job["attempts"].as_u64().unwrap() >= 2
                && job["state"] == "running"
                && job["step"].as_str().unwrap().starts_with("retrying")
        },
    );
    assert_eq!(
        get_json(&server, &format!("/nodes/{node}/containers/late"))["state"],
        "creating"
    );

    // The node comes back where it was: the job finishes there, once.
    let (_sim, _) = start_sim_node_at(&address, 37);
    wait_until(
        Duration::from_secs(40),
        "the job succeeds once the node is back",
        || get_json(&server, &job_path)["state"] == "succeeded",
    );
    assert_eq!(containers_on_node(&address).len(), 1);
    assert_eq!(
        get_json(&server, &format!("/nodes/{node}/containers/late"))["status"],
        "running"
    );
}
