//! `bridge.*`: Linux bridges on the node, with their address mode (static, dnsmasq) and NAT.

use serde_json::{Value, json};

use crate::zos::{ZosClient, ZosError};

impl ZosClient {
    /// `bridge.list`: the bridges' names.
    pub async fn bridges(&self) -> Result<Vec<String>, ZosError> {
        self.json("bridge.list", json!({})).await
    }

    /// `bridge.create`: `arguments` are `{name, hwaddr, network: {mode, nat, settings: {cidr, start, end}}}`.
    pub async fn create_bridge(&self, arguments: Value) -> Result<(), ZosError> {
        self.call("bridge.create", arguments).await
    }

    /// `bridge.delete`.
    pub async fn delete_bridge(&self, name: &str) -> Result<(), ZosError> {
        self.call("bridge.delete", json!({"name": name})).await
    }
}
