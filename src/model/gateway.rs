//! Gateways: 0-orchestrator's `GWCreate` (and `GW`, its changeable part) with the port forwards, DHCP hosts and
//! HTTP proxies inside it. A gateway is a container of the gateway flist with its NICs; what it forwards, leases
//! and proxies is written into the container as nftables, dnsmasq and Caddy configurations (`gateway_config`).
//! An operator may replace the generated firewall or HTTP configuration with their own text (the reference's
//! `advanced` configs); from then on the forwards (or proxies) of the record no longer apply.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::validate::{Invalid, validate_hostname, validate_id};

/// The flist of the reference's gateway (nftables, dnsmasq, Caddy, a cloud-init server).
pub const GATEWAY_FLIST: &str = "https://hub.gig.tech/gig-official-apps/zero-os-gw-master.flist";

/// 0-orchestrator's `PortForward`: traffic reaching `srcip:srcport` goes to `dstip:dstport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortForward {
    /// `tcp`, `udp` or both.
    pub protocols: Vec<String>,
    pub srcport: u16,
    /// An address of the gateway (of one of its NICs).
    pub srcip: String,
    pub dstport: u16,
    pub dstip: String,
}

/// 0-orchestrator's `HTTPProxy`: requests for `host` go to its destinations (balanced when several).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpProxy {
    /// The host name served, e.g. `myhost.mydomain.com`.
    pub host: String,
    /// `http://ip:port` URLs.
    pub destinations: Vec<String>,
    /// `http`, `https` or both.
    pub types: Vec<String>,
}

/// 0-orchestrator's `CloudInit`: what the gateway's cloud-init server answers the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudInit {
    pub userdata: String,
    pub metadata: String,
}

/// 0-orchestrator's `GWHost`: a fixed DHCP lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GwHost {
    pub macaddress: String,
    pub hostname: String,
    /// Inside the NIC's subnet.
    pub ipaddress: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudinit: Option<CloudInit>,
}

/// 0-orchestrator's `DHCP`: a DHCP server on one NIC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dhcp {
    /// At least one (the reference refuses a DHCP server without).
    #[serde(default)]
    pub nameservers: Vec<String>,
    pub hosts: Vec<GwHost>,
}

/// 0-orchestrator's `ZerotierBridge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZerotierBridge {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The address of a gateway NIC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GwNicConfig {
    /// `192.168.103.1/24`.
    pub cidr: String,
    /// With a gateway the NIC is public (no DHCP server on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// 0-orchestrator's `GWNIC`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GwNic {
    /// `zerotier`, `vxlan`, `vlan`, `default` or `bridge`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Network id, VXLAN id, VLAN tag or bridge name (empty for `default`).
    #[serde(default)]
    pub id: String,
    /// The interface's name in the gateway (also the `{interface}` of its DHCP hosts).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zerotierbridge: Option<ZerotierBridge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<GwNicConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcpserver: Option<Dhcp>,
}

bodies_sharing! {
    shared {
        /// The domain its DHCP server hands out.
        pub domain: String,
        pub nics: Vec<GwNic>,
        #[serde(default)]
        pub portforwards: Vec<PortForward>,
        #[serde(default)]
        pub httpproxies: Vec<HttpProxy>,
    }
    /// 0-orchestrator's `GWCreate`.
    GatewayCreate {
        /// Unique on its node; also its container's name.
        pub name: String,
    }
    /// 0-orchestrator's `GW`: what `PUT` replaces.
    GatewayUpdate {}
}

/// The operator's own configurations, replacing the generated ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Advanced {
    /// nftables ruleset, in place of the one generated from the port forwards.
    pub firewall: Option<String>,
    /// Caddyfile, in place of the one generated from the HTTP proxies.
    pub http: Option<String>,
}

/// A gateway's desired state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewaySpec {
    pub gateway: GatewayUpdate,
    pub name: String,
    pub advanced: Advanced,
    /// What ran before the change a job is applying: a change the gateway refuses is undone back to it.
    pub before_change: Option<Box<(GatewayUpdate, Advanced)>>,
}

impl From<GatewayCreate> for GatewaySpec {
    fn from(create: GatewayCreate) -> GatewaySpec {
        GatewaySpec {
            name: create.name,
            gateway: GatewayUpdate {
                domain: create.domain,
                nics: create.nics,
                portforwards: create.portforwards,
                httpproxies: create.httpproxies,
            },
            advanced: Advanced::default(),
            before_change: None,
        }
    }
}

impl GatewaySpec {
    /// Remembers the current settings (to undo a refused change), then applies `change`.
    pub fn change(&mut self, change: impl FnOnce(&mut GatewayUpdate, &mut Advanced)) {
        self.before_change = Some(Box::new((self.gateway.clone(), self.advanced.clone())));
        change(&mut self.gateway, &mut self.advanced);
    }

    /// The NIC named `interface`.
    pub fn nic(&self, interface: &str) -> Option<&GwNic> {
        self.gateway.nics.iter().find(|nic| nic.name == interface)
    }
}

/// An IPv4 interface address: the address and its subnet (network, prefix length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub address: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(cidr: &str) -> Option<Subnet> {
        let (address, prefix) = cidr.split_once('/')?;
        let prefix = prefix.parse().ok().filter(|p| (1..=30).contains(p))?;
        Some(Subnet {
            address: address.parse().ok()?,
            prefix,
        })
    }

    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::MAX << (32 - self.prefix))
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.address) & u32::from(self.mask()))
    }

    /// Whether `ip` is a host of this subnet (not its network or broadcast address).
    pub fn holds(&self, ip: Ipv4Addr) -> bool {
        let host = u32::from(ip) & !u32::from(self.mask());
        u32::from(ip) & u32::from(self.mask()) == u32::from(self.network())
            && host != 0
            && host != !u32::from(self.mask())
    }
}

const NIC_KINDS: &[&str] = &["zerotier", "vxlan", "vlan", "default", "bridge"];
const PROTOCOLS: &[&str] = &["tcp", "udp"];
const HTTP_TYPES: &[&str] = &["http", "https"];

fn ipv4(field: &str, text: &str) -> Result<Ipv4Addr, Invalid> {
    text.parse().map_err(|_| Invalid::new(field, "must be an IPv4 address"))
}

/// Every item of `items` is one of `allowed`, at least one, none twice.
fn one_of_each(field: &str, items: &[String], allowed: &[&str]) -> Result<(), Invalid> {
    let known = items.iter().all(|item| allowed.contains(&item.as_str()));
    let unique = items.iter().enumerate().all(|(i, item)| !items[..i].contains(item));
    if items.is_empty() || !known || !unique {
        return Err(Invalid::new(field, format!("must list some of {}", allowed.join(", "))));
    }
    Ok(())
}

/// A MAC address, `aa:bb:cc:dd:ee:ff`.
pub fn is_mac(text: &str) -> bool {
    let octets: Vec<&str> = text.split(':').collect();
    octets.len() == 6 && octets.iter().all(|o| o.len() == 2 && u8::from_str_radix(o, 16).is_ok())
}

/// `field.name` (or `name` alone when the item is the whole body).
fn at(field: &str, name: &str) -> String {
    if field.is_empty() {
        name.to_owned()
    } else {
        format!("{field}.{name}")
    }
}

impl PortForward {
    /// Its id in the API: `srcip:srcport`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.srcip, self.srcport)
    }

    pub fn validate(&self, field: &str) -> Result<(), Invalid> {
        one_of_each(&at(field, "protocols"), &self.protocols, PROTOCOLS)?;
        ipv4(&at(field, "srcip"), &self.srcip)?;
        ipv4(&at(field, "dstip"), &self.dstip)?;
        if self.srcport == 0 {
            return Err(Invalid::new(at(field, "srcport"), "must be 1 to 65535"));
        }
        if self.dstport == 0 {
            return Err(Invalid::new(at(field, "dstport"), "must be 1 to 65535"));
        }
        Ok(())
    }
}

impl HttpProxy {
    pub fn validate(&self, field: &str) -> Result<(), Invalid> {
        if self.host.is_empty() {
            return Err(Invalid::new(at(field, "host"), "must not be empty"));
        }
        validate_hostname(&at(field, "host"), &self.host)?;
        if self.destinations.is_empty() {
            return Err(Invalid::new(at(field, "destinations"), "must list at least one URL"));
        }
        for (i, destination) in self.destinations.iter().enumerate() {
            let ok = destination
                .strip_prefix("http://")
                .or_else(|| destination.strip_prefix("https://"))
                .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_graphic()));
            if !ok {
                return Err(Invalid::new(
                    format!("{}[{i}]", at(field, "destinations")),
                    "must be an http:// or https:// URL",
                ));
            }
        }
        one_of_each(&at(field, "types"), &self.types, HTTP_TYPES)
    }
}

impl GwHost {
    /// Checks the host on its own and against the subnet of its NIC.
    pub fn validate(&self, field: &str, subnet: Subnet) -> Result<(), Invalid> {
        if !is_mac(&self.macaddress) {
            return Err(Invalid::new(at(field, "macaddress"), "must be a MAC address"));
        }
        if self.hostname.is_empty() {
            return Err(Invalid::new(at(field, "hostname"), "must not be empty"));
        }
        validate_hostname(&at(field, "hostname"), &self.hostname)?;
        let ip = ipv4(&at(field, "ipaddress"), &self.ipaddress)?;
        if !subnet.holds(ip) {
            return Err(Invalid::new(
                at(field, "ipaddress"),
                format!(
                    "must be a host of the interface's subnet {}/{}",
                    subnet.network(),
                    subnet.prefix
                ),
            ));
        }
        if let Some(ip6) = &self.ip6address
            && ip6.parse::<std::net::Ipv6Addr>().is_err()
        {
            return Err(Invalid::new(at(field, "ip6address"), "must be an IPv6 address"));
        }
        Ok(())
    }
}

impl GwNic {
    fn validate(&self, field: &str) -> Result<(), Invalid> {
        if !NIC_KINDS.contains(&self.kind.as_str()) {
            return Err(Invalid::new(
                at(field, "type"),
                format!("must be one of {}", NIC_KINDS.join(", ")),
            ));
        }
        if self.kind != "default" && self.id.is_empty() {
            return Err(Invalid::new(at(field, "id"), "is required for this type"));
        }
        let name_ok = self.name.len() <= 15
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && self.name.starts_with(|c: char| c.is_ascii_alphabetic());
        if !name_ok {
            return Err(Invalid::new(
                at(field, "name"),
                "must be 1 to 15 letters, digits, '-' or '_', starting with a letter",
            ));
        }
        if let Some(bridge) = &self.zerotierbridge
            && !(bridge.id.len() == 16 && bridge.id.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(Invalid::new(
                at(field, "zerotierbridge.id"),
                "must be a ZeroTier network id (16 hex digits)",
            ));
        }
        let subnet = match &self.config {
            Some(config) => {
                let subnet = Subnet::parse(&config.cidr).ok_or_else(|| {
                    Invalid::new(
                        at(field, "config.cidr"),
                        "must be an IPv4 address with a prefix, e.g. 192.168.1.1/24",
                    )
                })?;
                if let Some(gateway) = &config.gateway {
                    ipv4(&at(field, "config.gateway"), gateway)?;
                }
                Some(subnet)
            }
            None => None,
        };
        let Some(dhcp) = &self.dhcpserver else {
            return Ok(());
        };
        let field = at(field, "dhcpserver");
        let Some(subnet) = subnet else {
            return Err(Invalid::new(field, "needs the NIC's config.cidr"));
        };
        if self.config.as_ref().is_some_and(|config| config.gateway.is_some()) {
            return Err(Invalid::new(field, "only private NICs (without a gateway) serve DHCP"));
        }
        if dhcp.nameservers.is_empty() {
            return Err(Invalid::new(
                at(&field, "nameservers"),
                "must list at least one nameserver",
            ));
        }
        for (i, nameserver) in dhcp.nameservers.iter().enumerate() {
            ipv4(&format!("{field}.nameservers[{i}]"), nameserver)?;
        }
        for (i, host) in dhcp.hosts.iter().enumerate() {
            let host_field = format!("{field}.hosts[{i}]");
            host.validate(&host_field, subnet)?;
            if dhcp.hosts[..i]
                .iter()
                .any(|other| other.macaddress.eq_ignore_ascii_case(&host.macaddress))
            {
                return Err(Invalid::new(
                    at(&host_field, "macaddress"),
                    "is given to another host already",
                ));
            }
        }
        Ok(())
    }
}

spec!(GatewaySpec, "gateways" at ["gws"], name);

impl GatewaySpec {
    fn check(&self) -> Result<(), Invalid> {
        validate_id("name", &self.name)?;
        let gateway = &self.gateway;
        if gateway.domain.is_empty() {
            return Err(Invalid::new("domain", "must not be empty"));
        }
        validate_hostname("domain", &gateway.domain)?;
        for (i, nic) in gateway.nics.iter().enumerate() {
            nic.validate(&format!("nics[{i}]"))?;
            if gateway.nics[..i].iter().any(|other| other.name == nic.name) {
                return Err(Invalid::new(format!("nics[{i}].name"), "is the name of another NIC"));
            }
        }
        for (i, forward) in gateway.portforwards.iter().enumerate() {
            forward.validate(&format!("portforwards[{i}]"))?;
            if gateway.portforwards[..i].iter().any(|other| other.id() == forward.id()) {
                return Err(Invalid::new(
                    format!("portforwards[{i}]"),
                    "forwards the same srcip:srcport as another",
                ));
            }
        }
        for (i, proxy) in gateway.httpproxies.iter().enumerate() {
            proxy.validate(&format!("httpproxies[{i}]"))?;
            if gateway.httpproxies[..i].iter().any(|other| other.host == proxy.host) {
                return Err(Invalid::new(
                    format!("httpproxies[{i}].host"),
                    "is proxied by another entry",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Spec;
    use crate::model::validate::field_rejected;

    pub(crate) fn spec() -> GatewaySpec {
        let create: GatewayCreate = serde_json::from_value(serde_json::json!({
            "name": "gw1", "domain": "lan.example",
            "nics": [
                {"type": "default", "name": "public", "config": {"cidr": "10.0.0.2/24", "gateway": "10.0.0.1"}},
                {"type": "vlan", "id": "100", "name": "lan", "config": {"cidr": "192.168.1.1/24"},
                 "dhcpserver": {"nameservers": ["1.1.1.1"],
                                "hosts": [{"macaddress": "52:54:00:00:00:01", "hostname": "web", "ipaddress": "192.168.1.10"}]}}
            ],
            "portforwards": [{"protocols": ["tcp"], "srcip": "10.0.0.2", "srcport": 8080, "dstip": "192.168.1.10", "dstport": 80}],
            "httpproxies": [{"host": "web.example", "destinations": ["http://192.168.1.10:80"], "types": ["http"]}]
        }))
        .unwrap();
        GatewaySpec::from(create)
    }

    /// A reference create body is valid, and a bad value of each field is refused naming the field.
    #[test]
    fn each_bad_field_is_named() {
        let field = |change: fn(&mut GatewayUpdate)| {
            field_rejected(spec(), GatewaySpec::validate, |spec| change(&mut spec.gateway))
        };
        assert_eq!(field(|g| g.domain.clear()), "domain");
        assert_eq!(field(|g| g.nics[0].kind = "token-ring".into()), "nics[0].type");
        assert_eq!(field(|g| g.nics[1].name = "0lan".into()), "nics[1].name");
        assert_eq!(field(|g| g.nics[1].name = "public".into()), "nics[1].name");
        assert_eq!(field(|g| g.nics[1].config = None), "nics[1].dhcpserver");
        fn host(g: &mut GatewayUpdate) -> &mut Vec<GwHost> {
            &mut g.nics[1].dhcpserver.as_mut().unwrap().hosts
        }
        assert_eq!(
            field(|g| host(g)[0].ipaddress = "192.168.2.10".into()),
            "nics[1].dhcpserver.hosts[0].ipaddress"
        );
        assert_eq!(
            field(|g| {
                let twin = host(g)[0].clone();
                host(g).push(GwHost {
                    ipaddress: "192.168.1.11".into(),
                    ..twin
                })
            }),
            "nics[1].dhcpserver.hosts[1].macaddress"
        );
        assert_eq!(
            field(|g| g.portforwards[0].protocols = vec!["icmp".into()]),
            "portforwards[0].protocols"
        );
        assert_eq!(
            field(|g| g.portforwards[0].dstip = "web".into()),
            "portforwards[0].dstip"
        );
        assert_eq!(field(|g| g.httpproxies[0].types.clear()), "httpproxies[0].types");
        assert_eq!(
            field(|g| g.httpproxies[0].destinations[0] = "ftp://x".into()),
            "httpproxies[0].destinations[0]"
        );
    }

    #[test]
    fn a_subnet_holds_its_hosts_only() {
        let subnet = Subnet::parse("192.168.1.1/24").unwrap();
        assert!(subnet.holds("192.168.1.254".parse().unwrap()));
        for outside in ["192.168.1.0", "192.168.1.255", "192.168.2.1"] {
            assert!(!subnet.holds(outside.parse().unwrap()), "{outside}");
        }
    }
}
