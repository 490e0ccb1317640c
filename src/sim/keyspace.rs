//! The emulator's Redis data: lists with expiry, and the blocking pops 0-core's protocol is built on.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

#[derive(Default)]
struct Entry {
    list: VecDeque<Vec<u8>>,
    expires: Option<Instant>,
}

#[derive(Default)]
pub struct Keyspace {
    entries: Mutex<HashMap<Vec<u8>, Entry>>,
    /// Woken on every push, so blocked pops re-check.
    pushed: Notify,
}

type Entries = HashMap<Vec<u8>, Entry>;

impl Keyspace {
    fn with<R>(&self, f: impl FnOnce(&mut Entries) -> R) -> R {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        entries.retain(|_, entry| entry.expires.is_none_or(|at| at > now) && !entry.list.is_empty());
        f(&mut entries)
    }

    pub fn rpush(&self, key: &[u8], values: Vec<Vec<u8>>) -> usize {
        let len = self.with(|entries| {
            let entry = entries.entry(key.to_vec()).or_default();
            entry.list.extend(values);
            entry.list.len()
        });
        self.pushed.notify_waiters();
        len
    }

    pub fn lpop(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.with(|entries| entries.get_mut(key)?.list.pop_front())
    }

    /// Pops the last element of `source` and pushes it onto the front of `destination` (which may be the same
    /// list: 0-core clients use that to read a result without consuming it).
    pub fn rpoplpush(&self, source: &[u8], destination: &[u8]) -> Option<Vec<u8>> {
        let value = self.with(|entries| {
            let value = entries.get_mut(source)?.list.pop_back()?;
            let target = entries.entry(destination.to_vec()).or_default();
            target.list.push_front(value.clone());
            Some(value)
        });
        if value.is_some() {
            self.pushed.notify_waiters();
        }
        value
    }

    /// Waits for `op` to succeed, at most `timeout` (`None`: forever).
    async fn blocking<T>(&self, timeout: Option<Duration>, op: impl Fn() -> Option<T>) -> Option<T> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let pushed = self.pushed.notified();
            tokio::pin!(pushed);
            pushed.as_mut().enable();
            if let Some(value) = op() {
                return Some(value);
            }
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, pushed).await.ok()?,
                None => pushed.await,
            }
        }
    }

    pub async fn brpoplpush(&self, source: &[u8], destination: &[u8], timeout: Option<Duration>) -> Option<Vec<u8>> {
        self.blocking(timeout, || self.rpoplpush(source, destination)).await
    }

    pub async fn blpop(&self, keys: &[Vec<u8>], timeout: Option<Duration>) -> Option<(Vec<u8>, Vec<u8>)> {
        self.blocking(timeout, || {
            keys.iter()
                .find_map(|key| self.lpop(key).map(|value| (key.clone(), value)))
        })
        .await
    }

    pub fn expire(&self, key: &[u8], seconds: u64) -> bool {
        self.with(|entries| match entries.get_mut(key) {
            Some(entry) => {
                entry.expires = Some(Instant::now() + Duration::from_secs(seconds));
                true
            }
            None => false,
        })
    }

    /// Seconds to live: -2 when the key does not exist, -1 when it has no expiry.
    pub fn ttl(&self, key: &[u8]) -> i64 {
        self.with(|entries| match entries.get(key) {
            None => -2,
            Some(Entry { expires: None, .. }) => -1,
            Some(Entry { expires: Some(at), .. }) => at.saturating_duration_since(Instant::now()).as_secs() as i64,
        })
    }

    pub fn exists(&self, key: &[u8]) -> bool {
        self.with(|entries| entries.contains_key(key))
    }

    pub fn del(&self, key: &[u8]) -> bool {
        self.with(|entries| entries.remove(key).is_some())
    }

    pub fn range(&self, key: &[u8], start: i64, stop: i64) -> Vec<Vec<u8>> {
        self.with(|entries| {
            let Some(entry) = entries.get(key) else {
                return Vec::new();
            };
            let len = entry.list.len() as i64;
            let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
            let (start, stop) = (norm(start), norm(stop).min(len - 1));
            if start > stop {
                Vec::new()
            } else {
                entry.list.range(start as usize..=stop as usize).cloned().collect()
            }
        })
    }
}
