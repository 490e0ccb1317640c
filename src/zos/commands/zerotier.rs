//! `zerotier.*`: the ZeroTier networks the node itself is a member of.

use serde_json::{Value, json};

use crate::zos::{ZosClient, ZosError};

impl ZosClient {
    /// `zerotier.list`: the networks, as `zerotier-cli listnetworks -j` shows them (passed on as sent).
    pub async fn zerotier_networks(&self) -> Result<Vec<Value>, ZosError> {
        self.json("zerotier.list", json!({})).await
    }

    /// `zerotier.join`.
    pub async fn join_zerotier(&self, nwid: &str) -> Result<(), ZosError> {
        self.call("zerotier.join", json!({"network": nwid})).await
    }

    /// `zerotier.leave`.
    pub async fn leave_zerotier(&self, nwid: &str) -> Result<(), ZosError> {
        self.call("zerotier.leave", json!({"network": nwid})).await
    }
}
