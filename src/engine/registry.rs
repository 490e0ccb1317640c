//! Registering nodes found by other means than the API (config file, demo, ZeroTier discovery).

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
