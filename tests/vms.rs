//! Virtual machines through the API on an emulated node in its own `sim` process: created as domains on the
//! node, refused with the field at fault (or for lack of memory), paused and resumed, stopped, updated while
//! halted, started again, shut down and deleted — with 0-orchestrator's status codes.

mod common;

use common::{admin_call as call, get_json, registered_sim_node, server_with_sim_node};
use reqwest::Method;
use serde_json::{Value, json};

#[test]
fn vms_are_created_paused_stopped_updated_started_and_deleted_on_the_node() {
    let (sim, server) = server_with_sim_node(35);
    let node = sim.id.as_str();
    let vms = format!("/nodes/{node}/vms");
    let vm = |rest: &str| format!("{vms}/vm1{rest}");
    let post = |path: &str, body: Value| call(&server, Method::POST, path, Some(body));
    let body = |id: &str, memory: u64| {
        json!({"id": id, "memory": memory, "cpu": 2, "nics": [{"type": "default"}],
               "disks": [{"vdiskid": "boot1", "maxIOps": 1000}]})
    };

    let (status, error) = post(&vms, json!({"id": "vm1", "memory": 2048, "cpu": 0}));
    assert_eq!((status, error["field"].as_str()), (400, Some("cpu")));
    let (status, error) = post(
        &vms,
        json!({"id": "vm1", "memory": 2048, "cpu": 1, "nics": [{"type": "bridge"}]}),
    );
    assert_eq!((status, error["field"].as_str()), (400, Some("nics[0].id")));
    let (status, created) = post(&vms, body("vm1", 2048));
    assert_eq!(
        (status, created["status"].as_str()),
        (201, Some("running")),
        "{created}"
    );
    assert!(created["vnc"].as_i64().unwrap() >= 5900);
    let (status, error) = post(&vms, body("huge", 1 << 20));
    assert_eq!(
        (status, error["code"].as_str(), error["field"].as_str()),
        (409, Some("not_enough_memory"), Some("memory")),
        "{error}"
    );
    let (status, error) = post(&vms, body("vm1", 1024));
    assert_eq!(
        (status, error["code"].as_str(), error["field"].as_str()),
        (409, Some("already_exists"), Some("id"))
    );
    assert_eq!(
        get_json(&server, &vms).as_array().unwrap().len(),
        1,
        "the refused VMs left nothing"
    );
    assert_eq!(get_json(&server, &vm("/info"))["cpu"].as_array().unwrap().len(), 2);

    assert_eq!(post(&vm("/pause"), json!({})).0, 204);
    assert_eq!(get_json(&server, &vm(""))["status"], "paused");
    assert_eq!(post(&vm("/resume"), json!({})).0, 204);
    assert_eq!(get_json(&server, &vm(""))["status"], "running");
    let update = json!({"memory": 4096, "cpu": 4});
    let (status, error) = call(&server, Method::PUT, &vm(""), Some(update.clone()));
    assert_eq!((status, error["code"].as_str()), (409, Some("vm_not_halted")));

    assert_eq!(post(&vm("/stop"), json!({})).0, 204);
    let halted = get_json(&server, &vm(""));
    assert_eq!(
        (halted["status"].as_str(), halted["vnc"].as_i64()),
        (Some("halted"), Some(-1))
    );
    assert_eq!(call(&server, Method::GET, &vm("/info"), None).0, 409);
    assert_eq!(post(&vm("/pause"), json!({})).0, 409);
    assert_eq!(call(&server, Method::PUT, &vm(""), Some(update)).0, 204);
    assert_eq!(post(&vm("/start"), json!({})).0, 204);
    let started = get_json(&server, &vm(""));
    assert_eq!(
        (started["status"].as_str(), started["memory"].as_u64()),
        (Some("running"), Some(4096))
    );
    assert_eq!(
        get_json(&server, &vm("/info"))["cpu"].as_array().unwrap().len(),
        4,
        "the update applied"
    );
    assert_eq!(post(&vm("/shutdown"), json!({})).0, 204);
    assert_eq!(get_json(&server, &vm(""))["status"], "halted");
    assert_eq!(post(&vm("/teleport"), json!({})).0, 404);
    assert_eq!(call(&server, Method::DELETE, &vm(""), None).0, 204);
    assert_eq!(call(&server, Method::GET, &vm(""), None).0, 404);

    // Migration to another node: the VM runs there, and its old node has let go of it.
    let (_other_sim, other, _) = registered_sim_node(&server, 36);
    let other = other.as_str();
    assert_eq!(post(&vms, body("mover", 1024)).0, 201);
    let migrate = format!("{vms}/mover/migrate");
    let (status, error) = post(&migrate, json!({"nodeid": node}));
    assert_eq!((status, error["field"].as_str()), (400, Some("nodeid")));
    let (status, error) = post(&migrate, json!({"nodeid": "nowhere"}));
    assert_eq!((status, error["code"].as_str()), (400, Some("unknown_node")));
    assert_eq!(post(&migrate, json!({"nodeid": other})).0, 204);
    assert_eq!(call(&server, Method::GET, &format!("{vms}/mover"), None).0, 404);
    assert_eq!(get_json(&server, &vms), json!([]), "the old node has no record of it");
    let moved = get_json(&server, &format!("/nodes/{other}/vms/mover"));
    assert_eq!(
        (moved["status"].as_str(), moved["node"].as_str()),
        (Some("running"), Some(other)),
        "{moved}"
    );
    assert!(moved["vnc"].as_i64().unwrap() >= 5900);
    assert_eq!(
        post(&vms, body("mover", 1024)).0,
        201,
        "the old node's domain is gone: the id is free there again"
    );
    let (status, error) = post(&migrate, json!({"nodeid": other}));
    assert_eq!(
        (status, error["code"].as_str()),
        (409, Some("already_exists")),
        "{error}"
    );
}
