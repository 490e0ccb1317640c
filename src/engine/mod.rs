//! The engine: the loops that converge the cluster and record what they observe: the node heartbeat and
//! ZeroTier discovery.

pub mod discovery;
pub mod heartbeat;
mod inventory;
pub mod registry;
