//! The API's own resources: nodes, tokens, the audit log, jobs, the event stream, ZeroTier members, health, metrics, the
//! OpenAPI document and the UI files. Handlers here read and write records; none acts on a node.

pub(super) mod audit;
pub(super) mod backup;
pub(super) mod events;
pub(super) mod health;
pub(super) mod images;
pub(super) mod jobs;
pub mod node_list;
pub(super) mod nodes;
pub mod openapi;
pub(super) mod system;
pub(super) mod tokens;
pub(super) mod ui;
pub(super) mod vdisk_storage;
pub(super) mod vdisks;
pub(super) mod webhooks;
pub(super) mod zerotier;
