//! The commands that move state while no server runs on it: `restore` (a backup into a data directory, or into
//! an etcd prefix) and `store copy` (sled ⇄ etcd). Each prints one line on success and exits with a status a
//! script can act on: 0 done, 1 failed (the target holds nothing a server would serve), 2 the target may not be
//! written (not empty, in use, a bad argument), 3 the backup is refused (truncated, corrupt, newer).

use std::path::Path;
use std::process::ExitCode;

use crate::model;
use crate::model::boot::BootAsset;
use crate::store::backup::{self, RestoreError};
use crate::store::copy::{self, CopyError, Side};
use crate::store::{self, Access, Record};
use crate::{EXIT_REFUSED_BACKUP, EXIT_USAGE};

/// The collections kept with `Store::append` (the audit log and the webhooks' queues): sled does not tell them
/// from records, etcd keeps them apart.
fn appended() -> [&'static str; 2] {
    [model::AuditRecord::COLLECTION, model::webhook::QueuedEvent::COLLECTION]
}

/// `restore` into a data directory: see `store::backup::restore`.
pub fn restore(file: &Path, data_dir: &Path, force: bool) -> ExitCode {
    match backup::restore(file, data_dir, force) {
        Ok(restored) => {
            println!(
                "restored {} records and {} files (backup by zos-orchestrator {}, change position {}) into {}",
                restored.records,
                restored.files,
                restored.made_by,
                restored.position,
                data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}; {} was not changed", data_dir.display());
            ExitCode::from(restore_status(&err))
        }
    }
}

fn restore_status(err: &RestoreError) -> u8 {
    match err {
        RestoreError::Archive(_) => EXIT_REFUSED_BACKUP,
        RestoreError::NotEmpty(_) | RestoreError::InUse(_) | RestoreError::NotADirectory(_) => EXIT_USAGE,
        RestoreError::Io { .. } | RestoreError::Store(_) => 1,
    }
}

/// `restore --store etcd://…`: the backup is read and checked to its end into a sled directory of its own first,
/// so a refused archive reaches nothing; then that directory is copied into the (empty) prefix as `store copy`
/// does — the boot assets' files with it, as blobs every instance fetches — which never leaves a prefix a server
/// would serve half-written.
pub async fn restore_to_etcd(file: &Path, access: Access, prefix: String) -> ExitCode {
    let staging = std::env::temp_dir().join(format!("zos-restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let outcome = match backup::restore(file, &staging, false) {
        Err(err) => Err((restore_status(&err), format!("{err}; nothing was written"))),
        Ok(restored) => {
            let target = Side::Etcd {
                access,
                prefix: prefix.clone(),
            };
            copy::copy::<BootAsset>(&Side::Sled(staging.clone()), &target, &appended())
                .await
                .map(|copied| (restored, copied))
                .map_err(|err| (copy_status(&err), err.to_string()))
        }
    };
    let _ = std::fs::remove_dir_all(&staging);
    match outcome {
        Ok((restored, (entries, files))) => {
            println!(
                "restored {entries} entries and {files} boot asset files into etcd prefix {prefix}/ (backup by \
                 zos-orchestrator {}, position {})",
                restored.made_by, restored.position
            );
            ExitCode::SUCCESS
        }
        Err((status, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(status)
        }
    }
}

fn copy_status(err: &CopyError) -> u8 {
    match err {
        CopyError::NotEmpty(_) => EXIT_USAGE,
        CopyError::Store(_) | CopyError::Restore(_) => 1,
    }
}

/// `store copy`: exit 0 once the target holds everything, 2 when the target is not empty (or an argument is
/// invalid), 1 for any other failure (the target then holds nothing a server would serve).
pub async fn store_copy(from: &str, to: &str, prefix: &str, security: &store::Security) -> ExitCode {
    let side = |text: &str| Side::parse(text, prefix).and_then(|side| side.secured(security));
    let (source, target) = match side(from).and_then(|source| Ok((source, side(to)?))) {
        Ok(sides) => sides,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match copy::copy::<BootAsset>(&source, &target, &appended()).await {
        Ok((entries, files)) => {
            println!("copied {entries} entries and {files} boot asset files from {from} to {to}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(copy_status(&err))
        }
    }
}
