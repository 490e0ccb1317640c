//! ZeroTier discovery: nodes boot with the cluster's network on their command line and join it; this loop
//! lists the network's members, keeps them in `zerotier_members` (pending ones show in the API and UI),
//! authorises new ones when the policy says so or an operator asked (`zerotier_authorizations`), and turns each
//! authorised member it can reach over 0-core into a node: its id is the MAC of its own interface, as
//! 0-orchestrator named nodes, and the member is renamed after it (name = node id, description = host name).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::registry::{new_node, register_node};
use crate::config::AuthorizePolicy;
use crate::model::boot::{BOOT_SETTINGS_ID, BootSettings};
use crate::model::zerotier::Member;
use crate::model::{Node, ZeroTierAuthorization, ZeroTierMember};
use crate::store::{Expect, Record, Store};
use crate::zerotier::MemberApi;
use crate::zos::Clients;
use crate::zos::commands::Info;

#[derive(Clone)]
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
        let mut changes = self.store.watch();
        loop {
            if let Some(network) = cluster_network(&self.store) {
                if let Err(err) = self.authorize_requested(&network).await {
                    tracing::warn!(error = %err, "ZeroTier authorisations failed");
                }
                if let Err(err) = self.round(&network).await {
                    tracing::warn!(error = %err, "ZeroTier discovery round failed");
                }
            }
            // The next round after the interval, or at once when an operator asks for an authorisation (the API
            // waits for it).
            let next_round = tokio::time::sleep(self.interval);
            tokio::pin!(next_round);
            loop {
                tokio::select! {
                    _ = &mut next_round => break,
                    _ = shutdown.wait_for(|stop| *stop) => return,
                    change = changes.recv() => match change {
                        Ok(change) if change.collection == ZeroTierAuthorization::COLLECTION
                            && self.is_pending(&change.id) => break,
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => break,
                        Err(RecvError::Closed) => return,
                    },
                }
            }
        }
    }

    /// Whether authorisation request `id` waits to be carried out.
    fn is_pending(&self, id: &str) -> bool {
        matches!(self.store.get::<ZeroTierAuthorization>(id), Ok(Some(request)) if request.value.failure.is_none())
    }

    /// Carries out the operators' authorisation requests: the member is authorised and recorded as the controller
    /// answers, and the request removed; a controller's error is recorded in the request instead (the API answers
    /// it).
    async fn authorize_requested(&self, network: &str) -> Result<(), String> {
        let pending = self
            .store
            .list::<ZeroTierAuthorization>("", None, usize::MAX, |request| request.failure.is_none())
            .map_err(|e| e.to_string())?
            .items;
        for request in pending {
            let id = &request.value.id;
            match self.controller.update(network, id, true, None).await {
                Ok(member) => {
                    tracing::info!(member = %id, by = %request.value.requested_by, "ZeroTier member authorised");
                    let known = self.store.get::<ZeroTierMember>(id).map_err(|e| e.to_string())?;
                    let record = ZeroTierMember {
                        member,
                        node: known.as_ref().and_then(|k| k.value.node.clone()),
                        refused: String::new(),
                    };
                    let expect = Expect::after(known.as_ref());
                    self.store.put(record, expect).await.map_err(|e| e.to_string())?;
                    self.store
                        .delete::<ZeroTierAuthorization>(id, Some(request.version))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Err(err) => {
                    tracing::warn!(member = %id, error = %err, "ZeroTier member not authorised");
                    let failed = ZeroTierAuthorization {
                        failure: Some(err.to_string()),
                        ..request.value.clone()
                    };
                    self.store
                        .put(failed, Expect::Version(request.version))
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
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
                let expect = Expect::after(known.as_ref());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An operator's request the controller cannot carry out ends with the reason recorded (what the API
    /// answers), the member as it was, and no retry behind the operator's back.
    #[tokio::test]
    async fn a_request_the_controller_fails_records_why_and_leaves_the_member_alone() {
        let (_dir, store) = Store::scratch();
        let member = ZeroTierMember {
            member: Member {
                id: "abcdef0123".into(),
                name: String::new(),
                description: String::new(),
                authorized: false,
                ip_assignments: vec!["10.147.0.9".into()],
                last_online: 0,
                physical_address: String::new(),
                client_version: String::new(),
            },
            node: None,
            refused: String::new(),
        };
        store.put(member.clone(), Expect::Absent).await.unwrap();
        let request = ZeroTierAuthorization {
            id: "abcdef0123".into(),
            requested_by: "admin".into(),
            requested_at: crate::model::now_rfc3339(),
            failure: None,
        };
        store.put(request, Expect::Absent).await.unwrap();
        let deadline = Duration::from_secs(1);
        let discovery = Discovery {
            store: store.clone(),
            // Nothing listens on port 1: the controller is unreachable.
            controller: Arc::new(
                MemberApi::new(crate::zerotier::Kind::Central, "http://127.0.0.1:1", "t", deadline).unwrap(),
            ),
            clients: Arc::new(Clients::new(deadline)),
            policy: AuthorizePolicy::None,
            allow: Vec::new(),
            node_port: 6379,
            interval: deadline,
        };
        assert!(discovery.is_pending("abcdef0123"));
        discovery.authorize_requested("abcdef0123456789").await.unwrap();
        let failed = store.get::<ZeroTierAuthorization>("abcdef0123").unwrap().unwrap().value;
        assert!(
            failed.failure.as_deref().is_some_and(|f| f.contains("unreachable")),
            "{failed:?}"
        );
        assert!(!discovery.is_pending("abcdef0123"), "a failed request is over");
        assert_eq!(
            store.get::<ZeroTierMember>("abcdef0123").unwrap().unwrap().value,
            member
        );
    }
}
