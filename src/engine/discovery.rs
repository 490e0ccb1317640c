//! ZeroTier discovery: nodes boot with the cluster's network on their command line and join it; this loop
//! lists the network's members, keeps them in `zerotier_members` (pending ones show in the API and UI),
//! authorises new ones when the policy says so, and turns each authorised member it can reach over 0-core into a
//! node: its id is the MAC of its own interface, as 0-orchestrator named nodes, and the member is renamed after
//! it (name = node id, description = host name).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::registry::{new_node, register_node};
use crate::config::AuthorizePolicy;
use crate::model::boot::{BOOT_SETTINGS_ID, BootSettings};
use crate::model::{Node, ZeroTierMember};
use crate::store::{Expect, Store};
use crate::zerotier::{Member, MemberApi};
use crate::zos::Clients;
use crate::zos::commands::Info;

pub struct Discovery {
    pub store: Store,
    pub controller: Arc<MemberApi>,
    pub clients: Arc<Clients>,
    pub policy: AuthorizePolicy,
    /// Node ids the allowlist policy accepts.
    pub allow: Vec<String>,
    /// 0-core's port on discovered nodes.
    pub node_port: u16,
    pub interval: Duration,
}

/// The network discovery works on: the boot settings' ZeroTier network (the one nodes join at boot).
pub fn cluster_network(store: &Store) -> Option<String> {
    store
        .get::<BootSettings>(BOOT_SETTINGS_ID)
        .ok()
        .flatten()
        .and_then(|settings| settings.value.zerotier_network)
}

impl Discovery {
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Some(network) = cluster_network(&self.store)
                && let Err(err) = self.round(&network).await
            {
                tracing::warn!(error = %err, "ZeroTier discovery round failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn round(&self, network: &str) -> Result<(), String> {
        let members = self.controller.members(network).await.map_err(|err| err.to_string())?;
        for mut member in members {
            let known = self
                .store
                .get::<ZeroTierMember>(&member.id)
                .map_err(|e| e.to_string())?;
            let refused_before = known.as_ref().is_some_and(|k| !k.value.refused.is_empty());
            if !member.authorized && !refused_before && self.policy != AuthorizePolicy::None {
                member = self
                    .controller
                    .update(network, &member.id, true, None)
                    .await
                    .map_err(|err| err.to_string())?;
                tracing::info!(member = %member.id, "ZeroTier member authorised by policy");
            }
            let mut node = known.as_ref().and_then(|k| k.value.node.clone());
            let mut refused = known.as_ref().map(|k| k.value.refused.clone()).unwrap_or_default();
            if member.authorized
                && let Some(address) = member.ip_assignments.first()
            {
                match self.adopt(network, &member, address).await {
                    Ok(Adopted::Node(id)) => node = Some(id),
                    Ok(Adopted::Refused(id)) => {
                        member = self
                            .controller
                            .update(network, &member.id, false, None)
                            .await
                            .map_err(|e| e.to_string())?;
                        refused = format!("node {id} is not on the allow list");
                        tracing::warn!(member = %member.id, node = %id, "ZeroTier member de-authorised: not on the allow list");
                    }
                    Err(err) => tracing::debug!(member = %member.id, error = %err, "ZeroTier member not reachable yet"),
                }
            }
            let record = ZeroTierMember { member, node, refused };
            if known.as_ref().is_none_or(|k| k.value != record) {
                let expect = known.map_or(Expect::Absent, |k| Expect::Version(k.version));
                self.store.put(record, expect).await.map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Reaches the member's 0-core, learns its identity, registers the node and names the member after it
    /// (unless the allowlist policy does not know it).
    async fn adopt(&self, network: &str, member: &Member, ip: &str) -> Result<Adopted, String> {
        let address = format!("{ip}:{}", self.node_port);
        let client = self.clients.get(&address).map_err(|e| e.to_string())?;
        let nics: Value = client.node().info(Info::Nic).await.map_err(|e| e.to_string())?;
        let os: Value = client.node().info(Info::Os).await.map_err(|e| e.to_string())?;
        let mac = nics
            .as_array()
            .into_iter()
            .flatten()
            .filter(|nic| !nic["name"].as_str().is_some_and(|n| n == "lo" || n.starts_with("zt")))
            .filter_map(|nic| nic["hardwareaddr"].as_str())
            .find(|mac| !mac.is_empty())
            .ok_or("the node reports no interface with a MAC")?;
        let id = mac.replace(':', "").to_ascii_lowercase();
        if self.policy == AuthorizePolicy::Allowlist && !self.allow.contains(&id) {
            return Ok(Adopted::Refused(id));
        }
        let hostname = os["hostname"].as_str().unwrap_or_default().to_owned();
        let wanted = new_node(id.clone(), hostname.clone(), address, Default::default(), false);
        // The member's address is where the node is: refresh it after a reboot changed it.
        register_node(&self.store, wanted, |existing, wanted| {
            Some(Node {
                address: wanted.address,
                updated_at: wanted.updated_at,
                ..existing.clone()
            })
        })
        .await?;
        if self.controller.names_members() && (member.name != id || member.description != hostname) {
            self.controller
                .update(network, &member.id, true, Some((&id, &hostname)))
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(Adopted::Node(id))
    }
}

enum Adopted {
    Node(String),
    /// Reached, but not a node the allowlist accepts.
    Refused(String),
}
