//! An exclusive lock on the data directory.
//!
//! sled locks its own files too, but only once it has started opening them; taking our lock first means a second
//! `serve` on the same directory fails before it reads, writes or creates anything (tokens included).

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::{Result, StoreError};

const LOCK_FILE: &str = "lock";

pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(data_dir: &Path) -> Result<DirLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(data_dir.join(LOCK_FILE))?;
        DirLock::take(file, data_dir)
    }

    /// Locks a data directory without creating anything in it (`restore`, about to replace it): `None` when it
    /// has no lock file, so no store was ever opened there.
    pub fn acquire_existing(data_dir: &Path) -> Result<Option<DirLock>> {
        match OpenOptions::new().write(true).open(data_dir.join(LOCK_FILE)) {
            Ok(file) => DirLock::take(file, data_dir).map(Some),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    fn take(file: File, data_dir: &Path) -> Result<DirLock> {
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
                path: data_dir.to_owned(),
            }),
            Err(std::fs::TryLockError::Error(err)) => Err(err.into()),
        }
    }
}
