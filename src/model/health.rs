//! Node health in the reference's `HealthCheck` shape: one check per thing the heartbeat watches (reachability,
//! memory, CPU load, disk space, time drift), each with its messages. Observed state: only the engine writes it.

use serde::{Deserialize, Serialize};

/// A check's or message's verdict. Ordered so that the worst of several is their maximum; `SKIPPED` (nothing
/// could be measured) is below `OK`, so a node is `SKIPPED` only when every check was, as in the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    Skipped,
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthMessage {
    pub id: String,
    pub status: HealthStatus,
    pub text: String,
}

/// The reference's `HealthCheck`, plus `status` (the worst of its messages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthCheck {
    pub id: String,
    pub name: String,
    /// The API path of what was checked (`/nodes/<id>`).
    pub resource: String,
    pub category: String,
    pub status: HealthStatus,
    pub messages: Vec<HealthMessage>,
    /// Seconds between two runs (the heartbeat's interval).
    pub interval: f64,
    /// When it last ran, epoch seconds.
    pub lasttime: f64,
    /// Always empty: a check that cannot run says why in its message.
    pub stacktrace: String,
}

/// The checks of one node, as the last heartbeat assessed them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeHealth {
    pub node: String,
    pub checks: Vec<HealthCheck>,
}

impl NodeHealth {
    /// The node's overall status: its worst check (`SKIPPED` with none).
    pub fn status(&self) -> HealthStatus {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(HealthStatus::Skipped)
    }
}

crate::store::record!(NodeHealth, "node_health", node);
