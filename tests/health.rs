//! Node health (`/health/nodes`, `/health/nodes/{id}`) against emulated nodes (`sim`): the reference's
//! `HealthCheck` shape, each check judged against the configured thresholds (the same node is healthy under the
//! defaults and fails where thresholds are set below what it reports), an unreachable node an error with its
//! other checks skipped, and thresholds that cannot work refused at start.

mod common;

use std::time::Duration;

use common::{Server, admin_call, registered_sim_node, serve_until_exit, start_sim_node, temp_data_dir, wait_until};
use reqwest::Method;
use serde_json::{Value, json};

/// The node's checks once all eight have been judged (not SKIPPED for lack of a first reading).
fn checks(server: &Server, id: &str) -> Vec<Value> {
    let (status, checks) = admin_call(server, Method::GET, &format!("/health/nodes/{id}"), None);
    assert_eq!(status, 200, "{checks}");
    checks.as_array().unwrap().clone()
}

fn status_of<'a>(checks: &'a [Value], id: &str) -> &'a str {
    checks
        .iter()
        .find(|c| c["id"] == id)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("missing")
}

fn overall(server: &Server, id: &str) -> String {
    let (_, list) = admin_call(server, Method::GET, "/health/nodes", None);
    let node = list.as_array().unwrap().iter().find(|n| n["id"] == id).cloned();
    node.map_or("missing".into(), |n| n["status"].as_str().unwrap().to_owned())
}

/// Every check has the reference's fields and types.
fn assert_reference_shape(checks: &[Value], id: &str, interval: f64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for check in checks {
        for field in ["id", "name", "resource", "category", "status", "stacktrace"] {
            assert!(check[field].is_string(), "{field} of {check}");
        }
        assert_eq!(check["resource"], format!("/nodes/{id}"));
        assert_eq!(check["interval"].as_f64(), Some(interval), "{check}");
        let lasttime = check["lasttime"].as_f64().unwrap();
        assert!(
            (now - lasttime).abs() < 120.0,
            "lasttime {lasttime} is not recent: {check}"
        );
        let messages = check["messages"].as_array().unwrap();
        assert!(!messages.is_empty(), "{check}");
        for message in messages {
            assert!(message["id"].is_string() && message["text"].is_string(), "{message}");
            assert!(["OK", "WARNING", "ERROR", "SKIPPED"].contains(&message["status"].as_str().unwrap()));
        }
    }
}

#[test]
fn checks_follow_the_thresholds_and_an_unreachable_node_is_an_error() {
    let (_sim, line) = start_sim_node(7);
    let (id, address) = (line["id"].as_str().unwrap(), line["address"].as_str().unwrap());

    // The emulated node uses 20-50 % of its memory and 5-45 % CPU: healthy under the defaults…
    let dir = temp_data_dir();
    let healthy = Server::start_with(dir.path(), &["--heartbeat-interval", "1", "--health-interval", "2"]);
    let body = json!({"id": id, "address": address});
    assert_eq!(admin_call(&healthy, Method::POST, "/nodes", Some(body.clone())).0, 201);
    wait_until(Duration::from_secs(15), "every check judged OK", || {
        let checks = checks(&healthy, id);
        checks.len() == 8 && checks.iter().all(|c| c["status"] == "OK")
    });
    let judged = checks(&healthy, id);
    assert_reference_shape(&judged, id, 2.0);
    let ids: Vec<&str> = judged.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "reachability",
            "memory",
            "cpu",
            "disk-usage",
            "time-drift",
            "context-switch",
            "interrupts",
            "threads"
        ]
    );
    assert_eq!(overall(&healthy, id), "OK");

    // …and past thresholds set below what it reports.
    let low_dir = temp_data_dir();
    let strict = Server::start_with(
        low_dir.path(),
        &[
            "--heartbeat-interval",
            "1",
            "--health-memory",
            "1,99",
            "--health-cpu",
            "1,2",
            "--health-time-drift",
            "0,3600",
            "--health-context-switch",
            "1,2",
            "--health-threads",
            "1,100000",
        ],
    );
    assert_eq!(admin_call(&strict, Method::POST, "/nodes", Some(body)).0, 201);
    wait_until(Duration::from_secs(15), "memory WARNING and cpu ERROR", || {
        let checks = checks(&strict, id);
        status_of(&checks, "memory") == "WARNING" && status_of(&checks, "cpu") == "ERROR"
    });
    let judged = checks(&strict, id);
    eprintln!("{}", serde_json::to_string_pretty(&judged).unwrap());
    // Read every --health-interval (30 s by default), not every heartbeat.
    assert_reference_shape(&judged, id, 30.0);
    assert_eq!(status_of(&judged, "reachability"), "OK");
    assert_eq!(status_of(&judged, "time-drift"), "WARNING");
    assert_eq!(status_of(&judged, "disk-usage"), "OK", "no pools to fill");
    // The node's own monitors, judged the same way.
    assert_eq!(status_of(&judged, "context-switch"), "ERROR");
    assert_eq!(status_of(&judged, "threads"), "WARNING");
    assert_eq!(status_of(&judged, "interrupts"), "OK");
    let threads = judged.iter().find(|c| c["id"] == "threads").unwrap();
    assert!(
        threads["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("threads per hyperthread"),
        "{threads}"
    );
    let memory = judged.iter().find(|c| c["id"] == "memory").unwrap();
    assert!(
        memory["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("% of memory in use")
    );
    assert_eq!(overall(&strict, id), "ERROR");

    // A node that does not answer: reachability ERROR, the rest SKIPPED.
    let gone = json!({"id": "gone", "address": "127.0.0.1:1"});
    assert_eq!(admin_call(&healthy, Method::POST, "/nodes", Some(gone)).0, 201);
    wait_until(Duration::from_secs(15), "the unreachable node judged", || {
        checks(&healthy, "gone").len() == 8
    });
    let judged = checks(&healthy, "gone");
    assert_eq!(status_of(&judged, "reachability"), "ERROR");
    assert!(judged[1..].iter().all(|c| c["status"] == "SKIPPED"), "{judged:?}");
    assert_eq!(overall(&healthy, "gone"), "ERROR");
    assert_eq!(overall(&healthy, id), "OK", "one node's trouble is its own");

    let (status, error) = admin_call(&healthy, Method::GET, "/health/nodes/nope", None);
    assert_eq!((status, error["code"].as_str()), (404, Some("not_found")));
}

#[test]
fn a_node_checked_before_its_first_heartbeat_is_skipped() {
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--heartbeat-interval", "3600"]);
    let (_sim, id, _) = registered_sim_node(&server, 3);
    assert_eq!(overall(&server, &id), "SKIPPED");
    assert!(checks(&server, &id).is_empty());
}

#[test]
fn thresholds_that_cannot_work_are_refused_naming_the_setting() {
    let dir = temp_data_dir();
    for (args, setting) in [
        (vec!["--health-memory", "95,90"], "--health-memory"),
        (vec!["--health-cpu", "80"], "--health-cpu"),
        (vec!["--health-interrupts", "200,100"], "--health-interrupts"),
        (vec!["--health-disk", "90,101"], "--health-disk"),
    ] {
        let (code, stderr) = serve_until_exit(dir.path(), &args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(setting) && stderr.contains("WARNING,ERROR"), "{stderr}");
    }
    let config = dir.path().join("zos.toml");
    std::fs::write(&config, "health_time_drift = \"30,5\"\n").unwrap();
    let (code, stderr) = serve_until_exit(dir.path(), &["--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("health_time_drift"), "{stderr}");
}
