//! `corex.*`: containers on a node, and commands run inside them (`corex.dispatch`, see [`super::Core`]). A
//! container is found again by the tags it was created with (its name), so an interrupted creation can look before
//! it creates a second one.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::{SYSTEM, System};
use crate::zos::protocol::{DISPATCH, JobResult};
use crate::zos::{ZosClient, ZosError, decode};

impl ZosClient {
    /// `corex.list`: every container by id, each with the arguments it was created with.
    pub async fn containers(&self) -> Result<Map<String, Value>, ZosError> {
        self.json("corex.list", json!({})).await
    }

    /// `corex.find {tags}`: the ids of the containers that carry all `tags`.
    pub async fn find_containers(&self, tags: &[String]) -> Result<Vec<u64>, ZosError> {
        let found: BTreeMap<String, Value> = self.json("corex.find", json!({"tags": tags})).await?;
        Ok(found.keys().filter_map(|id| id.parse().ok()).collect())
    }

    /// `corex.create`: the new container's id. `tags` go with it (both as the job's tags and in its arguments, as
    /// the reference client sends them).
    pub async fn create_container(&self, mut arguments: Value, tags: Vec<String>) -> Result<u64, ZosError> {
        arguments["tags"] = json!(tags);
        decode(
            "corex.create",
            self.run_tagged("corex.create", arguments, Some(tags)).await?,
        )
    }

    /// `corex.terminate`.
    pub async fn terminate_container(&self, container: u64) -> Result<(), ZosError> {
        self.call("corex.terminate", json!({"container": container})).await
    }

    /// `corex.nic-add`: `nic` as `corex.create` takes its NICs.
    pub async fn add_container_nic(&self, container: u64, nic: &Value) -> Result<(), ZosError> {
        self.call("corex.nic-add", json!({"container": container, "nic": nic}))
            .await
    }

    /// `corex.nic-remove`: the NIC at `index` in the container's list (the ones after it move up).
    pub async fn remove_container_nic(&self, container: u64, index: usize) -> Result<(), ZosError> {
        self.call("corex.nic-remove", json!({"container": container, "index": index}))
            .await
    }

    /// `core.system` inside `container` under the job id `id`: a service, found again by its id in `job.list`
    /// (0-orchestrator runs a storage engine as `storage_engine.<name>`); the node refuses a second job with an
    /// id in use, so a service is never started twice.
    pub async fn start_service(&self, container: u64, id: &str, process: &System<'_>) -> Result<(), ZosError> {
        self.dispatch(container, Some(id), SYSTEM, process.arguments(), false)
            .await
            .map(drop)
    }

    /// Starts `command` inside `container` (`corex.dispatch`), as job `id` or a new one, and returns its id.
    pub(super) async fn dispatch(
        &self,
        container: u64,
        id: Option<&str>,
        command: &str,
        arguments: Value,
        stream: bool,
    ) -> Result<String, ZosError> {
        // A process in a container runs as long as it runs; callers that wait bound their own wait.
        let mut inner = self.command(command, arguments, stream, None);
        inner.max_time = None;
        if let Some(id) = id {
            inner.id = id.to_owned();
        }
        self.json(DISPATCH, json!({"container": container, "command": inner}))
            .await
    }

    /// Runs `command` inside `container` and decodes its JSON answer, within the deadline.
    pub(super) async fn json_in<T: DeserializeOwned>(
        &self,
        container: u64,
        command: &str,
        arguments: Value,
    ) -> Result<T, ZosError> {
        decode(command, self.run_in(container, command, arguments).await?)
    }

    /// Runs `command` inside `container` and returns its result, whatever its state, within the deadline.
    pub(super) async fn run_in(&self, container: u64, command: &str, arguments: Value) -> Result<JobResult, ZosError> {
        tokio::time::timeout(self.deadline, async {
            let id = self.dispatch(container, None, command, arguments, false).await?;
            self.read_result(&id).await
        })
        .await
        .map_err(|_| ZosError::Timeout(self.deadline))?
    }
}
