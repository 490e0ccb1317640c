//! The commands that move state while no server runs on it: `restore` (a backup into a data directory, or into
//! an etcd prefix) and `store copy` (sled ⇄ etcd). Each prints one line on success and exits with a status a
//! script can act on: 0 done, 1 failed (the target holds nothing a server would serve), 2 the target may not be
//! written (not empty, in use, a bad argument), 3 the backup is refused (truncated, corrupt, newer).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::model;
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
/// does, which never leaves a prefix a server would serve half-written. The boot assets' files go to this
/// instance's `data_dir/assets`, where an etcd-backed instance keeps them.
pub async fn restore_to_etcd(file: &Path, data_dir: &Path, access: Access, prefix: String) -> ExitCode {
    let staging = std::env::temp_dir().join(format!("zos-restore-{}", std::process::id()));
    let outcome = restore_via(
        file,
        &staging,
        data_dir,
        Side::Etcd {
            access,
            prefix: prefix.clone(),
        },
    )
    .await;
    let _ = std::fs::remove_dir_all(&staging);
    match outcome {
        Ok((restored, entries, assets)) => {
            println!(
                "restored {entries} entries into etcd prefix {prefix}/ and {assets} asset files into {} (backup by \
                 zos-orchestrator {}, position {})",
                data_dir.display(),
                restored.made_by,
                restored.position
            );
            ExitCode::SUCCESS
        }
        Err((status, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(status)
        }
    }
}

async fn restore_via(
    file: &Path,
    staging: &Path,
    data_dir: &Path,
    target: Side,
) -> Result<(backup::Restored, usize, usize), (u8, String)> {
    let _ = std::fs::remove_dir_all(staging);
    let restored = backup::restore(file, staging, false)
        .map_err(|err| (restore_status(&err), format!("{err}; nothing was written")))?;
    let entries = copy::copy(&Side::Sled(staging.to_owned()), &target, &appended())
        .await
        .map_err(|err| (copy_status(&err), err.to_string()))?;
    let assets = move_assets(&staging.join(crate::boot::assets::ASSETS_DIR), data_dir).map_err(|err| {
        (
            1,
            format!("the records are restored, but the asset files are not: {err}"),
        )
    })?;
    Ok((restored, entries, assets))
}

/// Moves the restored asset files into `data_dir/assets`, each replacing any file of its name by rename.
fn move_assets(from: &Path, data_dir: &Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err),
    };
    let to: PathBuf = data_dir.join(crate::boot::assets::ASSETS_DIR);
    std::fs::create_dir_all(&to)?;
    let mut moved = 0;
    for entry in entries {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if std::fs::rename(entry.path(), &target).is_err() {
            // Another file system (the staging folder is in the temporary directory): copy, then rename.
            let temporary = to.join(format!(".restore-{}", entry.file_name().to_string_lossy()));
            std::fs::copy(entry.path(), &temporary)?;
            std::fs::File::open(&temporary)?.sync_all()?;
            std::fs::rename(&temporary, &target)?;
        }
        moved += 1;
    }
    Ok(moved)
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
    match copy::copy(&source, &target, &appended()).await {
        Ok(entries) => {
            println!("copied {entries} entries from {from} to {to}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(copy_status(&err))
        }
    }
}
