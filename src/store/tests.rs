//! The store's contract, run against both backends: one suite, two stores (sled in a temporary directory, and a
//! real single-member etcd on loopback ports).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

#[path = "../../tests/common/etcd.rs"]
#[allow(dead_code)] // the TLS cluster (`start_secured`) is for the integration tests
mod etcd_server;
use etcd_server::EtcdCluster;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Thing {
    id: String,
    size: u32,
}

crate::store::record!(Thing, "things", id);

fn thing(id: &str, size: u32) -> Thing {
    Thing { id: id.into(), size }
}

/// What keeps a store under test alive: its directory, or its etcd cluster.
type Holder = Box<dyn std::any::Any>;

async fn sled_store() -> (Store, Holder) {
    let dir = tempfile::tempdir().unwrap();
    (Store::open(dir.path()).unwrap(), Box::new(dir))
}

async fn etcd_store() -> (Store, Holder) {
    let cluster = EtcdCluster::start(1);
    let store = etcd_at(&cluster, "test").await;
    (store, Box::new(cluster))
}

async fn etcd_at(cluster: &EtcdCluster, prefix: &str) -> Store {
    let location = Location::parse(&cluster.store_url(), prefix).unwrap();
    Store::connect(&location, std::path::Path::new("unused")).await.unwrap()
}

/// Runs `check` on a sled store, then on an etcd store.
macro_rules! on_both {
    ($check:ident) => {
        mod $check {
            #[tokio::test]
            async fn sled() {
                let (store, _holder) = super::sled_store().await;
                super::$check(&store).await;
            }

            #[tokio::test]
            async fn etcd() {
                let (store, _holder) = super::etcd_store().await;
                super::$check(&store).await;
            }
        }
    };
}

on_both!(create_update_and_delete_compare_versions);
async fn create_update_and_delete_compare_versions(store: &Store) {
    let created = store.put(thing("a", 1), Expect::Absent).await.unwrap();
    assert_eq!(created.version, 1);
    assert!(matches!(
        store.put(thing("a", 9), Expect::Absent).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    let updated = store.put(thing("a", 2), Expect::Version(1)).await.unwrap();
    assert_eq!(updated.version, 2);
    match store.put(thing("a", 3), Expect::Version(1)).await {
        Err(StoreError::VersionMismatch { expected, actual, .. }) => assert_eq!((expected, actual), (1, 2)),
        other => panic!("expected a version mismatch, got {:?}", other.map(|r| r.version)),
    }
    assert!(matches!(
        store.put(thing("b", 1), Expect::Version(1)).await,
        Err(StoreError::NotFound { .. })
    ));
    let read = store.get::<Thing>("a").unwrap().unwrap();
    assert_eq!((read.version, read.value), (2, thing("a", 2)));
    assert!(matches!(
        store.delete::<Thing>("a", Some(1)).await,
        Err(StoreError::VersionMismatch { .. })
    ));
    assert!(store.delete::<Thing>("a", Some(2)).await.unwrap());
    assert!(!store.delete::<Thing>("a", None).await.unwrap());
    assert!(store.get::<Thing>("a").unwrap().is_none());
    // A record created again starts over at version 1.
    assert_eq!(store.put(thing("a", 4), Expect::Absent).await.unwrap().version, 1);
}

on_both!(lists_page_by_prefix_cursor_and_filter);
async fn lists_page_by_prefix_cursor_and_filter(store: &Store) {
    for (id, size) in [("n-1", 1), ("n-2", 2), ("n-3", 3), ("n-4", 4), ("m-1", 5)] {
        store.put(thing(id, size), Expect::Absent).await.unwrap();
    }
    let first = store.list::<Thing>("n-", None, 2, |_| true).unwrap();
    let ids = |page: &Page<Thing>| page.items.iter().map(|r| r.value.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ["n-1", "n-2"]);
    assert_eq!(first.next_after.as_deref(), Some("n-2"));
    let second = store.list::<Thing>("n-", Some("n-2"), 2, |_| true).unwrap();
    assert_eq!(ids(&second), ["n-3", "n-4"]);
    assert_eq!(second.next_after, None);
    let even = store.list::<Thing>("", None, 10, |t| t.size % 2 == 0).unwrap();
    assert_eq!(ids(&even), ["n-2", "n-4"]);
    let newest = store.list_newest::<Thing>(Some("n-4"), 2, |_| true).unwrap();
    assert_eq!(ids(&newest), ["n-3", "n-2"]);
    assert_eq!(store.ids::<Thing>().unwrap(), ["m-1", "n-1", "n-2", "n-3", "n-4"]);
    assert_eq!(store.last_id::<Thing>().unwrap().as_deref(), Some("n-4"));
    assert_eq!(store.all::<Thing>().unwrap().len(), 5);
}

on_both!(the_feed_delivers_every_change_in_order_and_replays_from_a_position);
async fn the_feed_delivers_every_change_in_order_and_replays_from_a_position(store: &Store) {
    let mut live = store.watch();
    let start = store.last_change_seq();
    store.put(thing("x", 1), Expect::Absent).await.unwrap();
    store.put(thing("x", 2), Expect::Version(1)).await.unwrap();
    store.delete::<Thing>("x", None).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let change = tokio::time::timeout(Duration::from_secs(2), live.recv())
            .await
            .expect("a change within 2 s")
            .unwrap();
        assert_eq!((change.collection.as_str(), change.id.as_str()), ("things", "x"));
        seen.push(change);
    }
    let kinds: Vec<ChangeKind> = seen.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [ChangeKind::Created, ChangeKind::Updated, ChangeKind::Deleted]);
    assert!(seen.windows(2).all(|pair| pair[0].seq < pair[1].seq), "{seen:?}");
    assert_eq!(store.last_change_seq(), seen[2].seq);

    let replay = store.changes_since(start).unwrap();
    assert!(!replay.gap);
    assert_eq!(replay.changes, seen);
    let tail = store.changes_since(seen[0].seq).unwrap();
    assert_eq!(tail.changes, seen[1..]);
    // A position the store has not reached (another database's) must make the reader start over.
    assert!(store.changes_since(seen[2].seq + 100).unwrap().gap);
}

on_both!(appended_entries_and_meta_stay_out_of_the_feed);
async fn appended_entries_and_meta_stay_out_of_the_feed(store: &Store) {
    let before = store.changes_since(store.last_change_seq()).unwrap().changes.len();
    store.append(thing("0001", 1), true).await.unwrap();
    store.append(thing("0002", 2), false).await.unwrap();
    assert!(matches!(
        store.append(thing("0001", 3), true).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    store.meta_put("marker", b"yes").await.unwrap();
    assert_eq!(store.meta_get("marker").unwrap().as_deref(), Some(&b"yes"[..]));
    assert_eq!(store.ids::<Thing>().unwrap(), ["0001", "0002"]);
    assert!(store.remove_appended::<Thing>("0001").unwrap());
    assert!(!store.remove_appended::<Thing>("0001").unwrap());
    assert_eq!(store.ids::<Thing>().unwrap(), ["0002"]);
    assert_eq!(store.changes_since(0).unwrap().changes.len(), before);
    assert!(store.size_on_disk().unwrap() > 0);
}

#[tokio::test]
async fn two_instances_on_one_etcd_see_each_others_writes_within_a_second() {
    let cluster = EtcdCluster::start(1);
    let a = etcd_at(&cluster, "shared").await;
    let b = etcd_at(&cluster, "shared").await;
    let elsewhere = etcd_at(&cluster, "other").await;
    let mut b_live = b.watch();
    let written = a.put(thing("from-a", 7), Expect::Absent).await.unwrap();
    let change = tokio::time::timeout(Duration::from_secs(1), b_live.recv())
        .await
        .expect("B hears A's write within a second")
        .unwrap();
    assert_eq!((change.kind, change.id.as_str()), (ChangeKind::Created, "from-a"));
    assert_eq!(b.get::<Thing>("from-a").unwrap().unwrap().value, written.value);
    // Both instances number changes alike: B can resume where a client of A left off.
    assert_eq!(b.last_change_seq(), a.last_change_seq());
    // A write based on a stale read loses on B as it would on A.
    a.put(thing("from-a", 8), Expect::Version(1)).await.unwrap();
    assert!(matches!(
        b.put(thing("from-a", 9), Expect::Version(1)).await,
        Err(StoreError::VersionMismatch { actual: 2, .. })
    ));
    // Another prefix is another store.
    assert!(elsewhere.get::<Thing>("from-a").unwrap().is_none());
}

#[tokio::test]
async fn without_quorum_writes_fail_as_unavailable_and_resume_after() {
    let mut cluster = EtcdCluster::start(3);
    let store = etcd_at(&cluster, "quorum").await;
    store.put(thing("kept", 1), Expect::Absent).await.unwrap();
    cluster.kill(0);
    store.put(thing("one-down", 1), Expect::Absent).await.unwrap();
    cluster.kill(1);
    let refused = store.put(thing("no-quorum", 1), Expect::Absent).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{:?}",
        refused.map(|r| r.version)
    );
    // Reads go on from this instance's copy; health says the store is out of reach.
    assert_eq!(store.get::<Thing>("kept").unwrap().unwrap().value.size, 1);
    assert!(store.size_on_disk().is_err());
    cluster.restart(1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match store.put(thing("no-quorum", 1), Expect::Absent).await {
            // A write that timed out may still have been committed once the majority came back.
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => break,
            Err(StoreError::Unavailable(_)) if std::time::Instant::now() < deadline => {}
            Err(err) => panic!("writes did not resume: {err}"),
        }
    }
    assert!(store.size_on_disk().is_ok());
    assert!(store.get::<Thing>("no-quorum").unwrap().is_some());
}

/// Waits (at most `within`) until `election`'s outcome satisfies `condition`; how long that took.
async fn until_outcome(election: &Election, within: Duration, condition: impl FnMut(&Leadership) -> bool) -> Duration {
    let started = std::time::Instant::now();
    let mut outcome = election.subscribe();
    tokio::time::timeout(within, outcome.wait_for(condition))
        .await
        .expect("the election's outcome changed in time")
        .expect("the election runs");
    started.elapsed()
}

#[tokio::test]
async fn one_of_two_candidates_leads_a_resignation_hands_over_and_a_cut_off_leader_stops_before_its_lease_ends() {
    let mut cluster = EtcdCluster::start(3);
    let lease = Duration::from_secs(3);
    let (a, b) = (etcd_at(&cluster, "elect").await, etcd_at(&cluster, "elect").await);
    let first = a.elect("a", lease);
    until_outcome(&first, lease, |now| now.leading).await;
    let second = b.elect("b", lease);
    until_outcome(&second, lease, |now| now.leader.as_deref() == Some("a")).await;
    assert!(!second.subscribe().borrow().leading, "one leader at a time");

    // A resigning leader hands over at once (the follower looks four times a second).
    first.resign(lease).await;
    let handover = until_outcome(&second, lease, |now| now.leading).await;
    assert!(handover < Duration::from_secs(1), "handover took {handover:?}");

    // Cut off from the majority, the leader stops leading before its lease can have run out in etcd (it was
    // renewed at most a third of the lease ago).
    let since = second.subscribe().borrow().since;
    assert!(since.is_some());
    cluster.kill(0);
    cluster.kill(1);
    let stopped = until_outcome(&second, lease * 2, |now| !now.leading).await;
    assert!(stopped < lease - lease / 3, "stopped leading after {stopped:?}");
    // The majority back, it leads again (the only candidate).
    cluster.restart(1);
    until_outcome(&second, Duration::from_secs(15), |now| now.leading).await;
}
