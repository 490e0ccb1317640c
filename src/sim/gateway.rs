//! The gateway flist's programs on an emulated node: `nft`, `dnsmasq` and `caddy`, run in a container of the
//! gateway flist. Like the real ones they read their configuration files (the container's, kept by `files.rs`)
//! and refuse what the real tools refuse: a ruleset that does not parse, or that forwards a port already in use
//! (by another forward, or by the gateway's own DNS, DHCP or HTTP server); a DHCP host outside every DHCP range,
//! or a MAC address given twice; a Caddyfile that does not parse. The services (`dnsmasq -d`, `caddy -conf`)
//! check the same way, then run until they are killed. Nothing is executed for real.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::Value;

use super::programs::{LONGEST, Program, Step};

/// The gateway flist (its file name on the hub).
pub const GATEWAY_FLIST: &str = "zero-os-gw-master.flist";
/// Where the flist's dnsmasq and Caddy keep their configurations: what the firewall checks ports against.
const DNSMASQ_CONFIG: &str = "/etc/dnsmasq.conf";
const CADDY_CONFIG: &str = "/etc/caddy.conf";

/// Whether `name` run in a container created with `arguments` is one of the gateway's programs.
pub fn is_gateway_program(name: &str, arguments: &Value) -> bool {
    let root = arguments["root"].as_str().unwrap_or_default();
    root.rsplit('/').next() == Some(GATEWAY_FLIST)
        && matches!(name.rsplit('/').next(), Some("nft" | "dnsmasq" | "caddy"))
}

/// The program `name args` of the gateway flist, reading the container's files through `read`.
pub fn program(name: &str, args: &[String], read: impl Fn(&str) -> Option<String>) -> Program {
    let cmdline = std::iter::once(name)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let outcome = match name.rsplit('/').next() {
        Some("nft") => nft(args, &read),
        Some("dnsmasq") => dnsmasq(args, &read),
        _ => caddy(args, &read),
    };
    let (steps, exit_code) = match outcome {
        Ok(Run::Done(line)) => (vec![Step::Stdout(line)], 0),
        Ok(Run::Serve(line)) => (vec![Step::Stdout(line), Step::Pause(LONGEST)], 0),
        Err(message) => (vec![Step::Stderr(message)], 1),
    };
    Program {
        cmdline,
        steps,
        exit_code,
    }
}

/// What a program that accepted its configuration does: print a line and end, or serve until killed.
enum Run {
    Done(String),
    Serve(String),
}

/// The value after `flag` (`-f FILE`), or of `flag=VALUE`.
fn option<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, arg)| {
        if arg == flag {
            args.get(i + 1).map(String::as_str)
        } else {
            arg.strip_prefix(flag)?.strip_prefix('=')
        }
    })
}

fn file(read: &impl Fn(&str) -> Option<String>, path: Option<&str>, program: &str) -> Result<(String, String), String> {
    let path = path.ok_or_else(|| format!("{program}: no configuration file given"))?;
    let text = read(path).ok_or_else(|| format!("{program}: cannot open {path}: No such file or directory"))?;
    Ok((path.to_owned(), text))
}

/// `nft [-c] -f FILE`.
fn nft(args: &[String], read: &impl Fn(&str) -> Option<String>) -> Result<Run, String> {
    let (path, text) = file(read, option(args, "-f"), "nft")?;
    let forwards = parse_ruleset(&path, &text)?;
    let mut taken = service_ports(read);
    for (line, port) in forwards {
        if let Some(owner) = taken
            .iter()
            .find(|(p, _)| p.clashes(&port))
            .map(|(_, owner)| owner.clone())
        {
            return Err(format!(
                "{path}:{line}: Error: {}/{} is already in use by {owner}",
                port.port, port.protocol
            ));
        }
        taken.push((port, format!("the forward on line {line}")));
    }
    Ok(Run::Done(String::new()))
}

/// A port a rule or a service takes: protocol, port, and the address (`None`: every address of the gateway).
#[derive(Debug, Clone, PartialEq)]
struct Port {
    protocol: String,
    port: u16,
    address: Option<Ipv4Addr>,
}

impl Port {
    fn clashes(&self, other: &Port) -> bool {
        self.protocol == other.protocol
            && self.port == other.port
            && (self.address.is_none() || other.address.is_none() || self.address == other.address)
    }
}

/// The ports the gateway's own servers take: DNS and DHCP when dnsmasq serves a range, HTTP(S) for Caddy's sites.
fn service_ports(read: &impl Fn(&str) -> Option<String>) -> Vec<(Port, String)> {
    let port = |protocol: &str, port| Port {
        protocol: protocol.into(),
        port,
        address: None,
    };
    let mut taken = Vec::new();
    if read(DNSMASQ_CONFIG).is_some_and(|text| text.lines().any(|line| line.starts_with("dhcp-range="))) {
        for (protocol, number) in [("udp", 53), ("tcp", 53), ("udp", 67)] {
            taken.push((
                port(protocol, number),
                "dnsmasq (the gateway's DNS and DHCP server)".to_owned(),
            ));
        }
    }
    if let Some(text) = read(CADDY_CONFIG)
        && let Ok(sites) = parse_caddyfile(CADDY_CONFIG, &text)
    {
        let ports: BTreeSet<u16> = sites.iter().flat_map(|site| site_ports(site)).collect();
        for number in ports {
            taken.push((port("tcp", number), "caddy (the gateway's HTTP proxy)".to_owned()));
        }
    }
    taken
}

/// The ports Caddy listens on for a site address: `http://` 80, `https://` 443 (and 80 to redirect), an explicit
/// `:port`, else both.
fn site_ports(site: &str) -> Vec<u16> {
    let (scheme, rest) = site.split_once("://").map_or(("", site), |(s, r)| (s, r));
    if let Some(port) = rest.rsplit_once(':').and_then(|(_, port)| port.parse().ok()) {
        return vec![port];
    }
    match scheme {
        "http" => vec![80],
        _ => vec![80, 443],
    }
}

/// Parses an nftables ruleset (tables of chains of rules) as `nft` does, with its error format; returns the
/// port each DNAT rule takes, by line.
fn parse_ruleset(path: &str, text: &str) -> Result<Vec<(usize, Port)>, String> {
    let mut depth = 0;
    let mut forwards = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        let number = index + 1;
        let error = |unexpected: &str| format!("{path}:{number}: Error: syntax error, unexpected {unexpected}");
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match (depth, words.as_slice()) {
            (_, ["}"]) if depth > 0 => depth -= 1,
            (_, ["}"]) => return Err(error("'}'")),
            (0, ["table", family, _, "{"]) if ["ip", "ip6", "inet", "arp", "bridge", "netdev"].contains(family) => {
                depth = 1
            }
            (1, ["chain", _, "{"]) => depth = 2,
            (2, ["type", ..]) => chain_type(line).ok_or_else(|| error(&format!("'{line}'")))?,
            (2, _) => {
                if let Some(port) = rule(&words).map_err(|word| error(&format!("'{word}'")))? {
                    forwards.push((number, port));
                }
            }
            (_, [first, ..]) => return Err(error(&format!("'{first}'"))),
            (_, []) => {}
        }
    }
    if depth != 0 {
        return Err(format!("{path}: Error: syntax error, unexpected end of file"));
    }
    Ok(forwards)
}

/// `type nat hook prerouting priority 0; policy accept;`
fn chain_type(line: &str) -> Option<()> {
    let mut parts = line.trim_end_matches(';').split(';').map(str::trim);
    let words: Vec<&str> = parts.next()?.split_whitespace().collect();
    let ok = matches!(words.as_slice(), ["type", "filter" | "nat" | "route", "hook", hook, "priority", priority]
        if ["prerouting", "postrouting", "input", "output", "forward"].contains(hook) && priority.parse::<i32>().is_ok());
    let policy_ok = parts.all(|part| {
        matches!(
            part.split_whitespace().collect::<Vec<_>>().as_slice(),
            ["policy", "accept" | "drop"]
        )
    });
    (ok && policy_ok).then_some(())
}

/// One rule's words: matches, then statements. Returns the port a DNAT takes, or the first word `nft` would not
/// take.
fn rule<'a>(words: &[&'a str]) -> Result<Option<Port>, &'a str> {
    let (mut protocol, mut port, mut address, mut dnat) = (None, None, None, false);
    let mut words = words.iter().copied();
    while let Some(word) = words.next() {
        let mut value = || words.next().ok_or(word);
        match word {
            "ip" => match (value()?, value()?) {
                ("daddr", addr) => address = Some(addr.parse::<Ipv4Addr>().map_err(|_| addr)?),
                ("saddr", addr) => drop(
                    addr.split('/')
                        .next()
                        .and_then(|a| a.parse::<Ipv4Addr>().ok())
                        .ok_or(addr)?,
                ),
                (other, _) => return Err(other),
            },
            "tcp" | "udp" => {
                protocol = Some(word.to_owned());
                match (value()?, value()?) {
                    ("dport", p) => port = Some(p.parse::<u16>().map_err(|_| p)?),
                    ("sport", p) => drop(p.parse::<u16>().map_err(|_| p)?),
                    (other, _) => return Err(other),
                }
            }
            "iifname" | "oifname" => drop(value()?),
            "ct" => match value()? {
                "state" => drop(value()?),
                other => return Err(other),
            },
            "counter" | "accept" | "drop" | "reject" | "masquerade" | "return" => {}
            "dnat" | "snat" => {
                if value()? != "to" {
                    return Err(word);
                }
                let target = value()?;
                let host = target.rsplit_once(':').map_or(target, |(host, _)| host);
                host.parse::<Ipv4Addr>().map_err(|_| target)?;
                dnat |= word == "dnat";
            }
            other => return Err(other),
        }
    }
    Ok(match (dnat, protocol, port) {
        (true, Some(protocol), Some(port)) => Some(Port {
            protocol,
            port,
            address,
        }),
        _ => None,
    })
}

/// `dnsmasq [--test] --conf-file=FILE [-d]`.
fn dnsmasq(args: &[String], read: &impl Fn(&str) -> Option<String>) -> Result<Run, String> {
    let (path, text) = file(read, option(args, "--conf-file"), "dnsmasq")?;
    let mut ranges = Vec::new();
    let mut hosts = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let bad = || format!("dnsmasq: bad option at line {} of {path}", index + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        match key {
            "dhcp-range" => ranges.push(dhcp_range(value).ok_or_else(bad)?),
            "dhcp-host" => hosts.push((path.clone(), index + 1, value.to_owned())),
            "dhcp-hostsfile" => {
                let hosts_text =
                    read(value).ok_or_else(|| format!("dnsmasq: cannot read {value}: No such file or directory"))?;
                for (line, host) in hosts_text.lines().enumerate().filter(|(_, h)| !h.trim().is_empty()) {
                    hosts.push((value.to_owned(), line + 1, host.trim().to_owned()));
                }
            }
            "domain" | "no-resolv" | "bind-interfaces" | "interface" | "dhcp-option" | "server" | "port"
            | "listen-address" | "address" | "log-queries" | "log-dhcp" | "expand-hosts" | "local"
            | "dhcp-authoritative" | "no-hosts" | "except-interface" | "dhcp-leasefile" | "cache-size" => {}
            _ => return Err(bad()),
        }
    }
    let mut macs = BTreeSet::new();
    for (file, line, host) in hosts {
        let fields: Vec<&str> = host.split(',').collect();
        let mac = fields.iter().find(|f| f.len() == 17 && f.matches(':').count() == 5);
        let ip = fields.iter().find_map(|f| f.parse::<Ipv4Addr>().ok());
        let (Some(mac), Some(ip)) = (mac, ip) else {
            return Err(format!("dnsmasq: bad dhcp-host at line {line} of {file}"));
        };
        if !macs.insert(mac.to_ascii_lowercase()) {
            return Err(format!(
                "dnsmasq: duplicate dhcp-host MAC address {mac} at line {line} of {file}"
            ));
        }
        if !ranges.iter().any(|(network, mask)| u32::from(ip) & mask == *network) {
            return Err(format!(
                "dnsmasq: dhcp-host {ip} at line {line} of {file} is outside every dhcp-range"
            ));
        }
    }
    if args.iter().any(|arg| arg == "--test") {
        return Ok(Run::Done("dnsmasq: syntax check OK.".into()));
    }
    Ok(Run::Serve(format!(
        "dnsmasq: started, DHCP on {} range(s)",
        ranges.len()
    )))
}

/// A `dhcp-range` value's network and mask: `[set:tag,]start[,end|,static][,mask][,lease]`.
fn dhcp_range(value: &str) -> Option<(u32, u32)> {
    let items: Vec<&str> = value
        .split(',')
        .filter(|item| !item.starts_with("set:") && !item.starts_with("tag:"))
        .collect();
    let start: Ipv4Addr = items.first()?.parse().ok()?;
    let addresses: Vec<Ipv4Addr> = items[1..].iter().filter_map(|item| item.parse().ok()).collect();
    let mask = match (items.get(1) == Some(&"static"), addresses.as_slice()) {
        (true, [mask, ..]) | (false, [_, mask, ..]) => u32::from(*mask),
        _ => u32::MAX << 8,
    };
    (mask.leading_ones() + mask.trailing_zeros() == 32).then_some((u32::from(start) & mask, mask))
}

/// `caddy [-validate] [-agree] -conf FILE`.
fn caddy(args: &[String], read: &impl Fn(&str) -> Option<String>) -> Result<Run, String> {
    let (path, text) = file(read, option(args, "-conf"), "caddy")?;
    let sites = parse_caddyfile(&path, &text)?;
    if args.iter().any(|arg| arg == "-validate") {
        return Ok(Run::Done("Caddyfile is valid".into()));
    }
    Ok(Run::Serve(format!(
        "Activating privacy features... done.\nServing {} site(s)",
        sites.len()
    )))
}

/// Directives of Caddy 1 the gateway's Caddyfiles may use.
const DIRECTIVES: &[&str] = &[
    "proxy",
    "tls",
    "gzip",
    "log",
    "errors",
    "root",
    "header",
    "redir",
    "rewrite",
    "basicauth",
    "bind",
    "limits",
    "timeouts",
    "status",
    "browse",
    "ext",
    "internal",
    "mime",
    "templates",
    "websocket",
    "realip",
    "expires",
];

/// Parses a Caddyfile (sites with blocks of directives, directives with their own blocks) with Caddy 1's error
/// format; returns the site addresses.
fn parse_caddyfile(path: &str, text: &str) -> Result<Vec<String>, String> {
    let mut depth = 0;
    let mut sites = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        let error = |what: String| format!("{path}:{} - Error during parsing: {what}", index + 1);
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let opens = words.last() == Some(&"{");
        let words = if opens { &words[..words.len() - 1] } else { &words[..] };
        match (depth, words) {
            (0, []) if opens => return Err(error("Unexpected '{' without a site address".into())),
            (_, ["}"]) if depth > 0 => depth -= 1,
            (_, ["}"]) => return Err(error("Unexpected '}' because no matching opening brace".into())),
            (0, addresses) if opens => {
                sites.extend(addresses.iter().map(|a| a.trim_end_matches(',').to_owned()));
                depth = 1;
            }
            (0, _) => return Err(error(format!("Unexpected '{line}', expecting a site block"))),
            (1, [directive, rest @ ..]) => {
                if !DIRECTIVES.contains(directive) {
                    return Err(error(format!("Unknown directive '{directive}'")));
                }
                if *directive == "proxy" && rest.len() < 2 && !opens {
                    return Err(error(
                        "Wrong argument count or unexpected line ending after 'proxy'".into(),
                    ));
                }
                if opens {
                    depth = 2;
                }
            }
            (_, _) if opens => depth += 1,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("{path} - Error during parsing: Unexpected EOF"));
    }
    Ok(sites)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "table ip nat {\n\tchain pre {\n\t\ttype nat hook prerouting priority 0; policy accept;\n\t\tip daddr 10.0.0.2 tcp dport 8080 dnat to 192.168.1.10:80\n\t}\n}\n";
    const DNSMASQ: &str = "domain=lan\ndhcp-hostsfile=/etc/dhcp\ndhcp-range=set:lan,192.168.1.0,static,255.255.255.0\n";

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run(name: &str, list: &[&str], files: &[(&str, &str)]) -> Result<String, String> {
        let files: Vec<(String, String)> = files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
        let program = program(name, &args(list), |path| {
            files.iter().find(|(p, _)| p == path).map(|(_, t)| t.clone())
        });
        let text = |step: &Step| match step {
            Step::Stdout(text) | Step::Stderr(text) => text.clone(),
            Step::Pause(_) => String::new(),
        };
        let output = program.steps.first().map(text).unwrap_or_default();
        if program.exit_code == 0 {
            Ok(output)
        } else {
            Err(output)
        }
    }

    #[test]
    fn nft_loads_a_ruleset_and_refuses_one_that_does_not_parse() {
        let conf = "/etc/nftables.conf";
        assert!(run("/sbin/nft", &["-c", "-f", conf], &[(conf, RULES)]).is_ok());
        let broken = RULES.replace("dnat to", "dnat into");
        let error = run("/sbin/nft", &["-f", conf], &[(conf, &broken)]).unwrap_err();
        assert!(
            error.starts_with("/etc/nftables.conf:4: Error: syntax error"),
            "{error}"
        );
        let unclosed = RULES.trim_end().trim_end_matches('}');
        assert!(
            run("/sbin/nft", &["-f", conf], &[(conf, unclosed)])
                .unwrap_err()
                .contains("end of file")
        );
    }

    #[test]
    fn nft_refuses_a_forward_to_a_port_in_use() {
        let conf = "/etc/nftables.conf";
        let twice = RULES.replace(
            "\t}\n}",
            "\t\tip daddr 10.0.0.2 tcp dport 8080 dnat to 192.168.1.11:80\n\t}\n}",
        );
        let error = run("nft", &["-f", conf], &[(conf, &twice)]).unwrap_err();
        assert!(
            error.contains("8080/tcp is already in use by the forward on line 4"),
            "{error}"
        );
        let on_http = RULES.replace("dport 8080", "dport 80");
        let caddy = "http://web.example {\n\tproxy / http://192.168.1.10:80\n}\n";
        let error = run("nft", &["-f", conf], &[(conf, &on_http), (CADDY_CONFIG, caddy)]).unwrap_err();
        assert!(error.contains("80/tcp is already in use by caddy"), "{error}");
        let on_dns = RULES.replace("tcp dport 8080", "udp dport 53");
        let error = run("nft", &["-f", conf], &[(conf, &on_dns), (DNSMASQ_CONFIG, DNSMASQ)]).unwrap_err();
        assert!(error.contains("53/udp is already in use by dnsmasq"), "{error}");
    }

    #[test]
    fn dnsmasq_refuses_hosts_outside_its_ranges_and_a_mac_twice() {
        let test = ["--test", "--conf-file=/etc/dnsmasq.conf"];
        let good = "52:54:00:00:00:01,192.168.1.10,web\n";
        let files = |hosts: &'static str| vec![(DNSMASQ_CONFIG, DNSMASQ), ("/etc/dhcp", hosts)];
        assert_eq!(
            run("dnsmasq", &test, &files(good)).unwrap(),
            "dnsmasq: syntax check OK."
        );
        let outside = run("dnsmasq", &test, &files("52:54:00:00:00:01,192.168.2.10,web\n")).unwrap_err();
        assert!(
            outside.contains("192.168.2.10 at line 1 of /etc/dhcp is outside every dhcp-range"),
            "{outside}"
        );
        let twice = "52:54:00:00:00:01,192.168.1.10,web\n52:54:00:00:00:01,192.168.1.11,db\n";
        let error = run("dnsmasq", &test, &files(twice)).unwrap_err();
        assert!(
            error.contains("duplicate dhcp-host MAC address 52:54:00:00:00:01 at line 2"),
            "{error}"
        );
        let bad = run("dnsmasq", &test, &[(DNSMASQ_CONFIG, "dhcp-rnage=x\n")]).unwrap_err();
        assert_eq!(bad, "dnsmasq: bad option at line 1 of /etc/dnsmasq.conf");
    }

    #[test]
    fn caddy_refuses_a_caddyfile_that_does_not_parse() {
        let conf = "/etc/caddy.conf";
        let validate = ["-validate", "-conf", conf];
        assert!(
            run(
                "caddy",
                &validate,
                &[(conf, "web.example {\n\tproxy / http://10.0.0.1\n}\n")]
            )
            .is_ok()
        );
        let unknown = run("caddy", &validate, &[(conf, "web.example {\n\tproxi / x\n}\n")]).unwrap_err();
        assert_eq!(
            unknown,
            "/etc/caddy.conf:2 - Error during parsing: Unknown directive 'proxi'"
        );
        let unopened = run("caddy", &validate, &[(conf, "}\n")]).unwrap_err();
        assert!(unopened.contains("no matching opening brace"), "{unopened}");
    }
}
