//! The one place the audit log is written from: a wrapper around every route table, so no handler can forget it.
//!
//! Before the routes run, a mutating request (POST, PUT, PATCH, DELETE) has its caller identified, so that
//! revoking one's own token is still recorded as that token's doing; after them, the answer's status, route and
//! `Location` complete the record. GET and HEAD change nothing and are not recorded.

use std::sync::Arc;

use warp::Filter;
use warp::http::Method;
use warp::http::header::LOCATION;
use warp::path::FullPath;
use warp::reply::Response;

use super::caller::caller;
use super::route::RouteLabel;
use super::{Caller, Ctx};
use crate::audit::Audit;
use crate::model::AuditEntry;

/// What a route adds to its record (set on the response): a token's name and role, which its path does not say.
#[derive(Clone)]
pub struct Note(pub String);

/// The longest path a record keeps, in characters (paths are the client's to choose).
const MAX_PATH: usize = 512;

/// The status recorded when the request ended without an answer (nginx's "client closed request").
const NO_ANSWER: u16 = 499;

/// A mutating request, its caller identified, waiting for its answer.
pub struct Pending {
    /// Everything known before the route runs; taken once recorded.
    entry: Option<AuditEntry>,
    audit: Arc<Audit>,
}

/// The request to record, if it is one that may change something.
pub fn pending(
    ctx: &Ctx,
) -> impl Filter<Extract = (Option<Pending>,), Error = std::convert::Infallible> + Clone + use<> {
    let ctx = ctx.clone();
    warp::method()
        .and(warp::path::full())
        .and(super::remote())
        .and(caller())
        .map(
            move |method: Method, path: FullPath, client: Option<std::net::SocketAddr>, caller: Caller| {
                if ![Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(&method) {
                    return None;
                }
                let token = caller.identify(&ctx).ok();
                let entry = AuditEntry {
                    actor: token
                        .as_ref()
                        .map_or_else(|| "anonymous".to_owned(), |token| token.name.clone()),
                    token_id: token.as_ref().map(|token| token.id.clone()),
                    role: token.map(|token| token.role),
                    method: method.to_string(),
                    route: "unmatched".to_owned(),
                    path: path.as_str().chars().take(MAX_PATH).collect(),
                    location: None,
                    note: None,
                    status: NO_ANSWER,
                    client: client.map_or_else(|| "unknown".to_owned(), |addr| addr.to_string()),
                };
                Some(Pending {
                    entry: Some(entry),
                    audit: ctx.audit.clone(),
                })
            },
        )
}

/// Records `pending` with its answer.
pub async fn record(mut pending: Pending, reply: &Response) {
    let Some(mut entry) = pending.entry.take() else {
        return;
    };
    if let Some(label) = reply.extensions().get::<RouteLabel>() {
        entry.route = label.0.to_owned();
    }
    entry.location = reply
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    entry.note = reply.extensions().get::<Note>().map(|note| note.0.clone());
    entry.status = reply.status().as_u16();
    pending.audit.record(entry).await;
}

impl Drop for Pending {
    /// The request was dropped before its answer (the client went away, and hyper dropped the request with it;
    /// or the server stopped): the change may have been made all the same, so it is recorded, its outcome unknown.
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            let audit = self.audit.clone();
            tokio::spawn(async move { audit.record(entry).await });
        }
    }
}
