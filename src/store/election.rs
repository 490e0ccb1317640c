//! Which instance runs the engine: with sled, the one process that can open the store; with etcd, the instance
//! that holds the leader key under a lease (see `etcd/election.rs`).
//!
//! The outcome is a [`Leadership`] on a watch channel: the engine's supervisor starts and stops the engine on
//! it, and `/health` and `/metrics` read it. An [`Election`] is held for the life of the process; `resign`
//! gives the lease back on a clean shutdown, so another instance takes over at once instead of after the lease.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// This instance's view of the engine's leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    /// This instance's id.
    pub instance: String,
    /// The instance running the engine, when known.
    pub leader: Option<String>,
    /// Whether this instance runs the engine now.
    pub leading: bool,
    /// When the leader took over, in seconds since the epoch, when known.
    pub since: Option<u64>,
}

impl Leadership {
    pub fn unknown(instance: &str) -> Leadership {
        Leadership {
            instance: instance.to_owned(),
            leader: None,
            leading: false,
            since: None,
        }
    }
}

/// A running election: its outcome as it changes, and the way out.
pub struct Election {
    outcome: watch::Receiver<Leadership>,
    candidate: Candidate,
}

enum Candidate {
    /// The one instance; its outcome never changes (the sender is kept so the channel stays open).
    Alone { _open: watch::Sender<Leadership> },
    /// A campaign task, asked to give up its lease and end through `resign`.
    Campaign {
        resign: watch::Sender<bool>,
        task: JoinHandle<()>,
    },
}

impl Election {
    /// The only candidate, leading from now on (sled: the data-directory lock already keeps others out).
    pub fn alone(instance: &str) -> Election {
        let (fixed, outcome) = watch::channel(Leadership {
            instance: instance.to_owned(),
            leader: Some(instance.to_owned()),
            leading: true,
            since: Some(epoch_seconds()),
        });
        Election {
            outcome,
            candidate: Candidate::Alone { _open: fixed },
        }
    }

    /// A campaign task publishing on `outcome`, ended through `resign`.
    pub fn campaign(
        outcome: watch::Receiver<Leadership>,
        resign: watch::Sender<bool>,
        task: JoinHandle<()>,
    ) -> Election {
        Election {
            outcome,
            candidate: Candidate::Campaign { resign, task },
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Leadership> {
        self.outcome.clone()
    }

    /// Stops campaigning and gives the lease back (at most `within`), so a follower need not wait for it to
    /// expire. The caller has stopped the engine first.
    pub async fn resign(self, within: Duration) {
        if let Candidate::Campaign { resign, task } = self.candidate {
            let _ = resign.send(true);
            if tokio::time::timeout(within, task).await.is_err() {
                tracing::warn!("could not give the leader lease back in time; it expires on its own");
            }
        }
    }
}

pub fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
