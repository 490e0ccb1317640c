//! `/metrics`: Prometheus text that promtool accepts, with the series the issue asks for.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Server, assert_status_and_type, client, register_node, required_tool, temp_data_dir};
use serde_json::json;

#[test]
fn metrics_parse_with_promtool_and_count_requests_by_route() {
    let dir = temp_data_dir();
    let server = Server::start(dir.path());
    register_node(&server, "m1", json!({}));
    let _ = client().get(server.url("/nodes/m1")).send().unwrap(); // 401
    let response = client().get(server.url("/metrics")).send().unwrap();
    assert_status_and_type(&response, 200, "text/plain; version=0.0.4");
    let text = response.text().unwrap();

    let promtool = required_tool("ZOS_PROMTOOL", "promtool");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let sample = |prefix: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        sample(r#"zos_http_requests_total{method="POST",route="/nodes",status="201"}"#),
        1.0
    );
    assert_eq!(
        sample(r#"zos_http_requests_total{method="GET",route="/nodes/{id}",status="401"}"#),
        1.0
    );
    assert!(sample(r#"zos_http_request_duration_seconds_count{route="/nodes"}"#) >= 1.0);
    assert!(sample("zos_store_size_bytes") > 0.0);
    assert!(sample("zos_process_resident_memory_bytes") > 1_000_000.0);
}
