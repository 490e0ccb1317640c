//! Typed commands, where the orchestrator needs the answer's fields (hardware and process listings are passed
//! through to the API as the node sent them, as 0-orchestrator does). Unknown fields are ignored, so newer
//! nodes with more fields still parse.

use serde::Deserialize;
use serde_json::json;

use super::{ZosClient, ZosError};

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobCommand {
    pub id: String,
}

/// A running job, as `job.list` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobInfo {
    pub cmd: JobCommand,
    /// Epoch milliseconds.
    #[serde(default)]
    pub starttime: u64,
}

impl ZosClient {
    pub async fn ping(&self) -> Result<String, ZosError> {
        self.json("core.ping", json!({})).await
    }

    pub async fn jobs(&self) -> Result<Vec<JobInfo>, ZosError> {
        self.json("job.list", json!({})).await
    }

    pub async fn kill_job(&self, id: &str) -> Result<(), ZosError> {
        self.json::<serde_json::Value>("job.kill", json!({"id": id, "signal": 9}))
            .await
            .map(drop)
    }

    pub async fn kill_process(&self, pid: u32) -> Result<(), ZosError> {
        self.json::<serde_json::Value>("process.kill", json!({"pid": pid, "signal": 15}))
            .await
            .map(drop)
    }

    pub async fn reboot(&self) -> Result<(), ZosError> {
        self.json::<serde_json::Value>("core.reboot", json!({})).await.map(drop)
    }
}
