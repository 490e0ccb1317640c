//! Node heartbeat: every interval, each registered node is pinged over 0-core (with bounded concurrency, and
//! the rounds spread by jitter), and its observed state (`online`, `unreachable`, `auth_failed`, `error`, with
//! a reason and when it was last seen) is written to `node_status` — only when something changed, or once a
//! minute for `last_seen`, so a quiet cluster of 1,000 nodes does not rewrite 1,000 records every round.
//! A node that stops answering costs at most the client deadline, and never holds up the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::Rng;
use serde_json::Value;

use crate::metrics::Metrics;
use crate::model::{Node, NodeState, NodeStatus, now_rfc3339};
use crate::store::{Expect, Store};
use crate::zos::commands::Info;
use crate::zos::{Clients, ZosError};

/// Nodes contacted at the same time.
const CONCURRENCY: usize = 64;
/// How stale `last_seen` may get before it is rewritten although nothing else changed.
const LAST_SEEN_REFRESH: Duration = Duration::from_secs(60);

pub struct Heartbeat {
    pub store: Store,
    pub clients: Arc<Clients>,
    pub metrics: Arc<Metrics>,
    pub interval: Duration,
}

impl Heartbeat {
    /// Runs rounds until `shutdown` flips to true. The first round starts at once.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut last_written: std::collections::HashMap<String, Instant> = Default::default();
        loop {
            let started = Instant::now();
            if let Err(err) = self.round(&mut last_written).await {
                tracing::error!(error = %err, "heartbeat round failed");
            }
            // ±10% jitter, so rounds of several orchestrators (or restarts) do not line up.
            let jitter = rand::rng().random_range(0.9..1.1);
            let pause = self
                .interval
                .mul_f64(jitter)
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(100));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn round(&self, last_written: &mut std::collections::HashMap<String, Instant>) -> crate::store::Result<()> {
        let nodes = self.store.list::<Node>("", None, usize::MAX, |_| true)?.items;
        let observed: Vec<(Node, NodeStatus)> = futures_util::stream::iter(nodes)
            .map(|record| async move {
                let previous = self
                    .store
                    .get::<NodeStatus>(&record.value.id)
                    .ok()
                    .flatten()
                    .map(|p| p.value);
                let status = self.observe(&record.value, previous.as_ref()).await;
                (record.value, status)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let live: std::collections::HashSet<&str> = observed.iter().map(|(node, _)| node.id.as_str()).collect();
        let count = |state: NodeState| observed.iter().filter(|(_, status)| status.state == state).count() as i64;
        self.metrics.node_states(&[
            ("online", count(NodeState::Online)),
            ("unreachable", count(NodeState::Unreachable)),
            ("auth_failed", count(NodeState::AuthFailed)),
            ("error", count(NodeState::Error)),
        ]);
        for (node, mut status) in observed.iter().cloned() {
            let previous = self.store.get::<NodeStatus>(&node.id)?;
            if status.last_seen.is_none() {
                status.last_seen = previous.as_ref().and_then(|p| p.value.last_seen.clone());
            }
            let changed = previous.as_ref().is_none_or(|p| {
                let mut comparable = p.value.clone();
                comparable.last_seen = status.last_seen.clone();
                comparable != status
            });
            let stale = last_written
                .get(&node.id)
                .is_none_or(|at| at.elapsed() >= LAST_SEEN_REFRESH);
            if !changed && !stale {
                continue;
            }
            if changed {
                tracing::info!(node = %node.id, state = ?status.state, reason = %status.reason, "node state changed");
            }
            let expect = previous.map_or(Expect::Absent, |p| Expect::Version(p.version));
            match self.store.put(status, expect).await {
                Ok(_) => {
                    last_written.insert(node.id.clone(), Instant::now());
                }
                // Lost a race with ourselves (a previous round still writing): the next round fixes it.
                Err(
                    crate::store::StoreError::VersionMismatch { .. } | crate::store::StoreError::AlreadyExists { .. },
                ) => {}
                Err(err) => return Err(err),
            }
        }
        // Forget what was observed about nodes that are no longer registered.
        for orphan in self
            .store
            .list::<NodeStatus>("", None, usize::MAX, |s| !live.contains(s.id.as_str()))?
            .items
        {
            self.store.delete::<NodeStatus>(&orphan.value.id, None).await?;
            last_written.remove(&orphan.value.id);
        }
        Ok(())
    }

    /// One heartbeat of one node: `info.os` (cheap, and its boot time tells a reboot), plus the hardware when
    /// the node was not online before, rebooted, or has never been read.
    async fn observe(&self, node: &Node, previous: Option<&NodeStatus>) -> NodeStatus {
        let mut status = NodeStatus {
            id: node.id.clone(),
            state: NodeState::Online,
            reason: String::new(),
            last_seen: None,
            hostname: String::new(),
            os_version: String::new(),
            boot_time: 0,
            inventory: previous.and_then(|p| p.inventory.clone()),
        };
        let answer = async {
            let client = self.clients.get(&node.address)?;
            let os: Value = client.node().info(Info::Os).await?;
            let boot_time = os["bootTime"].as_u64().unwrap_or(0);
            let fresh = previous
                .is_some_and(|p| p.state == NodeState::Online && p.boot_time == boot_time && p.inventory.is_some());
            let inventory = if fresh {
                None
            } else {
                Some(super::inventory::fetch(&client).await?)
            };
            Ok::<_, ZosError>((os, boot_time, inventory))
        };
        match answer.await {
            Ok((os, boot_time, inventory)) => {
                status.last_seen = Some(now_rfc3339());
                status.hostname = os["hostname"].as_str().unwrap_or_default().to_owned();
                status.os_version = os["platformVersion"].as_str().unwrap_or_default().to_owned();
                status.boot_time = boot_time;
                if inventory.is_some() {
                    status.inventory = inventory;
                }
            }
            Err(err) => {
                status.state = match err {
                    ZosError::Unreachable(_) | ZosError::Timeout(_) => NodeState::Unreachable,
                    ZosError::AuthRefused(_) => NodeState::AuthFailed,
                    ZosError::Command { .. } | ZosError::Protocol(_) => NodeState::Error,
                };
                status.reason = err.to_string();
            }
        }
        status
    }
}
