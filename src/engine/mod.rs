//! The engine: the loops that converge the cluster and record what they observe: the node heartbeat,
//! ZeroTier discovery, the workload reconciler that runs the API's jobs, and the webhooks' deliveries; on one
//! instance at a time (`leader`).

pub mod discovery;
pub mod health;
pub mod heartbeat;
mod inventory;
pub mod leader;
pub mod registry;
pub mod storage_clusters;
pub mod webhooks;
pub mod workloads;
