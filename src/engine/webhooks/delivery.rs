//! One webhook's delivery task: takes the oldest event of its queue, POSTs it signed, and removes it only once
//! the receiver answered 2xx; otherwise it waits (backoff doubling from one second up to `--webhook-retry-max`)
//! and tries the same event again, so events arrive in order and at least once. Each webhook has its own task
//! and every request its own timeout, so a slow or dead receiver holds up only its own queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::model::webhook::{Delivery, QueuedEvent};
use crate::model::{Webhook, WebhookStatus, now_rfc3339};
use crate::store::{Expect, Store};

/// How many deliveries `GET /webhooks/{name}` shows.
const KEPT_DELIVERIES: usize = 20;
/// The first retry's wait; each further one doubles it, up to the configured maximum.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The header carrying `sha256=<hex HMAC-SHA256 of the body, keyed with the webhook's secret>`.
pub const SIGNATURE_HEADER: &str = "x-zos-signature";

/// `sha256=<hex>`: the body's HMAC-SHA256 under `secret`, as the signature header carries it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What the dispatcher and a webhook's task share: the queue's length, what overflow dropped, and the wake-up.
#[derive(Default)]
pub struct Queue {
    pub pending: AtomicU64,
    pub dropped: AtomicU64,
    pub wake: Notify,
}

/// A delivery task's fixed settings.
#[derive(Clone)]
pub struct Sender {
    pub store: Store,
    pub http: reqwest::Client,
    pub retry_max: Duration,
}

impl Sender {
    /// Delivers `name`'s queue until the task is aborted (its webhook deleted) or `shutdown` flips.
    pub async fn run(self, name: String, queue: Arc<Queue>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut attempt = 0u32;
        loop {
            let next = match self.oldest(&name) {
                Ok(next) => next,
                Err(err) => {
                    tracing::error!(webhook = %name, error = %err, "cannot read the webhook queue");
                    None
                }
            };
            let Some(event) = next else {
                tokio::select! {
                    _ = queue.wake.notified() => continue,
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            };
            let Ok(Some(hook)) = self.store.get::<Webhook>(&name) else {
                return;
            };
            attempt += 1;
            let delivery = self.post(&hook.value, &event, attempt).await;
            let delivered = delivery.delivered;
            if delivered && self.store.remove_appended::<QueuedEvent>(&event.id).unwrap_or(false) {
                queue.pending.fetch_sub(1, Ordering::SeqCst);
            }
            if let Err(err) = self.record(&name, &queue, delivery).await {
                tracing::warn!(webhook = %name, error = %err, "cannot record a delivery");
            }
            if delivered {
                attempt = 0;
                continue;
            }
            let wait = backoff(attempt, self.retry_max);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    fn oldest(&self, name: &str) -> crate::store::Result<Option<QueuedEvent>> {
        let page = self
            .store
            .list::<QueuedEvent>(&QueuedEvent::prefix(name), None, 1, |_| true)?;
        Ok(page.items.into_iter().next().map(|record| record.value))
    }

    /// One attempt. The URL and secret are read fresh, so an update applies from the next attempt on.
    async fn post(&self, hook: &Webhook, event: &QueuedEvent, attempt: u32) -> Delivery {
        let sequence = event.id.rsplit('/').next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let started = Instant::now();
        let answer = self
            .http
            .post(&hook.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, sign(&hook.secret, event.body.as_bytes()))
            .header("x-zos-event", event.kind.as_str())
            .header("x-zos-event-id", sequence.to_string())
            .header("x-zos-delivery-attempt", attempt.to_string())
            .body(event.body.clone())
            .send()
            .await;
        let (status, error) = match answer {
            Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
            Ok(response) => (
                Some(response.status().as_u16()),
                Some(format!("the receiver answered {}", response.status())),
            ),
            // Without the URL: reqwest's message repeats it, and it is on the webhook already.
            Err(err) => (None, Some(describe(&err.without_url()))),
        };
        if let Some(error) = &error {
            tracing::debug!(webhook = %hook.name, event = sequence, attempt, %error, "delivery failed");
        }
        Delivery {
            event: sequence,
            kind: event.kind,
            at: now_rfc3339(),
            attempt,
            status,
            delivered: error.is_none(),
            error,
            duration_ms: started.elapsed().as_millis() as u64,
        }
    }

    /// Adds `delivery` to the webhook's status, newest first, with the queue's counts.
    async fn record(&self, name: &str, queue: &Queue, delivery: Delivery) -> crate::store::Result<()> {
        let current = self.store.get::<WebhookStatus>(name)?;
        let expect = Expect::after(current.as_ref());
        let mut status = current.map(|c| c.value).unwrap_or_else(|| WebhookStatus {
            name: name.to_owned(),
            ..Default::default()
        });
        status.deliveries.insert(0, delivery);
        status.deliveries.truncate(KEPT_DELIVERIES);
        status.pending = queue.pending.load(Ordering::SeqCst);
        status.dropped = queue.dropped.load(Ordering::SeqCst);
        self.store.put(status, expect).await?;
        Ok(())
    }
}

/// A reqwest error in a few words, with its root cause ("Connection refused"): reqwest's and hyper's own messages
/// only say which layer failed.
fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let root = std::iter::successors(std::error::Error::source(err), |cause| cause.source()).last();
    match root {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_owned(),
    }
}

/// How long to wait after the `attempt`th failure in a row: 1 s, 2 s, 4 s … up to `max`.
fn backoff(attempt: u32, max: Duration) -> Duration {
    FIRST_RETRY
        .saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let max = Duration::from_secs(60);
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n, max).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(100, max), max);
    }

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
