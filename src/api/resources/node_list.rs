//! `GET /nodes`, served from JSON rendered once per change instead of once per request.
//!
//! Rendering the list from the store costs a read and a decode of two records per node and a serialisation of the
//! whole answer (about 5 ms of CPU for 1,000 nodes). The list is read far more often than a node changes (a UI
//! polls, dashboards scrape), so each node's view is kept here as its fields already serialised, and a request
//! only filters, pages and concatenates. Heartbeats rewrite a node's status about once a minute, so a whole-list
//! cache would be stale most of the time on a large cluster; entries are per node.
//!
//! Freshness comes from the store's change feed: before answering, the list applies the changes committed since
//! it was last brought up to date (usually none, one sled range read), so a client that writes a node and then
//! lists sees its write. When the feed says changes were trimmed before they were applied, the list is rebuilt.
//!
//! The last answer is also kept with the feed position it was made at: the same question asked again before any
//! node changed (a UI's poll, a dashboard's scrape, several open tabs) gets the same bytes without the list being
//! walked and put together again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};

use super::nodes::NodeView;
use crate::api::{ApiError, page_limit};
use crate::model::{Node, NodeStatus};
use crate::store::{Record, Store};

/// The fields of [`NodeView`] in the order it serialises them; `?fields=` names a subset. A test checks that
/// this list and the struct agree.
pub const FIELDS: &[&str] = &[
    "id",
    "hostname",
    "ipaddress",
    "status",
    "address",
    "state",
    "labels",
    "emulated",
    "reason",
    "lastSeen",
    "osVersion",
    "inventory",
    "version",
    "createdAt",
    "updatedAt",
];

/// Which of [`FIELDS`] an answer carries, as a bit mask (bit `i` for `FIELDS[i]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSet(u32);

impl FieldSet {
    pub const ALL: FieldSet = FieldSet((1 << FIELDS.len()) - 1);

    /// Parses `id,state,labels`; `Err` names the first unknown field.
    pub fn parse(list: &str) -> Result<FieldSet, String> {
        let mut mask = 0;
        for name in list.split(',').map(str::trim).filter(|name| !name.is_empty()) {
            let index = FIELDS
                .iter()
                .position(|field| *field == name)
                .ok_or_else(|| name.to_owned())?;
            mask |= 1 << index;
        }
        Ok(if mask == 0 { FieldSet::ALL } else { FieldSet(mask) })
    }

    fn has(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }
}

/// Back to the `?fields=` form, for the next page's link.
impl std::fmt::Display for FieldSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = (0..FIELDS.len()).filter(|i| self.has(*i)).map(|i| FIELDS[i]).collect();
        f.write_str(&names.join(","))
    }
}

/// One node as the list shows it: its record (for label filters) and each field as `"name":value`.
struct Entry {
    node: Node,
    fields: Vec<Bytes>,
}

impl Entry {
    fn render(node: crate::store::Versioned<Node>, status: Option<NodeStatus>) -> Result<Entry, serde_json::Error> {
        let plain = node.value.clone();
        let serde_json::Value::Object(mut object) = serde_json::to_value(NodeView::new(node, status))? else {
            unreachable!("a struct serialises to an object")
        };
        let fields = FIELDS
            .iter()
            .map(|name| {
                let value = object.remove(*name).unwrap_or(serde_json::Value::Null);
                let mut pair = serde_json::to_vec(name)?;
                pair.push(b':');
                serde_json::to_writer(&mut pair, &value)?;
                Ok(Bytes::from(pair))
            })
            .collect::<Result<_, serde_json::Error>>()?;
        Ok(Entry { node: plain, fields })
    }

    fn write(&self, fields: FieldSet, out: &mut BytesMut) {
        out.put_u8(b'{');
        let mut first = true;
        for (_, pair) in self.fields.iter().enumerate().filter(|(index, _)| fields.has(*index)) {
            if !first {
                out.put_u8(b',');
            }
            first = false;
            out.put_slice(pair);
        }
        out.put_u8(b'}');
    }
}

#[derive(Default)]
struct Views {
    /// Shared, so a request holds the lock only to pick its entries and writes them out after releasing it.
    entries: BTreeMap<String, Arc<Entry>>,
    /// The change feed's sequence number up to which `entries` is current; `None`: never built.
    applied: Option<u64>,
}

/// The rendered node list, shared by every request.
#[derive(Default)]
pub struct NodeList {
    views: Mutex<Views>,
    last: Mutex<Option<Memo>>,
}

/// One page of the list: the JSON array and the id to continue after, if there are more.
#[derive(Clone)]
pub struct Page {
    pub body: Bytes,
    pub next_after: Option<String>,
}

/// Query parameters of `GET /nodes`.
#[derive(Clone, Debug, Default, PartialEq, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NodeListQuery {
    /// Page size (1–1000). Without it, all nodes are returned, as 0-orchestrator does.
    limit: Option<usize>,
    /// Return nodes whose id sorts after this one (the cursor from the `Link: rel="next"` header).
    after: Option<String>,
    /// `key=value` (or just `key`) that a node's labels must match; repeatable, all must match.
    #[param(rename = "label", required = false)]
    labels: Vec<String>,
    /// Comma-separated fields to return, e.g. `id,state,labels` (default: all). The inventory is most of a
    /// node's size: a list without it is about a tenth as large.
    #[param(value_type = Option<String>)]
    fields: Option<FieldSet>,
}

impl NodeListQuery {
    pub fn parse(raw: &str) -> Result<NodeListQuery, ApiError> {
        let mut query = NodeListQuery::default();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            match &*key {
                "limit" => query.limit = Some(page_limit(&value)?),
                "after" => query.after = Some(value.into_owned()),
                "label" => query.labels.push(value.into_owned()),
                "fields" => {
                    let fields = FieldSet::parse(&value).map_err(|unknown| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!("unknown field '{unknown}' (fields: {})", FIELDS.join(", ")),
                        )
                        .with_field("fields")
                    })?;
                    query.fields = Some(fields);
                }
                other => {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        format!("unknown query parameter '{other}' (expected limit, after, label, fields)"),
                    )
                    .with_field(other.to_owned()));
                }
            }
        }
        Ok(query)
    }

    /// The URL of the page after `last_id`, keeping the other parameters.
    pub fn next_link(&self, last_id: &str) -> String {
        let mut next = form_urlencoded::Serializer::new(String::new());
        if let Some(limit) = self.limit {
            next.append_pair("limit", &limit.to_string());
        }
        next.append_pair("after", last_id);
        for label in &self.labels {
            next.append_pair("label", label);
        }
        if let Some(fields) = self.fields {
            next.append_pair("fields", &fields.to_string());
        }
        format!("</nodes?{}>; rel=\"next\"", next.finish())
    }
}

impl NodeListQuery {
    fn keeps(&self, node: &Node) -> bool {
        self.labels.iter().all(|selector| match selector.split_once('=') {
            Some((key, value)) => node.labels.get(key).is_some_and(|v| v == value),
            None => node.labels.contains_key(selector),
        })
    }
}

/// The last page answered, the question it answered and the feed position it is current at.
struct Memo {
    applied: u64,
    query: NodeListQuery,
    page: Page,
}

impl NodeList {
    /// The page `query` asks for, as a JSON array.
    pub fn page(&self, store: &Store, query: &NodeListQuery) -> crate::store::Result<Page> {
        let (chosen, next_after, applied) = {
            let mut views = self.views.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            views.catch_up(store)?;
            let applied = views.applied.unwrap_or_default();
            if let Some(memo) = self.last.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
                && memo.applied == applied
                && memo.query == *query
            {
                return Ok(memo.page.clone());
            }
            let (chosen, next_after) = views.choose(query);
            (chosen, next_after, applied)
        };
        let fields = query.fields.unwrap_or(FieldSet::ALL);
        let mut body = BytesMut::with_capacity(chosen.len() * 64 + 2);
        body.put_u8(b'[');
        for (index, entry) in chosen.iter().enumerate() {
            if index > 0 {
                body.put_u8(b',');
            }
            entry.write(fields, &mut body);
        }
        body.put_u8(b']');
        let page = Page {
            body: body.freeze(),
            next_after,
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Memo {
            applied,
            query: query.clone(),
            page: page.clone(),
        });
        Ok(page)
    }
}

impl Views {
    /// The entries of the page `query` asks for and the id to continue after.
    fn choose(&self, query: &NodeListQuery) -> (Vec<Arc<Entry>>, Option<String>) {
        let start = match &query.after {
            Some(after) => std::ops::Bound::Excluded(after.clone()),
            None => std::ops::Bound::Unbounded,
        };
        let limit = query.limit.unwrap_or(usize::MAX);
        let mut chosen = Vec::with_capacity(limit.min(self.entries.len()));
        let mut last = None;
        for (id, entry) in self.entries.range((start, std::ops::Bound::Unbounded)) {
            if !query.keeps(&entry.node) {
                continue;
            }
            if chosen.len() == limit {
                return (chosen, last.map(str::to_owned));
            }
            chosen.push(Arc::clone(entry));
            last = Some(id.as_str());
        }
        (chosen, None)
    }

    /// Applies the changes to nodes and their statuses committed since the last call; rebuilds everything the
    /// first time and whenever the feed no longer holds what was missed.
    fn catch_up(&mut self, store: &Store) -> crate::store::Result<()> {
        let Some(applied) = self.applied else {
            return self.rebuild(store);
        };
        if store.last_change_seq() == applied {
            return Ok(());
        }
        let replay = store.changes_since(applied)?;
        if replay.gap {
            return self.rebuild(store);
        }
        for change in &replay.changes {
            if change.collection == Node::COLLECTION || change.collection == NodeStatus::COLLECTION {
                self.refresh(store, &change.id)?;
            }
            self.applied = Some(change.seq);
        }
        Ok(())
    }

    fn rebuild(&mut self, store: &Store) -> crate::store::Result<()> {
        // Read the position first: a change committed while the nodes are read is then applied again next
        // time, which is harmless, rather than missed.
        let position = store.last_change_seq();
        self.entries.clear();
        for node in store.list::<Node>("", None, usize::MAX, |_| true)?.items {
            let status = store.get::<NodeStatus>(&node.value.id)?.map(|record| record.value);
            let id = node.value.id.clone();
            let entry = Entry::render(node, status).map_err(std::io::Error::other)?;
            self.entries.insert(id, Arc::new(entry));
        }
        self.applied = Some(position);
        Ok(())
    }

    /// Re-renders node `id` from the store, or drops it when it is gone.
    fn refresh(&mut self, store: &Store, id: &str) -> crate::store::Result<()> {
        match store.get::<Node>(id)? {
            Some(node) => {
                let status = store.get::<NodeStatus>(id)?.map(|record| record.value);
                let entry = Entry::render(node, status).map_err(std::io::Error::other)?;
                self.entries.insert(id.to_owned(), Arc::new(entry));
            }
            None => {
                self.entries.remove(id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{FIELDS, FieldSet, NodeList, NodeListQuery};
    use crate::model::{Node, NodeState, NodeStatus};
    use crate::store::{Expect, Store};

    fn node(id: &str, rack: &str) -> Node {
        Node {
            id: id.into(),
            hostname: String::new(),
            address: "127.0.0.1:1".into(),
            labels: [("rack".to_owned(), rack.to_owned())].into(),
            emulated: false,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn ids(list: &NodeList, store: &Store, after: Option<&str>, limit: usize) -> (Vec<String>, Option<String>) {
        let page = list
            .page(
                store,
                &NodeListQuery {
                    after: after.map(str::to_owned),
                    limit: Some(limit),
                    fields: Some(FieldSet::parse("id").unwrap()),
                    ..NodeListQuery::default()
                },
            )
            .unwrap();
        let body: Vec<serde_json::Value> = serde_json::from_slice(&page.body).unwrap();
        let ids = body
            .iter()
            .map(|view| view["id"].as_str().unwrap().to_owned())
            .collect();
        (ids, page.next_after)
    }

    #[test]
    fn the_field_list_is_the_views_fields_in_order() {
        let view = super::super::nodes::NodeView::new(
            crate::store::Versioned {
                version: 1,
                value: node("n1", "r1"),
            },
            None,
        );
        let text = serde_json::to_string(&view).unwrap();
        let positions: Vec<usize> = FIELDS
            .iter()
            .map(|f| text.find(&format!("\"{f}\":")).unwrap())
            .collect();
        assert!(positions.is_sorted(), "{text}");
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(object.len(), FIELDS.len());
        assert_eq!(FieldSet::parse("state,nope"), Err("nope".to_owned()));
        assert_eq!(FieldSet::parse(""), Ok(FieldSet::ALL));
        assert_eq!(FieldSet::parse("labels,id").unwrap().to_string(), "id,labels");
    }

    #[tokio::test]
    async fn a_page_shows_every_write_committed_before_it_and_the_same_json_as_the_view() {
        let (_dir, store) = Store::scratch();
        let list = NodeList::default();
        store.put(node("n1", "r1"), Expect::Absent).await.unwrap();
        assert_eq!(ids(&list, &store, None, 10).0, ["n1"]);
        // Asked again with nothing changed: the memo answers, the same bytes.
        let all = NodeListQuery::default();
        let first = list.page(&store, &all).unwrap().body;
        assert_eq!(list.page(&store, &all).unwrap().body.as_ptr(), first.as_ptr());

        store.put(node("n3", "r1"), Expect::Absent).await.unwrap();
        store.put(node("n2", "r2"), Expect::Absent).await.unwrap();
        assert_eq!(
            ids(&list, &store, None, 2),
            (vec!["n1".into(), "n2".into()], Some("n2".into()))
        );
        assert_eq!(ids(&list, &store, Some("n2"), 2), (vec!["n3".into()], None));

        let status = NodeStatus {
            id: "n2".into(),
            state: NodeState::Online,
            reason: String::new(),
            last_seen: Some("2026-01-01T00:00:01Z".into()),
            hostname: "h2".into(),
            os_version: "v".into(),
            boot_time: 0,
            inventory: None,
        };
        store.put(status.clone(), Expect::Absent).await.unwrap();
        store.delete::<Node>("n1", None).await.unwrap();
        let page = list
            .page(
                &store,
                &NodeListQuery {
                    limit: Some(10),
                    labels: vec!["rack=r2".to_owned()],
                    ..NodeListQuery::default()
                },
            )
            .unwrap();
        let listed: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
        let n2 = store.get::<Node>("n2").unwrap().unwrap();
        let expected = serde_json::to_value([super::super::nodes::NodeView::new(n2, Some(status))]).unwrap();
        assert_eq!(listed, expected);
        assert_eq!(ids(&list, &store, None, 10).0, ["n2", "n3"]);
        assert_ne!(list.page(&store, &all).unwrap().body, first, "a memo outlived a change");
    }
}
