//! The emulated node's files (`filesystem.*`), per container: opened by path, written and read in base64
//! blocks through a file descriptor, closed, removed — as 0-core's file transfer works, kept in memory.

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::wire::Outcome;

/// The largest block `filesystem.read` answers with.
const READ_BLOCK: usize = 512 * 1024;
/// The most one emulated container may hold, so an upload cannot eat the host's memory.
const MOST_BYTES: usize = 64 << 20;

struct Open {
    container: u64,
    path: String,
    position: usize,
}

#[derive(Default)]
struct State {
    files: BTreeMap<(u64, String), Vec<u8>>,
    open: BTreeMap<u64, Open>,
    next_fd: u64,
}

#[derive(Default)]
pub struct Files {
    state: Mutex<State>,
}

fn missing(path: &str) -> Outcome {
    Outcome::error(&format!("open {path}: no such file or directory"))
}

impl Files {
    pub fn execute(&self, command: &str, arguments: &Value, container: u64) -> Option<Outcome> {
        if !command.starts_with("filesystem.") {
            return None;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let fd = arguments["fd"].as_u64().unwrap_or_default();
        Some(match command {
            "filesystem.open" => {
                let path = arguments["file"].as_str().unwrap_or_default().to_owned();
                if !path.starts_with('/') {
                    return Some(Outcome::error(&format!("open {path}: path must be absolute")));
                }
                let key = (container, path.clone());
                match arguments["mode"].as_str().unwrap_or("r") {
                    "w" => {
                        state.files.insert(key, Vec::new());
                    }
                    "r" if !state.files.contains_key(&key) => return Some(missing(&path)),
                    "r" => {}
                    other => return Some(Outcome::error(&format!("unsupported mode '{other}'"))),
                }
                state.next_fd += 1;
                let fd = state.next_fd;
                state.open.insert(
                    fd,
                    Open {
                        container,
                        path,
                        position: 0,
                    },
                );
                Outcome::json(json!(fd))
            }
            "filesystem.write" => {
                let Some(open) = state.open.get(&fd).filter(|o| o.container == container) else {
                    return Some(Outcome::error(&format!("bad file descriptor {fd}")));
                };
                let key = (container, open.path.clone());
                let Ok(block) = STANDARD.decode(arguments["block"].as_str().unwrap_or_default()) else {
                    return Some(Outcome::error("block is not base64"));
                };
                let used: usize = state
                    .files
                    .iter()
                    .filter(|((c, _), _)| *c == container)
                    .map(|(_, f)| f.len())
                    .sum();
                if used + block.len() > MOST_BYTES {
                    return Some(Outcome::error("write: no space left on device"));
                }
                state.files.entry(key).or_default().extend_from_slice(&block);
                Outcome::json(Value::Null)
            }
            "filesystem.read" => {
                let State { files, open, .. } = &mut *state;
                let Some(open) = open.get_mut(&fd).filter(|o| o.container == container) else {
                    return Some(Outcome::error(&format!("bad file descriptor {fd}")));
                };
                let content = files
                    .get(&(container, open.path.clone()))
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let end = (open.position + READ_BLOCK).min(content.len());
                let block = &content[open.position.min(end)..end];
                open.position = end;
                Outcome::json(json!(STANDARD.encode(block)))
            }
            "filesystem.close" => match state.open.remove(&fd) {
                Some(_) => Outcome::json(Value::Null),
                None => Outcome::error(&format!("bad file descriptor {fd}")),
            },
            "filesystem.remove" => {
                let path = arguments["path"].as_str().unwrap_or_default().to_owned();
                match state.files.remove(&(container, path.clone())) {
                    Some(_) => Outcome::json(Value::Null),
                    None => missing(&path),
                }
            }
            "filesystem.exists" => {
                let path = arguments["path"].as_str().unwrap_or_default().to_owned();
                Outcome::json(json!(state.files.contains_key(&(container, path))))
            }
            _ => return None,
        })
    }

    /// The whole content of `path` in `container`.
    pub fn content(&self, container: u64, path: &str) -> Option<Vec<u8>> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.files.get(&(container, path.to_owned())).cloned()
    }

    /// A terminated container's files are gone with it.
    pub fn clear_container(&self, container: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.files.retain(|(c, _), _| *c != container);
        state.open.retain(|_, open| open.container != container);
    }
}
