//! The 0-core wire protocol: what a client pushes and what the node pushes back (see ZOS-REFERENCE §3).
//! Shared by the client and the emulator, so both speak exactly one definition.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The list a node takes commands from.
pub const COMMAND_QUEUE: &str = "core:default";

/// Runs a command inside a container: `{container, command}`, `command` being a whole [`Command`]; the answer is
/// the inner job's id, whose result is read like any other.
pub const DISPATCH: &str = "corex.dispatch";

/// Set (empty element) when the node picks a job up; expires 300 s after the job ends.
pub fn flag_key(id: &str) -> String {
    format!("result:{id}:flag")
}

/// Holds exactly one JSON result; expires 300 s after it is written.
pub fn result_key(id: &str) -> String {
    format!("result:{id}")
}

/// Where a job started with `stream: true` pushes its output, one message per line.
pub fn stream_key(id: &str) -> String {
    format!("stream:{id}")
}

/// How long results (and flags) stay readable after a job ends.
pub const RESULT_TTL_SECONDS: u64 = 300;

/// `level` of a result whose `data` is JSON.
pub const LEVEL_JSON: u16 = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub id: String,
    pub command: String,
    #[serde(default)]
    pub arguments: Value,
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub max_time: Option<u64>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// A job's final state, as 0-core spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    #[serde(rename = "SUCCESS")]
    Success,
    #[serde(rename = "ERROR")]
    Error,
    #[serde(rename = "TIMEOUT")]
    Timeout,
    #[serde(rename = "KILLED")]
    Killed,
    #[serde(rename = "UNKNOWN_CMD")]
    UnknownCmd,
    /// 0-core's Go constant is misspelled `DUPILICATE_ID`; both spellings mean the same.
    #[serde(rename = "DUPLICATE_ID", alias = "DUPILICATE_ID")]
    DuplicateId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub id: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub data: String,
    #[serde(default)]
    pub streams: Vec<String>,
    #[serde(default)]
    pub critical: String,
    #[serde(default)]
    pub level: u16,
    pub state: State,
    #[serde(default)]
    pub code: u32,
    #[serde(default)]
    pub starttime: u64,
    #[serde(default)]
    pub time: u64,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub container: u64,
}

/// Output levels a process writes (ZOS-REFERENCE §3, "Process output levels").
pub const LEVEL_STDOUT: u16 = 1;
pub const LEVEL_STDERR: u16 = 2;

/// `meta` flag of a stream's last message: the job ended with success, or with an error.
pub const META_EXIT_SUCCESS: u32 = 0x2;
pub const META_EXIT_ERROR: u32 = 0x4;

/// One element of `stream:<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamMessage {
    /// The container the job runs in (0: the node itself).
    #[serde(default)]
    pub core: u64,
    /// The job's id.
    #[serde(default)]
    pub command: String,
    pub message: StreamLine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamLine {
    #[serde(default)]
    pub message: String,
    /// Nanoseconds since the epoch.
    #[serde(default)]
    pub epoch: u64,
    /// `level << 16 | flags`.
    #[serde(default)]
    pub meta: u32,
}

impl StreamLine {
    pub fn new(level: u16, flags: u32, message: String, epoch: u64) -> StreamLine {
        StreamLine {
            message,
            epoch,
            meta: (u32::from(level) << 16) | flags,
        }
    }

    pub fn level(&self) -> u16 {
        (self.meta >> 16) as u16
    }

    /// `Some(success)` on the stream's last message.
    pub fn end(&self) -> Option<bool> {
        if self.meta & META_EXIT_SUCCESS != 0 {
            Some(true)
        } else if self.meta & META_EXIT_ERROR != 0 {
            Some(false)
        } else {
            None
        }
    }
}
