//! What the node and container handlers both answer about 0-core's jobs and processes, in 0-orchestrator's
//! shapes (kept here so neither handler module depends on the other).

use serde::Serialize;
use serde_json::Value;
use warp::Reply;

use crate::api::{ApiError, HandlerResult, shapes};
use crate::zos::commands::{self, JobInfo};
use crate::zos::protocol::State;
use crate::zos::{JobStatus, ZosClient};

/// 0-orchestrator's `JobListItem`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobListItem {
    pub id: String,
    /// Epoch milliseconds.
    pub start_time: u64,
}

pub(crate) fn job_list_items(jobs: Vec<JobInfo>) -> Vec<JobListItem> {
    jobs.into_iter()
        .map(|job| JobListItem {
            id: job.cmd.id,
            start_time: job.starttime,
        })
        .collect()
}

/// 0-orchestrator's `JobResult`; `state` is lower case, `running` while the job runs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobResultView {
    pub id: String,
    pub name: String,
    pub level: u16,
    pub start_time: u64,
    pub stdout: String,
    pub stderr: String,
    #[schema(example = "success")]
    pub state: String,
    pub data: String,
}

impl JobResultView {
    /// A job that has not ended: no result yet.
    pub(crate) fn running(id: String) -> JobResultView {
        JobResultView {
            id,
            name: commands::SYSTEM.into(),
            level: 0,
            start_time: 0,
            stdout: String::new(),
            stderr: String::new(),
            state: "running".into(),
            data: String::new(),
        }
    }
}

/// Job `job`'s result on the node as 0-orchestrator shows it (`running` while it runs); 404 when unknown.
pub(crate) async fn job_result(client: &ZosClient, job: String) -> Result<JobResultView, ApiError> {
    Ok(match client.job_status(&job).await? {
        JobStatus::Unknown => return Err(ApiError::not_found("job", &job)),
        JobStatus::Running => JobResultView::running(job),
        JobStatus::Finished(result) => {
            let mut streams = result.streams.into_iter();
            JobResultView {
                id: result.id,
                name: result.command,
                level: result.level,
                start_time: result.starttime,
                stdout: streams.next().unwrap_or_default(),
                stderr: streams.next().unwrap_or_default(),
                state: state_word(result.state).into(),
                data: result.data,
            }
        }
    })
}

fn state_word(state: State) -> &'static str {
    match state {
        State::Success => "success",
        State::Error => "error",
        State::Timeout => "timeout",
        State::Killed => "killed",
        State::UnknownCmd => "unknown_cmd",
        State::DuplicateId => "duplicate_id",
    }
}

/// Process `pid` out of a `process.list` answer; 404 when it is not there.
pub(crate) fn process_response(processes: Vec<Value>, pid: u32) -> HandlerResult {
    let process = processes
        .into_iter()
        .find(|process| process["pid"] == pid)
        .ok_or_else(|| ApiError::not_found("process", &pid.to_string()))?;
    Ok(warp::reply::json(&shapes::process(process)).into_response())
}
