//! The module rules ARCHITECTURE.md states, checked rather than remembered: who may import whom.

use std::path::Path;

/// `file:line: text` for every `use`/path line of a `.rs` file under `dir` that names one of `forbidden`.
fn imports(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for (number, line) in source.lines().enumerate() {
            let code = line.trim_start();
            if !code.starts_with("//") && forbidden.iter().any(|name| code.contains(name)) {
                found.push(format!("{}:{}: {}", path.display(), number + 1, code));
            }
        }
    }
    found.sort();
    found
}

/// The API writes desired state and reads the store; only the engine writes observed state, so the API never
/// reaches into it.
#[test]
fn api_does_not_import_engine() {
    let found = imports("src/api", &["crate::engine"]);
    assert!(found.is_empty(), "src/api uses the engine:\n{}", found.join("\n"));
}

/// The model is pure data: it knows the store only as the `Record` trait it implements (mostly through the
/// `record!` macro that writes the implementation).
#[test]
fn model_imports_only_store_record() {
    let found: Vec<String> = imports(
        "src/model",
        &[
            "crate::store",
            "crate::api",
            "crate::engine",
            "crate::zos",
            "crate::zerotier",
            "crate::boot",
            "crate::sim",
        ],
    )
    .into_iter()
    .filter(|line| !line.ends_with("use crate::store::Record;") && !line.contains(": crate::store::record!("))
    .collect();
    assert!(
        found.is_empty(),
        "src/model imports more than store::Record:\n{}",
        found.join("\n")
    );
}

/// The 0-core client speaks the wire protocol and nothing else of ours (its test suite runs against the emulator).
#[test]
fn zos_imports_nothing_of_ours() {
    let found: Vec<String> = imports(
        "src/zos",
        &[
            "crate::api",
            "crate::engine",
            "crate::model",
            "crate::store",
            "crate::sim",
            "crate::boot",
        ],
    )
    .into_iter()
    .filter(|line| !line.contains("src/zos/tests.rs:"))
    .collect();
    assert!(found.is_empty(), "src/zos imports other modules:\n{}", found.join("\n"));
}
