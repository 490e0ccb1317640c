//! Webhooks against real HTTP receivers on loopback: every delivery signed (HMAC-SHA256 of the body under the
//! webhook's secret) and in order; a receiver that is down gets everything once it is back, also across an
//! orchestrator restart; a full queue drops its oldest events and says so; a slow receiver slows neither the
//! API nor another webhook; and the API's refusals name the field.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, admin_call, call_as, create_token, free_port, register_node, temp_data_dir, wait_until};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "s3cret-for-the-receiver";
/// One heartbeat round at start, then none for an hour: the only node events are the test's registrations, so
/// a queue's content is known (the registered nodes are unreachable; their state would be events too).
const QUIET_HEARTBEAT: [&str; 2] = ["--heartbeat-interval", "3600"];

/// A server on `dir` with the quiet heartbeat and `webhook_flags` (retries, timeouts, queue limits).
fn quiet_server(dir: &Path, webhook_flags: &[&str]) -> Server {
    Server::start_with(dir, &[&QUIET_HEARTBEAT[..], webhook_flags].concat())
}

/// One request a receiver took.
#[derive(Debug, Clone)]
struct Received {
    body: Value,
    /// The `X-Zos-Signature` header checked against the body and [`SECRET`].
    signed: bool,
    attempt: u32,
    at: Instant,
}

/// A real HTTP/1.1 receiver on loopback (keep-alive, Content-Length bodies, as reqwest sends them), answering
/// 200 after `delay`. Stopped, it closes its port, so deliveries meet a refused connection.
struct Receiver {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start(delay: Duration) -> Receiver {
        Receiver::start_on(0, delay)
    }

    fn start_on(port: u16, delay: Duration) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (log, stopped) = (log.clone(), stopped.clone());
                std::thread::spawn(move || serve(stream, delay, &log, &stopped));
            }
        });
        Receiver { port, received, stop }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn bodies(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Stops accepting and closes the port (and every kept-alive connection at its next request).
    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(stream: TcpStream, delay: Duration, log: &Mutex<Vec<Received>>, stopped: &AtomicBool) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            headers.push(line.trim_end().to_owned());
        }
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        let header = |name: &str| {
            headers.iter().find_map(|h| {
                let (key, value) = h.split_once(':')?;
                key.eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
            })
        };
        let length: usize = header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let signed = header("x-zos-signature").is_some_and(|signature| signature == expected_signature(&body));
        std::thread::sleep(delay);
        log.lock().unwrap().push(Received {
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            signed,
            attempt: header("x-zos-delivery-attempt")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0),
            at: Instant::now(),
        });
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// What the signature header must say: computed here with the `hmac` crate, independently of the server.
fn expected_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn create_webhook(server: &Server, name: &str, url: &str, eventtypes: Value) {
    let body = json!({"name": name, "url": url, "eventtypes": eventtypes, "secret": SECRET});
    let (status, answer) = admin_call(server, Method::POST, "/webhooks", Some(body));
    assert_eq!(status, 201, "{answer}");
}

/// The ids of the nodes whose registration a receiver got, in arrival order.
fn registered(bodies: &[Received]) -> Vec<String> {
    bodies
        .iter()
        .filter(|r| r.body["data"]["action"] == "registered")
        .map(|r| r.body["data"]["node"].as_str().unwrap().to_owned())
        .collect()
}

/// Event ids in arrival order, with a redelivery (at least once) counted once: they must be increasing.
fn assert_in_order(bodies: &[Received]) {
    let mut ids: Vec<u64> = bodies.iter().map(|r| r.body["id"].as_u64().unwrap()).collect();
    ids.dedup();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "events out of order: {ids:?}");
}

fn nodes(prefix: &str, range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|n| format!("{prefix}{n:02}")).collect()
}

#[test]
fn every_event_is_signed_filtered_and_in_order() {
    let dir = temp_data_dir();
    let server = quiet_server(dir.path(), &[]);
    let receiver = Receiver::start(Duration::ZERO);
    let jobs_only = Receiver::start(Duration::ZERO);
    create_webhook(&server, "ops", &receiver.url(), json!(["node"]));
    create_webhook(&server, "jobs", &jobs_only.url(), json!(["job"]));
    let ids = nodes("n", 0..20);
    for id in &ids {
        register_node(&server, id, json!({}));
    }
    wait_until(Duration::from_secs(20), "20 registrations delivered", || {
        registered(&receiver.bodies()).len() >= 20
    });
    let bodies = receiver.bodies();
    assert!(
        bodies.iter().all(|r| r.signed),
        "a delivery whose signature does not check"
    );
    assert!(
        bodies
            .iter()
            .all(|r| r.body["type"] == "node" && r.body["webhook"] == "ops")
    );
    assert_in_order(&bodies);
    assert_eq!(registered(&bodies), ids, "registrations in the order they happened");
    assert!(
        jobs_only.bodies().is_empty(),
        "a job-only webhook got {:?}",
        jobs_only.bodies()
    );

    let (status, hook) = admin_call(&server, Method::GET, "/webhooks/ops", None);
    assert_eq!(status, 200);
    assert_eq!((&hook["name"], &hook["url"]), (&json!("ops"), &json!(receiver.url())));
    assert_eq!(hook["eventtypes"], json!(["node"]));
    let deliveries = hook["deliveries"].as_array().unwrap();
    assert!(!deliveries.is_empty() && deliveries.len() <= 20, "{hook}");
    assert!(
        deliveries.iter().all(|d| d["delivered"] == true && d["status"] == 200),
        "{hook}"
    );
    let (_, list) = admin_call(&server, Method::GET, "/webhooks", None);
    assert_eq!(list.as_array().unwrap().len(), 2);
    for answer in [hook.to_string(), list.to_string()] {
        assert!(!answer.contains(SECRET) && !answer.contains("secret"), "{answer}");
    }

    // The filter changes with PUT; the secret stays.
    let update = json!({"url": receiver.url(), "eventtypes": ["ork"]});
    assert_eq!(admin_call(&server, Method::PUT, "/webhooks/jobs", Some(update)).0, 204);
    register_node(&server, "late", json!({}));
    wait_until(Duration::from_secs(10), "the widened filter delivers", || {
        receiver
            .bodies()
            .iter()
            .any(|r| r.body["webhook"] == "jobs" && r.body["data"]["node"] == "late")
    });
    assert!(receiver.bodies().iter().all(|r| r.signed));
    let mut server = server;
    let logs = server.logs().join("\n");
    assert!(!logs.contains(SECRET), "the secret is in the log");
}

#[test]
fn a_receiver_that_is_down_gets_everything_in_order_after_retries_and_a_restart() {
    let dir = temp_data_dir();
    let flags = ["--webhook-retry-max", "1", "--webhook-timeout", "2"];
    let mut server = quiet_server(dir.path(), &flags);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    create_webhook(&server, "down", &url, json!(["node"]));
    let before = nodes("a", 0..5);
    for id in &before {
        register_node(&server, id, json!({}));
    }
    wait_until(Duration::from_secs(15), "failed tries recorded", || {
        let (_, hook) = admin_call(&server, Method::GET, "/webhooks/down", None);
        hook["pending"].as_u64().unwrap_or(0) >= 5
            && hook["deliveries"]
                .as_array()
                .is_some_and(|d| d.len() >= 2 && d.iter().all(|d| d["delivered"] == false))
    });
    let (_, hook) = admin_call(&server, Method::GET, "/webhooks/down", None);
    let failure = &hook["deliveries"][0];
    assert!(failure["error"].as_str().unwrap().contains("connect"), "{hook}");
    assert!(failure["attempt"].as_u64().unwrap() >= 2, "retried: {hook}");
    eprintln!("while down: {hook}");

    server.terminate(Duration::from_secs(20));
    let server = quiet_server(dir.path(), &flags);
    let after = nodes("b", 0..5);
    for id in &after {
        register_node(&server, id, json!({}));
    }
    let receiver = Receiver::start_on(port, Duration::ZERO);
    let started = Instant::now();
    wait_until(Duration::from_secs(20), "the queue delivered", || {
        registered(&receiver.bodies()).len() >= 10
    });
    eprintln!(
        "10 registrations delivered {:?} after the receiver came back",
        started.elapsed()
    );
    let bodies = receiver.bodies();
    assert!(bodies.iter().all(|r| r.signed));
    assert_in_order(&bodies);
    let mut got = registered(&bodies);
    got.dedup();
    assert_eq!(got, [before, after].concat(), "every registration, in order");
    assert!(bodies[0].attempt >= 1);
    wait_until(Duration::from_secs(10), "the queue emptied", || {
        admin_call(&server, Method::GET, "/webhooks/down", None).1["pending"] == 0
    });
}

#[test]
fn a_full_queue_drops_its_oldest_events_and_says_so() {
    let dir = temp_data_dir();
    let mut server = quiet_server(dir.path(), &["--webhook-retry-max", "1", "--webhook-queue-limit", "10"]);
    let port = free_port();
    create_webhook(&server, "full", &format!("http://127.0.0.1:{port}/"), json!(["node"]));
    let ids = nodes("c", 0..25);
    for id in &ids {
        register_node(&server, id, json!({}));
    }
    wait_until(Duration::from_secs(15), "drops reported", || {
        let (_, hook) = admin_call(&server, Method::GET, "/webhooks/full", None);
        hook["dropped"].as_u64().unwrap_or(0) >= 15 && hook["pending"].as_u64().unwrap_or(99) <= 10
    });
    assert!(
        server.logs().iter().any(|line| line.contains("webhook queue full")),
        "the overflow is logged"
    );
    let receiver = Receiver::start_on(port, Duration::ZERO);
    wait_until(Duration::from_secs(15), "the newest ten delivered", || {
        registered(&receiver.bodies()).last().map(String::as_str) == Some("c24")
    });
    let bodies = receiver.bodies();
    assert_in_order(&bodies);
    let got = registered(&bodies);
    assert!(got.len() <= 10, "{got:?}");
    assert_eq!(got, ids[ids.len() - got.len()..], "the newest survive, in order");
}

#[test]
fn a_slow_receiver_slows_neither_the_api_nor_another_webhook() {
    let dir = temp_data_dir();
    let server = quiet_server(dir.path(), &[]);
    let slow = Receiver::start(Duration::from_secs(3));
    let fast = Receiver::start(Duration::ZERO);
    create_webhook(&server, "slow", &slow.url(), json!(["node"]));
    create_webhook(&server, "fast", &fast.url(), json!(["node"]));
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let ids = nodes("d", 0..8);
    for id in &ids {
        let call = Instant::now();
        register_node(&server, id, json!({}));
        slowest = slowest.max(call.elapsed());
    }
    wait_until(Duration::from_secs(5), "the fast receiver has all", || {
        registered(&fast.bodies()).len() >= ids.len()
    });
    let fast_done = fast.bodies().last().unwrap().at.duration_since(started);
    let slow_count = registered(&slow.bodies()).len();
    eprintln!("slowest POST /nodes {slowest:?}; fast receiver done after {fast_done:?}; slow one has {slow_count}");
    assert!(slowest < Duration::from_millis(1000), "the API waited: {slowest:?}");
    assert!(
        fast_done < Duration::from_secs(3),
        "the fast webhook waited: {fast_done:?}"
    );
    assert!(slow_count < ids.len(), "the slow receiver cannot have them all yet");
    assert_eq!(registered(&fast.bodies()), ids);
}

#[test]
fn bad_input_is_refused_naming_the_field() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let good =
        json!({"name": "ok", "url": "https://example.net/hook", "eventtypes": ["node", "job"], "secret": SECRET});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let mut without_secret = good.clone();
    without_secret.as_object_mut().unwrap().remove("secret");
    let cases = [
        (with("url", json!("ftp://example.net/")), "url"),
        (with("url", json!("not a url")), "url"),
        (with("url", json!("http://user:pw@example.net/")), "url"),
        (with("name", json!("bad name")), "name"),
        (with("name", json!("")), "name"),
        (with("eventtypes", json!([])), "eventtypes"),
        (with("eventtypes", json!(["node", "bogus"])), "eventtypes[1]"),
        (with("eventtypes", json!(["job", "job"])), "eventtypes[1]"),
        (with("secret", json!("short")), "secret"),
        (without_secret, "secret"),
        (with("extra", json!(1)), "extra"),
    ];
    for (body, field) in cases {
        let (status, error) = admin_call(&server, Method::POST, "/webhooks", Some(body.clone()));
        assert_eq!((status, error["field"].as_str()), (400, Some(field)), "{body}: {error}");
        assert!(!error["message"].as_str().unwrap().is_empty(), "{error}");
    }
    assert_eq!(
        admin_call(&server, Method::POST, "/webhooks", Some(good.clone())).0,
        201
    );
    let (status, error) = admin_call(&server, Method::POST, "/webhooks", Some(good.clone()));
    assert_eq!((status, error["code"].as_str()), (409, Some("already_exists")));
    let update = json!({"url": "gopher://x", "eventtypes": ["node"]});
    let (status, error) = admin_call(&server, Method::PUT, "/webhooks/ok", Some(update));
    assert_eq!((status, error["field"].as_str()), (400, Some("url")));
    for method in [Method::GET, Method::DELETE] {
        assert_eq!(admin_call(&server, method, "/webhooks/nope", None).0, 404);
    }
    let update = json!({"url": "https://example.net/", "eventtypes": ["node"]});
    assert_eq!(admin_call(&server, Method::PUT, "/webhooks/nope", Some(update)).0, 404);
    let viewer = create_token(&server, "viewer", "watcher");
    assert_eq!(call_as(&server, Some(&viewer), Method::GET, "/webhooks", None).0, 200);
    assert_eq!(
        call_as(&server, Some(&viewer), Method::POST, "/webhooks", Some(good)).0,
        403
    );
    assert_eq!(admin_call(&server, Method::DELETE, "/webhooks/ok", None).0, 204);
    assert_eq!(admin_call(&server, Method::GET, "/webhooks/ok", None).0, 404);
}
