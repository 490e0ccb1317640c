//! Three orchestrators on a three-member etcd run one engine between them: exactly one leads (says `/health`
//! on each, and only its heartbeat observes nodes); when the leader is killed with SIGKILL during a container
//! creation, another leads within the lease and finishes the job, creating the container once; a leader
//! stopped with SIGTERM hands over at once.

mod common;

use std::time::{Duration, Instant};

use common::etcd::EtcdCluster;
use common::node::containers_on_node;
use common::{Server, client, registered_sim_node, temp_data_dir, wait_until};
use serde_json::{Value, json};

/// The `--leader-lease` these instances run with (the default).
const LEASE: Duration = Duration::from_secs(3);

fn instance(dir: &std::path::Path, cluster: &EtcdCluster) -> Server {
    Server::start_on(
        dir,
        Some(cluster),
        &["--heartbeat-interval", "1", "--apply-wait", "0", "--leader-lease", "3"],
    )
}

/// `/health`'s `engine` object of `server`.
fn engine(server: &Server) -> Value {
    let health: Value = client().get(server.url("/health")).send().unwrap().json().unwrap();
    health["engine"].clone()
}

/// The instances that say they lead.
fn leading<'a>(servers: &[&'a Server]) -> Vec<&'a Server> {
    servers
        .iter()
        .copied()
        .filter(|server| engine(server)["leading"] == true)
        .collect()
}

/// The lines of `server`'s `/metrics` that start with `name`.
fn metric_lines(server: &Server, name: &str) -> Vec<String> {
    let text = client().get(server.url("/metrics")).send().unwrap().text().unwrap();
    text.lines()
        .filter(|line| line.starts_with(name))
        .map(str::to_owned)
        .collect()
}

fn get(server: &Server, token: &str, path: &str) -> Value {
    server.get_json_as(token, path)
}

/// Polls `/health` of `servers` until one leads: that one, and how long it took.
fn next_leader<'a>(servers: &[&'a Server], within: Duration) -> (&'a Server, Duration) {
    let started = Instant::now();
    while started.elapsed() < within {
        if let [leader] = leading(servers)[..] {
            return (leader, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no instance took the lead within {within:?}");
}

#[test]
fn one_instance_leads_and_a_killed_leader_is_replaced_within_the_lease_without_running_its_job_twice() {
    let cluster = EtcdCluster::start(3);
    let dirs = [temp_data_dir(), temp_data_dir(), temp_data_dir()];
    let mut servers: Vec<Server> = dirs.iter().map(|dir| instance(dir.path(), &cluster)).collect();
    let token = servers[0].admin_token();
    let all: Vec<&Server> = servers.iter().collect();

    // Exactly one leads, and every instance names it.
    wait_until(Duration::from_secs(10), "exactly one instance leads", || {
        leading(&all).len() == 1
    });
    let views: Vec<Value> = all.iter().map(|server| engine(server)).collect();
    let leader_id = views.iter().find(|view| view["leading"] == true).unwrap()["self"].clone();
    for view in &views {
        assert_eq!(view["leader"], leader_id, "every instance names the leader: {views:?}");
        assert!(view["since"].as_u64().is_some(), "{view}");
    }
    let mut ids: Vec<&str> = views.iter().map(|view| view["self"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct instance ids: {views:?}");
    let leader_index = views.iter().position(|view| view["leading"] == true).unwrap();

    // Only the leader's engine runs: only its heartbeat observes the node.
    let (_sim, node, address) = registered_sim_node(&servers[0], 71);
    wait_until(Duration::from_secs(10), "the leader's heartbeat sees the node", || {
        metric_lines(&servers[leader_index], "zos_nodes{state=\"online\"}") == ["zos_nodes{state=\"online\"} 1"]
    });
    for (index, server) in servers.iter().enumerate() {
        let flag = if index == leader_index { 1 } else { 0 };
        let id = views[index]["self"].as_str().unwrap();
        assert_eq!(
            metric_lines(server, "zos_engine_leader{"),
            [format!("zos_engine_leader{{instance=\"{id}\"}} {flag}")]
        );
        if index != leader_index {
            assert!(
                metric_lines(server, "zos_nodes{").is_empty(),
                "a follower's heartbeat does not run"
            );
        }
    }

    // A creation asked of a follower; the leader runs it; the leader dies while the node is creating it.
    let follower = (leader_index + 1) % 3;
    let created = client()
        .post(servers[follower].url(&format!("/nodes/{node}/containers")))
        .bearer_auth(&token)
        .json(&json!({"name": "db", "flist": "https://hub.grid.tf/tf-official-apps/redis.flist"}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 202);
    let job = created.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    wait_until(
        Duration::from_secs(10),
        "the node starts creating the container",
        || !containers_on_node(&address).is_empty(),
    );
    servers[leader_index].kill9();
    let killed = Instant::now();
    let survivors: Vec<&Server> = servers
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != leader_index)
        .map(|(_, server)| server)
        .collect();
    let (new_leader, _) = next_leader(&survivors, Duration::from_secs(10));
    let failover = killed.elapsed();
    eprintln!("leader failover after SIGKILL: {failover:?} (lease {LEASE:?})");
    // The lease runs out at most LEASE after the leader's last renewal; etcd checks expiries every 500 ms and
    // the followers look every 250 ms.
    assert!(
        failover < LEASE + Duration::from_millis(1500),
        "failover took {failover:?}"
    );
    assert_eq!(leading(&survivors).len(), 1, "one leader among the survivors");

    wait_until(Duration::from_secs(20), "the new leader finishes the job", || {
        get(new_leader, &token, &format!("/jobs/{job}"))["state"] == "succeeded"
    });
    assert_eq!(containers_on_node(&address).len(), 1, "created exactly once");
    assert_eq!(
        get(new_leader, &token, &format!("/nodes/{node}/containers/db"))["status"],
        "running"
    );
    let new_index = servers
        .iter()
        .position(|server| server.base == new_leader.base)
        .unwrap();
    assert!(
        servers[new_index]
            .logs()
            .iter()
            .any(|line| line.contains("resuming job")),
        "the new leader resumed the job"
    );

    // Maintenance: a leader stopped with SIGTERM gives the lease back, and the last instance leads at once.
    // (Had it not, the lease, renewed within the last second, would hold the others off for two more.)
    let last = 3 - leader_index - new_index;
    let stopped = Instant::now();
    assert!(servers[new_index].terminate(Duration::from_secs(15)).success());
    next_leader(&[&servers[last]], Duration::from_secs(10));
    let handover = stopped.elapsed();
    eprintln!("leader handover after SIGTERM: {handover:?}");
    assert!(handover < Duration::from_secs(2), "handover took {handover:?}");
}
