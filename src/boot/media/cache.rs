//! Built images, kept by content key so a second download of the same image is a copy of a pointer. Bounded in
//! entries and bytes (least recently used go first): a client asking for one image per network must not grow
//! the server's memory without end.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;

pub struct Cache {
    /// Most recently used first. A handful of entries: a linear search is cheaper than keeping a map in step.
    entries: Mutex<VecDeque<(String, Bytes)>>,
    max_entries: usize,
    max_bytes: usize,
}

/// What `/health` shows of the cache.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheUse {
    pub entries: usize,
    pub bytes: usize,
    pub max_entries: usize,
    pub max_bytes: usize,
}

impl Cache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Cache {
        Cache {
            entries: Mutex::new(VecDeque::new()),
            max_entries,
            max_bytes,
        }
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let mut entries = self.entries.lock().expect("cache lock");
        let index = entries.iter().position(|(k, _)| k == key)?;
        let entry = entries.remove(index)?;
        let bytes = entry.1.clone();
        entries.push_front(entry);
        Some(bytes)
    }

    pub fn insert(&self, key: String, bytes: Bytes) {
        let mut entries = self.entries.lock().expect("cache lock");
        entries.retain(|(k, _)| *k != key);
        entries.push_front((key, bytes));
        let mut total: usize = entries.iter().map(|(_, b)| b.len()).sum();
        while entries.len() > self.max_entries || (total > self.max_bytes && entries.len() > 1) {
            let (_, evicted) = entries.pop_back().expect("not empty");
            total -= evicted.len();
        }
    }

    pub fn usage(&self) -> CacheUse {
        let entries = self.entries.lock().expect("cache lock");
        CacheUse {
            entries: entries.len(),
            bytes: entries.iter().map(|(_, b)| b.len()).sum(),
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_past_either_limit() {
        let cache = Cache::new(2, 10);
        cache.insert("a".into(), Bytes::from_static(b"1234"));
        cache.insert("b".into(), Bytes::from_static(b"1234"));
        assert!(cache.get("a").is_some());
        cache.insert("c".into(), Bytes::from_static(b"12"));
        assert!(cache.get("b").is_none(), "b was least recently used");
        cache.insert("d".into(), Bytes::from_static(b"123456789"));
        assert_eq!(
            cache.usage().entries,
            1,
            "bytes over the limit evict down to the newest"
        );
    }
}
