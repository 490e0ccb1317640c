//! `restore`: a data directory rebuilt from a backup, all or nothing.
//!
//! Everything is written to a new directory beside the target (`.NAME.restore-…`), and the archive is read to its
//! end and checked before that directory is renamed into place. A refused archive, an error or a `kill -9` at any
//! point leaves the target as it was, or (replacing one with `--force`) either the old directory or the complete
//! new one, never a mix. The next restore removes what an interrupted one left beside the target.

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Component, Path, PathBuf};

use super::archive::{ArchiveError, ArchiveReader, Item};
use crate::store::lock::DirLock;
use crate::store::{DB_DIR, StoreError, feed};

/// What a restore wrote.
#[derive(Debug)]
pub struct Restored {
    pub records: u64,
    pub files: u64,
    /// The change log's sequence number the backup was a copy at.
    pub position: u64,
    /// The release that wrote the backup.
    pub made_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0} is not empty; pass --force to replace its contents with the backup's")]
    NotEmpty(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error("{0} is in use by a running zos-orchestrator; stop it before restoring over it")]
    InUse(PathBuf),
    #[error("{0}")]
    Archive(#[from] ArchiveError),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("cannot write the restored store: {0}")]
    Store(#[from] StoreError),
}

impl From<sled::Error> for RestoreError {
    fn from(err: sled::Error) -> RestoreError {
        RestoreError::Store(err.into())
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> RestoreError {
    let context = context.into();
    move |source| RestoreError::Io { context, source }
}

/// Rebuilds `data_dir` from the backup in `archive`. A `data_dir` with contents is replaced only with `force`,
/// and never while a server holds it.
pub fn restore(archive: &Path, data_dir: &Path, force: bool) -> Result<Restored, RestoreError> {
    let file = File::open(archive).map_err(io_error(format!("cannot open {}", archive.display())))?;
    let mut reader = ArchiveReader::open(BufReader::with_capacity(256 * 1024, file))?;
    let (records, files, position) = into_new_dir(data_dir, force, |staging| fill(&mut reader, staging))?;
    Ok(Restored {
        records,
        files,
        position,
        made_by: reader.made_by,
    })
}

/// Fills a new directory beside `data_dir` with `fill` and renames it into place once `fill` succeeded: all or
/// nothing, for `restore` and `store copy`. A `data_dir` with contents is replaced only with `force`, and never
/// while a server holds it.
pub(crate) fn into_new_dir<T>(
    data_dir: &Path,
    force: bool,
    fill: impl FnOnce(&Path) -> Result<T, RestoreError>,
) -> Result<T, RestoreError> {
    let target = std::path::absolute(data_dir).map_err(io_error(format!("cannot resolve {}", data_dir.display())))?;
    let (parent, name) = match (target.parent(), target.file_name()) {
        (Some(parent), Some(name)) => (parent.to_owned(), name.to_string_lossy().into_owned()),
        _ => return Err(RestoreError::NotADirectory(target)),
    };
    let (occupied, _lock) = check_target(&target, force)?;
    fs::create_dir_all(&parent).map_err(io_error(format!("cannot create {}", parent.display())))?;
    remove_leftovers(&parent, &name)?;
    let staging = parent.join(format!(".{name}.restore-{}", suffix()));
    fs::create_dir(&staging).map_err(io_error(format!("cannot create {}", staging.display())))?;
    let filled = fill(&staging).and_then(|filled| {
        swap_in(&staging, &target, occupied)?;
        Ok(filled)
    });
    if filled.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    filled
}

/// Whether the target has contents to replace (refused without `force`), and its lock while it does.
fn check_target(target: &Path, force: bool) -> Result<(bool, Option<DirLock>), RestoreError> {
    let mut entries = match fs::read_dir(target) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok((false, None)),
        Err(err) if err.kind() == io::ErrorKind::NotADirectory => {
            return Err(RestoreError::NotADirectory(target.to_owned()));
        }
        Err(err) => return Err(io_error(format!("cannot read {}", target.display()))(err)),
    };
    if entries.next().is_none() {
        return Ok((false, None));
    }
    if !force {
        return Err(RestoreError::NotEmpty(target.to_owned()));
    }
    match DirLock::acquire_existing(target) {
        Ok(lock) => Ok((true, lock)),
        Err(StoreError::Locked { path }) => Err(RestoreError::InUse(path)),
        Err(err) => Err(err.into()),
    }
}

/// Applies the archive's entries, in order, to a new store and files under `staging`; returns once the end entry
/// vouched for all of them: (records, files, position).
fn fill(reader: &mut ArchiveReader<impl io::Read>, staging: &Path) -> Result<(u64, u64, u64), RestoreError> {
    let db = sled::Config::new().path(staging.join(DB_DIR)).open()?;
    let (mut records, mut files) = (0, 0);
    loop {
        match reader.next()? {
            Item::Record { tree, key, value } => {
                db.open_tree(tree)?.insert(key, value)?;
                records += 1;
            }
            Item::Removed { tree, key } => {
                db.open_tree(tree)?.remove(key)?;
            }
            Item::File { path } => {
                let relative = attachment_path(&path)?;
                let target = staging.join(relative);
                let cannot = || format!("cannot write {}", target.display());
                if let Some(dir) = target.parent() {
                    fs::create_dir_all(dir).map_err(io_error(cannot()))?;
                }
                let mut file = File::create(&target).map_err(io_error(cannot()))?;
                reader.copy_file(&mut file)?;
                file.sync_all().map_err(io_error(cannot()))?;
                files += 1;
            }
            Item::End { position } => {
                trim_change_log(&db, position)?;
                db.flush()?;
                drop(db);
                sync_dir(staging)?;
                return Ok((records, files, position));
            }
        }
    }
}

/// A file entry's path, checked: relative, plain names only, and not where the store's own files go.
fn attachment_path(path: &str) -> Result<&Path, RestoreError> {
    let relative = Path::new(path);
    let plain = relative.components().all(|part| matches!(part, Component::Normal(_)));
    let first = relative.components().next();
    if !plain || first.is_none() || first == Some(Component::Normal(DB_DIR.as_ref())) {
        return Err(ArchiveError::Corrupt(format!("a file entry with the path '{path}'")).into());
    }
    Ok(relative)
}

/// Keeps the change log to the window that ends at the backup's position, as the live store keeps it: the first
/// copy may hold entries trimmed, or taken back, before that position was reached.
fn trim_change_log(db: &sled::Db, position: u64) -> Result<(), RestoreError> {
    let log = db.open_tree(feed::LOG_TREE)?;
    let first_kept = position.saturating_sub(feed::RETAINED_CHANGES) + 1;
    let outside = log
        .range(..first_kept.to_be_bytes())
        .chain(log.range((position + 1).to_be_bytes()..));
    for entry in outside {
        let (key, _) = entry?;
        log.remove(key)?;
    }
    Ok(())
}

/// Moves the filled staging directory to the target: one rename, or two when an old directory is replaced (it is
/// moved aside first, then removed).
fn swap_in(staging: &Path, target: &Path, occupied: bool) -> Result<(), RestoreError> {
    let parent = target.parent().unwrap_or(Path::new("/"));
    let moved = || format!("cannot move the restored data to {}", target.display());
    if occupied {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let aside = parent.join(format!(".{name}.replaced-{}", suffix()));
        fs::rename(target, &aside).map_err(io_error(format!("cannot move {} aside", target.display())))?;
        fs::rename(staging, target).map_err(io_error(moved()))?;
        // The restore has happened; an old directory that cannot be removed now is a leftover the next one removes.
        let _ = fs::remove_dir_all(&aside);
    } else {
        fs::rename(staging, target).map_err(io_error(moved()))?;
    }
    sync_dir(parent)
}

/// Removes what an interrupted restore of `name` left in `parent`: its staging directory, or the old directory it
/// had moved aside before it was stopped (the new one was already complete then, and asked to replace it).
fn remove_leftovers(parent: &Path, name: &str) -> Result<(), RestoreError> {
    let prefixes = [format!(".{name}.restore-"), format!(".{name}.replaced-")];
    let entries = fs::read_dir(parent).map_err(io_error(format!("cannot read {}", parent.display())))?;
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|prefix| file_name.starts_with(prefix.as_str())) {
            fs::remove_dir_all(entry.path()).map_err(io_error(format!(
                "cannot remove the leftover {}",
                entry.path().display()
            )))?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), RestoreError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(format!("cannot sync {}", dir.display())))
}

fn suffix() -> String {
    hex::encode(rand::random::<[u8; 6]>())
}
