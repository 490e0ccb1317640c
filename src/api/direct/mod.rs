//! The only handlers that act on a node at once (not through a job): a node's or a container's reports, jobs,
//! processes and files, through the node's 0-core client. Nothing here survives a restart or writes desired state.

pub(super) mod container;
pub(super) mod files;
mod jobs;
pub(super) mod node;
