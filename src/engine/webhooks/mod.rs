//! Webhooks: the orchestrator's events delivered to HTTP receivers.
//!
//! The dispatcher follows the store's change feed, turns the changes that are events into one queued delivery per
//! webhook that wants them (`events.rs`), and keeps one delivery task per webhook (`delivery.rs`). The queue is in
//! the store, and the dispatcher's place in the feed (the cursor) is written after what it queued, so a restart
//! resumes both: an event is queued at least once, and stays queued until its receiver took it.
//!
//! A queue is bounded (`--webhook-queue-limit`): when it is full the oldest event is dropped for the new one (a
//! receiver that comes back wants the current state more than the history), counted in the webhook's `dropped`
//! and logged.

mod delivery;
mod events;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::model::webhook::QueuedEvent;
use crate::model::{Webhook, WebhookStatus, now_rfc3339};
use crate::store::{Change, Record, Store, StoreError};
use delivery::{Queue, Sender};

/// The meta key of the last change the dispatcher has queued events for.
const CURSOR_KEY: &str = "webhooks.cursor";
/// How many changes without events (deliveries' own records, heartbeats) the cursor may fall behind.
const CURSOR_LAG: u64 = 500;

/// The delivery settings (`--webhook-timeout`, `--webhook-retry-max`, `--webhook-queue-limit`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub timeout: Duration,
    pub retry_max: Duration,
    pub queue_limit: u64,
}

/// One webhook's running delivery task.
struct Running {
    queue: Arc<Queue>,
    task: JoinHandle<()>,
}

pub struct Dispatcher {
    store: Store,
    settings: Settings,
    sender: Sender,
    running: HashMap<String, Running>,
    announced: events::Announced,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

/// On the first start of a cluster, makes its events begin now rather than with the store's history. Called
/// before the API serves, so that no write it acknowledges is missed, however late the engine starts (it waits
/// for its leadership).
pub async fn begin(store: &Store) -> crate::store::Result<()> {
    if store.meta_get(CURSOR_KEY)?.is_none() {
        store
            .meta_put(CURSOR_KEY, &store.last_change_seq().to_be_bytes())
            .await?;
    }
    Ok(())
}

/// The deliveries end with their dispatcher (the engine's term ending aborts it).
impl Drop for Dispatcher {
    fn drop(&mut self) {
        for running in self.running.values() {
            running.task.abort();
        }
    }
}

impl Dispatcher {
    pub fn new(store: Store, settings: Settings, shutdown: tokio::sync::watch::Receiver<bool>) -> Dispatcher {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A redirect would send the signed body somewhere the operator did not name.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("zos-orchestrator/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the webhook HTTP client builds (TLS roots load)");
        Dispatcher {
            sender: Sender {
                store: store.clone(),
                http,
                retry_max: settings.retry_max,
            },
            store,
            settings,
            running: HashMap::new(),
            announced: Default::default(),
            shutdown,
        }
    }

    /// Follows the change feed until shutdown. Changes missed while the process was down (after the cursor) are
    /// read from the feed's log first.
    pub async fn run(mut self) {
        let mut feed = self.store.watch();
        if let Err(err) = self.start().await {
            tracing::error!(error = %err, "webhooks: cannot start; no events will be delivered");
            return;
        }
        loop {
            let change = tokio::select! {
                change = feed.recv() => change,
                _ = self.shutdown.wait_for(|stop| *stop) => return,
            };
            let outcome = match change {
                Ok(change) => self.follow(&[change]).await,
                Err(RecvError::Lagged(_)) => self.catch_up().await,
                Err(RecvError::Closed) => return,
            };
            if let Err(err) = outcome {
                tracing::error!(error = %err, "webhooks: cannot queue events");
            }
        }
    }

    async fn start(&mut self) -> crate::store::Result<()> {
        self.sync_tasks().await?;
        self.catch_up().await
    }

    /// Queues the events of every retained change after the cursor.
    async fn catch_up(&mut self) -> crate::store::Result<()> {
        let cursor = self.cursor()?.unwrap_or(0);
        let replay = self.store.changes_since(cursor)?;
        if replay.gap {
            tracing::warn!(
                cursor,
                "webhooks: changes after the cursor were already trimmed; some events are lost"
            );
        }
        self.follow(&replay.changes).await
    }

    async fn follow(&mut self, changes: &[Change]) -> crate::store::Result<()> {
        let cursor = self.cursor()?.unwrap_or(0);
        let mut queued = false;
        let mut read_up_to = cursor;
        for change in changes.iter().filter(|change| change.seq > cursor) {
            read_up_to = change.seq;
            if change.collection == Webhook::COLLECTION {
                self.sync_tasks().await?;
                continue;
            }
            let Some(event) = events::of(&self.store, change, &mut self.announced)? else {
                continue;
            };
            for hook in self.store.all::<Webhook>()? {
                if hook.wants(event.kind) {
                    self.enqueue(&hook.name, change.seq, &event).await?;
                }
            }
            queued = true;
        }
        // After queuing: durable with the queued events (one flush covers both), so a crash before this queues
        // them again. Without events, only now and then: a restart then re-reads at most that many changes.
        if queued || read_up_to - cursor >= CURSOR_LAG {
            self.save_cursor(read_up_to).await?;
        }
        Ok(())
    }

    /// Puts `event` at the end of `name`'s queue, dropping the oldest when the queue is full.
    async fn enqueue(&self, name: &str, seq: u64, event: &events::Event) -> crate::store::Result<()> {
        let Some(running) = self.running.get(name) else {
            return Ok(());
        };
        let queue = running.queue.clone();
        if queue.pending.load(Ordering::SeqCst) >= self.settings.queue_limit {
            self.drop_oldest(name, &queue)?;
        }
        let body = json!({
            "id": seq,
            "type": event.kind.as_str(),
            "at": now_rfc3339(),
            "webhook": name,
            "data": event.data,
        });
        let queued = QueuedEvent {
            id: QueuedEvent::key(name, seq),
            body: body.to_string(),
            kind: event.kind,
        };
        // Not flushed here: the cursor's flush after the batch covers it.
        match self.store.append(queued, false).await {
            Ok(()) => {
                queue.pending.fetch_add(1, Ordering::SeqCst);
                queue.wake.notify_one();
            }
            // Queued before a restart, not yet delivered: it stays where it is.
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(err) => return Err(err),
        }
        Ok(())
    }

    fn drop_oldest(&self, name: &str, queue: &Queue) -> crate::store::Result<()> {
        let oldest = self
            .store
            .list::<QueuedEvent>(&QueuedEvent::prefix(name), None, 1, |_| true)?;
        for record in oldest.items {
            if self.store.remove_appended::<QueuedEvent>(&record.value.id)? {
                queue.pending.fetch_sub(1, Ordering::SeqCst);
                let dropped = queue.dropped.fetch_add(1, Ordering::SeqCst) + 1;
                // The first drop, then every thousandth: a dead receiver under a storm must not flood the log.
                if dropped == 1 || dropped.is_multiple_of(1000) {
                    tracing::warn!(webhook = %name, dropped, limit = self.settings.queue_limit,
                        "webhook queue full: dropping its oldest events");
                }
            }
        }
        Ok(())
    }

    /// Starts a task for every webhook that has none; stops those of deleted webhooks and forgets their queues.
    async fn sync_tasks(&mut self) -> crate::store::Result<()> {
        let hooks = self.store.all::<Webhook>()?;
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|name| !hooks.iter().any(|hook| &hook.name == *name))
            .cloned()
            .collect();
        for name in gone {
            if let Some(running) = self.running.remove(&name) {
                running.task.abort();
            }
            self.forget(&name).await?;
        }
        for hook in hooks {
            if self.running.contains_key(&hook.name) {
                continue;
            }
            let queue = Arc::new(Queue::default());
            let waiting = self
                .store
                .list::<QueuedEvent>(&QueuedEvent::prefix(&hook.name), None, usize::MAX, |_| true)?
                .items
                .len();
            queue.pending.store(waiting as u64, Ordering::SeqCst);
            if let Some(status) = self.store.get::<WebhookStatus>(&hook.name)? {
                queue.dropped.store(status.value.dropped, Ordering::SeqCst);
            }
            let task = tokio::spawn(
                self.sender
                    .clone()
                    .run(hook.name.clone(), queue.clone(), self.shutdown.clone()),
            );
            self.running.insert(hook.name, Running { queue, task });
        }
        Ok(())
    }

    /// Removes a deleted webhook's undelivered events and its status.
    async fn forget(&self, name: &str) -> crate::store::Result<()> {
        for record in self
            .store
            .list::<QueuedEvent>(&QueuedEvent::prefix(name), None, usize::MAX, |_| true)?
            .items
        {
            self.store.remove_appended::<QueuedEvent>(&record.value.id)?;
        }
        self.store.delete::<WebhookStatus>(name, None).await?;
        Ok(())
    }

    fn cursor(&self) -> crate::store::Result<Option<u64>> {
        Ok(self
            .store
            .meta_get(CURSOR_KEY)?
            .and_then(|raw| raw.try_into().ok())
            .map(u64::from_be_bytes))
    }

    async fn save_cursor(&self, seq: u64) -> crate::store::Result<()> {
        self.store.meta_put(CURSOR_KEY, &seq.to_be_bytes()).await
    }
}
