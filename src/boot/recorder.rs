//! Boot events: every served boot file or script, recorded off the serving path.
//!
//! Serving must never wait for the store, so the TFTP and HTTP sides hand each [`Served`] to a bounded queue and
//! move on; one task writes them to the store (without waiting for a flush: losing the last half second of boot
//! events in a crash is acceptable, slowing every download is not). When the queue is full, events are dropped
//! and counted in `/metrics` rather than slowing a boot storm down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::model::boot::{BootEvent, BootOutcome, BootProtocol};
use crate::store::Store;

/// How many boot events the store keeps (older ones are removed as new ones arrive).
const RETAINED_EVENTS: u64 = 10_000;
const QUEUE: usize = 4096;

/// One served file, as the serving side reports it.
#[derive(Debug, Clone)]
pub struct Served {
    pub mac: Option<String>,
    pub client: String,
    pub protocol: BootProtocol,
    pub file: String,
    pub bytes: u64,
    pub duration: Duration,
    pub outcome: BootOutcome,
    pub profile: Option<String>,
    /// Firmware architecture, where the protocol tells it (proxyDHCP).
    pub arch: Option<String>,
}

pub struct Recorder {
    queue: mpsc::Sender<Served>,
    metrics: Arc<Metrics>,
}

impl Recorder {
    pub fn start(store: Store, metrics: Arc<Metrics>) -> std::io::Result<Recorder> {
        let last = store.last_id::<BootEvent>().map_err(std::io::Error::other)?;
        let next = AtomicU64::new(last.and_then(|id| id.parse::<u64>().ok()).map_or(1, |n| n + 1));
        let (queue, mut received) = mpsc::channel::<Served>(QUEUE);
        tokio::spawn(async move {
            while let Some(served) = received.recv().await {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if let Err(err) = store.insert_unflushed(event(seq, served)).await {
                    tracing::warn!(error = %err, "cannot record a boot event");
                }
                if let Some(expired) = seq.checked_sub(RETAINED_EVENTS)
                    && let Err(err) = store.delete_unflushed::<BootEvent>(&event_id(expired)).await
                {
                    tracing::warn!(error = %err, "cannot trim old boot events");
                }
            }
        });
        Ok(Recorder { queue, metrics })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn record(&self, served: Served) {
        self.metrics.boot_served(served.protocol, served.outcome, served.bytes);
        tracing::debug!(client = %served.client, file = %served.file, outcome = ?served.outcome, bytes = served.bytes, "boot file served");
        if self.queue.try_send(served).is_err() {
            self.metrics.boot_event_dropped();
        }
    }
}

/// Zero-padded so that ids sort (and page) in time order.
fn event_id(seq: u64) -> String {
    format!("{seq:020}")
}

fn event(seq: u64, served: Served) -> BootEvent {
    BootEvent {
        id: event_id(seq),
        at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        mac: served.mac,
        client: served.client,
        protocol: served.protocol,
        file: served.file,
        bytes: served.bytes,
        duration_ms: served.duration.as_millis().try_into().unwrap_or(u64::MAX),
        outcome: served.outcome,
        profile: served.profile,
        arch: served.arch,
    }
}
