//! `job.*`: the jobs a 0-core runs (its own services among them).

use serde::Deserialize;
use serde_json::json;

use super::Core;
use crate::zos::ZosError;

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

impl Core<'_> {
    /// `job.list`.
    pub async fn jobs(&self) -> Result<Vec<JobInfo>, ZosError> {
        self.json("job.list", json!({})).await
    }

    /// `job.kill`: sends `signal` to job `id`'s process.
    pub async fn kill_job(&self, id: &str, signal: i32) -> Result<(), ZosError> {
        self.call("job.kill", json!({"id": id, "signal": signal})).await
    }
}
