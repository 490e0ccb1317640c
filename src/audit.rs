//! The audit log's writer: record ids, durability and retention, for the API's one recording point
//! (`api::audit`) and for the changes made outside it (the bootstrap token, `token create`).
//!
//! Records are appended outside the change feed (see `Store::append`). A change that took effect is on disk,
//! with its record, before the client hears of it; a refused request's record is written without waiting for
//! the disk (sled flushes within half a second), so a flood of unauthenticated requests costs no `fsync` each.
//! The log is bounded: the oldest records go once there are more than [`Retention::records`] or they are older
//! than [`Retention::age`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::model::{AuditEntry, AuditRecord};
use crate::store::{Store, StoreError};

/// How much of the log is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub records: u64,
    pub age: Duration,
}

/// How many old records one new record may remove at most: more than one, so a log over its bounds (after the
/// retention was lowered) shrinks as it grows, without one request paying for the whole backlog.
const TRIM_PER_RECORD: usize = 4;

pub struct Audit {
    store: Store,
    next: AtomicU64,
    /// `None`: never trims (the `token create` command, which does not know the server's retention).
    keep: Option<Retention>,
}

impl Audit {
    /// The writer of `store`'s log: ids go on after its newest record; with `keep`, records beyond it are trimmed
    /// now.
    pub fn open(store: Store, keep: Option<Retention>) -> Result<Audit, StoreError> {
        let last = store.last_id::<AuditRecord>()?;
        let next = last.and_then(|id| id.parse::<u64>().ok()).map_or(1, |n| n + 1);
        let audit = Audit {
            store,
            next: AtomicU64::new(next),
            keep,
        };
        audit.trim(usize::MAX)?;
        Ok(audit)
    }

    /// Appends `entry`, durably when it records a change that took effect (a status below 400).
    pub async fn record(&self, entry: AuditEntry) {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let durable = entry.status < 400;
        let record = AuditRecord {
            id: record_id(seq),
            at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            entry,
        };
        if let Err(err) = self.store.append(record, durable).await {
            tracing::error!(error = %err, "cannot write an audit record");
        }
        if let Err(err) = self.trim(TRIM_PER_RECORD) {
            tracing::warn!(error = %err, "cannot trim the audit log");
        }
    }

    /// Removes up to `most` of the oldest records that are beyond the retention.
    fn trim(&self, most: usize) -> Result<(), StoreError> {
        let Some(keep) = self.keep else {
            return Ok(());
        };
        let newest = self.next.load(Ordering::Relaxed).saturating_sub(1);
        let cutoff = SystemTime::now()
            .checked_sub(keep.age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let cutoff = humantime::format_rfc3339_millis(cutoff).to_string();
        for _ in 0..most {
            let oldest = self.store.list::<AuditRecord>("", None, 1, |_| true)?;
            let Some(oldest) = oldest.items.into_iter().next() else {
                break;
            };
            let seq = oldest.value.id.parse::<u64>().unwrap_or(0);
            if seq.saturating_add(keep.records) > newest && oldest.value.at >= cutoff {
                break;
            }
            self.store.remove_appended::<AuditRecord>(&oldest.value.id)?;
        }
        Ok(())
    }
}

/// Zero-padded so that ids sort (and page) in time order.
fn record_id(seq: u64) -> String {
    format!("{seq:020}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: u16) -> AuditEntry {
        AuditEntry {
            actor: "ci".into(),
            token_id: None,
            role: None,
            method: "POST".into(),
            route: "/nodes".into(),
            path: "/nodes".into(),
            location: None,
            note: None,
            status,
            client: "127.0.0.1:1".into(),
        }
    }

    fn ids(store: &Store) -> Vec<u64> {
        let all = store.all::<AuditRecord>().unwrap();
        all.iter().map(|record| record.id.parse().unwrap()).collect()
    }

    #[tokio::test]
    async fn the_log_keeps_the_newest_records_within_its_age() {
        let (_dir, store) = Store::scratch();
        let day = Duration::from_secs(86_400);
        let keep = Retention { records: 5, age: day };
        let audit = Audit::open(store.clone(), Some(keep)).unwrap();
        for status in [201, 401, 204, 403, 200, 201, 500] {
            audit.record(entry(status)).await;
        }
        assert_eq!(ids(&store), [3, 4, 5, 6, 7], "the newest five");

        // A record from before the cutoff goes when the log is opened, however few there are.
        let stale = AuditRecord {
            id: record_id(2),
            at: humantime::format_rfc3339_millis(SystemTime::now() - 3 * day).to_string(),
            entry: entry(201),
        };
        store.append(stale, true).await.unwrap();
        drop(audit);
        let roomy = Retention { records: 100, age: day };
        let audit = Audit::open(store.clone(), Some(roomy)).unwrap();
        assert_eq!(ids(&store), [3, 4, 5, 6, 7], "the stale one went");
        audit.record(entry(201)).await;
        assert_eq!(ids(&store), [3, 4, 5, 6, 7, 8], "ids go on after the newest");
        drop(audit);
        let audit = Audit::open(store.clone(), Some(keep)).unwrap();
        assert_eq!(ids(&store), [4, 5, 6, 7, 8], "a lowered bound applies at once");

        // Without a retention (the command line), nothing is trimmed.
        drop(audit);
        let cli = Audit::open(store.clone(), None).unwrap();
        cli.record(entry(201)).await;
        assert_eq!(ids(&store).len(), 6);
    }
}
