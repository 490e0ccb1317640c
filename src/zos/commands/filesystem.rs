//! `filesystem.*`: files moved as 0-core moves them: opened, then base64 blocks written or read through the file
//! descriptor, then closed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::Core;
use crate::zos::ZosError;

/// An open file, as `filesystem.open` names it (kept as the node sent it, to send back the same).
pub struct Fd(Value);

impl Core<'_> {
    /// `filesystem.open` for reading.
    pub async fn open_read(&self, path: &str) -> Result<Fd, ZosError> {
        self.json("filesystem.open", json!({"file": path, "mode": "r", "perm": 0}))
            .await
            .map(Fd)
    }

    /// `filesystem.open` for writing: the file is created, or emptied, with permissions `perm`.
    pub async fn open_write(&self, path: &str, perm: u32) -> Result<Fd, ZosError> {
        self.json("filesystem.open", json!({"file": path, "mode": "w", "perm": perm}))
            .await
            .map(Fd)
    }

    /// `filesystem.write`: appends `block`.
    pub async fn write(&self, fd: &Fd, block: &[u8]) -> Result<(), ZosError> {
        let arguments = json!({"fd": fd.0, "block": STANDARD.encode(block)});
        self.call("filesystem.write", arguments).await
    }

    /// `filesystem.read`: the next block; empty at the end of the file.
    pub async fn read(&self, fd: &Fd) -> Result<Vec<u8>, ZosError> {
        let block: String = self.json("filesystem.read", json!({"fd": fd.0})).await?;
        STANDARD
            .decode(block)
            .map_err(|err| ZosError::Protocol(format!("filesystem.read: {err}")))
    }

    /// `filesystem.close`.
    pub async fn close(&self, fd: Fd) -> Result<(), ZosError> {
        self.call("filesystem.close", json!({"fd": fd.0})).await
    }

    /// `filesystem.remove`.
    pub async fn remove(&self, path: &str) -> Result<(), ZosError> {
        self.call("filesystem.remove", json!({"path": path})).await
    }
}
