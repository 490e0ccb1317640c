//! The HTTP edge (src/http_server.rs), over real loopback TCP with real clients: raw `TcpStream`s where the
//! bytes on the wire are the point (oversized heads, slow senders, idle and refused connections), reqwest where a
//! pooled client's behaviour is (after a 413). Limits are set low per server so each test takes seconds.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Server, client, temp_data_dir, wait_until};
use reqwest::Method;
use serde_json::{Value, json};

/// One response as read off a raw connection.
struct Answer {
    status: u16,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.base.trim_start_matches("http://")).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Reads one response (head, then `content-length` bytes of body) from `stream`.
fn read_answer(stream: &TcpStream) -> Answer {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("a status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("name: value");
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map_or(0, |(_, value)| value.parse().expect("a length"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("the body");
    assert!(
        reader.buffer().is_empty(),
        "nothing after the body, since requests go one at a time"
    );
    Answer { status, headers, body }
}

/// Sends `request` on `stream` and reads its answer.
fn exchange(stream: &mut TcpStream, request: &[u8]) -> Answer {
    stream.write_all(request).expect("send");
    read_answer(stream)
}

fn get_health(host: &str) -> Vec<u8> {
    format!("GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

/// How long after `since` the server closed `stream` (end of stream or reset on read), sending `trickle` (if
/// any) one byte each 100 ms meanwhile; fails if it is still open after `within`.
fn closed_after(stream: &mut TcpStream, since: Instant, trickle: bool, within: Duration) -> Duration {
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut byte = [0; 1];
    loop {
        assert!(
            since.elapsed() < within,
            "the connection is still open after {within:?}"
        );
        if trickle && stream.write_all(b"a").is_err() {
            return since.elapsed();
        }
        match stream.read(&mut byte) {
            Ok(0) => return since.elapsed(),
            Ok(_) => panic!("the server sent something on a connection it should close silently"),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return since.elapsed(),
        }
    }
}

/// A request head of 64 KB, or of 101 header fields, is refused with 431 (default limits: 16 KiB, 100 fields);
/// heads well inside them, as large as real clients send, are served.
#[test]
fn request_heads_beyond_the_size_or_field_count_caps_are_answered_431() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let host = server.base.trim_start_matches("http://").to_owned();
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let answer = exchange(&mut connect(&server), big.as_bytes());
    assert_eq!(answer.status, 431, "a 64 KB header");
    assert_eq!(answer.header("connection"), Some("close"));

    let many: String = (0..101).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    let request = format!("GET /health HTTP/1.1\r\nHost: {host}\r\n{many}\r\n");
    assert_eq!(
        exchange(&mut connect(&server), request.as_bytes()).status,
        431,
        "101 header fields"
    );

    let fine: String = (0..50).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n{fine}\r\n",
        "a".repeat(8 * 1024)
    );
    assert_eq!(
        exchange(&mut connect(&server), request.as_bytes()).status,
        200,
        "an 8 KB header and 50 more fields"
    );
}

/// A client that sends its request head one byte at a time (slowloris), or nothing at all, is disconnected once
/// the header-read timeout (1 s here, set through the environment) has passed since it connected.
#[test]
fn a_client_slower_than_the_header_read_timeout_is_disconnected() {
    let dir = temp_data_dir();
    let server = Server::start_with_env(dir.path(), &[], &[("ZOS_HEADER_READ_TIMEOUT", "1")]);
    let within = Duration::from_secs(4);

    let mut slow = connect(&server);
    let since = Instant::now();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    let closed = closed_after(&mut slow, since, true, within);
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}, before the timeout"
    );

    let mut silent = connect(&server);
    let closed = closed_after(&mut silent, Instant::now(), false, within);
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}, before the timeout"
    );

    // A client that sends its request in time is served as usual.
    let mut prompt = connect(&server);
    assert_eq!(exchange(&mut prompt, &get_health("x")).status, 200);
}

/// A kept-alive connection is closed when it has waited the idle timeout (1 s here, set in the config file) for
/// its next request, and serves requests that come sooner; a response that streams (`/events`) is not cut by it,
/// however long it is quiet.
#[test]
fn an_idle_keep_alive_connection_is_closed_but_a_quiet_event_stream_is_not() {
    let dir = temp_data_dir();
    let config = dir.path().join("zos.toml");
    std::fs::write(&config, "idle_timeout = 1\n").unwrap();
    let server = Server::start_with(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);

    let mut stream = connect(&server);
    assert_eq!(exchange(&mut stream, &get_health("x")).status, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        exchange(&mut stream, &get_health("x")).status,
        200,
        "the same connection, before the idle timeout"
    );
    let closed = closed_after(&mut stream, Instant::now(), false, Duration::from_secs(4));
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}, before the timeout"
    );

    let events = server
        .request_as(&server.admin_token(), Method::GET, "/events")
        .timeout(Duration::from_secs(30))
        .send()
        .expect("GET /events");
    assert_eq!(events.status(), 200);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(events).lines() {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(2500));
    common::register_node(&server, "quiet-stream", json!({}));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the stream is still open and delivers the change")
            .expect("the stream is still open");
        if line.starts_with("data:") && line.contains("quiet-stream") {
            break;
        }
    }
}

/// With a cap of 3 connections per address, 3 connections from 127.0.0.1 are served and a fourth is answered
/// 503 with a JSON error and `Connection: close`; once one of the 3 closes, a new connection is served again.
#[test]
fn connections_beyond_the_per_address_cap_are_refused_clearly() {
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--max-connections-per-ip", "3"]);

    let mut open: Vec<TcpStream> = (0..3).map(|_| connect(&server)).collect();
    for stream in &mut open {
        assert_eq!(exchange(stream, &get_health("x")).status, 200);
    }
    let mut extra = connect(&server);
    let refused = exchange(&mut extra, &get_health("x"));
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("connection"), Some("close"));
    assert_eq!(refused.header("content-type"), Some("application/json"));
    let error = refused.json();
    assert_eq!(error["code"], "too_many_connections", "{error}");
    assert!(error["message"].as_str().unwrap().contains('3'), "{error}");
    let mut rest = Vec::new();
    assert_eq!(extra.read_to_end(&mut rest).expect("a clean close"), 0, "then closed");

    // The ones admitted still work.
    assert_eq!(exchange(&mut open[0], &get_health("x")).status, 200);

    drop(open.pop());
    wait_until(Duration::from_secs(5), "a slot is given back", || {
        exchange(&mut connect(&server), &get_health("x")).status == 200
    });
}

/// A 413 on a JSON body over the limit says `Connection: close`, so the pooled keep-alive client's next request
/// goes on a fresh connection and succeeds — every time, not just most of the time. The same for a chunked body
/// found too large while it is read, on a raw connection: 413, `Connection: close`, then the server closes it
/// (reqwest's blocking client cannot show this one: it reports its unsent rest of a streamed body as an error
/// in place of the early answer).
#[test]
fn after_a_413_the_next_request_of_a_pooled_client_succeeds() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let token = server.admin_token();
    let pooled = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let huge = format!(
        r#"{{"id": "n1", "address": "10.0.0.1", "hostname": "{}"}}"#,
        "a".repeat(2 * 1024 * 1024)
    );
    for round in 0..5 {
        let response = pooled
            .post(server.url("/nodes"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .unwrap_or_else(|err| panic!("round {round}: the 413 itself: {err:?}"));
        assert_eq!(response.status(), 413, "round {round}");
        assert_eq!(response.headers()["connection"], "close", "round {round}");
        let error: Value = response.json().unwrap();
        assert_eq!(error["code"], "body_too_large");

        let next = pooled
            .get(server.url("/nodes"))
            .bearer_auth(&token)
            .send()
            .unwrap_or_else(|err| panic!("round {round}: the request after a 413: {err:?}"));
        assert_eq!(next.status(), 200, "round {round}");
    }

    let mut stream = connect(&server);
    let head = format!(
        "POST /nodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    for chunk in huge.as_bytes().chunks(64 * 1024) {
        write!(stream, "{:x}\r\n", chunk.len()).unwrap();
        stream.write_all(chunk).unwrap();
        stream.write_all(b"\r\n").unwrap();
    }
    stream.write_all(b"0\r\n\r\n").unwrap();
    let answer = read_answer(&stream);
    assert_eq!(answer.status, 413);
    assert_eq!(answer.header("connection"), Some("close"));
    assert_eq!(answer.json()["code"], "body_too_large");
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).expect("a clean close"), 0, "then closed");
}

/// API answers, UI files and error answers all carry the headers a browser UI needs.
#[test]
fn every_response_carries_the_security_headers() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let get = |path: &str| client().get(server.url(path));
    let cases = [
        ("API JSON", get("/health"), 200),
        (
            "API JSON with a token",
            get("/nodes").bearer_auth(server.admin_token()),
            200,
        ),
        ("the UI page", get("/").header("accept", "text/html"), 200),
        ("a UI module", get("/ui/app.js"), 200),
        ("a UI style sheet", get("/ui/css/base.css"), 200),
        ("a routing miss", get("/no/such/thing"), 404),
        ("a refusal", get("/nodes"), 401),
    ];
    for (what, request, status) in cases {
        let response = request.send().unwrap();
        assert_eq!(response.status(), status, "{what}");
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"))
            .to_str()
            .unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{what}: {directive} missing from {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
    }
}

/// Tokens are credentials only in the `Authorization` header (one in the query string is not one), and none
/// reaches the log, even at debug level: not the admin's, not a new one, not a wrong one.
#[test]
fn tokens_are_not_taken_from_urls_and_never_logged() {
    let dir = temp_data_dir();
    let mut server = Server::start_with_env(dir.path(), &[], &[("ZOS_LOG", "debug")]);
    let admin = server.admin_token();
    let viewer = common::create_token(&server, "viewer", "log-check");
    let wrong = "wrong-token-5f1c0a3e9b7d4c2a".to_owned();
    let status = |path: &str, token: Option<&str>| {
        let request = client().get(server.url(path));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        request.send().unwrap().status().as_u16()
    };
    assert_eq!(status("/nodes", Some(&viewer)), 200);
    assert_eq!(status(&format!("/nodes?token={admin}"), None), 401);
    assert_eq!(status(&format!("/nodes?access_token={admin}"), None), 401);
    assert_eq!(status("/nodes", Some(&wrong)), 401);
    assert_eq!(status("/no/such/thing", Some(&admin)), 404);
    let logs = server.logs().join("\n");
    assert!(logs.contains("\"DEBUG\""), "debug lines are logged");
    for (which, token) in [("admin", &admin), ("viewer", &viewer), ("wrong", &wrong)] {
        assert!(
            !logs.contains(token.as_str()),
            "the {which} token is in the log:\n{logs}"
        );
    }
}

/// A limit out of its range, from a flag, the environment or the config file, stops the server before it starts,
/// in one line naming the setting (exit status 2, like every bad setting).
#[test]
fn an_out_of_range_limit_is_refused_naming_the_setting() {
    let dir = temp_data_dir();
    let config = dir.path().join("zos.toml");
    std::fs::write(&config, "max_header_bytes = 10\n").unwrap();
    /// Flags, environment, the setting the error must name.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 3] = [
        (&["--idle-timeout", "0"], &[], "--idle-timeout"),
        (&[], &[("ZOS_MAX_CONNECTIONS_PER_IP", "0")], "--max-connections-per-ip"),
        (&["--config", config.to_str().unwrap()], &[], "max_header_bytes"),
    ];
    for (args, envs, setting) in cases {
        let output = std::process::Command::new(common::BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--tftp-listen", "off"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(args)
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{setting}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{setting}: {stderr}");
        assert!(stderr.contains(setting), "{setting}: {stderr}");
    }
}
