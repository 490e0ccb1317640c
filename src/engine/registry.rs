//! Registering nodes found by other means than the API (config file, demo, ZeroTier discovery), and the one
//! boot setting the configuration can own (the cluster's ZeroTier network).

use crate::model::boot::{BOOT_SETTINGS_ID, BootSettings};
use crate::model::{self, Labels, Node};
use crate::store::{self, Store};

/// Creates `wanted`, or, when a node with its id exists, stores what `merge(existing, wanted)` returns (`None`:
/// leave the existing node alone).
pub async fn register_node(
    store: &Store,
    wanted: Node,
    merge: impl FnOnce(&Node, Node) -> Option<Node>,
) -> Result<(), String> {
    let id = wanted.id.clone();
    let result = match store.get::<Node>(&id).map_err(|e| e.to_string())? {
        None => store.put(wanted, store::Expect::Absent).await,
        Some(existing) => match merge(&existing.value, wanted) {
            Some(merged) if merged != existing.value => {
                store.put(merged, store::Expect::Version(existing.version)).await
            }
            _ => return Ok(()),
        },
    };
    result.map(drop).map_err(|err| format!("registering node {id}: {err}"))
}

pub fn new_node(id: String, hostname: String, address: String, labels: Labels, emulated: bool) -> Node {
    let now = model::now_rfc3339();
    model::Node {
        id,
        hostname,
        address,
        labels,
        emulated,
        created_at: now.clone(),
        updated_at: now,
    }
}

/// `--zerotier-network`: makes `network` the boot settings' ZeroTier network (the configuration owns it while set;
/// the other settings stay as the API last set them). Writes nothing when it already is.
pub async fn set_cluster_network(store: &Store, network: &str) -> Result<(), String> {
    let current = store.get::<BootSettings>(BOOT_SETTINGS_ID).map_err(|e| e.to_string())?;
    let (settings, expect) = match current {
        Some(current) => (current.value, store::Expect::Version(current.version)),
        None => (BootSettings::default(), store::Expect::Absent),
    };
    if settings.zerotier_network.as_deref() == Some(network) {
        return Ok(());
    }
    let wanted = BootSettings {
        zerotier_network: Some(network.to_owned()),
        ..settings
    };
    store
        .put(wanted, expect)
        .await
        .map(drop)
        .map_err(|err| format!("setting the ZeroTier network: {err}"))
}
