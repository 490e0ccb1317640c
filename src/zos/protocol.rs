//! The 0-core wire protocol: what a client pushes and what the node pushes back (see ZOS-REFERENCE §3).
//! Shared by the client and the emulator, so both speak exactly one definition.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The list a node takes commands from.
pub const COMMAND_QUEUE: &str = "core:default";

/// Set (empty element) when the node picks a job up; expires 300 s after the job ends.
pub fn flag_key(id: &str) -> String {
    format!("result:{id}:flag")
}

/// Holds exactly one JSON result; expires 300 s after it is written.
pub fn result_key(id: &str) -> String {
    format!("result:{id}")
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
