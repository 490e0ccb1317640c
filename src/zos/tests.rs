//! One client test suite, run against two transports: the emulator, and a real Debian `redis-server` with the
//! emulator's agent logic popping commands and pushing results as 0-core does. If the emulator's Redis ever
//! drifted from real Redis, the two runs would disagree.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use serde_json::Value;

use futures_util::StreamExt;

use super::commands::{Info, SIGKILL, SIGTERM, System};
use super::protocol::{COMMAND_QUEUE, State};
use super::{OutputEvent, ZosClient, ZosError};
use crate::sim::{self, Agent, Inventory, Lists};

const PASSWORD: &str = "s3cret-node-token";
const DEADLINE: Duration = Duration::from_secs(5);

async fn suite(address: &str, inventory: &Inventory) {
    let client = ZosClient::new(address, Some(PASSWORD), DEADLINE).unwrap();
    assert_eq!(client.node().ping().await.unwrap(), "pong");

    let info = |what: Info| {
        let client = &client;
        async move { client.node().info::<Value>(what).await.unwrap() }
    };
    let cpus = info(Info::Cpu).await;
    assert_eq!(cpus.as_array().unwrap().len() as u32, inventory.cores);
    assert_eq!(cpus[0]["modelName"], inventory.cpu_model);
    let memory = info(Info::Mem).await;
    assert_eq!(memory["total"], inventory.memory);
    assert!(memory["used"].as_u64().unwrap() > 0 && memory["used"].as_u64().unwrap() < inventory.memory);
    let disks = info(Info::Disks).await;
    assert_eq!(disks["blockdevices"].as_array().unwrap().len(), inventory.disks.len());
    assert_eq!(disks["blockdevices"][0]["size"], inventory.disks[0].size);
    let nics = info(Info::Nic).await;
    assert!(
        nics.as_array()
            .unwrap()
            .iter()
            .any(|nic| nic["hardwareaddr"] == inventory.mac.as_str())
    );
    let os = info(Info::Os).await;
    assert_eq!(os["hostname"], inventory.hostname.as_str());
    assert_eq!(os["hostid"], inventory.node_id());

    let jobs = client.node().jobs().await.unwrap();
    assert!(jobs.iter().any(|job| job.cmd.id == "zerotier"), "{jobs:?}");
    client.node().kill_job("zerotier", SIGKILL).await.unwrap();
    assert!(
        !client
            .node()
            .jobs()
            .await
            .unwrap()
            .iter()
            .any(|job| job.cmd.id == "zerotier")
    );
    match client.node().kill_job("no-such-job", SIGKILL).await {
        Err(ZosError::Command {
            state: State::Error,
            message,
            ..
        }) => assert!(message.contains("not found"), "{message}"),
        other => panic!("killing a missing job: {other:?}"),
    }
    let pids = || async {
        info(Info::Processes)
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pid"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(pids().await.contains(&1));
    client.node().kill_process(117, SIGTERM).await.unwrap();
    assert!(!pids().await.contains(&117));
    assert!(matches!(
        client.node().kill_process(1, SIGTERM).await,
        Err(ZosError::Command { .. })
    ));

    let unknown = client.run("no.such.command", serde_json::json!({})).await.unwrap();
    assert_eq!(unknown.state, State::UnknownCmd);

    client.reboot().await.unwrap();
    assert!(
        client
            .node()
            .jobs()
            .await
            .unwrap()
            .iter()
            .any(|job| job.cmd.id == "zerotier"),
        "services are back after reboot"
    );

    let client = Arc::new(client);
    streams(&client).await;

    // Concurrent calls each get their own answer.
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    client.node().ping().await.map(drop)
                } else {
                    client.node().info::<Value>(Info::Os).await.map(drop)
                }
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    let wrong = ZosClient::new(address, Some("wrong"), DEADLINE).unwrap();
    assert!(
        matches!(wrong.node().ping().await, Err(ZosError::AuthRefused(_))),
        "wrong password"
    );
    let none = ZosClient::new(address, None, DEADLINE).unwrap();
    assert!(
        matches!(none.node().ping().await, Err(ZosError::AuthRefused(_))),
        "no password"
    );
}

/// Everything a followed job can do: print and end well, end badly, be killed, not exist, be attached to late.
async fn streams(client: &Arc<ZosClient>) {
    let follow = |id: String| {
        let client = client.clone();
        async move {
            let events = client.output(&id).collect::<Vec<_>>();
            tokio::time::timeout(Duration::from_secs(20), events)
                .await
                .expect("a followed job ends")
        }
    };
    let line = |text: &str| {
        Ok(OutputEvent::Line {
            level: 1,
            text: text.into(),
        })
    };
    let system = |name: &'static str, args: &[&str], stream: bool| {
        let client = client.clone();
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        async move {
            let process = System::program(name, &args);
            client.node().system(&process, stream).await.unwrap()
        }
    };

    let seq = system("seq", &["3"], true).await;
    let events = follow(seq.clone()).await;
    assert_eq!(
        events,
        [line("1"), line("2"), line("3"), Ok(OutputEvent::End { success: true })]
    );
    let result = client.read_result(&seq).await.unwrap();
    assert_eq!(
        (result.state, result.streams[0].as_str()),
        (State::Success, "1\n2\n3\n")
    );

    let failing = system("sleep", &["soon"], true).await;
    let events = follow(failing.clone()).await;
    assert_eq!(
        events.last(),
        Some(&Ok(OutputEvent::End { success: false })),
        "{events:?}"
    );
    assert!(matches!(&events[0], Ok(OutputEvent::Line { level: 2, text }) if text.contains("invalid")));
    assert_eq!(
        client.read_result(&failing).await.unwrap().code,
        1001,
        "exit code + 1000"
    );

    let missing = system("no-such-tool", &[], true).await;
    match follow(missing).await.as_slice() {
        [Err(ZosError::Command { message, .. })] => assert!(message.contains("not found"), "{message}"),
        other => panic!("an unknown program: {other:?}"),
    }

    // Attach to a job that is already running: its remaining lines, then its end.
    let args = ["-c", "4", "-i", "0.3", "127.0.0.1"];
    let ping = system("ping", &args, false).await;
    wait_for_job(client, &ping).await;
    let subscription = client.node().subscribe(&ping).await.unwrap();
    let events = follow(subscription).await;
    assert!(events.len() >= 2, "{events:?}");
    assert!(matches!(&events[0], Ok(OutputEvent::Line { text, .. }) if text.contains("icmp_seq")));
    assert_eq!(events.last(), Some(&Ok(OutputEvent::End { success: true })));
    let unknown = client.node().subscribe("no-such-job").await.unwrap();
    assert!(matches!(
        follow(unknown).await.as_slice(),
        [Err(ZosError::Command { .. })]
    ));

    // A killed job ends its stream with an error.
    let sleeper = system("sleep", &["30"], true).await;
    wait_for_job(client, &sleeper).await;
    client.node().kill_job(&sleeper, SIGKILL).await.unwrap();
    assert_eq!(follow(sleeper.clone()).await, [Ok(OutputEvent::End { success: false })]);
    assert_eq!(client.read_result(&sleeper).await.unwrap().state, State::Killed);
}

async fn wait_for_job(client: &ZosClient, id: &str) {
    let started = Instant::now();
    while !client.node().jobs().await.unwrap().iter().any(|job| job.cmd.id == id) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "job {id} never showed in job.list"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_client_suite_passes_against_the_emulator() {
    let node = sim::start("127.0.0.1:0".parse().unwrap(), 7, Some(PASSWORD.into()))
        .await
        .unwrap();
    suite(&node.address.to_string(), &node.inventory).await;
}

/// The agent's transport over a real Redis: one connection for the blocking pop, one for everything else.
struct RedisLists {
    blocking: MultiplexedConnection,
    other: MultiplexedConnection,
}

impl Lists for RedisLists {
    async fn pop_command(&self) -> Option<Vec<u8>> {
        let popped: Option<(String, Vec<u8>)> = self.blocking.clone().blpop(COMMAND_QUEUE, 0.0).await.ok()?;
        popped.map(|(_, value)| value)
    }
    async fn push(&self, key: &str, value: Vec<u8>) {
        let _: Result<i64, _> = self.other.clone().rpush(key, value).await;
    }
    async fn expire(&self, key: &str, seconds: u64) {
        let _: Result<bool, _> = self.other.clone().expire(key, seconds as i64).await;
    }
    async fn exists(&self, key: &str) -> bool {
        self.other.clone().exists(key).await.unwrap_or(false)
    }
}

struct RedisServer(std::process::Child);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_client_suite_passes_against_real_redis_with_a_0_core_agent_loop() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--requirepass", PASSWORD])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is required (Debian package redis-server; scripts/test installs it)");
    let _server = RedisServer(child);
    let address = format!("127.0.0.1:{port}");
    let url = format!("redis://:{PASSWORD}@{address}/");
    let client = redis::Client::open(url).unwrap();
    let started = Instant::now();
    // The agent's pop waits for commands as long as it takes: no response timeout on its connection.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let (blocking, other) = loop {
        match (
            client.get_multiplexed_async_connection_with_config(&config).await,
            client.get_multiplexed_async_connection().await,
        ) {
            (Ok(blocking), Ok(other)) => break (blocking, other),
            _ if started.elapsed() < Duration::from_secs(10) => tokio::time::sleep(Duration::from_millis(50)).await,
            (Err(err), _) | (_, Err(err)) => panic!("redis-server did not come up: {err}"),
        }
    };
    let inventory = Inventory::from_seed(7);
    tokio::spawn(sim::agent_loop(
        Arc::new(Agent::new(inventory.clone())),
        Arc::new(RedisLists { blocking, other }),
    ));
    suite(&address, &inventory).await;
}

#[tokio::test]
async fn a_node_that_is_down_or_silent_costs_at_most_the_deadline() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = ZosClient::new(&closed.to_string(), None, Duration::from_millis(500)).unwrap();
    assert!(matches!(client.node().ping().await, Err(ZosError::Unreachable(_))));

    // Accepts connections, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let client = ZosClient::new(&address, None, Duration::from_millis(500)).unwrap();
    let started = Instant::now();
    assert_eq!(
        client.node().ping().await,
        Err(ZosError::Timeout(Duration::from_millis(500)))
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn a_node_that_drops_the_connection_mid_result_is_an_error_not_a_hang() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Answers the command push, then starts a result and hangs up half-way.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await; // RPUSH core:default …
                let _ = stream.write_all(b":1\r\n").await;
                let _ = stream.read(&mut buffer).await; // BRPOPLPUSH result:<id> …
                let _ = stream.write_all(b"$500\r\n{\"id\": \"").await;
                // Dropping the stream closes the connection mid-result.
            });
        }
    });
    let client = ZosClient::new(&address, None, Duration::from_secs(5)).unwrap();
    let started = Instant::now();
    match client.node().ping().await {
        Err(ZosError::Unreachable(_) | ZosError::Protocol(_)) => {}
        other => panic!("a half result must be an error: {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no waiting for the deadline: {:?}",
        started.elapsed()
    );
    // And the next call starts clean on a new connection (same failure, not a poisoned pool).
    assert!(client.node().ping().await.is_err());
}
