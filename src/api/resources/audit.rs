//! `/audit` (admin): the audit log, newest first, paged and filtered. The log is written in one place,
//! `api::audit`.

use warp::Reply;
use warp::http::header;

use crate::api::caller::caller;
use crate::api::error::ErrorBody;
use crate::api::route::{RouteTable, routes};
use crate::api::{ApiError, Caller, Ctx, HandlerResult, page_limit, raw_query, set_header, with_ctx};
use crate::model::{AuditRecord, Role};

/// Records per page without `limit`.
const DEFAULT_PAGE: usize = 100;

/// Query parameters of `GET /audit`; every filter given must match.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size (1–1000, default 100).
    limit: Option<usize>,
    /// Records older than this id (the cursor from the `Link: rel="next"` header).
    before: Option<String>,
    /// The token name that made the request (`anonymous`: no valid token).
    actor: Option<String>,
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    method: Option<String>,
    /// The start of the requested path, e.g. `/tokens`.
    path: Option<String>,
    /// Records at or after this time (RFC 3339).
    since: Option<String>,
    /// Records before this time (RFC 3339).
    until: Option<String>,
    /// The answer's status: a code (`403`) or a class (`2xx`, `4xx`, `5xx`).
    outcome: Option<String>,
}

impl AuditQuery {
    fn parse(raw: &str) -> Result<AuditQuery, ApiError> {
        let mut query = AuditQuery::default();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let invalid = |what: &str| {
                ApiError::bad_request("invalid_query", format!("{key} must be {what}")).with_field(key.to_string())
            };
            match &*key {
                "limit" => query.limit = Some(page_limit(&value)?),
                "before" => query.before = Some(value.into_owned()),
                "actor" => query.actor = Some(value.into_owned()),
                "method" => query.method = Some(value.to_ascii_uppercase()),
                "path" => query.path = Some(value.into_owned()),
                "since" | "until" => {
                    let at = humantime::parse_rfc3339_weak(&value).map_err(|_| invalid("an RFC 3339 time"))?;
                    // Records hold this same fixed-width form, so comparing the text compares the times.
                    let at = Some(humantime::format_rfc3339_millis(at).to_string());
                    if key == "since" {
                        query.since = at
                    } else {
                        query.until = at
                    }
                }
                "outcome" => {
                    let class = value
                        .strip_suffix("xx")
                        .filter(|digit| matches!(*digit, "1" | "2" | "3" | "4" | "5"));
                    if class.is_none() && !value.parse::<u16>().is_ok_and(|code| (100..=599).contains(&code)) {
                        return Err(invalid("a status code (403) or class (4xx)"));
                    }
                    query.outcome = Some(value.into_owned());
                }
                other => {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        format!(
                            "unknown query parameter '{other}' \
                             (expected limit, before, actor, method, path, since, until, outcome)"
                        ),
                    )
                    .with_field(other.to_owned()));
                }
            }
        }
        Ok(query)
    }

    fn matches(&self, record: &AuditRecord) -> bool {
        let entry = &record.entry;
        let outcome = |wanted: &str| match wanted.strip_suffix("xx") {
            Some(class) => entry.status.to_string().starts_with(class),
            None => entry.status.to_string() == wanted,
        };
        self.actor.as_ref().is_none_or(|actor| &entry.actor == actor)
            && self.method.as_ref().is_none_or(|method| &entry.method == method)
            && self
                .path
                .as_ref()
                .is_none_or(|path| entry.path.starts_with(path.as_str()))
            && self.since.as_ref().is_none_or(|since| &record.at >= since)
            && self.until.as_ref().is_none_or(|until| &record.at < until)
            && self.outcome.as_deref().is_none_or(outcome)
    }

    /// The URL of the page after `last_id`, keeping the filters.
    fn next_link(&self, last_id: &str) -> String {
        let mut next = form_urlencoded::Serializer::new(String::new());
        let limit = self.limit.map(|limit| limit.to_string());
        let filters = [
            ("limit", limit.as_ref()),
            ("actor", self.actor.as_ref()),
            ("method", self.method.as_ref()),
            ("path", self.path.as_ref()),
            ("since", self.since.as_ref()),
            ("until", self.until.as_ref()),
            ("outcome", self.outcome.as_ref()),
        ];
        for (key, value) in filters {
            if let Some(value) = value {
                next.append_pair(key, value);
            }
        }
        next.append_pair("before", last_id);
        format!("</audit?{}>; rel=\"next\"", next.finish())
    }
}

pub(crate) const ROUTES: RouteTable = routes![ctx =>
    list() [with_ctx(ctx), caller(), raw_query()],
];

#[utoipa::path(operation_id = "listAudit", get, path = "/audit", tag = "audit", params(AuditQuery),
    description = "Every POST, PUT, PATCH and DELETE the API answered, refused ones too: who (the token's name and \
        role, or `anonymous`), what (method, route, path), when, from where (the peer address) and the status. \
        Never a secret or a request body.",
    responses(
        (status = 200, description = "Newest first", body = [AuditRecord],
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when there are more pages"))),
        (status = 400, body = ErrorBody)))]
pub(crate) async fn list(ctx: Ctx, caller: Caller, raw_query: String) -> HandlerResult {
    caller.require(&ctx, Role::Admin)?;
    let query = AuditQuery::parse(&raw_query)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    let page = ctx
        .store
        .list_newest::<AuditRecord>(query.before.as_deref(), limit, |record| query.matches(record))?;
    let records: Vec<AuditRecord> = page.items.into_iter().map(|record| record.value).collect();
    let mut response = warp::reply::json(&records).into_response();
    if let Some(last) = page.next_after {
        set_header(&mut response, header::LINK, &query.next_link(&last));
    }
    Ok(response)
}
