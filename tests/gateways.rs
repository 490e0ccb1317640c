//! Gateways through the API on emulated nodes in their own `sim` processes: created as a container of the
//! gateway flist whose firewall, dnsmasq and Caddy configurations the node checks and runs; forwards, DHCP hosts,
//! HTTP proxies and the advanced configurations changed one by one — each bad field named, each conflict a 409,
//! and each refusal of the gateway itself (a port in use, a file that does not parse) undone; stopped, started,
//! replaced, moved to another node and deleted, with 0-orchestrator's status codes. The emulated dnsmasq's own
//! refusals (a host outside its ranges, a MAC twice) are checked over 0-core's protocol.

mod common;

use base64::Engine;
use common::node::{core, data};
use common::{Server, admin_call as call, get_json, registered_sim_node, server_with_sim_node};
use reqwest::Method;
use serde_json::{Value, json};

fn create_body(name: &str) -> Value {
    json!({"name": name, "domain": "lan.example",
        "nics": [
            {"type": "default", "name": "public", "config": {"cidr": "10.0.0.2/24", "gateway": "10.0.0.1"}},
            {"type": "vlan", "id": "100", "name": "lan", "config": {"cidr": "192.168.1.1/24"},
             "dhcpserver": {"nameservers": ["1.1.1.1"],
                            "hosts": [{"macaddress": "52:54:00:00:00:01", "hostname": "web", "ipaddress": "192.168.1.10"}]}}],
        "portforwards": [{"protocols": ["tcp"], "srcip": "10.0.0.2", "srcport": 8080, "dstip": "192.168.1.10", "dstport": 80}],
        "httpproxies": [{"host": "web.example", "destinations": ["http://192.168.1.10:80"], "types": ["http"]}]})
}

/// POSTs `text` as `text/plain`: (status, body as JSON or text).
fn post_text(server: &Server, path: &str, text: &str) -> (u16, String) {
    let response = server
        .request_as(&server.admin_token(), Method::POST, path)
        .header("content-type", "text/plain")
        .body(text.to_owned())
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn get_text(server: &Server, path: &str) -> String {
    let response = server.get_as(&server.admin_token(), path);
    assert_eq!(response.status(), 200, "{path}");
    response.text().unwrap()
}

/// (status, code, field) of an answer.
fn verdict((status, body): (u16, Value)) -> (u16, String, String) {
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
    (status, text("code"), text("field"))
}

fn refused(status: u16, code: &str, field: &str) -> (u16, String, String) {
    (status, code.to_owned(), field.to_owned())
}

/// The id of gateway `name`'s container on the node.
fn gateway_container(address: &str, name: &str) -> Option<u64> {
    let found = data(core(address, None, "corex.find", json!({"tags": ["gateway", name]})));
    found.as_object().unwrap().keys().next().map(|id| id.parse().unwrap())
}

fn read_file(address: &str, container: u64, path: &str) -> String {
    let fd = data(core(
        address,
        Some(container),
        "filesystem.open",
        json!({"file": path, "mode": "r", "perm": 0}),
    ));
    let block = data(core(address, Some(container), "filesystem.read", json!({"fd": fd})));
    data(core(address, Some(container), "filesystem.close", json!({"fd": fd})));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(block.as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn write_file(address: &str, container: u64, path: &str, text: &str) {
    let fd = data(core(
        address,
        Some(container),
        "filesystem.open",
        json!({"file": path, "mode": "w", "perm": 420}),
    ));
    let block = base64::engine::general_purpose::STANDARD.encode(text);
    data(core(
        address,
        Some(container),
        "filesystem.write",
        json!({"fd": fd, "block": block}),
    ));
    data(core(address, Some(container), "filesystem.close", json!({"fd": fd})));
}

#[test]
fn a_gateway_is_created_changed_part_by_part_stopped_started_moved_and_deleted() {
    let (sim, server) = server_with_sim_node(41);
    let (node, address) = (sim.id.clone(), sim.address.clone());
    let (_other_sim, other, other_address) = registered_sim_node(&server, 42);
    let gws = format!("/nodes/{node}/gws");
    let gw = |rest: &str| format!("{gws}/gw1{rest}");
    let post = |path: &str, body: Value| call(&server, Method::POST, path, Some(body));
    let delete = |path: &str| call(&server, Method::DELETE, path, None).0;

    // Bad bodies name their field; an unknown node or gateway is a 404.
    let mut bad = create_body("gw1");
    bad["domain"] = json!("");
    assert_eq!(verdict(post(&gws, bad)), refused(400, "invalid_field", "domain"));
    let mut bad = create_body("gw1");
    bad["nics"][1]["dhcpserver"]["hosts"][0]["ipaddress"] = json!("192.168.2.10");
    assert_eq!(verdict(post(&gws, bad)).2, "nics[1].dhcpserver.hosts[0].ipaddress");
    let mut bad = create_body("gw1");
    bad["portforwards"][0]["srcport"] = json!(70000);
    assert_eq!(verdict(post(&gws, bad)).2, "portforwards[0].srcport");
    assert_eq!(post("/nodes/nope/gws", create_body("gw1")).0, 404);
    assert_eq!(call(&server, Method::GET, &gw(""), None).0, 404);

    // Created: a container of the gateway flist running dnsmasq and Caddy on the generated files.
    let (status, created) = post(&gws, create_body("gw1"));
    assert_eq!(
        (status, created["status"].as_str()),
        (201, Some("running")),
        "{created}"
    );
    assert_eq!(
        verdict(post(&gws, create_body("gw1"))),
        refused(409, "already_exists", "name")
    );
    let container = gateway_container(&address, "gw1").expect("the gateway's container");
    let listed = data(core(&address, None, "corex.list", json!({})));
    let arguments = &listed[container.to_string()]["container"]["arguments"];
    assert!(
        arguments["root"].as_str().unwrap().ends_with("zero-os-gw-master.flist"),
        "{arguments}"
    );
    assert_eq!(arguments["nics"][1]["name"], "lan", "{arguments}");
    let jobs = data(core(&address, Some(container), "job.list", json!({})));
    let services: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["cmd"]["id"].as_str().unwrap())
        .collect();
    assert!(services.iter().any(|id| id.starts_with("dhcp.gw1.")), "{services:?}");
    assert!(services.iter().any(|id| id.starts_with("http.gw1.")), "{services:?}");
    let rules = read_file(&address, container, "/etc/nftables.conf");
    assert!(
        rules.contains("ip daddr 10.0.0.2 tcp dport 8080 dnat to 192.168.1.10:80"),
        "{rules}"
    );
    assert_eq!(get_json(&server, &gws).as_array().unwrap().len(), 1);

    // Forwards: added (201 + Location), refused (a field, the same source twice, a port the gateway's Caddy
    // or dnsmasq holds: the node's refusal, undone), deleted.
    let forwards = gw("/firewall/forwards");
    let forward = |port: u16, protocol: &str| json!({"protocols": [protocol], "srcip": "10.0.0.2", "srcport": port, "dstip": "192.168.1.11", "dstport": 22});
    let (status, added) = post(&forwards, forward(2222, "tcp"));
    assert_eq!((status, added["srcport"].as_u64()), (201, Some(2222)), "{added}");
    assert_eq!(
        verdict(post(&forwards, forward(2222, "tcp"))),
        refused(409, "already_exists", "srcport")
    );
    let mut bad = forward(2223, "tcp");
    bad["srcip"] = json!("gateway");
    assert_eq!(verdict(post(&forwards, bad)), refused(400, "invalid_field", "srcip"));
    let (status, error) = post(&forwards, forward(80, "tcp"));
    assert_eq!(
        verdict((status, error.clone())),
        refused(409, "port_in_use", "portforwards"),
        "{error}"
    );
    assert!(error["message"].as_str().unwrap().contains("caddy"), "{error}");
    assert_eq!(verdict(post(&forwards, forward(53, "udp"))).1, "port_in_use");
    assert_eq!(
        get_json(&server, &forwards).as_array().unwrap().len(),
        2,
        "refused forwards were undone"
    );
    assert!(!read_file(&address, container, "/etc/nftables.conf").contains("dport 80 "));
    assert_eq!(delete(&gw("/firewall/forwards/10.0.0.2:2222")), 204);
    assert_eq!(delete(&gw("/firewall/forwards/10.0.0.2:2222")), 404);

    // DHCP hosts of an interface.
    let hosts = gw("/dhcp/lan/hosts");
    let host = |mac: &str, ip: &str| json!({"macaddress": mac, "hostname": "db", "ipaddress": ip});
    assert_eq!(get_json(&server, &hosts).as_array().unwrap().len(), 1);
    assert_eq!(call(&server, Method::GET, &gw("/dhcp/public/hosts"), None).0, 404);
    assert_eq!(call(&server, Method::GET, &gw("/dhcp/nope/hosts"), None).0, 404);
    assert_eq!(post(&hosts, host("52:54:00:00:00:02", "192.168.1.11")).0, 204);
    assert_eq!(
        verdict(post(&hosts, host("52:54:00:00:00:02", "192.168.1.12"))),
        refused(409, "already_exists", "macaddress")
    );
    assert_eq!(
        verdict(post(&hosts, host("52:54:00:00:00:03", "192.168.9.12"))),
        refused(400, "invalid_field", "ipaddress")
    );
    assert_eq!(verdict(post(&hosts, host("52-54", "192.168.1.13"))).2, "macaddress");
    assert!(read_file(&address, container, "/etc/dhcp").contains("52:54:00:00:00:02,192.168.1.11,db"));
    assert_eq!(delete(&gw("/dhcp/lan/hosts/52:54:00:00:00:02")), 204);
    assert_eq!(delete(&gw("/dhcp/lan/hosts/52:54:00:00:00:02")), 404);

    // HTTP proxies.
    let proxies = gw("/httpproxies");
    let proxy = json!({"host": "db.example", "destinations": ["http://192.168.1.11:8080"], "types": ["http", "https"]});
    assert_eq!(post(&proxies, proxy.clone()).0, 201);
    assert_eq!(verdict(post(&proxies, proxy)), refused(409, "already_exists", "host"));
    assert_eq!(
        verdict(post(
            &proxies,
            json!({"host": "x.example", "destinations": [], "types": ["http"]})
        ))
        .2,
        "destinations"
    );
    assert_eq!(
        get_json(&server, &gw("/httpproxies/db.example"))["types"],
        json!(["http", "https"])
    );
    assert_eq!(delete(&gw("/httpproxies/db.example")), 204);
    assert_eq!(call(&server, Method::GET, &gw("/httpproxies/db.example"), None).0, 404);

    // Advanced configurations: the generated text until the operator's own, which the gateway must take.
    let http = gw("/advanced/http");
    assert!(get_text(&server, &http).contains("http://web.example {"));
    let (status, error) = post_text(&server, &http, "web.example {\n\tproxi / http://192.168.1.10\n}\n");
    assert_eq!(status, 400, "{error}");
    assert!(error.contains("Unknown directive 'proxi'"), "{error}");
    assert!(
        get_text(&server, &http).contains("http://web.example {"),
        "a refused config is undone"
    );
    let own = "web.example:8000 {\n\tproxy / http://192.168.1.10\n}\n";
    assert_eq!(post_text(&server, &http, own).0, 204);
    assert_eq!(get_text(&server, &http), own);
    assert_eq!(read_file(&address, container, "/etc/caddy.conf"), own);
    let proxy = json!({"host": "y.example", "destinations": ["http://192.168.1.12"], "types": ["http"]});
    assert_eq!(verdict(post(&proxies, proxy)), refused(409, "advanced_config", ""));
    let firewall = gw("/advanced/firewall");
    let (status, error) = post_text(&server, &firewall, "table ip nat {\n\tchain pre {\n");
    assert_eq!(status, 400, "{error}");
    assert!(
        error.contains("unexpected end of file") && error.contains("\"field\":\"firewall\""),
        "{error}"
    );
    let rules = "table ip nat {\n\tchain pre {\n\t\ttype nat hook prerouting priority 0; policy accept;\n\t}\n}\n";
    assert_eq!(post_text(&server, &firewall, rules).0, 204);
    assert_eq!(get_text(&server, &firewall), rules);
    assert_eq!(verdict(post(&forwards, forward(2224, "tcp"))).1, "advanced_config");
    let form = server
        .request_as(&server.admin_token(), Method::POST, &firewall)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=b")
        .send()
        .unwrap();
    assert_eq!(form.status(), 415);

    // Stopped (the container goes), started again (201), replaced.
    assert_eq!(post(&gw("/stop"), json!({})).0, 204);
    assert_eq!(get_json(&server, &gw(""))["status"], "halted");
    assert_eq!(gateway_container(&address, "gw1"), None);
    let (status, started) = post(&gw("/start"), json!({}));
    assert_eq!(
        (status, started["status"].as_str()),
        (201, Some("running")),
        "{started}"
    );
    let mut update = create_body("gw1");
    update.as_object_mut().unwrap().remove("name");
    update["domain"] = json!("office.example");
    assert_eq!(call(&server, Method::PUT, &gw(""), Some(update.clone())).0, 204);
    assert_eq!(get_json(&server, &gw(""))["domain"], "office.example");
    update["zzUnknown"] = json!(1);
    assert_eq!(
        verdict(call(&server, Method::PUT, &gw(""), Some(update))).1,
        "unknown_field"
    );

    // Moved to the other node (200): built there, gone here.
    assert_eq!(
        verdict(post(&gw("/migrate"), json!({"node": node}))),
        refused(400, "invalid_field", "node")
    );
    assert_eq!(
        verdict(post(&gw("/migrate"), json!({"node": "nope"}))),
        refused(400, "unknown_node", "node")
    );
    let (status, moved) = post(&gw("/migrate"), json!({"node": other}));
    assert_eq!((status, moved["node"].as_str()), (200, Some(other.as_str())), "{moved}");
    assert_eq!(call(&server, Method::GET, &gw(""), None).0, 404);
    assert_eq!(gateway_container(&address, "gw1"), None);
    assert!(gateway_container(&other_address, "gw1").is_some());
    let moved_gw = format!("/nodes/{other}/gws/gw1");
    assert_eq!(get_json(&server, &moved_gw)["status"], "running");

    assert_eq!(delete(&moved_gw), 204);
    assert_eq!(gateway_container(&other_address, "gw1"), None);
    assert!(
        get_json(&server, &format!("/nodes/{other}/gws"))
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// What the emulated gateway's dnsmasq refuses, asked directly in a gateway's container: a host outside every
/// DHCP range, and one MAC address for two hosts.
#[test]
fn the_emulated_dnsmasq_refuses_a_host_outside_its_ranges_and_a_mac_twice() {
    let (sim, server) = server_with_sim_node(43);
    let (node, address) = (sim.id.clone(), sim.address.clone());
    assert_eq!(
        call(
            &server,
            Method::POST,
            &format!("/nodes/{node}/gws"),
            Some(create_body("gw2"))
        )
        .0,
        201
    );
    let container = gateway_container(&address, "gw2").unwrap();
    let check = || {
        let args = json!({"name": "/bin/dnsmasq", "args": ["--test", "--conf-file=/etc/dnsmasq.conf"], "env": {}});
        core(&address, Some(container), "core.system", args)
    };
    let passed = check();
    assert_eq!(passed["state"], "SUCCESS", "{passed}");
    assert_eq!(passed["streams"][0], "dnsmasq: syntax check OK.\n");

    write_file(&address, container, "/etc/dhcp", "52:54:00:00:00:01,192.168.7.10,web\n");
    let outside = check();
    assert_eq!(outside["state"], "ERROR", "{outside}");
    assert!(
        outside["streams"][1]
            .as_str()
            .unwrap()
            .contains("192.168.7.10 at line 1 of /etc/dhcp is outside every dhcp-range"),
        "{outside}"
    );

    write_file(
        &address,
        container,
        "/etc/dhcp",
        "52:54:00:00:00:01,192.168.1.10,web\n52:54:00:00:00:01,192.168.1.11,db\n",
    );
    let twice = check();
    assert!(
        twice["streams"][1]
            .as_str()
            .unwrap()
            .contains("duplicate dhcp-host MAC address 52:54:00:00:00:01 at line 2"),
        "{twice}"
    );
}
