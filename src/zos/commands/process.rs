//! `process.*`: a 0-core's processes. Listing them is one of the reports ([`super::Info::Processes`]).

use serde_json::json;

use super::Core;
use crate::zos::ZosError;

impl Core<'_> {
    /// `process.kill`: sends `signal` to process `pid`.
    pub async fn kill_process(&self, pid: u32, signal: i32) -> Result<(), ZosError> {
        self.call("process.kill", json!({"pid": pid, "signal": signal})).await
    }
}
