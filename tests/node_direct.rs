//! Direct node access through the API (ping, hardware, jobs, processes, reboot) against emulated nodes run by
//! the real binary's `sim` command over loopback, and the errors when a node is gone.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Killed, Server, client, create_token, start_sims, temp_data_dir};
use reqwest::Method;
use serde_json::{Value, json};

/// `nodes` emulated nodes in one `sim` process (killed when dropped).
struct Sim {
    _process: Killed,
    nodes: Vec<Value>,
}

fn start_sim(nodes: usize) -> Sim {
    let count = nodes.to_string();
    let (process, nodes) = start_sims(&["--nodes", &count, "--listen", "127.0.0.1:0", "--seed", "42"], nodes);
    Sim {
        _process: process,
        nodes,
    }
}

fn call(server: &Server, token: &str, method: Method, path: &str) -> reqwest::blocking::Response {
    client()
        .request(method, server.url(path))
        .bearer_auth(token)
        .send()
        .unwrap()
}

#[test]
fn the_api_reaches_emulated_nodes_over_the_0_core_protocol() {
    let sim = start_sim(2);
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let admin = server.admin_token();
    for node in &sim.nodes {
        assert_eq!(node["emulated"], true);
        let response = server.send_json_as(
            &admin,
            Method::POST,
            "/nodes",
            &json!({"id": node["id"], "address": node["address"]}),
        );
        assert_eq!(response.status(), 201);
    }
    let id = sim.nodes[0]["id"].as_str().unwrap().to_owned();
    let id = id.as_str();
    let path = |rest: &str| format!("/nodes/{id}/{rest}");

    let ping = call(&server, &admin, Method::POST, &path("ping"));
    assert_eq!(ping.status(), 200);
    assert_eq!(ping.json::<Value>().unwrap(), json!(true));
    let viewer = create_token(&server, "viewer", "ro");
    assert_eq!(call(&server, &viewer, Method::POST, &path("ping")).status(), 403);

    let cpus: Value = call(&server, &viewer, Method::GET, &path("cpus")).json().unwrap();
    assert!(
        cpus.as_array().unwrap().len() >= 8 && cpus[0]["modelName"].is_string(),
        "{cpus}"
    );
    let mem: Value = call(&server, &viewer, Method::GET, &path("mem")).json().unwrap();
    assert!(mem["total"].as_u64().unwrap() >= 32 << 30);
    let disks: Value = call(&server, &viewer, Method::GET, &path("disks")).json().unwrap();
    assert!(!disks.as_array().unwrap().is_empty());
    assert!(disks[0]["device"].as_str().unwrap().starts_with("/dev/"), "{disks}");
    let nics: Value = call(&server, &viewer, Method::GET, &path("nics")).json().unwrap();
    let mac: String = id
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    assert!(
        nics.as_array()
            .unwrap()
            .iter()
            .any(|nic| nic["hardwareaddr"] == mac.as_str()),
        "node id = MAC: {nics}"
    );
    let info: Value = call(&server, &viewer, Method::GET, &path("info")).json().unwrap();
    assert_eq!(info["hostid"], id);
    assert_eq!(call(&server, &viewer, Method::GET, &path("bogus")).status(), 404);
    let stats: Value = call(&server, &viewer, Method::GET, &path("stats")).json().unwrap();
    let cpu = &stats["machine.CPU.percent/0"]["current"]["300"];
    assert!(
        cpu["avg"].as_f64().is_some_and(|avg| (0.0..=100.0).contains(&avg)),
        "{stats}"
    );
    assert!(stats["machine.memory.ram.available"]["current"]["3600"]["avg"].is_number());

    let jobs: Vec<Value> = call(&server, &viewer, Method::GET, &path("jobs")).json().unwrap();
    assert!(
        jobs.iter()
            .any(|job| job["id"] == "zerotier" && job["startTime"].as_u64().unwrap() > 0),
        "{jobs:?}"
    );
    assert_eq!(
        call(&server, &admin, Method::DELETE, &path("jobs/zerotier")).status(),
        204
    );
    let again = call(&server, &admin, Method::DELETE, &path("jobs/zerotier"));
    assert_eq!(again.status(), 404);
    let processes: Vec<Value> = call(&server, &viewer, Method::GET, &path("processes")).json().unwrap();
    assert!(processes.iter().any(|p| p["pid"] == 117));
    assert_eq!(
        call(&server, &admin, Method::DELETE, &path("processes/117")).status(),
        204
    );
    let core0 = call(&server, &admin, Method::DELETE, &path("processes/1"));
    assert_eq!(core0.status(), 502);
    assert_eq!(core0.json::<Value>().unwrap()["code"], "node_command_failed");
    assert_eq!(call(&server, &admin, Method::POST, &path("reboot")).status(), 204);
    let after: Vec<Value> = call(&server, &viewer, Method::GET, &path("jobs")).json().unwrap();
    assert!(
        after.iter().any(|job| job["id"] == "zerotier"),
        "services are back after the reboot"
    );
    let redis: Value = call(&server, &viewer, Method::GET, &path("jobs/redis")).json().unwrap();
    assert_eq!(redis["state"], "running", "{redis}");
    assert_eq!(call(&server, &viewer, Method::GET, &path("jobs/nope")).status(), 404);
    let process: Value = call(&server, &viewer, Method::GET, &path("processes/1"))
        .json()
        .unwrap();
    assert_eq!(process["cmdline"], "/sbin/core0");
    assert_eq!(
        call(&server, &viewer, Method::GET, &path("processes/4242")).status(),
        404
    );
    assert_eq!(call(&server, &admin, Method::DELETE, &path("jobs")).status(), 204);
    let none: Vec<Value> = call(&server, &viewer, Method::GET, &path("jobs")).json().unwrap();
    assert!(none.is_empty(), "{none:?}");

    assert_eq!(call(&server, &admin, Method::POST, "/nodes/unknown/ping").status(), 404);
    // The other node is unaffected by all of the above, then both go away.
    let other = sim.nodes[1]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&server, &admin, Method::POST, &format!("/nodes/{other}/ping")).status(),
        200
    );
    drop(sim);
    let started = Instant::now();
    let gone = call(&server, &admin, Method::POST, &path("ping"));
    assert_eq!(gone.status(), 502);
    assert_eq!(gone.json::<Value>().unwrap()["code"], "node_unreachable");
    assert!(
        started.elapsed() < Duration::from_secs(11),
        "answered within the node deadline"
    );
}

/// `sim` asked for more nodes than its open-files limit holds (two files a node) says so and exits 2 before it
/// starts any, instead of failing halfway through.
#[test]
fn sim_refuses_more_nodes_than_its_open_files_limit_holds() {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(BIN);
    command.args(["sim", "--nodes", "500", "--listen", "127.0.0.1:0"]);
    // SAFETY: setrlimit is async-signal-safe, and lowering a limit is always allowed.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--nodes 500 needs about 1064 open files") && stderr.contains("may open 256"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no node started");
}
