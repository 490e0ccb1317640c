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
//! What the node health checks judge (`health.rs`: memory, CPU, pools, clock, the node's monitors) is read on
//! its own, slower cadence (`--health-interval`), because it costs three more 0-core commands where the beat
//! itself needs one: read on every beat, it multiplied the heartbeat's CPU by five at 10,000 nodes. A node that
//! was not online before, or has no reading yet, is read at once; an unreachable one is judged every beat (that
//! costs no command).

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

/// When something about a node is next due, by node id (absent: at once, e.g. after a restart).
type Due = HashMap<String, Instant>;

/// What the rounds carry from one to the next.
#[derive(Default)]
struct Schedule {
    /// When each node's `last_seen` is next due to be rewritten.
    refresh: Due,
    /// When each node's health is next due to be read.
    health: Due,
}

/// What one node's heartbeat found and whether it was written.
struct Beat {
    id: String,
    state: NodeState,
    written: bool,
    /// Whether the node's health was read from it this beat.
    measured: bool,
}

#[derive(Clone)]
pub struct Heartbeat {
    pub store: Store,
    pub clients: Arc<Clients>,
    pub metrics: Arc<Metrics>,
    pub interval: Duration,
    /// What the node health checks judge by (`--health-*`).
    pub thresholds: super::health::Thresholds,
    /// How often a node's health is read (`--health-interval`).
    pub health_interval: Duration,
}

impl Heartbeat {
    /// Runs rounds until `shutdown` flips to true. The first round starts at once.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut schedule = Schedule::default();
        loop {
            let started = Instant::now();
            if let Err(err) = self.round(&mut schedule).await {
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

    async fn round(&self, schedule: &mut Schedule) -> crate::store::Result<()> {
        let nodes = self.store.all::<Node>()?;
        let now = Instant::now();
        let due = |of: &Due, id: &str| of.get(id).is_none_or(|due| now >= *due);
        let beats: Vec<crate::store::Result<Beat>> = futures_util::stream::iter(nodes)
            .map(|node| {
                let refresh = due(&schedule.refresh, &node.id);
                let measure = due(&schedule.health, &node.id);
                self.beat(node, refresh, measure)
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
        for beat in &beats {
            if beat.written {
                schedule
                    .refresh
                    .insert(beat.id.clone(), spread(written, LAST_SEEN_REFRESH));
            }
            if beat.measured {
                schedule
                    .health
                    .insert(beat.id.clone(), spread(written, self.health_interval));
            } else if beat.state != NodeState::Online {
                // Read again as soon as it answers.
                schedule.health.remove(&beat.id);
            }
        }
        // Forget what was observed about nodes that are no longer registered (their ids alone: no need to
        // decode every status for that).
        let live: HashSet<&str> = beats.iter().map(|beat| beat.id.as_str()).collect();
        for orphan in self.store.ids::<NodeStatus>()? {
            if !live.contains(orphan.as_str()) {
                self.store.delete::<NodeStatus>(&orphan, None).await?;
                self.store.delete::<NodeHealth>(&orphan, None).await?;
                schedule.refresh.remove(&orphan);
                schedule.health.remove(&orphan);
            }
        }
        Ok(())
    }

    /// Observes `node` and writes its status when it changed, or when `refresh` says its `last_seen` is due;
    /// then, when `measure` says its health is due (or the node was not online before), reads its health and
    /// stores the checks' verdicts. An unreachable node's checks are judged every beat: that asks the node nothing.
    async fn beat(&self, node: Node, refresh: bool, measure: bool) -> crate::store::Result<Beat> {
        let previous = self.store.get::<NodeStatus>(&node.id)?;
        let was_online = previous.as_ref().is_some_and(|p| p.value.state == NodeState::Online);
        let measure = measure || !was_online;
        let (status, readings) = self.observe(&node, previous.as_ref().map(|p| &p.value), measure).await;
        let mut beat = self.write_status(node.id, previous, status, refresh).await?;
        let Some(readings) = readings else {
            return Ok(beat);
        };
        beat.measured = readings.unreachable.is_none();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64().floor());
        let interval = self.health_interval.as_secs_f64();
        let checks = super::health::assess(&beat.id, &readings, &self.thresholds, interval, now);
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
            measured: false,
        };
        let Some((status, why)) = to_write(previous.as_ref().map(|p| &p.value), status, refresh) else {
            return Ok(beat);
        };
        if why == Write::Changed {
            tracing::info!(node = %beat.id, state = ?status.state, reason = %status.reason, "node state changed");
        }
        let expect = Expect::after(previous.as_ref());
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
    /// the node was not online before, rebooted, or has never been read, and what the health checks judge when
    /// `measure` asks for it. The readings are `None` when they were not asked for and the node answered.
    async fn observe(
        &self,
        node: &Node,
        previous: Option<&NodeStatus>,
        measure: bool,
    ) -> (NodeStatus, Option<super::health::Readings>) {
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
            let readings = if measure {
                Some(super::health::read(&client, &os).await)
            } else {
                None
            };
            Ok::<_, ZosError>((os, boot_time, inventory, readings))
        };
        let readings = match answer.await {
            Ok((os, boot_time, inventory, readings)) => {
                status.last_seen = Some(now_rfc3339());
                status.hostname = os["hostname"].as_str().unwrap_or_default().to_owned();
                status.os_version = os["platformVersion"].as_str().unwrap_or_default().to_owned();
                status.boot_time = boot_time;
                if inventory.is_some() {
                    status.inventory = inventory;
                }
                readings
            }
            Err(err) => {
                status.state = state_of(&err);
                status.reason = err.to_string();
                Some(super::health::Readings {
                    unreachable: Some(status.reason.clone()),
                    ..Default::default()
                })
            }
        };
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

/// When something done at `done` for a node is next due, `period` being the longest wait: at a random point
/// between half of `period` and all of it, so nodes handled in the same round drift apart.
fn spread(done: Instant, period: Duration) -> Instant {
    done + period.mul_f64(rand::rng().random_range(0.5..1.0))
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
    use crate::model::health::HealthStatus;

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
        let due: Vec<Duration> = (0..200).map(|_| spread(written, LAST_SEEN_REFRESH) - written).collect();
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

    /// Rounds against an emulated node: its first answer is written with its hardware and its health, a round
    /// that finds nothing new writes nothing (and does not read the health again before it is due), a node that
    /// stops answering is written unreachable (still saying when it was last seen, its reachability check an
    /// error at once), and a node no longer registered loses its status and health.
    #[tokio::test]
    async fn rounds_write_what_changed_and_forget_unregistered_nodes() {
        let (_dir, store) = Store::scratch();
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
            health_interval: Duration::from_secs(30),
        };
        let mut schedule = Schedule::default();
        let status = || store.get::<NodeStatus>("n1").unwrap();
        let health = || store.get::<NodeHealth>("n1").unwrap();

        let before = Instant::now();
        heartbeat.round(&mut schedule).await.unwrap();
        let first = status().expect("the first answer is written");
        assert_eq!(first.value.state, NodeState::Online);
        assert!(
            first.value.last_seen.is_some() && first.value.inventory.is_some(),
            "{:?}",
            first.value
        );
        let measured = health().expect("the first answer's health is judged");
        assert_eq!(measured.value.checks[0].status, HealthStatus::Ok);
        assert_eq!(measured.value.checks[0].interval, 30.0);
        let next = schedule.health["n1"] - before;
        assert!(
            next >= Duration::from_secs(15) && next <= Duration::from_secs(31),
            "{next:?}"
        );

        heartbeat.round(&mut schedule).await.unwrap();
        assert_eq!(status().unwrap().version, first.version, "nothing new: nothing written");
        assert_eq!(
            health().unwrap().version,
            measured.version,
            "the health is not due again yet"
        );

        let moved = Node {
            // Nothing listens on port 1.
            address: "127.0.0.1:1".into(),
            ..node
        };
        let current = store.get::<Node>("n1").unwrap().unwrap().version;
        store.put(moved, Expect::Version(current)).await.unwrap();
        heartbeat.round(&mut schedule).await.unwrap();
        let down = status().unwrap().value;
        assert_eq!(down.state, NodeState::Unreachable);
        assert!(!down.reason.is_empty());
        assert_eq!(down.last_seen, first.value.last_seen);
        assert_eq!(health().unwrap().value.checks[0].status, HealthStatus::Error);
        assert!(!schedule.health.contains_key("n1"), "read again as soon as it answers");

        store.delete::<Node>("n1", None).await.unwrap();
        heartbeat.round(&mut schedule).await.unwrap();
        assert!(status().is_none(), "an unregistered node's status is forgotten");
        assert!(health().is_none(), "and so is its health");
    }
}
