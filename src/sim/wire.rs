//! What the agent and the command families share, in its own module so that the families (containers, jobs,
//! storage, …) and the agent that dispatches to them do not depend on each other: the transport's list operations
//! and the outcome of a command.

use serde_json::Value;

use crate::zos::protocol::{self, State};

/// The list operations the agent needs from its transport.
pub trait Lists: Send + Sync + 'static {
    /// The next raw command from `core:default` (waits for one).
    fn pop_command(&self) -> impl std::future::Future<Output = Option<Vec<u8>>> + Send;
    fn push(&self, key: &str, value: Vec<u8>) -> impl std::future::Future<Output = ()> + Send;
    fn expire(&self, key: &str, seconds: u64) -> impl std::future::Future<Output = ()> + Send;
    fn exists(&self, key: &str) -> impl std::future::Future<Output = bool> + Send;
}

/// What a command produced: the fields of its result that depend on the command.
pub struct Outcome {
    pub state: State,
    pub level: u16,
    pub data: String,
    pub code: u32,
    pub streams: [String; 2],
}

impl Outcome {
    pub fn json(value: Value) -> Outcome {
        Outcome {
            state: State::Success,
            level: protocol::LEVEL_JSON,
            data: value.to_string(),
            code: 200,
            streams: Default::default(),
        }
    }

    pub fn error(message: &str) -> Outcome {
        Outcome::failed(State::Error, message)
    }

    pub(super) fn failed(state: State, message: &str) -> Outcome {
        Outcome {
            state,
            level: 0,
            data: message.to_owned(),
            code: 500,
            streams: Default::default(),
        }
    }
}
