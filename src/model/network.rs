//! Networks on a node: Linux bridges (0-orchestrator's `BridgeCreate`) and the ZeroTier networks it joins
//! (`ZerotierJoin`).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::validate::{Invalid, validate_id};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeSetting {
    /// The bridge's own address and network, e.g. `192.168.10.1/24`.
    #[serde(default)]
    pub cidr: String,
    /// First and last address handed out by dnsmasq.
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BridgeSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwaddr: Option<String>,
    /// `none`, `static` or `dnsmasq`.
    pub network_mode: String,
    #[serde(default)]
    pub nat: bool,
    #[serde(default)]
    pub setting: BridgeSetting,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZerotierJoin {
    /// The network id: 16 hex digits.
    pub nwid: String,
    /// A ZeroTier API token to authorise the node on the network; accepted for 0-orchestrator's clients, never
    /// stored or shown.
    #[serde(default, skip_serializing_if = "never_written")]
    pub token: Option<String>,
}

/// Keeps a secret out of every serialised form (the store, responses) while the OpenAPI document still lists it
/// as a request field (utoipa drops a field marked `skip_serializing` altogether).
fn never_written<T>(_: &T) -> bool {
    true
}

fn parse_cidr(cidr: &str) -> Option<(Ipv4Addr, u8)> {
    let (address, prefix) = cidr.split_once('/')?;
    let prefix: u8 = prefix.parse().ok().filter(|p| (1..=30).contains(p))?;
    Some((address.parse().ok()?, prefix))
}

impl BridgeSpec {
    /// The bridge's network (`address & mask`, prefix), to refuse two bridges on one subnet.
    pub fn subnet(&self) -> Option<(u32, u8)> {
        let (address, prefix) = parse_cidr(&self.setting.cidr)?;
        Some((u32::from(address) & (u32::MAX << (32 - prefix)), prefix))
    }
}

spec!(BridgeSpec, "bridges" at ["bridges"], name);

impl BridgeSpec {
    fn check(&self) -> Result<(), Invalid> {
        validate_id("name", &self.name)?;
        if self.name.len() > 15 || self.name == "default" {
            return Err(Invalid::new("name", "must be at most 15 characters and not 'default'"));
        }
        if let Some(hwaddr) = &self.hwaddr {
            let octets: Vec<&str> = hwaddr.split(':').collect();
            if octets.len() != 6 || !octets.iter().all(|o| o.len() == 2 && u8::from_str_radix(o, 16).is_ok()) {
                return Err(Invalid::new("hwaddr", "must be a MAC address"));
            }
        }
        let needs_cidr = match self.network_mode.as_str() {
            "none" => false,
            "static" | "dnsmasq" => true,
            _ => return Err(Invalid::new("networkMode", "must be none, static or dnsmasq")),
        };
        if needs_cidr && self.subnet().is_none() {
            return Err(Invalid::new(
                "setting.cidr",
                "must be an IPv4 address with a prefix, e.g. 192.168.10.1/24",
            ));
        }
        if self.network_mode == "dnsmasq" {
            let (subnet, prefix) = self.subnet().unwrap_or_default();
            let inside = |field: &str, text: &str| {
                let address: Ipv4Addr = text
                    .parse()
                    .map_err(|_| Invalid::new(format!("setting.{field}"), "must be an IPv4 address"))?;
                if u32::from(address) & (u32::MAX << (32 - prefix)) != subnet {
                    return Err(Invalid::new(format!("setting.{field}"), "must lie in setting.cidr"));
                }
                Ok(u32::from(address))
            };
            if inside("start", &self.setting.start)? > inside("end", &self.setting.end)? {
                return Err(Invalid::new("setting.end", "must not come before setting.start"));
            }
        }
        Ok(())
    }
}

spec!(ZerotierJoin, "zerotiers" at ["zerotiers"], nwid);

impl ZerotierJoin {
    fn check(&self) -> Result<(), Invalid> {
        if self.nwid.len() != 16 || !self.nwid.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Invalid::new("nwid", "must be a ZeroTier network id: 16 hex digits"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Spec;

    fn bridge(mode: &str, cidr: &str, start: &str, end: &str) -> Result<(), Invalid> {
        let setting = BridgeSetting {
            cidr: cidr.into(),
            start: start.into(),
            end: end.into(),
        };
        BridgeSpec {
            name: "br0".into(),
            hwaddr: None,
            network_mode: mode.into(),
            nat: true,
            setting,
        }
        .validate()
    }

    #[test]
    fn bridge_settings_follow_their_network_mode() {
        assert_eq!(bridge("none", "", "", ""), Ok(()));
        assert_eq!(bridge("dnsmasq", "10.1.0.1/24", "10.1.0.10", "10.1.0.99"), Ok(()));
        assert_eq!(bridge("static", "", "", "").unwrap_err().field, "setting.cidr");
        assert_eq!(
            bridge("dnsmasq", "10.1.0.1/24", "10.2.0.10", "10.1.0.9")
                .unwrap_err()
                .field,
            "setting.start"
        );
        assert_eq!(
            bridge("dnsmasq", "10.1.0.1/24", "10.1.0.50", "10.1.0.9")
                .unwrap_err()
                .field,
            "setting.end"
        );
        assert_eq!(bridge("bgp", "", "", "").unwrap_err().field, "networkMode");
    }
}
