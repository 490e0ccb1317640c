//! The engine runs on one instance at a time: this supervisor starts its loops when the store's election
//! (`Store::elect`) makes this instance the leader, and stops them all when it is no longer, before its lease
//! can pass to another instance.
//!
//! Each leadership is a term: the loops are spawned into one `JoinSet`, and ending the term aborts them. A
//! loop that spawns work of its own (the job runner, the webhooks' deliveries) keeps it in a set it owns, so
//! aborting the loop aborts that work too. A job cut off this way is in the state a `kill -9` leaves it in,
//! and the next leader's runner resumes it as a restarted one would: the node is asked what it already has,
//! so nothing is done twice.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::discovery::Discovery;
use super::heartbeat::Heartbeat;
use super::storage_clusters::Monitor;
use super::webhooks::{Dispatcher, Settings};
use super::workloads::Runner;
use crate::store::{Election, Leadership, Store};
use crate::zos::Clients;

/// How long a leader that is shutting down may take to give its lease back.
const RESIGN_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Everything the engine's loops are started with, once per term.
pub struct Engine {
    pub store: Store,
    pub clients: Arc<Clients>,
    pub heartbeat: Heartbeat,
    pub storage_health: Monitor,
    pub webhooks: Settings,
    /// ZeroTier discovery, when a controller is configured.
    pub discovery: Option<Discovery>,
}

impl Engine {
    /// Spawns every loop; each ends when `stop` flips, or when the set is dropped.
    fn start(&self, stop: watch::Receiver<bool>) -> JoinSet<()> {
        let mut loops = JoinSet::new();
        loops.spawn(self.heartbeat.clone().run(stop.clone()));
        loops.spawn(self.storage_health.clone().run(stop.clone()));
        loops.spawn(Runner::new(self.store.clone(), self.clients.clone()).run());
        loops.spawn(Dispatcher::new(self.store.clone(), self.webhooks, stop.clone()).run());
        if let Some(discovery) = &self.discovery {
            loops.spawn(discovery.clone().run(stop));
        }
        loops
    }

    /// Runs the engine during each of this instance's terms as leader, until `shutdown`; then gives the
    /// leadership back.
    pub async fn lead(self, election: Election, mut shutdown: watch::Receiver<bool>) {
        let mut leadership = election.subscribe();
        loop {
            tokio::select! {
                led = until(&mut leadership, |now| now.leading) => if !led { break },
                () = until_set(&mut shutdown) => break,
            }
            let term = leadership.borrow().clone();
            tracing::info!(instance = %term.instance, since = ?term.since, "engine started: this instance leads");
            let (stop, stopped) = watch::channel(false);
            let mut loops = self.start(stopped);
            let shutting_down = tokio::select! {
                _ = until(&mut leadership, |now| !now.leading) => false,
                () = until_set(&mut shutdown) => true,
            };
            let _ = stop.send(true);
            loops.shutdown().await;
            tracing::info!(instance = %term.instance, "engine stopped");
            if shutting_down {
                break;
            }
        }
        election.resign(RESIGN_WITHIN).await;
    }
}

/// Waits until `leadership` satisfies `condition`; `false` when the election ended first.
async fn until(leadership: &mut watch::Receiver<Leadership>, condition: impl FnMut(&Leadership) -> bool) -> bool {
    leadership.wait_for(condition).await.is_ok()
}

/// Waits until the shutdown switch flips (or its sender is gone, which means the same).
async fn until_set(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
