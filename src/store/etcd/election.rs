//! The engine's leader among the instances on one prefix, elected through an etcd lease.
//!
//! The leader holds `PREFIX/leader` (outside the replica's slots, so it is neither a record nor copied), put
//! by a transaction that succeeds only while the key is absent, under a lease with a short TTL
//! (`--leader-lease`). It renews the lease every third of the TTL. Everyone else reads the key every
//! [`POLL`] and takes it as soon as it is gone: deleted when the leader resigns, or by etcd when the lease
//! expires because the leader died or lost its way to a majority.
//!
//! No two engines at once: a leader measures its lease from when it *sent* the last renewal that etcd
//! accepted (etcd starts the TTL later than that), and stops leading a third of the TTL before that measure
//! runs out unless a renewal got through meanwhile. So the engine has stopped before etcd can hand the key on.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::gateway::{Gateway, KeepAlive, KeyValue, Lease, RangeResponse, TxnResponse, b64};
use crate::store::Result;
use crate::store::election::{Election, Leadership, epoch_seconds};

/// How often a follower looks for the leader key, and so how much a takeover adds to the lease's expiry.
const POLL: Duration = Duration::from_millis(250);
/// The leader key, under the prefix.
const LEADER_KEY: &str = "leader";

/// What the leader key holds.
#[derive(Serialize, Deserialize)]
struct Holder {
    instance: String,
    since: u64,
}

struct Campaign {
    gateway: Arc<Gateway>,
    key: String,
    instance: String,
    ttl: Duration,
    outcome: watch::Sender<Leadership>,
    /// Whether the last look at etcd failed (so a lasting outage is logged once, not every poll).
    troubled: bool,
}

/// A lease this instance holds the leader key under.
struct Held {
    id: u64,
    /// Until when etcd keeps it at the very least, by this instance's clock.
    until: Instant,
}

/// Starts campaigning for `instance` under `prefix` (which ends in `/`).
pub fn elect(gateway: Arc<Gateway>, prefix: &[u8], instance: &str, ttl: Duration) -> Election {
    let (outcome, watching) = watch::channel(Leadership::unknown(instance));
    let (resign, resigned) = watch::channel(false);
    let campaign = Campaign {
        gateway,
        key: b64(&[prefix, LEADER_KEY.as_bytes()].concat()),
        instance: instance.to_owned(),
        ttl,
        outcome,
        troubled: false,
    };
    Election::campaign(watching, resign, tokio::spawn(campaign.run(resigned)))
}

impl Campaign {
    async fn run(mut self, mut resigned: watch::Receiver<bool>) {
        loop {
            let held = tokio::select! {
                held = self.acquire() => held,
                () = resignation(&mut resigned) => return,
            };
            let since = self.outcome.borrow().since;
            tracing::info!(instance = %self.instance, lease = held.id, ?since, "this instance leads the engine");
            let id = held.id;
            tokio::select! {
                reason = self.hold(held) => {
                    self.publish(None, false);
                    tracing::warn!(instance = %self.instance, "no longer leading the engine: {reason}");
                }
                () = resignation(&mut resigned) => {
                    self.publish(None, false);
                    self.revoke(id).await;
                    tracing::info!(instance = %self.instance, "gave the engine's leadership back");
                    return;
                }
            }
            // Whatever is left of it is of no use now; a follower gets the key sooner without it.
            self.revoke(id).await;
        }
    }

    /// Polls until this instance holds the leader key.
    async fn acquire(&mut self) -> Held {
        loop {
            match self.try_acquire().await {
                Ok(Some(held)) => {
                    self.troubled = false;
                    return held;
                }
                Ok(None) => self.troubled = false,
                Err(err) if !self.troubled => {
                    self.troubled = true;
                    tracing::warn!(instance = %self.instance, "cannot take part in the leader election: {err}");
                }
                Err(_) => {}
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One look at the leader key: if it is free, a lease and a transaction that takes it unless another
    /// instance was quicker.
    async fn try_acquire(&self) -> Result<Option<Held>> {
        let current: RangeResponse = self.gateway.call("/v3/kv/range", &json!({"key": self.key})).await?;
        if let Some(kv) = current.kvs.first() {
            self.follow(kv);
            return Ok(None);
        }
        let sent = Instant::now();
        let lease: Lease = self
            .gateway
            .call("/v3/lease/grant", &json!({"TTL": self.ttl.as_secs().to_string()}))
            .await?;
        let since = epoch_seconds();
        let holder = serde_json::to_vec(&Holder {
            instance: self.instance.clone(),
            since,
        })
        .expect("the holder serialises");
        let txn = json!({
            "compare": [{"key": self.key, "target": "CREATE", "create_revision": "0", "result": "EQUAL"}],
            "success": [{"request_put": {"key": self.key, "value": b64(&holder), "lease": lease.id.to_string()}}],
            "failure": [{"request_range": {"key": self.key}}],
        });
        let answer: TxnResponse = match self.gateway.call("/v3/kv/txn", &txn).await {
            Ok(answer) => answer,
            Err(err) => {
                self.revoke(lease.id).await;
                return Err(err);
            }
        };
        if !answer.succeeded {
            if let Some(kv) = answer
                .responses
                .into_iter()
                .find_map(|op| op.response_range)
                .and_then(|range| range.kvs.into_iter().next())
            {
                self.follow(&kv);
            }
            self.revoke(lease.id).await;
            return Ok(None);
        }
        self.publish(Some((self.instance.clone(), since)), true);
        Ok(Some(Held {
            id: lease.id,
            until: sent + Duration::from_secs(lease.ttl),
        }))
    }

    /// Renews the lease until that can no longer be done in time; returns why.
    async fn hold(&self, mut held: Held) -> &'static str {
        let margin = self.ttl / 3;
        let mut next = Instant::now() + self.ttl / 3;
        loop {
            tokio::time::sleep_until(next).await;
            let deadline = held.until - margin;
            let sent = Instant::now();
            if sent >= deadline {
                return "the lease could not be renewed in time";
            }
            match tokio::time::timeout_at(deadline, self.renew(held.id)).await {
                Err(_) => return "the lease could not be renewed in time",
                Ok(Ok(Some(ttl))) => {
                    held.until = sent + ttl;
                    next = sent + self.ttl / 3;
                }
                Ok(Ok(None)) => return "the lease expired, or the leader key is no longer this instance's",
                Ok(Err(err)) => {
                    tracing::warn!(instance = %self.instance, "cannot renew the leader lease: {err}; retrying");
                    next = Instant::now() + POLL;
                }
            }
        }
    }

    /// One keepalive; the TTL granted, or `None` once the lease is gone or no longer holds the leader key.
    async fn renew(&self, lease: u64) -> Result<Option<Duration>> {
        let renewed: KeepAlive = self
            .gateway
            .call("/v3/lease/keepalive", &json!({"ID": lease.to_string()}))
            .await?;
        if renewed.result.ttl == 0 {
            return Ok(None);
        }
        let current: RangeResponse = self.gateway.call("/v3/kv/range", &json!({"key": self.key})).await?;
        let ours = current.kvs.first().is_some_and(|kv| kv.lease == lease);
        Ok(ours.then(|| Duration::from_secs(renewed.result.ttl)))
    }

    /// Ends a lease now (best effort: if this fails, it expires on its own).
    async fn revoke(&self, lease: u64) {
        let body = json!({"ID": lease.to_string()});
        let revoked = self.gateway.call::<Value>("/v3/lease/revoke", &body);
        if let Ok(Err(err)) = tokio::time::timeout(self.ttl, revoked).await {
            tracing::debug!(lease, "cannot revoke the lease: {err}");
        }
    }

    /// Another instance holds the key.
    fn follow(&self, kv: &KeyValue) {
        match serde_json::from_slice::<Holder>(&kv.value) {
            Ok(holder) => self.publish(Some((holder.instance, holder.since)), false),
            Err(err) => tracing::warn!("the leader key holds something unreadable: {err}"),
        }
    }

    fn publish(&self, leader: Option<(String, u64)>, leading: bool) {
        let (leader, since) = leader.unzip();
        self.outcome.send_if_modified(|outcome| {
            let changed = outcome.leader != leader || outcome.leading != leading || outcome.since != since;
            if changed && !leading && leader.is_some() && leader != outcome.leader {
                tracing::info!(instance = %self.instance, leader = ?leader, "the engine is led by another instance");
            }
            outcome.leader = leader;
            outcome.leading = leading;
            outcome.since = since;
            changed
        });
    }
}

/// Resolves once the election's holder asks to resign.
async fn resignation(resigned: &mut watch::Receiver<bool>) {
    // An error means the holder is gone: nobody is left to lead for.
    let _ = resigned.wait_for(|resign| *resign).await;
}
