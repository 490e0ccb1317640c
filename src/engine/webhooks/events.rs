//! Which changes are events, and what an event says. A change on the feed names only a record; the event is
//! built from the record as it is when the change is read, so a burst of changes to one record may read the
//! same state more than once. [`Announced`] remembers what was last announced per record, so such a burst
//! gives one event.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::{Value, json};

use crate::model::boot::BootEvent;
use crate::model::webhook::EventType;
use crate::model::{self, Job, Node, NodeStatus};
use crate::store::{Change, ChangeKind, Record, Store};

/// How many finished jobs are remembered as announced: a job finishes once, so only the recent ones can come
/// up again (a change read after the job moved on).
const REMEMBERED_JOBS: usize = 10_000;

/// An event before it is addressed to a webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventType,
    pub data: Value,
}

/// What was announced already: each node's last state, and the recently finished jobs.
#[derive(Default)]
pub struct Announced {
    node_states: HashMap<String, model::NodeState>,
    jobs: HashSet<String>,
    job_order: VecDeque<String>,
}

impl Announced {
    /// True the first time a node is seen in `state` after another state.
    fn node_state(&mut self, id: &str, state: model::NodeState) -> bool {
        self.node_states.insert(id.to_owned(), state) != Some(state)
    }

    /// True the first time a job is seen finished.
    fn job_finished(&mut self, id: &str) -> bool {
        if !self.jobs.insert(id.to_owned()) {
            return false;
        }
        self.job_order.push_back(id.to_owned());
        if self.job_order.len() > REMEMBERED_JOBS
            && let Some(oldest) = self.job_order.pop_front()
        {
            self.jobs.remove(&oldest);
        }
        true
    }
}

/// The event `change` is, if any.
pub fn of(store: &Store, change: &Change, announced: &mut Announced) -> crate::store::Result<Option<Event>> {
    let event = match change.collection.as_str() {
        NodeStatus::COLLECTION => node_state(store, change, announced)?,
        Node::COLLECTION => node_registration(change),
        Job::COLLECTION => job_outcome(store, change, announced)?,
        BootEvent::COLLECTION if change.kind == ChangeKind::Created => {
            store.get::<BootEvent>(&change.id)?.map(|record| Event {
                kind: EventType::Boot,
                data: serde_json::to_value(record.value).unwrap_or_default(),
            })
        }
        collection @ ("storagepools" | "filesystems" | "snapshots") => storage(collection, change),
        _ => None,
    };
    Ok(event)
}

fn node_state(store: &Store, change: &Change, announced: &mut Announced) -> crate::store::Result<Option<Event>> {
    if change.kind == ChangeKind::Deleted {
        announced.node_states.remove(&change.id);
        return Ok(None);
    }
    let Some(status) = store.get::<NodeStatus>(&change.id)?.map(|r| r.value) else {
        return Ok(None);
    };
    if !announced.node_state(&status.id, status.state) {
        return Ok(None);
    }
    Ok(Some(Event {
        kind: EventType::Node,
        data: json!({
            "node": status.id,
            "action": "state",
            "state": status.state,
            "reason": status.reason,
            "hostname": status.hostname,
            "lastSeen": status.last_seen,
        }),
    }))
}

fn node_registration(change: &Change) -> Option<Event> {
    let action = match change.kind {
        ChangeKind::Created => "registered",
        ChangeKind::Deleted => "removed",
        ChangeKind::Updated => return None,
    };
    Some(Event {
        kind: EventType::Node,
        data: json!({"node": change.id, "action": action}),
    })
}

fn job_outcome(store: &Store, change: &Change, announced: &mut Announced) -> crate::store::Result<Option<Event>> {
    let Some(job) = store.get::<Job>(&change.id)?.map(|r| r.value) else {
        return Ok(None);
    };
    if !job.state.finished() || !announced.job_finished(&job.id) {
        return Ok(None);
    }
    Ok(Some(Event {
        kind: EventType::Job,
        data: json!({
            "job": job.id,
            "state": job.state,
            "action": job.action,
            "kind": job.kind,
            "node": job.node,
            "resource": job.resource,
            "error": job.error,
        }),
    }))
}

fn storage(collection: &str, change: &Change) -> Option<Event> {
    let action = match change.kind {
        ChangeKind::Created => "created",
        ChangeKind::Deleted => "deleted",
        ChangeKind::Updated => return None,
    };
    Some(Event {
        kind: EventType::Storage,
        data: json!({"collection": collection, "id": change.id, "action": action}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NodeState;

    #[test]
    fn a_node_state_is_announced_once_until_it_changes() {
        let mut announced = Announced::default();
        assert!(announced.node_state("n1", NodeState::Online));
        assert!(!announced.node_state("n1", NodeState::Online));
        assert!(announced.node_state("n1", NodeState::Unreachable));
        assert!(announced.node_state("n1", NodeState::Online));
        assert!(announced.node_state("n2", NodeState::Online));
    }

    #[test]
    fn a_finished_job_is_announced_once_and_old_ones_are_forgotten() {
        let mut announced = Announced::default();
        assert!(announced.job_finished("j0"));
        assert!(!announced.job_finished("j0"));
        for n in 1..=REMEMBERED_JOBS {
            assert!(announced.job_finished(&format!("j{n}")));
        }
        assert_eq!(announced.jobs.len(), REMEMBERED_JOBS);
        assert!(announced.job_finished("j0"), "the oldest was forgotten");
    }

    #[test]
    fn registrations_and_storage_changes_are_events_but_their_updates_are_not() {
        let change = |kind| Change {
            seq: 1,
            kind,
            collection: "nodes".into(),
            id: "n1".into(),
        };
        assert_eq!(
            node_registration(&change(ChangeKind::Created)).unwrap().data["action"],
            "registered"
        );
        assert_eq!(node_registration(&change(ChangeKind::Updated)), None);
        assert_eq!(
            storage("snapshots", &change(ChangeKind::Deleted)).unwrap().kind,
            EventType::Storage
        );
        assert_eq!(storage("snapshots", &change(ChangeKind::Updated)), None);
    }
}
