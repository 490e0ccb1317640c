//! The engine: converges the cluster towards the desired state and records what it observes. For now, one
//! loop: the node heartbeat.

pub mod heartbeat;
mod inventory;
