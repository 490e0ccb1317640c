//! 0-core's command names are written once, in `src/zos/` (the typed client) — and in `src/sim/`, which plays the
//! node's side. The API and the engine call typed methods, so a command's name and arguments cannot drift between
//! two callers, and `src/zos/` shows everything the orchestrator asks of a node.

use std::path::Path;

/// 0-core's command families (ZOS-REFERENCE §3, Commands).
const FAMILIES: &[&str] = &[
    "aggregator",
    "btrfs",
    "bridge",
    "cgroup",
    "core",
    "corex",
    "disk",
    "filesystem",
    "info",
    "job",
    "kvm",
    "logger",
    "nft",
    "process",
    "zerotier",
];

/// Whether `text` (what sits between two `"`) is a command name: `<family>.<command>`.
fn is_command(text: &str) -> bool {
    text.split_once('.').is_some_and(|(family, command)| {
        FAMILIES.contains(&family)
            && !command.is_empty()
            && command
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    })
}

/// `file:line: text` for every line of a `.rs` file under `dir` with a quoted command name outside a comment.
fn quoted_commands(dir: &Path, found: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            quoted_commands(&path, found);
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        for (number, line) in source.lines().enumerate() {
            // Every piece between quotes is checked, so a stray quote in a char literal cannot hide one.
            if !line.trim_start().starts_with("//") && line.split('"').any(is_command) {
                found.push(format!("{}:{}: {}", path.display(), number + 1, line.trim()));
            }
        }
    }
}

#[test]
fn only_zos_names_node_commands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for dir in ["src/api", "src/engine"] {
        quoted_commands(&root.join(dir), &mut found);
    }
    assert!(
        found.is_empty(),
        "0-core command names outside src/zos (call a typed method of zos::ZosClient instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn recognises_command_names() {
    assert!(is_command("corex.nic-add"));
    assert!(is_command("btrfs.subvol_create"));
    assert!(!is_command("setting.cidr"));
    assert!(!is_command("index.html"));
    assert!(!is_command("core."));
    assert!(!is_command("core.system, args"));
}
