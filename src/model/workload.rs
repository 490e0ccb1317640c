//! The desired state of anything the orchestrator puts on a node (a container, a storage pool, a filesystem, …):
//! one record shape for all of them, so the API, the job runner and the store treat every kind alike. What differs
//! per kind is its spec (0-orchestrator's create body) and where it lives in the API's paths.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::validate::Invalid;
use crate::store::Record;

/// What each kind's create body provides.
pub trait Spec: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The store collection of its records (also the job's `kind` and the `/events` collection).
    const COLLECTION: &'static str;
    /// Its path segments under `/nodes/{id}`, outermost first: `["storagepools", "filesystems"]` gives
    /// `/nodes/{id}/storagepools/{pool}/filesystems/{name}`.
    const PATH: &'static [&'static str];
    /// The body field that holds its name (`name`, or `id` for a VM), for errors about it.
    const NAME_FIELD: &'static str;
    /// Whether it spans nodes (a storage cluster): then it lives at the top of the API (`/<PATH[0]>/{name}`), its
    /// name is unique across the whole cluster and is its key, and its `node` is only where its jobs start.
    const SPANS_NODES: bool = false;
    /// Its name, unique among its siblings.
    fn name(&self) -> &str;
    fn validate(&self) -> Result<(), Invalid>;
}

/// A workload's desired state (API-owned; the engine removes the record when a deletion or a failed creation is
/// complete).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload<S> {
    /// `<node>/<parents…>/<name>`.
    pub key: String,
    pub node: String,
    /// The names of the resources it lives in (the pool of a filesystem; the pool and filesystem of a snapshot).
    pub parents: Vec<String>,
    pub spec: S,
    /// Whether it should run (containers and VMs: start/stop); true for the others.
    pub running: bool,
    /// Set by DELETE; the engine removes the record once the node has let go of it.
    pub deleting: bool,
    /// The job that applies the latest change.
    pub job: String,
    pub created_at: String,
    /// While a VM migrates here: the node it comes from (the engine removes it there, then clears this).
    #[serde(default)]
    pub moved_from: Option<String>,
}

impl<S: Spec> Record for Workload<S> {
    const COLLECTION: &'static str = S::COLLECTION;
    fn id(&self) -> &str {
        &self.key
    }
}

impl<S: Spec> Workload<S> {
    pub fn key(node: &str, parents: &[String], name: &str) -> String {
        if S::SPANS_NODES {
            return name.to_owned();
        }
        std::iter::once(node)
            .chain(parents.iter().map(String::as_str))
            .chain(std::iter::once(name))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The key prefix of the workloads of this kind under `parents` on `node`.
    pub fn prefix(node: &str, parents: &[String]) -> String {
        Workload::<S>::key(node, parents, "")
    }

    pub fn new(node: &str, parents: Vec<String>, spec: S) -> Workload<S> {
        Workload {
            key: Workload::<S>::key(node, &parents, spec.name()),
            node: node.to_owned(),
            parents,
            spec,
            running: true,
            deleting: false,
            job: String::new(),
            created_at: super::now_rfc3339(),
            moved_from: None,
        }
    }

    /// Its API path, e.g. `/nodes/n1/storagepools/p/filesystems/f`.
    pub fn path(&self) -> String {
        if S::SPANS_NODES {
            return format!("/{}/{}", S::PATH[0], self.spec.name());
        }
        let names = self
            .parents
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(self.spec.name()));
        S::PATH
            .iter()
            .zip(names)
            .fold(format!("/nodes/{}", self.node), |path, (segment, name)| {
                format!("{path}/{segment}/{name}")
            })
    }

    /// The id of its observed status (`WorkloadStatus`).
    pub fn status_id(&self) -> String {
        format!("{}/{}", S::COLLECTION, self.key)
    }
}
