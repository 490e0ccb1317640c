//! Boot events: every served boot file or script, recorded off the serving path.
//!
//! Serving must never wait for the store, so the TFTP and HTTP sides hand each [`Served`] to a bounded queue and
//! move on; one task writes them to the store (without waiting for a flush: losing the last half second of boot
//! events in a crash is acceptable, slowing every download is not). When the queue is full, events are dropped
//! and counted in `/metrics` rather than slowing a boot storm down.
//!
//! Repeats are coalesced: a store write costs several times what serving a small file does, so one machine
//! fetching the same file again and again (a retrying firmware, a load test, a DHCP flood) would spend the
//! server's CPU on the log. The first time a machine gets a file with an outcome, its event is written at once
//! (the UI shows boots live); the same machine, file and outcome again within [`WINDOW`] are counted and written
//! as one event when the window closes, with `count` saying how many. Every machine and file keeps an event;
//! only identical repeats share one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::model::boot::{BootEvent, BootOutcome, BootProtocol};
use crate::store::Store;

/// How many boot events the store keeps (older ones are removed as new ones arrive).
const RETAINED_EVENTS: u64 = 10_000;
const QUEUE: usize = 4096;
/// How long repeats of one machine's fetch of one file are gathered into one event.
const WINDOW: Duration = Duration::from_secs(1);
/// Open windows at most; beyond that, events are written one by one (never lost to the coalescing).
const MAX_WINDOWS: usize = 10_000;

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
        let writer = Writer {
            store,
            next: last.and_then(|id| id.parse::<u64>().ok()).map_or(1, |n| n + 1),
        };
        let (queue, received) = mpsc::channel::<Served>(QUEUE);
        tokio::spawn(coalesce(received, writer));
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

fn event(seq: u64, served: Served, count: u64) -> BootEvent {
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
        count,
    }
}

/// Writes events with increasing ids and trims the oldest beyond [`RETAINED_EVENTS`].
struct Writer {
    store: Store,
    next: u64,
}

impl Writer {
    async fn write(&mut self, served: Served, count: u64) {
        let seq = self.next;
        self.next += 1;
        if let Err(err) = self.store.insert_unflushed(event(seq, served, count)).await {
            tracing::warn!(error = %err, "cannot record a boot event");
        }
        if let Some(expired) = seq.checked_sub(RETAINED_EVENTS)
            && let Err(err) = self.store.delete_unflushed::<BootEvent>(&event_id(expired)).await
        {
            tracing::warn!(error = %err, "cannot trim old boot events");
        }
    }
}

/// What makes two served files the same event: the machine (its MAC, and its address without the port, which
/// changes with every connection), the file, how, and how it went.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    mac: Option<String>,
    host: String,
    file: String,
    protocol: BootProtocol,
    outcome: BootOutcome,
    profile: Option<String>,
}

impl Key {
    fn of(served: &Served) -> Key {
        let host = served.client.rsplit_once(':').map_or(&*served.client, |(host, _)| host);
        Key {
            mac: served.mac.clone(),
            host: host.to_owned(),
            file: served.file.clone(),
            protocol: served.protocol,
            outcome: served.outcome,
            profile: served.profile.clone(),
        }
    }
}

/// One machine's fetches of one file since its event was written: the latest, and how many.
struct Window {
    opened: Instant,
    repeats: Option<(Served, u64)>,
}

/// The recording task: writes each first fetch at once, gathers its repeats for [`WINDOW`], and writes them as
/// one event when the window closes (or the server stops).
async fn coalesce(mut received: mpsc::Receiver<Served>, mut writer: Writer) {
    let mut windows: HashMap<Key, Window> = HashMap::new();
    let mut tick = tokio::time::interval(WINDOW / 4);
    loop {
        tokio::select! {
            served = received.recv() => {
                let Some(served) = served else { break };
                let key = Key::of(&served);
                match windows.get_mut(&key) {
                    Some(window) => {
                        let count = window.repeats.as_ref().map_or(0, |(_, count)| *count);
                        let bytes = window.repeats.as_ref().map_or(0, |(first, _)| first.bytes);
                        window.repeats = Some((Served { bytes: bytes + served.bytes, ..served }, count + 1));
                    }
                    None => {
                        if windows.len() < MAX_WINDOWS {
                            windows.insert(key, Window { opened: Instant::now(), repeats: None });
                        }
                        writer.write(served, 1).await;
                    }
                }
            }
            _ = tick.tick() => {
                let closed: Vec<Key> = windows
                    .iter()
                    .filter(|(_, window)| window.opened.elapsed() >= WINDOW)
                    .map(|(key, _)| key.clone())
                    .collect();
                for key in closed {
                    if let Some(Window { repeats: Some((served, count)), .. }) = windows.remove(&key) {
                        writer.write(served, count).await;
                    }
                }
            }
        }
    }
    for (_, window) in windows {
        if let Some((served, count)) = window.repeats {
            writer.write(served, count).await;
        }
    }
}
