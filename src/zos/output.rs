//! Following a job's output as it runs: 0-core pushes each line to `stream:<id>` when the job was started with
//! `stream: true`, and `core.subscribe` attaches such a stream to a job that is already running.

use std::sync::Arc;

use futures_util::Stream;

use super::connection::Connection;
use super::protocol::{self, JobResult, State, StreamMessage};
use super::{ZosClient, ZosError};

/// Between two checks that a silent job still exists, in seconds.
const SILENCE_SLICE_SECONDS: &[u8] = b"1";

/// Where a job is, without waiting for it.
#[derive(Debug, Clone, PartialEq)]
pub enum JobStatus {
    Running,
    /// Its result (kept by the node for 5 minutes after the end).
    Finished(JobResult),
    /// Never known, or its result expired.
    Unknown,
}

fn unknown_job(id: &str) -> ZosError {
    ZosError::Command {
        state: State::Error,
        code: 404,
        message: format!("job id '{id}' not found"),
    }
}

async fn peek(connection: &mut Connection, id: &str) -> Result<JobStatus, ZosError> {
    let result_key = protocol::result_key(id);
    let results = connection
        .call(&[b"LRANGE", result_key.as_bytes(), b"0", b"0"])
        .await?
        .texts()?;
    if let Some(raw) = results.first() {
        let result: JobResult = serde_json::from_str(raw)
            .map_err(|err| ZosError::Protocol(format!("result is not a 0-core result: {err}")))?;
        return Ok(JobStatus::Finished(result));
    }
    let known = connection
        .call(&[b"EXISTS", protocol::flag_key(id).as_bytes()])
        .await?
        .integer()?
        > 0;
    Ok(if known { JobStatus::Running } else { JobStatus::Unknown })
}

/// One thing a followed job did.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputEvent {
    /// A line of output; `level` 1 is stdout, 2 stderr (ZOS-REFERENCE §3).
    Line { level: u16, text: String },
    /// The job ended; no more events follow.
    End { success: bool },
}

struct Follow {
    client: Arc<ZosClient>,
    id: String,
    connection: Option<Connection>,
    ended: bool,
}

impl ZosClient {
    /// Whether job `id` runs, has ended (with its result), or is unknown; answers at once.
    pub async fn job_status(&self, id: &str) -> Result<JobStatus, ZosError> {
        tokio::time::timeout(self.deadline, async {
            let mut connection = self.connection().await?;
            let status = peek(&mut connection, id).await?;
            self.release(connection);
            Ok(status)
        })
        .await
        .map_err(|_| ZosError::Timeout(self.deadline))?
    }

    /// The output of job `id` (started with `stream: true`, or a `core.subscribe` job, which attaches a
    /// new stream to a job already running) until the job ends. A job that
    /// fails before printing anything (unknown program, unknown job) ends the stream with its error.
    pub fn output(self: &Arc<Self>, id: &str) -> impl Stream<Item = Result<OutputEvent, ZosError>> + Send + 'static {
        let follow = Follow {
            client: self.clone(),
            id: id.to_owned(),
            connection: None,
            ended: false,
        };
        futures_util::stream::unfold(follow, |mut follow| async move {
            if follow.ended {
                return None;
            }
            let event = follow.next().await;
            follow.ended = !matches!(event, Ok(OutputEvent::Line { .. }));
            if follow.ended
                && let Some(connection) = follow.connection.take()
            {
                follow.client.release(connection);
            }
            Some((event, follow))
        })
    }
}

impl Follow {
    async fn next(&mut self) -> Result<OutputEvent, ZosError> {
        let stream_key = protocol::stream_key(&self.id);
        let connection = match &mut self.connection {
            Some(connection) => connection,
            connection => connection.insert(self.client.connection().await?),
        };
        loop {
            let popped = connection
                .call(&[b"BLPOP", stream_key.as_bytes(), SILENCE_SLICE_SECONDS])
                .await?
                .texts()?;
            // A nil reply when the slice passed in silence; else the list's name and the message.
            if let Some(raw) = popped.into_iter().nth(1) {
                let message: StreamMessage = serde_json::from_str(&raw)
                    .map_err(|err| ZosError::Protocol(format!("stream message is not 0-core's: {err}")))?;
                return Ok(match message.message.end() {
                    Some(success) => OutputEvent::End { success },
                    None => OutputEvent::Line {
                        level: message.message.level(),
                        text: message.message.message,
                    },
                });
            }
            // Silence: the job may have ended without a stream (it failed before it ran), or be unknown.
            match peek(connection, &self.id).await? {
                JobStatus::Running => {}
                JobStatus::Finished(result) if result.state == State::Success => {
                    return Ok(OutputEvent::End { success: true });
                }
                JobStatus::Finished(result) => {
                    return Err(ZosError::Command {
                        state: result.state,
                        code: result.code,
                        message: result.data,
                    });
                }
                JobStatus::Unknown => return Err(unknown_job(&self.id)),
            }
        }
    }
}
