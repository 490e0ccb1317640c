//! The configuration files a gateway runs on, rendered from its record: an nftables ruleset (its port forwards
//! as DNAT rules, masquerading out of its public NICs), a dnsmasq configuration with its hosts file (a DHCP server
//! on each NIC that has one), and a Caddyfile (its HTTP proxies). The engine writes them into the gateway's
//! container; the API shows the firewall and HTTP ones as the `advanced` configs. An operator's own text replaces
//! the generated firewall or HTTP file.

use std::fmt::Write;

use super::gateway::{GatewaySpec, Subnet};

pub const FIREWALL_CONFIG: &str = "/etc/nftables.conf";
pub const DHCP_CONFIG: &str = "/etc/dnsmasq.conf";
pub const DHCP_HOSTS: &str = "/etc/dhcp";
pub const HTTP_CONFIG: &str = "/etc/caddy.conf";

/// The nftables ruleset: the operator's, or the port forwards.
pub fn firewall(spec: &GatewaySpec) -> String {
    if let Some(text) = &spec.advanced.firewall {
        return text.clone();
    }
    let mut text =
        String::from("table ip nat {\n\tchain pre {\n\t\ttype nat hook prerouting priority 0; policy accept;\n");
    for forward in &spec.gateway.portforwards {
        for protocol in &forward.protocols {
            let _ = writeln!(
                text,
                "\t\tip daddr {} {protocol} dport {} dnat to {}:{}",
                forward.srcip, forward.srcport, forward.dstip, forward.dstport
            );
        }
    }
    text.push_str("\t}\n\tchain post {\n\t\ttype nat hook postrouting priority 100; policy accept;\n");
    let public = spec
        .gateway
        .nics
        .iter()
        .filter(|nic| nic.kind == "default" || nic.config.as_ref().is_some_and(|config| config.gateway.is_some()));
    for nic in public {
        let _ = writeln!(text, "\t\toifname \"{}\" masquerade", nic.name);
    }
    text.push_str("\t}\n}\n");
    text
}

/// dnsmasq's configuration and hosts file; `None` when no NIC serves DHCP (then dnsmasq does not run).
pub fn dhcp(spec: &GatewaySpec) -> Option<(String, String)> {
    let serving: Vec<_> = spec
        .gateway
        .nics
        .iter()
        .filter_map(|nic| {
            let subnet = Subnet::parse(&nic.config.as_ref()?.cidr)?;
            Some((nic, subnet, nic.dhcpserver.as_ref()?))
        })
        .collect();
    if serving.is_empty() {
        return None;
    }
    let mut config = format!(
        "domain={}\nno-resolv\nbind-interfaces\ndhcp-hostsfile={DHCP_HOSTS}\n",
        spec.gateway.domain
    );
    let mut hosts = String::new();
    for (nic, subnet, dhcp) in serving {
        let name = &nic.name;
        let _ = writeln!(config, "interface={name}");
        let _ = writeln!(
            config,
            "dhcp-range=set:{name},{},static,{}",
            subnet.network(),
            subnet.mask()
        );
        let _ = writeln!(config, "dhcp-option=tag:{name},option:router,{}", subnet.address);
        let _ = writeln!(config, "dhcp-option=tag:{name},option:dns-server,{}", subnet.address);
        for nameserver in &dhcp.nameservers {
            let _ = writeln!(config, "server={nameserver}");
        }
        for host in &dhcp.hosts {
            let _ = writeln!(hosts, "{},{},{}", host.macaddress, host.ipaddress, host.hostname);
        }
    }
    Some((config, hosts))
}

/// The Caddyfile: the operator's, or a site per proxied host and type; empty when there is nothing to serve
/// (then Caddy does not run).
pub fn http(spec: &GatewaySpec) -> String {
    if let Some(text) = &spec.advanced.http {
        return text.clone();
    }
    let mut text = String::new();
    for proxy in &spec.gateway.httpproxies {
        for kind in &proxy.types {
            let _ = writeln!(
                text,
                "{kind}://{} {{\n\tproxy / {}\n}}",
                proxy.host,
                proxy.destinations.join(" ")
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gateway::tests::spec;

    #[test]
    fn forwards_become_dnat_rules_and_public_nics_masquerade() {
        let text = firewall(&spec());
        assert!(
            text.contains("ip daddr 10.0.0.2 tcp dport 8080 dnat to 192.168.1.10:80"),
            "{text}"
        );
        assert!(text.contains("oifname \"public\" masquerade"), "{text}");
        assert!(!text.contains("oifname \"lan\""), "{text}");
    }

    #[test]
    fn dhcp_serves_each_private_nic_with_its_hosts() {
        let (config, hosts) = dhcp(&spec()).unwrap();
        assert!(
            config.contains("dhcp-range=set:lan,192.168.1.0,static,255.255.255.0"),
            "{config}"
        );
        assert!(config.contains("server=1.1.1.1"), "{config}");
        assert_eq!(hosts, "52:54:00:00:00:01,192.168.1.10,web\n");
    }

    #[test]
    fn proxies_are_sites_and_an_operators_text_wins() {
        let mut gateway = spec();
        assert_eq!(
            http(&gateway),
            "http://web.example {\n\tproxy / http://192.168.1.10:80\n}\n"
        );
        gateway.advanced.http = Some("mine {\n}\n".into());
        assert_eq!(http(&gateway), "mine {\n}\n");
    }
}
