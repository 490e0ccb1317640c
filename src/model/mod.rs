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

/// Declares what makes a type a workload's [`Spec`]: `spec!(VmSpec, "vms" at ["vms"], id)` names the type, its
/// collection, its path under `/nodes/{id}` and the field that is its name (which is also the field errors about
/// the name point at); `SPANS_NODES = true` at the end makes it cluster-wide. Its rules are its own `check` method.
macro_rules! spec {
    ($spec:ty, $collection:literal at [$($segment:literal),+], $name:ident $(, SPANS_NODES = $spans:literal)?) => {
        impl $crate::model::Spec for $spec {
            const COLLECTION: &'static str = $collection;
            const PATH: &'static [&'static str] = &[$($segment),+];
            const NAME_FIELD: &'static str = stringify!($name);
            $(const SPANS_NODES: bool = $spans;)?

            fn name(&self) -> &str {
                &self.$name
            }

            fn validate(&self) -> Result<(), $crate::model::Invalid> {
                self.check()
            }
        }
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
