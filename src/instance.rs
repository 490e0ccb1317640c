//! This process's name among the orchestrators that share a store, for the leader election, `/health`,
//! `/metrics` and the logs: `<host name>-<4 hex digits>`, made on the first start and kept in
//! `<data-dir>/instance-id`, so an instance keeps its name across restarts (and an operator may write another
//! name into the file). Calls nothing.

use std::path::Path;

/// The file, in the data directory, holding the instance's name.
pub const INSTANCE_FILE: &str = "instance-id";

/// This instance's name: read from the data directory, or made and written there.
pub fn identity(data_dir: &Path) -> std::io::Result<String> {
    let file = data_dir.join(INSTANCE_FILE);
    match std::fs::read_to_string(&file) {
        Ok(kept) if !kept.trim().is_empty() => return Ok(kept.trim().to_owned()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    // The kernel's host name: what an operator calls the machine (or the container, given `--hostname`).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .collect();
    let name = format!(
        "{}-{:04x}",
        if host.is_empty() { "zos" } else { &host },
        rand::random::<u16>()
    );
    std::fs::create_dir_all(data_dir)?;
    let partial = data_dir.join(format!("{INSTANCE_FILE}.partial"));
    std::fs::write(&partial, format!("{name}\n"))?;
    std::fs::rename(&partial, &file)?;
    Ok(name)
}
