//! The engine: the loops that converge the cluster and record what they observe: the node heartbeat,
//! ZeroTier discovery, and the workload reconciler that runs the API's jobs.

pub mod discovery;
pub mod heartbeat;
mod inventory;
pub mod registry;
pub mod storage_clusters;
pub mod workloads;
