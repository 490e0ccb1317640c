//! An exclusive lock on the data directory.
//!
//! sled locks its own files too, but only once it has started opening them; taking our lock first means a second
//! `serve` on the same directory fails before it reads, writes or creates anything (tokens included).

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::{Result, StoreError};

pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(data_dir: &Path) -> Result<DirLock> {
        let path = data_dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
                path: data_dir.to_owned(),
            }),
            Err(std::fs::TryLockError::Error(err)) => Err(err.into()),
        }
    }
}
