//! Domain types and their validation. Pure data: no I/O, no store, no HTTP.
//!
//! Validation lives next to the types so that every way in (API, CLI, config file) checks the same rules and
//! reports the same field names.

/// Declares request bodies that share fields, each as `Name { its own fields }` followed by the `shared` ones, so
/// a create body and its update body (0-orchestrator's `VMCreate`/`VMUpdate`, `GWCreate`/`GW`) cannot drift apart.
/// Recursive, one body per step, because a repetition cannot be nested inside another it was not captured in.
macro_rules! bodies_sharing {
    (shared $shared:tt) => {};
    (shared { $($shared:tt)* } $(#[$meta:meta])* $name:ident { $($own:tt)* } $($rest:tt)*) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name { $($own)* $($shared)* }
        bodies_sharing! { shared { $($shared)* } $($rest)* }
    };
}

mod audit;
pub mod boot;
mod container;
pub mod gateway;
pub mod gateway_config;
pub mod health;
pub mod image;
mod job;
pub mod nbd_config;
pub mod network;
mod node;
pub mod storage;
pub mod storage_cluster;
mod token;
mod validate;
pub mod vdisk;
pub mod vdisk_storage;
pub mod vm;
pub mod webhook;
mod workload;
pub mod zerotier;

pub use audit::{AuditEntry, AuditRecord, token_note};
pub use container::{Container, ContainerNic, ContainerSpec, CoreSystem};
pub use job::{Job, JobAction, JobError, JobState, WorkloadStatus};
pub use node::{Labels, Node, NodeDisk, NodeInventory, NodeNic, NodeState, NodeStatus};
pub use token::{Role, Token};
pub use validate::{Invalid, validate_address, validate_hostname, validate_id, validate_labels};
pub use webhook::{Webhook, WebhookStatus};
pub use workload::{Spec, Workload};
pub use zerotier::{ZeroTierAuthorization, ZeroTierMember};

/// The current time as RFC 3339 (UTC, whole seconds): how every timestamp is stored and shown.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
