//! Orchestrator jobs: one record per change the API asked for (create, start, stop, delete a workload). The API
//! writes a job together with the desired state; the engine runs it, and records its progress and outcome here,
//! so a client (or the UI) can follow long work, and a restart resumes whatever was not finished.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobState {
    pub fn finished(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobAction {
    Create,
    Start,
    Stop,
    /// Stop gracefully (VMs: the guest shuts down).
    Shutdown,
    /// Change a workload in place (a pool's devices).
    Update,
    /// Move a VM to another node (the job runs on the new node's record).
    Migrate,
    /// Roll a filesystem back to a snapshot (the job runs on the snapshot's record, so the snapshot cannot be
    /// deleted while it is being restored).
    Rollback,
    /// Write a VM's definition to a URL (`VmExport` says where).
    Export,
    Delete,
}

/// Why a job failed, in the API's error terms (`code`, `message`, `field`), so an API call that waited for the job
/// answers exactly as if it had failed itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobError {
    /// HTTP status the waiting API call answers with.
    pub status: u16,
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl JobError {
    pub fn new(status: u16, code: &str, message: impl Into<String>, field: Option<&str>) -> JobError {
        JobError {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Sortable by creation time (`<epoch ms hex>-<random>`).
    pub id: String,
    /// The workload collection (`containers`, …).
    pub kind: String,
    pub action: JobAction,
    pub node: String,
    /// The workload's id within its collection (`<node>/<name>`).
    pub target: String,
    /// The API path of the workload.
    pub resource: String,
    pub state: JobState,
    /// 0 to 100.
    pub progress: u8,
    /// What the engine is doing now, for people.
    pub step: String,
    /// Tries so far; a node that is unreachable is retried with backoff.
    pub attempts: u32,
    pub error: Option<JobError>,
    pub created_at: String,
    pub updated_at: String,
}

crate::store::record!(Job, "jobs", id);

impl Job {
    /// When the job `id` was made (milliseconds since the epoch), as its id says; `None` for an id of another
    /// shape.
    pub fn made_at_millis(id: &str) -> Option<u64> {
        let (millis, _) = id.split_once('-')?;
        u64::from_str_radix(millis, 16).ok().filter(|_| millis.len() == 12)
    }

    /// Now, in the unit of [`Job::made_at_millis`].
    pub fn now_millis() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64)
    }

    pub fn new(kind: &str, action: JobAction, node: &str, target: &str, resource: &str) -> Job {
        let mut random = [0u8; 4];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
        let millis = Job::now_millis();
        let now = super::now_rfc3339();
        Job {
            id: format!("{millis:012x}-{}", hex::encode(random)),
            kind: kind.to_owned(),
            action,
            node: node.to_owned(),
            target: target.to_owned(),
            resource: resource.to_owned(),
            state: JobState::Queued,
            progress: 0,
            step: "queued".into(),
            attempts: 0,
            error: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }
}

/// What the engine last observed of a workload (engine-owned; the API owns the desired records).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadStatus {
    /// `<collection>/<workload id>`.
    pub id: String,
    /// `running`, `halted`, …: the reference's status words.
    pub status: String,
    /// The node's own id for it (0-core container id), when it exists there.
    pub core_id: Option<u64>,
    pub updated_at: String,
}

crate::store::record!(WorkloadStatus, "workload_status", id);
