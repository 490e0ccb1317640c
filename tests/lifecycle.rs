//! The process: command line and config errors, the data-directory lock, offline token creation, graceful
//! shutdown, and durability across SIGKILL.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{BIN, Server, client, file_names, temp_data_dir};
use reqwest::Method;
use serde_json::{Value, json};

/// Runs the binary to completion; returns (exit code, stdout, stderr).
fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("ZOS_LISTEN")
        .env_remove("ZOS_DATA_DIR")
        .env_remove("ZOS_CONFIG");
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().expect("run zos-orchestrator");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_one_line_usage_error((code, stdout, stderr): (i32, String, String), names: &str) {
    assert_eq!(code, 2, "exit status; stderr: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(names), "the error names '{names}': {stderr}");
}

#[test]
fn bad_flags_and_settings_fail_fast_with_one_line_and_status_2() {
    let dir = temp_data_dir();
    let data = dir.path().join("never-created");
    let data = data.to_str().unwrap();
    assert_one_line_usage_error(
        run(&["serve", "--listen", "nonsense", "--data-dir", data], &[]),
        "--listen",
    );
    assert_one_line_usage_error(
        run(&["serve", "--log-format", "xml", "--data-dir", data], &[]),
        "--log-format",
    );
    assert_one_line_usage_error(run(&["serve", "--bogus"], &[]), "--bogus");
    assert_one_line_usage_error(
        run(&["serve", "--proxy-dhcp", "../eth0", "--data-dir", data], &[]),
        "--proxy-dhcp",
    );
    assert_one_line_usage_error(
        run(
            &["serve", "--data-dir", data],
            &[("ZOS_PROXY_DHCP", "an-interface-name-too-long")],
        ),
        "--proxy-dhcp",
    );
    assert_one_line_usage_error(
        run(&["serve", "--data-dir", data], &[("ZOS_ZEROTIER_NETWORK", "not-hex")]),
        "--zerotier-network",
    );
    assert_one_line_usage_error(
        run(&["serve", "--data-dir", data], &[("ZOS_LISTEN", "1.2.3.4")]),
        "--listen",
    );

    let config = dir.path().join("zos.toml");
    std::fs::write(&config, "listen = \"not-an-address\"\n").unwrap();
    let config = config.to_str().unwrap();
    assert_one_line_usage_error(run(&["serve", "--config", config, "--data-dir", data], &[]), "listen");
    std::fs::write(config, "lissten = \"127.0.0.1:1\"\n").unwrap();
    assert_one_line_usage_error(run(&["serve", "--config", config, "--data-dir", data], &[]), "lissten");
    std::fs::write(config, "proxy_dhcp = \"\"\n").unwrap();
    assert_one_line_usage_error(
        run(&["serve", "--config", config, "--data-dir", data], &[]),
        "proxy_dhcp",
    );
    std::fs::write(config, "zerotier_network = \"abc\"\n").unwrap();
    assert_one_line_usage_error(
        run(&["serve", "--config", config, "--data-dir", data], &[]),
        "zerotier_network",
    );
    std::fs::write(config, "log_format = \"xml\"\n").unwrap();
    assert_one_line_usage_error(
        run(&["serve", "--config", config, "--data-dir", data], &[]),
        "log_format",
    );
    assert_one_line_usage_error(
        run(
            &["token", "create", "--role", "root", "--name", "x", "--data-dir", data],
            &[],
        ),
        "--role",
    );

    assert!(!std::path::Path::new(data).exists(), "nothing was started or created");

    let (code, stdout, _) = run(&["--version"], &[]);
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), format!("zos-orchestrator {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn settings_come_from_the_config_file_and_env_with_flags_winning() {
    let dir = temp_data_dir();
    let from_file = dir.path().join("from-file");
    let config = dir.path().join("zos.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\nlog_format = \"json\"\n", from_file.to_str().unwrap()),
    )
    .unwrap();
    // The harness passes --data-dir; so start by hand to let the file decide.
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env_remove("ZOS_DATA_DIR")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The data dir's token appears before the first log line is written: wait for both before stopping it.
    let stderr = child.stderr.take().unwrap();
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stderr), &mut line);
        let _ = line_tx.send(line);
    });
    let first_line = line_rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    let started = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        from_file.join("admin.token").exists()
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "data_dir from the config file was used");
    assert!(
        serde_json::from_str::<Value>(&first_line).is_ok(),
        "log_format from the file: {first_line}"
    );

    // The env var overrides the file; the flag would override both (the harness relies on that).
    let from_env = dir.path().join("from-env");
    let (code, stdout, _) = run(
        &[
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "env",
            "--config",
            config.to_str().unwrap(),
        ],
        &[("ZOS_DATA_DIR", from_env.to_str().unwrap())],
    );
    assert_eq!(code, 0);
    assert!(stdout.starts_with("zos_"));
    assert!(from_env.join("db").exists(), "ZOS_DATA_DIR beat the config file");
}

#[test]
fn a_second_server_on_the_same_data_dir_fails_and_touches_nothing() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let token_before = server.admin_token();
    let listing = file_names;
    let files_before = listing(dir.path());

    let data_dir = dir.path().to_str().unwrap();
    let (code, _, stderr) = run(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("in use by another zos-orchestrator"), "{stderr}");
    assert_eq!(server.admin_token(), token_before);
    assert_eq!(listing(dir.path()), files_before);

    let token_create = [
        "token",
        "create",
        "--role",
        "viewer",
        "--name",
        "x",
        "--data-dir",
        data_dir,
    ];
    let (code, stdout, stderr) = run(&token_create, &[]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains("POST /tokens"), "says what to do instead: {stderr}");
    // The first server is unaffected.
    assert_eq!(client().get(server.url("/health")).send().unwrap().status(), 200);
}

#[test]
fn offline_token_create_prints_a_working_token_once() {
    let dir = temp_data_dir();
    let data = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = run(
        &[
            "token",
            "create",
            "--role",
            "operator",
            "--name",
            "deploy",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let token = stdout.trim().to_owned();
    assert_eq!(stdout.lines().count(), 1, "only the token on stdout");
    assert!(!stderr.contains(&token), "the token is not repeated on stderr");

    let server = Server::start(dir.path());
    let whoami: Value = server.get_json_as(&token, "/auth/whoami");
    assert_eq!(whoami["role"], "operator");
    assert_eq!(whoami["name"], "deploy");
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_cleanly() {
    use std::io::{Read, Write};

    let dir = temp_data_dir();
    let mut server = Server::start(dir.path());
    // An open event stream must not hold the shutdown up.
    let events = server.get_as(&server.admin_token(), "/events");
    assert_eq!(events.status(), 200);

    // A request in flight: headers and half the body sent when SIGTERM arrives, the rest after.
    let body = r#"{"id": "in-flight", "address": "127.0.0.2"}"#;
    let (first, rest) = body.split_at(body.len() / 2);
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /nodes HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{first}",
        server.admin_token(),
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(rest.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "the in-flight request completed: {response}"
    );

    let status = server.terminate(Duration::from_secs(5));
    assert!(status.success(), "exit status after SIGTERM: {status}");
    drop(events);

    let server = Server::start(dir.path());
    let node = server.get_as(&server.admin_token(), "/nodes/in-flight");
    assert_eq!(node.status(), 200, "what was acknowledged during shutdown is kept");
}

#[test]
fn an_acknowledged_write_survives_sigkill_every_time() {
    let dir = temp_data_dir();
    for round in 0..20 {
        let mut server = Server::start(dir.path());
        let id = format!("durable-{round}");
        let response = server.send_json_as(
            &server.admin_token(),
            Method::POST,
            "/nodes",
            &json!({"id": id, "address": "127.0.0.2"}),
        );
        assert_eq!(response.status(), 201);
        server.kill9();

        let server = Server::start(dir.path());
        let token = server.admin_token();
        for earlier in 0..=round {
            let url = server.url(&format!("/nodes/durable-{earlier}"));
            let found = client().get(url).bearer_auth(&token).send().unwrap();
            assert_eq!(
                found.status(),
                200,
                "round {round}: node durable-{earlier} lost after SIGKILL"
            );
        }
    }
}
