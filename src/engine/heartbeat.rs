//! Node heartbeat: every interval, each registered node is pinged over 0-core (with bounded concurrency, and
//! the rounds spread by jitter), and its observed state (`online`, `unreachable`, `auth_failed`, `error`, with
//! a reason and when it was last seen) is written to `node_status` — only when something changed, or about once
//! a minute for `last_seen`, so a quiet cluster of 10,000 nodes does not rewrite 10,000 records every round.
//! A node that stops answering costs at most the client deadline, and never holds up the others.
//!
//! Each node's status is written as soon as it is observed, while other nodes are still being pinged: the
//! writes of a round overlap and share their flushes (the store commits them in groups), and a round never holds
//! more than [`CONCURRENCY`] statuses. The `last_seen` refreshes are spread over the minute (each node's next one
//! is due 30 to 60 s after its last write), so the nodes registered together are not all rewritten in one round.
//! Each beat also reads what the node health checks judge (`health.rs`) and stores their verdicts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::Rng;
use serde_json::Value;

use crate::metrics::Metrics;
use crate::model::health::NodeHealth;
use crate::model::{Node, NodeState, NodeStatus, now_rfc3339};
use crate::store::{Expect, Store, StoreError};
use crate::zos::commands::Info;
use crate::zos::{Clients, ZosError};

/// Nodes contacted at the same time.
const CONCURRENCY: usize = 64;
/// How stale `last_seen` may get before it is rewritten although nothing else changed.
const LAST_SEEN_REFRESH: Duration = Duration::from_secs(60);

/// When each node's `last_seen` is next due to be rewritten (absent: at once, e.g. after a restart).
type RefreshDue = HashMap<String, Instant>;

/// What one node's heartbeat found and whether it was written.
struct Beat {
    id: String,
    state: NodeState,
    written: bool,
}

#[derive(Clone)]
pub struct Heartbeat {
    pub store: Store,
    pub clients: Arc<Clients>,
    pub metrics: Arc<Metrics>,
    pub interval: Duration,
    /// What the node health checks judge by (`--health-*`).
    pub thresholds: super::health::Thresholds,
}

impl Heartbeat {
    /// Runs rounds until `shutdown` flips to true. The first round starts at once.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut refresh_due = RefreshDue::default();
        loop {
            let started = Instant::now();
            if let Err(err) = self.round(&mut refresh_due).await {
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

    async fn round(&self, refresh_due: &mut RefreshDue) -> crate::store::Result<()> {
        let nodes = self.store.all::<Node>()?;
        let now = Instant::now();
        let due = |id: &str| refresh_due.get(id).is_none_or(|due| now >= *due);
        let beats: Vec<crate::store::Result<Beat>> = futures_util::stream::iter(nodes)
            .map(|node| {
                let refresh = due(&node.id);
                self.beat(node, refresh)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let beats = beats.into_iter().collect::<crate::store::Result<Vec<Beat>>>()?;
        let count = |state: NodeState| beats.iter().filter(|beat| beat.state == state).count() as i64;
        self.metrics.node_states(&[
            ("online", count(NodeState::Online)),
            ("unreachable", count(NodeState::Unreachable)),
            ("auth_failed", count(NodeState::AuthFailed)),
            ("error", count(NodeState::Error)),
        ]);
        let written = Instant::now();
        for beat in beats.iter().filter(|beat| beat.written) {
            refresh_due.insert(beat.id.clone(), next_refresh(written));
        }
        // Forget what was observed about nodes that are no longer registered (their ids alone: no need to
        // decode every status for that).
        let live: HashSet<&str> = beats.iter().map(|beat| beat.id.as_str()).collect();
        for orphan in self.store.ids::<NodeStatus>()? {
            if !live.contains(orphan.as_str()) {
                self.store.delete::<NodeStatus>(&orphan, None).await?;
                self.store.delete::<NodeHealth>(&orphan, None).await?;
                refresh_due.remove(&orphan);
            }
        }
        Ok(())
    }

    /// Observes `node` and writes its status when it changed, or when `refresh` says its `last_seen` is due;
    /// then its health checks' verdicts.
    async fn beat(&self, node: Node, refresh: bool) -> crate::store::Result<Beat> {
        let previous = self.store.get::<NodeStatus>(&node.id)?;
        let (status, readings) = self.observe(&node, previous.as_ref().map(|p| &p.value)).await;
        let beat = self.write_status(node.id, previous, status, refresh).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64().floor());
        let checks = super::health::assess(&beat.id, &readings, &self.thresholds, self.interval.as_secs_f64(), now);
        super::health::record(&self.store, &beat.id, checks, beat.written).await?;
        Ok(beat)
    }

    /// Writes `status` when it differs from `previous`, or when `refresh` says its `last_seen` is due.
    async fn write_status(
        &self,
        id: String,
        previous: Option<crate::store::Versioned<NodeStatus>>,
        status: NodeStatus,
        refresh: bool,
    ) -> crate::store::Result<Beat> {
        let mut beat = Beat {
            id,
            state: status.state,
            written: false,
        };
        let Some((status, why)) = to_write(previous.as_ref().map(|p| &p.value), status, refresh) else {
            return Ok(beat);
        };
        if why == Write::Changed {
            tracing::info!(node = %beat.id, state = ?status.state, reason = %status.reason, "node state changed");
        }
        let expect = previous.map_or(Expect::Absent, |p| Expect::Version(p.version));
        match self.store.put(status, expect).await {
            Ok(_) => beat.written = true,
            // The node was unregistered meanwhile (its status goes with the sweep), or a status was written
            // since it was read: the next round writes what it finds then.
            Err(StoreError::VersionMismatch { .. } | StoreError::AlreadyExists { .. }) => {}
            Err(err) => return Err(err),
        }
        Ok(beat)
    }

    /// One heartbeat of one node: `info.os` (cheap, and its boot time tells a reboot), plus the hardware when
    /// the node was not online before, rebooted, or has never been read, and what the health checks judge.
    async fn observe(&self, node: &Node, previous: Option<&NodeStatus>) -> (NodeStatus, super::health::Readings) {
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
            let inventory = if inventory_is_current(previous, boot_time) {
                None
            } else {
                Some(super::inventory::fetch(&client).await?)
            };
            let readings = super::health::read(&client, &os).await;
            Ok::<_, ZosError>((os, boot_time, inventory, readings))
        };
        let mut readings = super::health::Readings::default();
        match answer.await {
            Ok((os, boot_time, inventory, read)) => {
                readings = read;
                status.last_seen = Some(now_rfc3339());
                status.hostname = os["hostname"].as_str().unwrap_or_default().to_owned();
                status.os_version = os["platformVersion"].as_str().unwrap_or_default().to_owned();
                status.boot_time = boot_time;
                if inventory.is_some() {
                    status.inventory = inventory;
                }
            }
            Err(err) => {
                status.state = state_of(&err);
                status.reason = err.to_string();
                readings.unreachable = Some(status.reason.clone());
            }
        }
        (status, readings)
    }
}

/// The state of a node whose heartbeat failed with `err`.
fn state_of(err: &ZosError) -> NodeState {
    match err {
        ZosError::Unreachable(_) | ZosError::Timeout(_) => NodeState::Unreachable,
        ZosError::AuthRefused(_) => NodeState::AuthFailed,
        ZosError::Command { .. } | ZosError::Protocol(_) => NodeState::Error,
    }
}

/// Whether the hardware read before still holds: the node was online, has not rebooted since (same boot time),
/// and was read at all. Otherwise it is read again.
fn inventory_is_current(previous: Option<&NodeStatus>, boot_time: u64) -> bool {
    previous.is_some_and(|p| p.state == NodeState::Online && p.boot_time == boot_time && p.inventory.is_some())
}

/// When the `last_seen` of a node written at `written` is next due: at a random point between half of
/// `LAST_SEEN_REFRESH` and all of it, so nodes written in the same round drift apart.
fn next_refresh(written: Instant) -> Instant {
    written + LAST_SEEN_REFRESH.mul_f64(rand::rng().random_range(0.5..1.0))
}

/// Why a round writes a node's status.
#[derive(Debug, PartialEq)]
enum Write {
    /// It differs from the stored one in more than `last_seen` (or none is stored): the node's state moved.
    Changed,
    /// Only `last_seen` is due: 30 to 60 s after this process last wrote it, or at once if it never did.
    Refresh,
}

/// What a round stores of a node's fresh `status`, given the stored one and whether its `last_seen` is due;
/// `None`: nothing. A node that did not answer keeps the `last_seen` it had.
fn to_write(previous: Option<&NodeStatus>, mut status: NodeStatus, refresh: bool) -> Option<(NodeStatus, Write)> {
    if status.last_seen.is_none() {
        status.last_seen = previous.and_then(|p| p.last_seen.clone());
    }
    let changed = previous.is_none_or(|p| {
        let comparable = NodeStatus {
            last_seen: status.last_seen.clone(),
            ..p.clone()
        };
        comparable != status
    });
    if changed {
        return Some((status, Write::Changed));
    }
    refresh.then_some((status, Write::Refresh))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NodeInventory;

    fn status(state: NodeState, last_seen: Option<&str>) -> NodeStatus {
        NodeStatus {
            id: "n1".into(),
            state,
            reason: if state == NodeState::Online {
                String::new()
            } else {
                "node unreachable: connection refused".into()
            },
            last_seen: last_seen.map(str::to_owned),
            hostname: "zos-1".into(),
            os_version: "v1.4".into(),
            boot_time: 100,
            inventory: None,
        }
    }

    fn why(written: Option<(NodeStatus, Write)>) -> Option<Write> {
        written.map(|(_, why)| why)
    }

    /// The `refresh` argument of a node written moments ago, and of one whose refresh is due.
    const RECENTLY: bool = false;
    const DUE: bool = true;

    #[test]
    fn a_node_never_observed_is_written_whatever_its_state() {
        let (written, why) = to_write(None, status(NodeState::Online, Some("t1")), RECENTLY).unwrap();
        assert_eq!((written.state, why), (NodeState::Online, Write::Changed));
        let (written, why) = to_write(None, status(NodeState::Unreachable, None), RECENTLY).unwrap();
        assert_eq!(
            (written.state, written.last_seen, why),
            (NodeState::Unreachable, None, Write::Changed)
        );
    }

    #[test]
    fn going_offline_and_back_online_is_written_at_once_and_offline_keeps_when_it_was_last_seen() {
        let online = status(NodeState::Online, Some("t1"));
        let (offline, why) = to_write(Some(&online), status(NodeState::Unreachable, None), RECENTLY).unwrap();
        assert_eq!(why, Write::Changed);
        assert_eq!(
            (offline.state, offline.last_seen.as_deref()),
            (NodeState::Unreachable, Some("t1"))
        );
        let (back, why) = to_write(Some(&offline), status(NodeState::Online, Some("t9")), RECENTLY).unwrap();
        assert_eq!(
            (back.state, back.last_seen.as_deref(), why),
            (NodeState::Online, Some("t9"), Write::Changed)
        );
    }

    #[test]
    fn a_node_whose_state_holds_is_rewritten_only_when_its_refresh_is_due() {
        let stored = status(NodeState::Online, Some("t1"));
        let fresh = status(NodeState::Online, Some("t2"));
        assert_eq!(why(to_write(Some(&stored), fresh.clone(), RECENTLY)), None);
        let (written, why_written) = to_write(Some(&stored), fresh.clone(), DUE).unwrap();
        assert_eq!(
            (written.last_seen.as_deref(), why_written),
            (Some("t2"), Write::Refresh)
        );
        let down = status(NodeState::Unreachable, Some("t1"));
        assert_eq!(
            why(to_write(Some(&down), status(NodeState::Unreachable, None), RECENTLY)),
            None,
            "still down for the same reason"
        );
    }

    #[test]
    fn refreshes_of_nodes_written_together_are_spread_over_the_second_half_minute() {
        let written = Instant::now();
        let due: Vec<Duration> = (0..200).map(|_| next_refresh(written) - written).collect();
        assert!(
            due.iter()
                .all(|d| *d >= LAST_SEEN_REFRESH / 2 && *d < LAST_SEEN_REFRESH),
            "{due:?}"
        );
        let early = due.iter().filter(|d| **d < LAST_SEEN_REFRESH * 3 / 4).count();
        assert!(
            (50..150).contains(&early),
            "{early} of 200 in the first half of the window"
        );
    }

    #[test]
    fn the_hardware_is_read_again_after_a_reboot_an_outage_or_never() {
        let mut online = status(NodeState::Online, Some("t1"));
        assert!(!inventory_is_current(Some(&online), 100), "never read");
        online.inventory = Some(NodeInventory {
            cpus: 4,
            cpu_model: "emulated".into(),
            memory_bytes: 1 << 30,
            disks: Vec::new(),
            nics: Vec::new(),
            zerotier_address: String::new(),
        });
        assert!(inventory_is_current(Some(&online), 100));
        assert!(!inventory_is_current(Some(&online), 200), "rebooted");
        assert!(!inventory_is_current(None, 100), "not observed before");
        let down = NodeStatus {
            state: NodeState::Unreachable,
            ..online
        };
        assert!(!inventory_is_current(Some(&down), 100), "was offline");
    }

    #[test]
    fn a_failed_heartbeat_tells_unreachable_from_refused_from_broken() {
        assert_eq!(
            state_of(&ZosError::Timeout(Duration::from_secs(1))),
            NodeState::Unreachable
        );
        assert_eq!(
            state_of(&ZosError::AuthRefused("WRONGPASS".into())),
            NodeState::AuthFailed
        );
        assert_eq!(state_of(&ZosError::Protocol("not RESP".into())), NodeState::Error);
    }

    /// Rounds against an emulated node: its first answer is written with its hardware, a round that finds
    /// nothing new writes nothing, a node that stops answering is written unreachable (still saying when it was
    /// last seen), and a node no longer registered loses its status.
    #[tokio::test]
    async fn rounds_write_what_changed_and_forget_unregistered_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sim = crate::sim::start("127.0.0.1:0".parse().unwrap(), 5, None)
            .await
            .unwrap();
        let node = super::super::registry::new_node(
            "n1".into(),
            String::new(),
            sim.address.to_string(),
            Default::default(),
            true,
        );
        store.put(node.clone(), Expect::Absent).await.unwrap();
        let heartbeat = Heartbeat {
            store: store.clone(),
            clients: Arc::new(Clients::new(Duration::from_secs(2))),
            metrics: Arc::new(Metrics::default()),
            interval: Duration::from_secs(1),
            thresholds: crate::config::DEFAULT_HEALTH,
        };
        let mut written = Default::default();
        let status = || store.get::<NodeStatus>("n1").unwrap();

        heartbeat.round(&mut written).await.unwrap();
        let first = status().expect("the first answer is written");
        assert_eq!(first.value.state, NodeState::Online);
        assert!(
            first.value.last_seen.is_some() && first.value.inventory.is_some(),
            "{:?}",
            first.value
        );

        heartbeat.round(&mut written).await.unwrap();
        assert_eq!(status().unwrap().version, first.version, "nothing new: nothing written");

        let moved = Node {
            // Nothing listens on port 1.
            address: "127.0.0.1:1".into(),
            ..node
        };
        let current = store.get::<Node>("n1").unwrap().unwrap().version;
        store.put(moved, Expect::Version(current)).await.unwrap();
        heartbeat.round(&mut written).await.unwrap();
        let down = status().unwrap().value;
        assert_eq!(down.state, NodeState::Unreachable);
        assert!(!down.reason.is_empty());
        assert_eq!(down.last_seen, first.value.last_seen);

        store.delete::<Node>("n1", None).await.unwrap();
        heartbeat.round(&mut written).await.unwrap();
        assert!(status().is_none(), "an unregistered node's status is forgotten");
    }
}
