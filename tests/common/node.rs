//! Talking to an emulated node as any 0-core client would: one command over RESP, its result read back.

use serde_json::{Value, json};

/// Runs one 0-core command on the emulated node at `address` (inside `container` when given, through
/// `corex.dispatch`) and returns its result.
pub fn core(address: &str, container: Option<u64>, command: &str, arguments: Value) -> Value {
    let mut connection = redis::Client::open(format!("redis://{address}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let id = format!("test-{nanos}");
    let inner = json!({"id": id, "command": command, "arguments": arguments});
    let pushed = match container {
        Some(container) => json!({"id": format!("{id}-dispatch"), "command": "corex.dispatch",
                                  "arguments": {"container": container, "command": inner}}),
        None => inner,
    };
    redis::cmd("RPUSH")
        .arg("core:default")
        .arg(pushed.to_string())
        .query::<i64>(&mut connection)
        .unwrap();
    let key = format!("result:{id}");
    let raw: String = redis::cmd("BRPOPLPUSH")
        .arg(&key)
        .arg(&key)
        .arg(10)
        .query(&mut connection)
        .unwrap();
    serde_json::from_str(&raw).unwrap()
}

/// The `data` of a successful result, parsed.
pub fn data(result: Value) -> Value {
    assert_eq!(result["state"], "SUCCESS", "{result}");
    serde_json::from_str(result["data"].as_str().unwrap()).unwrap()
}

/// The containers the node itself reports (`corex.list`), asked over the 0-core protocol as any client would.
pub fn containers_on_node(address: &str) -> serde_json::Map<String, Value> {
    serde_json::from_value(data(core(address, None, "corex.list", json!({})))).unwrap()
}
