//! `zos-orchestrator healthcheck` (the container image's HEALTHCHECK): exit 0 for a running server found through
//! the same flag, env and config file as `serve`, exit 1 with a reason for a closed port or an unhealthy answer.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use common::{BIN, Server, temp_data_dir};

/// Runs `healthcheck` with `args` and `envs`; returns (exit code, stdout, stderr).
fn healthcheck(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .arg("healthcheck")
        .args(args)
        .env_remove("ZOS_LISTEN")
        .env_remove("ZOS_CONFIG")
        .envs(envs.iter().copied())
        .output()
        .expect("run zos-orchestrator healthcheck");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_running_server_is_healthy_by_flag_env_and_config_file() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    let address = server.base.trim_start_matches("http://").to_owned();

    let (code, stdout, stderr) = healthcheck(&["--listen", &address], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("healthy: ") && stdout.contains("200"), "{stdout}");

    let (code, _, stderr) = healthcheck(&[], &[("ZOS_LISTEN", &address)]);
    assert_eq!(code, 0, "ZOS_LISTEN: {stderr}");

    let config = dir.path().join("zos.toml");
    std::fs::write(&config, format!("listen = \"{address}\"\n")).unwrap();
    let (code, _, stderr) = healthcheck(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "listen from the config file: {stderr}");
}

#[test]
fn a_closed_port_an_error_status_or_a_bad_setting_is_unhealthy_with_status_1() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (code, stdout, stderr) = healthcheck(&["--listen", &closed], &[]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("unhealthy: ") && stderr.contains(&closed),
        "{stderr}"
    );

    // Something that answers, but not 2xx (a degraded store answers 503).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let answering = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // Read the whole request head before answering: answering and closing early would cut the client off
        // mid-write (a broken pipe, not the 503 this checks).
        let mut request = Vec::new();
        let mut buffer = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    let (code, _, stderr) = healthcheck(&["--listen", &address], &[]);
    let request = answering.join().unwrap();
    assert!(request.starts_with("GET /health HTTP/1.1\r\n"), "{request}");
    assert_eq!(code, 1);
    assert!(stderr.contains("503"), "{stderr}");

    let dir = temp_data_dir();
    let config = dir.path().join("zos.toml");
    std::fs::write(&config, "listen = \"nonsense\"\n").unwrap();
    let (code, _, stderr) = healthcheck(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "container engines reserve 2: {stderr}");
    assert!(stderr.contains("listen"), "{stderr}");
}
