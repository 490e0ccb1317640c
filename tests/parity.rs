//! 0-orchestrator API parity: reads the node resource table of `../shared/ZOS-REFERENCE.md` (with the 22 gateway
//! operations of the reference's `api.raml`, which it names only in prose), walks a scenario
//! that calls every path and method of it against `serve --demo 2`, checking status codes and every answer
//! against the reference's type for it (`RESPONSE_TYPES`: each required field there, with its JSON type, enum
//! values and nested types; `tests/reference_types`), and then checks that every row of the table was called —
//! or is in `NOT_IMPLEMENTED`, with the reason. A path added to the reference, or one we stop serving, fails this
//! test.

mod common;
mod reference_types;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Server, client, temp_data_dir};
use reqwest::Method;
use serde_json::{Value, json};

/// Reference rows we do not serve, and why.
const NOT_IMPLEMENTED: &[(&str, &str, &str)] = &[
    ("GET", "…/{}/images", IMAGES),
    ("POST", "…/{}/images", IMAGES),
    ("GET", "…/images/{}", IMAGES),
    ("DELETE", "…/images/{}", IMAGES),
    (
        "POST",
        "…/vdisks/{}/rollback",
        "no transaction log is kept: 400 no_transaction_log (README)",
    ),
    ("GET", "/graphs", GRAPHS),
    ("GET", "/graphs/{}", GRAPHS),
    ("PUT", "/graphs/{}", GRAPHS),
    ("GET", "/graphs/{}/dashboards", GRAPHS),
    ("POST", "/graphs/{}/dashboards", GRAPHS),
    ("DELETE", "/graphs/{}/dashboards", GRAPHS),
    ("GET", "/graphs/{}/dashboards/{}", GRAPHS),
    ("POST", "/graphs/{}/dashboards/{}", GRAPHS),
    ("DELETE", "/graphs/{}/dashboards/{}", GRAPHS),
    ("GET", "/backup", BACKUP),
    ("POST", "/backup", BACKUP),
];
const IMAGES: &str = "vdisk images are not served yet (README: `imageId` answers 404)";
const GRAPHS: &str = "Grafana dashboards: our Prometheus /metrics instead (issue 14, item 6)";
const BACKUP: &str = "container backups with restic come later (issue 14, item 6)";

/// The reference's type of each answer with a body (`tests/reference_types`), by method and path as walked;
/// "" where the reference gives none.
const RESPONSE_TYPES: &[(&str, &str, &str)] = &[
    ("GET", "/nodes", "Node[]"),
    ("GET", "/nodes/{}", "Node"),
    ("GET", "/nodes/{}/stats", ""),
    ("GET", "/nodes/{}/jobs", "JobListItem[]"),
    ("GET", "/nodes/{}/jobs/{}", "JobResult"),
    ("POST", "/nodes/{}/ping", ""),
    ("GET", "/nodes/{}/state", "CoreStateResult"),
    ("GET", "/nodes/{}/cpus", "CPUInfo[]"),
    ("GET", "/nodes/{}/disks", "DiskInfo[]"),
    ("GET", "/nodes/{}/mounts", "NodeMount[]"),
    ("GET", "/nodes/{}/mem", "MemInfo"),
    ("GET", "/nodes/{}/nics", "NicInfo[]"),
    ("GET", "/nodes/{}/info", "OSInfo"),
    ("GET", "/nodes/{}/processes", "Process[]"),
    ("GET", "/nodes/{}/processes/{}", "Process"),
    ("GET", "/nodes/{}/bridges", "Bridge[]"),
    ("POST", "/nodes/{}/bridges", "Bridge"),
    ("GET", "/nodes/{}/bridges/{}", "Bridge"),
    ("GET", "/nodes/{}/zerotiers", "ZerotierListItem[]"),
    ("POST", "/nodes/{}/zerotiers", "Zerotier"),
    ("GET", "/nodes/{}/zerotiers/{}", "Zerotier"),
    ("GET", "/nodes/{}/storagepools", "StoragePoolListItem[]"),
    ("POST", "/nodes/{}/storagepools", "StoragePool"),
    ("GET", "/nodes/{}/storagepools/{}", "StoragePool"),
    ("GET", "/nodes/{}/storagepools/{}/devices", "StoragePoolDevice[]"),
    ("POST", "/nodes/{}/storagepools/{}/devices", "StoragePoolDevice[]"),
    ("GET", "/nodes/{}/storagepools/{}/devices/{}", "StoragePoolDevice"),
    ("GET", "/nodes/{}/storagepools/{}/filesystems", "string[]"),
    ("POST", "/nodes/{}/storagepools/{}/filesystems", "Filesystem"),
    ("GET", "/nodes/{}/storagepools/{}/filesystems/{}", "Filesystem"),
    ("GET", "/nodes/{}/storagepools/{}/filesystems/{}/snapshots", "string[]"),
    ("POST", "/nodes/{}/storagepools/{}/filesystems/{}/snapshots", "Snapshot"),
    (
        "GET",
        "/nodes/{}/storagepools/{}/filesystems/{}/snapshots/{}",
        "Snapshot",
    ),
    ("GET", "/nodes/{}/containers", "ContainerListItem[]"),
    ("POST", "/nodes/{}/containers", "Container"),
    ("GET", "/nodes/{}/containers/{}", "Container"),
    ("GET", "/nodes/{}/containers/{}/jobs", "JobListItem[]"),
    // 202 with `Location` in the reference; our `{id}` beside it has no type there.
    ("POST", "/nodes/{}/containers/{}/jobs", ""),
    ("GET", "/nodes/{}/containers/{}/jobs/{}", "JobResult"),
    ("POST", "/nodes/{}/containers/{}/ping", ""),
    ("GET", "/nodes/{}/containers/{}/state", "CoreStateResult"),
    ("GET", "/nodes/{}/containers/{}/cpus", "CPUInfo[]"),
    ("GET", "/nodes/{}/containers/{}/mem", "MemInfo"),
    ("GET", "/nodes/{}/containers/{}/nics", "NicInfo[]"),
    ("GET", "/nodes/{}/containers/{}/info", "OSInfo"),
    ("GET", "/nodes/{}/containers/{}/processes", "Process[]"),
    ("GET", "/nodes/{}/containers/{}/processes/{}", "Process"),
    ("GET", "/nodes/{}/vms", "VMListItem[]"),
    ("POST", "/nodes/{}/vms", "VM"),
    ("GET", "/nodes/{}/vms/{}", "VM"),
    ("GET", "/nodes/{}/vms/{}/info", "VMInfo"),
    ("POST", "/nodes/{}/vms/{}/export", "FTPUrl"),
    ("GET", "/health/nodes", "NodeHealthCheck[]"),
    ("GET", "/health/nodes/{}", "HealthCheck[]"),
    ("GET", "/health/storageclusters", "StorageClusterHealthCheck[]"),
    ("GET", "/health/storageclusters/{}", "HealthCheck[]"),
    ("GET", "/storageclusters", "string[]"),
    ("GET", "/storageclusters/{}", "Cluster"),
    ("GET", "/vdiskstorage", "VdiskStorage[]"),
    ("POST", "/vdiskstorage", "VdiskStorage"),
    ("GET", "/vdiskstorage/{}", "VdiskStorage"),
    ("GET", "/vdiskstorage/{}/vdisks", "VdiskListItem[]"),
    // 202 + `Run` in the reference; ours answers 201 with the vdisk.
    ("POST", "/vdiskstorage/{}/vdisks", "Vdisk"),
    ("GET", "/vdiskstorage/{}/vdisks/{}", "Vdisk"),
    ("GET", "/webhooks", "Webhook[]"),
    ("POST", "/webhooks", "Webhook"),
    ("GET", "/webhooks/{}", "Webhook"),
    ("GET", "/nodes/{}/gws", "ListGW[]"),
    // 202 + `Run` in the reference's spec, 201 and nothing in its server; ours sends the gateway as GET does.
    ("POST", "/nodes/{}/gws", "GetGW"),
    ("GET", "/nodes/{}/gws/{}", "GetGW"),
    ("POST", "/nodes/{}/gws/{}/start", "GetGW"),
    ("POST", "/nodes/{}/gws/{}/migrate", "GetGW"),
    ("GET", "/nodes/{}/gws/{}/firewall/forwards", "PortForward[]"),
    ("POST", "/nodes/{}/gws/{}/firewall/forwards", "PortForward"),
    ("GET", "/nodes/{}/gws/{}/dhcp/{}/hosts", "GWHost[]"),
    ("GET", "/nodes/{}/gws/{}/httpproxies", "HTTPProxy[]"),
    ("POST", "/nodes/{}/gws/{}/httpproxies", "HTTPProxy"),
    ("GET", "/nodes/{}/gws/{}/httpproxies/{}", "HTTPProxy"),
];

/// The reference's gateway operations (its `api.raml`; the table in `ZOS-REFERENCE.md` names them in prose).
const GATEWAY_ROWS: &[(&str, &str)] = &[
    ("GET", "/nodes/{}/gws"),
    ("POST", "/nodes/{}/gws"),
    ("GET", "/nodes/{}/gws/{}"),
    ("PUT", "/nodes/{}/gws/{}"),
    ("DELETE", "/nodes/{}/gws/{}"),
    ("POST", "/nodes/{}/gws/{}/start"),
    ("POST", "/nodes/{}/gws/{}/stop"),
    ("POST", "/nodes/{}/gws/{}/migrate"),
    ("GET", "/nodes/{}/gws/{}/firewall/forwards"),
    ("POST", "/nodes/{}/gws/{}/firewall/forwards"),
    ("DELETE", "/nodes/{}/gws/{}/firewall/forwards/{}"),
    ("GET", "/nodes/{}/gws/{}/dhcp/{}/hosts"),
    ("POST", "/nodes/{}/gws/{}/dhcp/{}/hosts"),
    ("DELETE", "/nodes/{}/gws/{}/dhcp/{}/hosts/{}"),
    ("GET", "/nodes/{}/gws/{}/httpproxies"),
    ("POST", "/nodes/{}/gws/{}/httpproxies"),
    ("GET", "/nodes/{}/gws/{}/httpproxies/{}"),
    ("DELETE", "/nodes/{}/gws/{}/httpproxies/{}"),
    ("GET", "/nodes/{}/gws/{}/advanced/http"),
    ("POST", "/nodes/{}/gws/{}/advanced/http"),
    ("GET", "/nodes/{}/gws/{}/advanced/firewall"),
    ("POST", "/nodes/{}/gws/{}/advanced/firewall"),
];

/// A reference path: exact, or (written `…/x` in the table) a suffix of one of ours.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    method: String,
    path: String,
}

/// `{nodeid}`, `{name}`, … all become `{}`.
fn canonical(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// The rows of the reference's two tables (nodes, cluster-wide resources), expanded to one (method, path) each,
/// and the gateway operations.
fn reference_rows() -> BTreeSet<Row> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ZOS-REFERENCE.md");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let nodes = table_rows(&text, "### Nodes");
    assert!(nodes.len() > 60, "the Nodes table parsed into too few rows: {nodes:?}");
    let cluster = table_rows(&text, "### Cluster-wide resources");
    assert!(
        cluster.len() > 30,
        "the cluster-wide table parsed into too few rows: {cluster:?}"
    );
    let gateways = GATEWAY_ROWS.iter().map(|(method, path)| Row {
        method: (*method).to_owned(),
        path: (*path).to_owned(),
    });
    nodes.into_iter().chain(cluster).chain(gateways).collect()
}

/// The rows of the table under `heading`. A cell lists parts split by ` ; `, each methods then paths; within a
/// part, a path after the first that starts with `/` (`/stop` after `…/{name}/start`) replaces the previous one's
/// last segment. A part without methods takes the previous part's and continues its path: `…/{label}` after
/// `/health/storageclusters` goes below it, `…/rollback` after `…/{vdiskid}/resize` beside it. `[/{name}]` is
/// optional.
fn table_rows(text: &str, heading: &str) -> BTreeSet<Row> {
    let section = text.split(heading).nth(1).expect("the table's section");
    let table = section.lines().skip(1).take_while(|line| line.starts_with('|'));
    let mut rows = BTreeSet::new();
    for line in table.skip(2) {
        let cell = line.split('|').nth(1).unwrap_or_default().trim().replace('`', "");
        if cell.contains("gws") || cell.is_empty() {
            continue;
        }
        let (mut methods, mut last_path) = (String::new(), String::new());
        for part in cell.split(" ; ") {
            let split = part.find(['/', '…']).expect("a path");
            let (these, paths) = part.split_at(split);
            let continued = these.trim().is_empty();
            if !continued {
                methods = these.to_owned();
            }
            let mut previous = String::new();
            for item in paths.split(", ") {
                let path = match item.strip_prefix('…') {
                    Some(tail) if continued && tail.starts_with("/{") => format!("{last_path}{tail}"),
                    Some(tail) if continued => format!("{}{tail}", &last_path[..last_path.rfind('/').unwrap()]),
                    _ if item.starts_with('/') && !previous.is_empty() && !item.starts_with("/nodes") => {
                        format!("{}{item}", &previous[..previous.rfind('/').unwrap()])
                    }
                    _ => item.to_owned(),
                };
                let path = path.split('?').next().unwrap().to_owned();
                let expanded = match path.split_once('[') {
                    Some((base, optional)) => {
                        vec![base.to_owned(), format!("{base}{}", optional.trim_end_matches(']'))]
                    }
                    None => vec![path.clone()],
                };
                for path in &expanded {
                    for method in methods.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                        rows.insert(Row {
                            method: method.to_owned(),
                            path: canonical(path),
                        });
                    }
                }
                previous = path.clone();
                last_path = path;
            }
        }
    }
    rows
}

/// Calls the API, remembers which templates were called, and checks each answer against its reference type.
struct Walk<'a> {
    server: &'a Server,
    token: String,
    called: BTreeSet<(String, String)>,
    /// Every place an answer did not fit its type, gathered so one run shows them all.
    misfits: Vec<String>,
}

impl Walk<'_> {
    /// `template` is the path with `{}` for each parameter; `args` fills them in order. A JSON body in and out.
    fn call(&mut self, method: Method, template: &str, args: &[&str], body: Option<Value>, status: u16) -> Value {
        let body = body.map(|body| ("application/json", body.to_string()));
        let text = self.send(method.clone(), template, args, body, status);
        let answer = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status < 300 && !answer.is_null() {
            self.check_type(method.as_str(), template, &answer);
        }
        answer
    }

    /// `call` with plain text in and out (a gateway's advanced configs).
    fn text(&mut self, method: Method, template: &str, args: &[&str], body: Option<String>, status: u16) -> String {
        self.send(method, template, args, body.map(|body| ("text/plain", body)), status)
    }

    /// Sends the request, checks its status, remembers the template as called; the answer's text.
    fn send(
        &mut self,
        method: Method,
        template: &str,
        args: &[&str],
        body: Option<(&str, String)>,
        status: u16,
    ) -> String {
        let mut path = template.to_owned();
        for arg in args {
            path = path.replacen("{}", arg, 1);
        }
        let request = client()
            .request(method.clone(), self.server.url(&path))
            .bearer_auth(&self.token);
        let response = match body {
            Some((content_type, body)) => request.header("content-type", content_type).body(body),
            None => request,
        }
        .send()
        .unwrap();
        let got = response.status().as_u16();
        let text = response.text().unwrap();
        assert_eq!(got, status, "{method} {path}: {text}");
        self.called.insert((method.to_string(), template.to_owned()));
        text
    }

    /// `answer` against the type `RESPONSE_TYPES` gives its operation; an answer with a body and no type there is
    /// a misfit too.
    fn check_type(&mut self, method: &str, template: &str, answer: &Value) {
        let operation = template.split('?').next().unwrap();
        let typed = RESPONSE_TYPES.iter().find(|(m, p, _)| *m == method && *p == operation);
        match typed {
            Some((_, _, "")) => {}
            Some((_, _, name)) => self.misfits.extend(
                reference_types::misfits(name, answer)
                    .into_iter()
                    .map(|misfit| format!("{method} {operation} ({name}): {misfit}")),
            ),
            None => self.misfits.push(format!(
                "{method} {operation} answered {answer} but has no row in RESPONSE_TYPES"
            )),
        }
    }
}

#[test]
fn every_node_resource_of_the_reference_answers_with_its_codes_and_fields() {
    let reference = reference_rows();
    let dir = temp_data_dir();
    let server = Server::start_with(dir.path(), &["--demo", "2"]);
    common::wait_until(std::time::Duration::from_secs(10), "the demo node is online", || {
        let nodes = common::get_json(&server, "/nodes");
        nodes[0]["status"] == "running" && nodes[1]["status"] == "running"
    });
    let mut walk = Walk {
        token: server.admin_token(),
        server: &server,
        called: BTreeSet::new(),
        misfits: Vec::new(),
    };
    use Method as M;
    let nodes = walk.call(M::GET, "/nodes", &[], None, 200);
    let node = nodes[0]["id"].as_str().unwrap().to_owned();
    let n = node.as_str();
    walk.call(M::GET, "/nodes/{}", &[n], None, 200);
    walk.call(M::GET, "/nodes/{}/stats", &[n], None, 200);
    walk.call(M::GET, "/nodes/{}/jobs", &[n], None, 200);
    walk.call(M::GET, "/nodes/{}/jobs/{}", &[n, "redis"], None, 200);
    walk.call(M::DELETE, "/nodes/{}/jobs/{}", &[n, "redis"], None, 204);
    walk.call(M::DELETE, "/nodes/{}/jobs", &[n], None, 204);
    assert_eq!(walk.call(M::POST, "/nodes/{}/ping", &[n], None, 200), json!(true));
    walk.call(M::GET, "/nodes/{}/state", &[n], None, 200);
    for info in ["cpus", "disks", "mounts", "mem", "nics", "info"] {
        walk.call(M::GET, &format!("/nodes/{{}}/{info}"), &[n], None, 200);
    }
    walk.call(M::GET, "/nodes/{}/processes", &[n], None, 200);
    walk.call(M::GET, "/nodes/{}/processes/{}", &[n, "1"], None, 200);
    walk.call(M::DELETE, "/nodes/{}/processes/{}", &[n, "4242"], None, 404);

    // Bridges and ZeroTier networks.
    let bridge = json!({"name": "br0", "networkMode": "static", "nat": false, "setting": {"cidr": "10.9.0.1/24"}});
    walk.call(M::GET, "/nodes/{}/bridges", &[n], None, 200);
    walk.call(M::POST, "/nodes/{}/bridges", &[n], Some(bridge), 201);
    walk.call(M::GET, "/nodes/{}/bridges", &[n], None, 200);
    walk.call(M::GET, "/nodes/{}/bridges/{}", &[n, "br0"], None, 200);
    walk.call(M::DELETE, "/nodes/{}/bridges/{}", &[n, "br0"], None, 204);
    walk.call(M::GET, "/nodes/{}/zerotiers", &[n], None, 200);
    walk.call(
        M::POST,
        "/nodes/{}/zerotiers",
        &[n],
        Some(json!({"nwid": "8056c2e21c000001"})),
        201,
    );
    walk.call(M::GET, "/nodes/{}/zerotiers", &[n], None, 200);
    walk.call(M::GET, "/nodes/{}/zerotiers/{}", &[n, "8056c2e21c000001"], None, 200);
    walk.call(M::DELETE, "/nodes/{}/zerotiers/{}", &[n, "8056c2e21c000001"], None, 204);

    // Storage: a pool on two disks, a filesystem, a snapshot, rollback, and back.
    let disks = walk.call(M::GET, "/nodes/{}/disks", &[n], None, 200);
    let devices = common::device_paths(&disks);
    let pool = json!({"name": "tank", "dataProfile": "raid1", "metadataProfile": "raid1", "devices": devices[..2]});
    walk.call(M::GET, "/nodes/{}/storagepools", &[n], None, 200);
    walk.call(M::POST, "/nodes/{}/storagepools", &[n], Some(pool), 201);
    walk.call(M::GET, "/nodes/{}/storagepools", &[n], None, 200);
    walk.call(M::GET, "/nodes/{}/storagepools/{}", &[n, "tank"], None, 200);
    walk.call(M::GET, "/nodes/{}/storagepools/{}/devices", &[n, "tank"], None, 200);
    let third = vec![devices[2].clone()];
    let added = walk.call(
        M::POST,
        "/nodes/{}/storagepools/{}/devices",
        &[n, "tank"],
        Some(json!(third)),
        201,
    );
    let uuid = added[2]["uuid"].as_str().unwrap().to_owned();
    walk.call(
        M::GET,
        "/nodes/{}/storagepools/{}/devices/{}",
        &[n, "tank", &uuid],
        None,
        200,
    );
    walk.call(
        M::DELETE,
        "/nodes/{}/storagepools/{}/devices/{}",
        &[n, "tank", &uuid],
        None,
        204,
    );
    let fs_path = "/nodes/{}/storagepools/{}/filesystems";
    walk.call(M::GET, fs_path, &[n, "tank"], None, 200);
    walk.call(
        M::POST,
        fs_path,
        &[n, "tank"],
        Some(json!({"name": "data", "quota": 100, "readOnly": false})),
        201,
    );
    walk.call(M::GET, fs_path, &[n, "tank"], None, 200);
    walk.call(
        M::GET,
        "/nodes/{}/storagepools/{}/filesystems/{}",
        &[n, "tank", "data"],
        None,
        200,
    );
    let snapshots = "/nodes/{}/storagepools/{}/filesystems/{}/snapshots";
    walk.call(M::GET, snapshots, &[n, "tank", "data"], None, 200);
    walk.call(
        M::POST,
        snapshots,
        &[n, "tank", "data"],
        Some(json!({"name": "first"})),
        201,
    );
    walk.call(M::GET, snapshots, &[n, "tank", "data"], None, 200);
    let one = "/nodes/{}/storagepools/{}/filesystems/{}/snapshots/{}";
    walk.call(M::GET, one, &[n, "tank", "data", "first"], None, 200);
    walk.call(
        M::POST,
        &format!("{one}/rollback"),
        &[n, "tank", "data", "first"],
        None,
        204,
    );
    walk.call(M::DELETE, one, &[n, "tank", "data", "first"], None, 204);
    walk.call(
        M::DELETE,
        "/nodes/{}/storagepools/{}/filesystems/{}",
        &[n, "tank", "data"],
        None,
        204,
    );
    walk.call(M::DELETE, "/nodes/{}/storagepools/{}", &[n, "tank"], None, 204);

    // Containers, and direct access inside one.
    let container = json!({"name": "web", "hostname": "web", "flist": "https://hub.grid.tf/tf-official-apps/ubuntu-18.04.flist",
        "nics": [{"type": "default"}], "hostNetworking": false, "ports": [], "initProcesses": [{"name": "sleep", "args": ["600"]}]});
    walk.call(M::GET, "/nodes/{}/containers", &[n], None, 200);
    walk.call(M::POST, "/nodes/{}/containers", &[n], Some(container), 201);
    let c = "/nodes/{}/containers/{}";
    walk.call(M::GET, "/nodes/{}/containers", &[n], None, 200);
    walk.call(M::GET, c, &[n, "web"], None, 200);
    let nics = json!({"nics": [{"type": "default"}, {"type": "zerotier", "id": "8056c2e21c000001"}]});
    walk.call(M::PUT, c, &[n, "web"], Some(nics), 204);
    let file = format!("{c}/filesystem?path=/tmp/f");
    let boundary = "parity-boundary";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nhello\r\n--{boundary}--\r\n"
    );
    let uploaded = server
        .request_as(
            &server.admin_token(),
            Method::POST,
            &file.replacen("{}", n, 1).replacen("{}", "web", 1),
        )
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(form)
        .send()
        .unwrap();
    assert_eq!(uploaded.status(), 204);
    walk.called.insert(("POST".into(), format!("{c}/filesystem")));
    walk.call(M::GET, &file, &[n, "web"], None, 200);
    walk.call(
        M::DELETE,
        &format!("{c}/filesystem"),
        &[n, "web"],
        Some(json!({"path": "/tmp/f"})),
        204,
    );
    walk.call(M::POST, &format!("{c}/stop"), &[n, "web"], None, 204);
    walk.call(M::POST, &format!("{c}/start"), &[n, "web"], None, 201);
    walk.call(M::GET, &format!("{c}/jobs"), &[n, "web"], None, 200);
    let started = walk.call(
        M::POST,
        &format!("{c}/jobs"),
        &[n, "web"],
        Some(json!({"name": "sleep", "args": ["600"]})),
        202,
    );
    let job = started["id"].as_str().unwrap().to_owned();
    let job_path = format!("{c}/jobs/{{}}");
    walk.call(M::GET, &job_path, &[n, "web", &job], None, 200);
    walk.call(M::POST, &job_path, &[n, "web", &job], Some(json!({"signal": 15})), 204);
    walk.call(M::DELETE, &job_path, &[n, "web", "no-such-job"], None, 404);
    walk.call(M::DELETE, &format!("{c}/jobs"), &[n, "web"], None, 204);
    assert_eq!(
        walk.call(M::POST, &format!("{c}/ping"), &[n, "web"], None, 200),
        json!(true)
    );
    for info in ["state", "cpus", "mem", "nics", "info"] {
        walk.call(M::GET, &format!("{c}/{info}"), &[n, "web"], None, 200);
    }
    let processes = walk.call(M::GET, &format!("{c}/processes"), &[n, "web"], None, 200);
    let pid = processes[0]["pid"].to_string();
    let process = format!("{c}/processes/{{}}");
    walk.call(M::GET, &process, &[n, "web", &pid], None, 200);
    walk.call(M::POST, &process, &[n, "web", "4242"], Some(json!({"signal": 15})), 404);
    walk.call(M::DELETE, &process, &[n, "web", "4242"], None, 404);
    walk.call(M::DELETE, c, &[n, "web"], None, 204);

    // VMs.
    let vm = json!({"id": "vm0", "memory": 1024, "cpu": 1, "nics": [{"type": "default"}], "disks": [{"vdiskid": "boot", "maxIOps": 500}]});
    walk.call(M::GET, "/nodes/{}/vms", &[n], None, 200);
    walk.call(M::POST, "/nodes/{}/vms", &[n], Some(vm), 201);
    walk.call(M::GET, "/nodes/{}/vms", &[n], None, 200);
    let v = "/nodes/{}/vms/{}";
    walk.call(M::GET, v, &[n, "vm0"], None, 200);
    walk.call(M::GET, &format!("{v}/info"), &[n, "vm0"], None, 200);
    for action in ["pause", "resume", "stop"] {
        walk.call(M::POST, &format!("{v}/{action}"), &[n, "vm0"], None, 204);
    }
    walk.call(M::PUT, v, &[n, "vm0"], Some(json!({"memory": 2048, "cpu": 2})), 204);
    for action in ["start", "shutdown"] {
        walk.call(M::POST, &format!("{v}/{action}"), &[n, "vm0"], None, 204);
    }
    let other = nodes[1]["id"].as_str().unwrap().to_owned();

    // Export to a real HTTP server and import back (tests/vm_transfer.rs also goes over FTP); an import names a
    // vdisk storage, on a storage cluster of the other node.
    let files = tempfile::tempdir().unwrap();
    let (_http, port) = common::start_file_server("http", files.path());
    let cluster =
        json!({"label": "blocks", "servers": 1, "driveType": "ssd", "nodes": [other], "clusterType": "block"});
    // 201 once deployed, or 202 with the job when the deployment outlasts `--apply-wait`: either is fine here.
    let (status, answer) = common::admin_call(&server, M::POST, "/storageclusters", Some(cluster));
    assert!([201, 202].contains(&status), "{answer}");
    walk.called.insert(("POST".into(), "/storageclusters".into()));
    common::wait_until(std::time::Duration::from_secs(60), "the storage cluster ready", || {
        common::get_json(&server, "/storageclusters/blocks")["status"] == "ready"
    });
    walk.call(M::GET, "/storageclusters", &[], None, 200);
    walk.call(M::GET, "/storageclusters/{}", &["blocks"], None, 200);
    walk.call(M::GET, "/health/storageclusters", &[], None, 200);
    walk.call(M::GET, "/health/storageclusters/{}", &["blocks"], None, 200);
    let storage = json!({"id": "vs", "blockCluster": "blocks"});
    walk.call(M::POST, "/vdiskstorage", &[], Some(storage), 201);
    walk.call(M::GET, "/vdiskstorage", &[], None, 200);
    walk.call(M::GET, "/vdiskstorage/{}", &["vs"], None, 200);
    let exported = walk.call(
        M::POST,
        &format!("{v}/export"),
        &[n, "vm0"],
        Some(json!({"url": format!("http://127.0.0.1:{port}/exports")})),
        200,
    );
    let import = json!({"url": exported["url"], "id": "vm1", "vdiskstorage": "vs"});
    walk.call(M::POST, "/nodes/{}/vms/import", &[n], Some(import), 200);
    walk.call(M::DELETE, v, &[n, "vm1"], None, 204);

    walk.call(
        M::POST,
        &format!("{v}/migrate"),
        &[n, "vm0"],
        Some(json!({"nodeid": other})),
        204,
    );
    walk.call(M::DELETE, v, &[&other, "vm0"], None, 204);

    walk_gateways(&mut walk, n, &other);
    walk_vdisks_health_and_webhooks(&mut walk, n);

    walk.call(M::POST, "/nodes/{}/reboot", &[n], Some(json!({"force": false})), 204);
    walk.call(M::DELETE, "/nodes/{}", &[n], None, 204);

    // Every reference row was called, or is listed as not implemented (and then it really is not called).
    let called: Vec<(String, String)> = walk
        .called
        .iter()
        .map(|(m, p)| (m.clone(), canonical(p.split('?').next().unwrap())))
        .collect();
    let matches = |row: &Row, method: &str, path: &str| {
        method == row.method
            && match row.path.strip_prefix('…') {
                Some(suffix) => path.ends_with(suffix),
                None => path == row.path,
            }
    };
    let mut missing = Vec::new();
    for row in &reference {
        let walked = called.iter().any(|(m, p)| matches(row, m, p));
        let excused = NOT_IMPLEMENTED
            .iter()
            .any(|(m, p, _)| *m == row.method && *p == row.path);
        assert!(
            !(walked && excused),
            "{row:?} is listed as not implemented but was called"
        );
        if !walked && !excused {
            missing.push(row.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "reference rows not called and not listed as not implemented: {missing:#?}"
    );
    assert!(
        walk.misfits.is_empty(),
        "answers that do not fit the reference's types:\n{}",
        walk.misfits.join("\n")
    );
    for (method, path, _) in NOT_IMPLEMENTED {
        assert!(
            reference.iter().any(|row| row.method == *method && row.path == *path),
            "NOT_IMPLEMENTED lists {method} {path}, which is not in the reference table"
        );
    }
    eprintln!(
        "parity: {} reference rows, {} called, {} not implemented",
        reference.len(),
        reference.len() - NOT_IMPLEMENTED.len(),
        NOT_IMPLEMENTED.len()
    );
}

/// The gateway operations: one with a ZeroTier-bridged private NIC and a DHCP host with cloud-init, its forwards,
/// hosts, proxies and advanced configs changed, stopped, started, replaced, moved to `other` and deleted there.
fn walk_gateways(walk: &mut Walk, n: &str, other: &str) {
    use Method as M;
    let cloudinit = json!({"userdata": "#cloud-config\npackages: [nginx]\n", "metadata": "local-hostname: web\n"});
    let gateway = json!({"name": "gw1", "domain": "lan.example",
        "nics": [
            {"type": "default", "name": "public", "config": {"cidr": "10.0.0.2/24", "gateway": "10.0.0.1"}},
            {"type": "vlan", "id": "100", "name": "lan", "config": {"cidr": "192.168.1.1/24"},
             "zerotierbridge": {"id": "8056c2e21c000002"},
             "dhcpserver": {"nameservers": ["1.1.1.1"],
                            "hosts": [{"macaddress": "52:54:00:00:00:01", "hostname": "web",
                                       "ipaddress": "192.168.1.10", "cloudinit": cloudinit}]}}],
        "portforwards": [{"protocols": ["tcp"], "srcip": "10.0.0.2", "srcport": 8080, "dstip": "192.168.1.10", "dstport": 80}],
        "httpproxies": [{"host": "web.example", "destinations": ["http://192.168.1.10:80"], "types": ["http"]}]});
    let gws = "/nodes/{}/gws";
    let g = "/nodes/{}/gws/{}";
    walk.call(M::GET, gws, &[n], None, 200);
    walk.call(M::POST, gws, &[n], Some(gateway.clone()), 201);
    let listed = walk.call(M::GET, gws, &[n], None, 200);
    assert_eq!(
        listed[0]["nics"][1]["zerotierbridge"]["id"], "8056c2e21c000002",
        "{listed}"
    );
    let got = walk.call(M::GET, g, &[n, "gw1"], None, 200);
    assert_eq!(
        got["nics"][1]["dhcpserver"]["hosts"][0]["cloudinit"], cloudinit,
        "{got}"
    );

    let forwards = format!("{g}/firewall/forwards");
    walk.call(M::GET, &forwards, &[n, "gw1"], None, 200);
    let forward =
        json!({"protocols": ["tcp"], "srcip": "10.0.0.2", "srcport": 2222, "dstip": "192.168.1.10", "dstport": 22});
    walk.call(M::POST, &forwards, &[n, "gw1"], Some(forward), 201);
    walk.call(
        M::DELETE,
        &format!("{forwards}/{{}}"),
        &[n, "gw1", "10.0.0.2:2222"],
        None,
        204,
    );

    let hosts = format!("{g}/dhcp/{{}}/hosts");
    let host = json!({"macaddress": "52:54:00:00:00:02", "hostname": "db", "ipaddress": "192.168.1.11",
        "cloudinit": {"userdata": "#cloud-config\n", "metadata": "local-hostname: db\n"}});
    walk.call(M::POST, &hosts, &[n, "gw1", "lan"], Some(host), 204);
    let leases = walk.call(M::GET, &hosts, &[n, "gw1", "lan"], None, 200);
    assert_eq!(leases[1]["cloudinit"]["metadata"], "local-hostname: db\n", "{leases}");
    walk.call(
        M::DELETE,
        &format!("{hosts}/{{}}"),
        &[n, "gw1", "lan", "52:54:00:00:00:02"],
        None,
        204,
    );

    let proxies = format!("{g}/httpproxies");
    walk.call(M::GET, &proxies, &[n, "gw1"], None, 200);
    let proxy = json!({"host": "db.example", "destinations": ["http://192.168.1.11:8080"], "types": ["http", "https"]});
    walk.call(M::POST, &proxies, &[n, "gw1"], Some(proxy), 201);
    walk.call(M::GET, &format!("{proxies}/{{}}"), &[n, "gw1", "db.example"], None, 200);
    walk.call(
        M::DELETE,
        &format!("{proxies}/{{}}"),
        &[n, "gw1", "db.example"],
        None,
        204,
    );

    // The advanced configs are text in and out: read each, and set it back as it was.
    for config in ["http", "firewall"] {
        let path = format!("{g}/advanced/{config}");
        let text = walk.text(M::GET, &path, &[n, "gw1"], None, 200);
        walk.text(M::POST, &path, &[n, "gw1"], Some(text), 204);
    }

    walk.call(M::POST, &format!("{g}/stop"), &[n, "gw1"], Some(json!({})), 204);
    walk.call(M::POST, &format!("{g}/start"), &[n, "gw1"], Some(json!({})), 201);
    let mut update = gateway;
    update.as_object_mut().unwrap().remove("name");
    update["domain"] = json!("lan2.example");
    walk.call(M::PUT, g, &[n, "gw1"], Some(update), 204);
    walk.call(
        M::POST,
        &format!("{g}/migrate"),
        &[n, "gw1"],
        Some(json!({"node": other})),
        200,
    );
    walk.call(M::DELETE, g, &[other, "gw1"], None, 204);
}

/// Vdisks in the vdisk storage `vs` (then it and its cluster `blocks` deleted), the nodes' health, and webhooks.
fn walk_vdisks_health_and_webhooks(walk: &mut Walk, n: &str) {
    use Method as M;
    let vdisks = "/vdiskstorage/{}/vdisks";
    let vdisk = "/vdiskstorage/{}/vdisks/{}";
    walk.call(M::GET, vdisks, &["vs"], None, 200);
    let body = json!({"id": "vd1", "size": 1, "type": "db"});
    walk.call(M::POST, vdisks, &["vs"], Some(body), 201);
    walk.call(M::GET, vdisks, &["vs"], None, 200);
    walk.call(M::GET, vdisk, &["vs", "vd1"], None, 200);
    walk.call(
        M::POST,
        &format!("{vdisk}/resize"),
        &["vs", "vd1"],
        Some(json!({"newSize": 2})),
        204,
    );
    walk.call(M::DELETE, vdisk, &["vs", "vd1"], None, 204);
    walk.call(M::DELETE, "/vdiskstorage/{}", &["vs"], None, 204);
    // 204 once the engines are gone, or 202 with the job.
    let (status, answer) = common::admin_call(walk.server, M::DELETE, "/storageclusters/blocks", None);
    assert!([202, 204].contains(&status), "{answer}");
    walk.called.insert(("DELETE".into(), "/storageclusters/{}".into()));

    walk.call(M::GET, "/health/nodes", &[], None, 200);
    walk.call(M::GET, "/health/nodes/{}", &[n], None, 200);

    let hook = json!({"name": "ops", "url": "https://example.net/hook", "eventtypes": ["ork"], "secret": "parity-secret-0123456789"});
    walk.call(M::GET, "/webhooks", &[], None, 200);
    walk.call(M::POST, "/webhooks", &[], Some(hook), 201);
    walk.call(M::GET, "/webhooks", &[], None, 200);
    walk.call(M::GET, "/webhooks/{}", &["ops"], None, 200);
    let update = json!({"url": "https://example.net/other", "eventtypes": ["ork"]});
    walk.call(M::PUT, "/webhooks/{}", &["ops"], Some(update), 204);
    walk.call(M::DELETE, "/webhooks/{}", &["ops"], None, 204);
}
