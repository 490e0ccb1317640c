//! Converges a node's networks: a bridge exists with its mode and settings (`bridge.*`); the node is a member of
//! each ZeroTier network it should join (`zerotier.*`). The node's own list is read first, every time.

use serde_json::json;

use super::{Failure, Step};
use crate::model::network::{BridgeSpec, ZerotierJoin};
use crate::zos::ZosClient;

pub async fn apply_bridge(step: &mut Step<'_>, client: &ZosClient) -> Result<(), Failure> {
    let Some(bridge) = step.desired::<BridgeSpec>()? else {
        return Ok(());
    };
    let spec = &bridge.spec;
    step.progress(10, "looking for the bridge on the node").await?;
    let names = client.bridges().await?;
    let exists = names.contains(&spec.name);
    if bridge.deleting {
        if exists {
            client.delete_bridge(&spec.name).await?;
        }
        return step.remove::<BridgeSpec>().await;
    }
    if !exists {
        step.progress(50, "creating the bridge").await?;
        let settings = json!({"cidr": spec.setting.cidr, "start": spec.setting.start, "end": spec.setting.end});
        let arguments = json!({"name": spec.name, "hwaddr": spec.hwaddr,
            "network": {"mode": spec.network_mode, "nat": spec.nat, "settings": settings}});
        client.create_bridge(arguments).await?;
    }
    step.observed(Some(("up", None))).await
}

pub async fn apply_zerotier(step: &mut Step<'_>, client: &ZosClient) -> Result<(), Failure> {
    let Some(zerotier) = step.desired::<ZerotierJoin>()? else {
        return Ok(());
    };
    let nwid = &zerotier.spec.nwid;
    step.progress(10, "looking for the network on the node").await?;
    let joined = client.zerotier_networks().await?;
    let member = joined.iter().any(|network| network["nwid"] == nwid.as_str());
    if zerotier.deleting {
        if member {
            client.leave_zerotier(nwid).await?;
        }
        return step.remove::<ZerotierJoin>().await;
    }
    if !member {
        step.progress(50, "joining the network").await?;
        client.join_zerotier(nwid).await?;
    }
    step.observed(Some(("joined", None))).await
}
