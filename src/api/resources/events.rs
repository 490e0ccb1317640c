//! `GET /events`: the store's change feed as Server-Sent Events.
//!
//! Each event's id is the change's sequence number, so a client that reconnects with `Last-Event-ID` gets what
//! it missed from the durable change log. A client too slow for the live feed does not slow anyone down: it
//! falls behind, and is then served from the same log. When the log no longer holds what a client missed, it gets
//! a `reset` event and must re-read the state.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use warp::Reply;
use warp::sse::Event;

use crate::api::caller::caller;
use crate::api::route::{RouteTable, routes};
use crate::api::{Caller, Ctx, HandlerResult, with_ctx};
use crate::model::Role;
use crate::store::Change;

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    events() [with_ctx(ctx), caller(), warp::sse::last_event_id::<u64>()],
];

enum Pending {
    Change(Change),
    /// The client missed changes the log no longer has; carries the newest sequence number.
    Reset(u64),
}

struct Subscription {
    ctx: Ctx,
    live: broadcast::Receiver<Change>,
    shutdown: watch::Receiver<bool>,
    pending: VecDeque<Pending>,
    last_sent: u64,
}

impl Subscription {
    /// Queues what the log holds after `last_sent`.
    fn catch_up(&mut self) {
        match self.ctx.store.changes_since(self.last_sent) {
            Ok(replay) if replay.gap => self.pending.push_back(Pending::Reset(self.ctx.store.last_change_seq())),
            Ok(replay) => self.pending.extend(replay.changes.into_iter().map(Pending::Change)),
            Err(err) => {
                tracing::error!(error = %err, "cannot read the change log; telling the client to re-read");
                self.pending.push_back(Pending::Reset(self.ctx.store.last_change_seq()));
            }
        }
    }

    async fn next_event(&mut self) -> Option<Event> {
        loop {
            match self.pending.pop_front() {
                Some(Pending::Change(change)) if change.seq <= self.last_sent => continue,
                Some(Pending::Change(change)) => {
                    self.last_sent = change.seq;
                    return Some(change_event(&change));
                }
                Some(Pending::Reset(seq)) => {
                    self.last_sent = seq;
                    return Some(
                        Event::default()
                            .event("reset")
                            .id(seq.to_string())
                            .data(r#"{"reason":"missed changes are no longer retained; re-read the state"}"#),
                    );
                }
                None => {}
            }
            if *self.shutdown.borrow() {
                return None;
            }
            tokio::select! {
                _ = self.shutdown.changed() => return None,
                received = self.live.recv() => match received {
                    Ok(change) => self.pending.push_back(Pending::Change(change)),
                    Err(RecvError::Lagged(_)) => self.catch_up(),
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}

fn change_event(change: &Change) -> Event {
    Event::default()
        .id(change.seq.to_string())
        .json_data(change)
        .unwrap_or_else(|_| Event::default().id(change.seq.to_string()).data("{}"))
}

#[utoipa::path(operation_id = "streamEvents", get, path = "/events", tag = "events",
    params(("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "`text/event-stream`: a `ready` event, then one event per change \
            (data: `Change`); a `reset` event when missed changes are no longer retained",
            body = Change, content_type = "text/event-stream")))]
pub(crate) async fn events(ctx: Ctx, caller: Caller, last_event_id: Option<u64>) -> HandlerResult {
    caller.require(&ctx, Role::Viewer)?;
    // Subscribe before reading the position, so nothing committed in between is lost.
    let live = ctx.store.watch();
    let newest = ctx.store.last_change_seq();
    let mut subscription = Subscription {
        live,
        shutdown: ctx.shutdown.clone(),
        pending: VecDeque::new(),
        last_sent: last_event_id.unwrap_or(newest),
        ctx,
    };
    let ready = Event::default()
        .event("ready")
        .id(subscription.last_sent.to_string())
        .data("{}");
    if last_event_id.is_some() {
        subscription.catch_up();
    }
    let changes = futures_util::stream::unfold(subscription, |mut subscription| async move {
        let event = subscription.next_event().await?;
        Some((Ok::<_, Infallible>(event), subscription))
    });
    let stream = futures_util::StreamExt::chain(futures_util::stream::iter([Ok(ready)]), changes);
    let keep_alive = warp::sse::keep_alive().interval(Duration::from_secs(15));
    Ok(warp::sse::reply(keep_alive.stream(stream)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Node;
    use crate::store::{Expect, Store};

    fn node(id: String) -> Node {
        Node {
            id,
            hostname: String::new(),
            address: "10.0.0.1".into(),
            labels: Default::default(),
            emulated: false,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    /// A subscription, and the shutdown switch it watches (dropping the switch would end the stream).
    fn subscription(store: &Store, dir: &std::path::Path, last_sent: u64) -> (Subscription, watch::Sender<bool>) {
        let (stop, shutdown) = watch::channel(false);
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::default());
        let ipxe = crate::boot::ipxe::load(None).unwrap();
        let syslinux = crate::boot::media::syslinux::load(None).unwrap();
        let boot = crate::boot::Boot::new(store.clone(), ipxe, syslinux, dir, 8080, None, metrics.clone()).unwrap();
        let ctx = std::sync::Arc::new(crate::api::Context {
            store: store.clone(),
            metrics,
            boot,
            zos: std::sync::Arc::new(crate::zos::Clients::new(std::time::Duration::from_secs(1))),
            tftp: None,
            apply_wait: std::time::Duration::ZERO,
            heartbeat_interval: std::time::Duration::from_secs(10),
            proxy_dhcp: None,
            zerotier: false,
            audit: std::sync::Arc::new(crate::audit::Audit::open(store.clone(), None).unwrap()),
            started: std::time::Instant::now(),
            shutdown,
            engine: store.elect("test", std::time::Duration::from_secs(3)).subscribe(),
            node_list: Default::default(),
        });
        let live = store.watch();
        (
            Subscription {
                live,
                shutdown: ctx.shutdown.clone(),
                pending: VecDeque::new(),
                last_sent,
                ctx,
            },
            stop,
        )
    }

    #[tokio::test]
    async fn a_lagging_subscriber_catches_up_from_the_log_in_order() {
        let (dir, store) = Store::scratch();
        let (mut lagging, _stop) = subscription(&store, dir.path(), 0);
        // More than the live buffer, while the subscriber is not polled.
        let writes = 1500;
        for i in 0..writes {
            store.put(node(format!("n{i:05}")), Expect::Absent).await.unwrap();
        }
        for expected_seq in 1..=writes as u64 {
            let event = tokio::time::timeout(Duration::from_secs(5), lagging.next_event())
                .await
                .unwrap()
                .unwrap();
            let expected = change_event(&Change {
                seq: expected_seq,
                kind: crate::store::ChangeKind::Created,
                collection: "nodes".into(),
                id: format!("n{:05}", expected_seq - 1),
            });
            assert_eq!(format!("{event:?}"), format!("{expected:?}"));
        }
    }

    #[tokio::test]
    async fn a_subscriber_older_than_the_log_is_told_to_reset() {
        let (dir, store) = Store::scratch();
        store.put(node("a".into()), Expect::Absent).await.unwrap();
        // A position from another (newer) database: nothing to replay, so the client must re-read.
        let (mut stranger, _stop) = subscription(&store, dir.path(), 999);
        stranger.catch_up();
        let event = stranger.next_event().await.unwrap();
        assert!(format!("{event:?}").contains("reset"), "{event:?}");
    }
}
