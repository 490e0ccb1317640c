//! The audit log: every change asked of the API (and every refused attempt), with who asked, from where, and how
//! it ended.

use serde::{Deserialize, Serialize};

use super::{Role, Token};

/// Who asked, what for, and the answer: everything a record holds but the id and the time the log gives it.
/// Never a secret: no token, no request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The calling token's name; `anonymous` without a valid token; `system` or `cli` for a change made outside
    /// the API (the bootstrap token, `token create`), recorded as the API call it amounts to.
    pub actor: String,
    /// The calling token's public id (the one `GET /tokens` shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The calling token's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    pub method: String,
    /// The route's template (`/nodes/{id}`), or `unmatched` when no route fits the request.
    pub route: String,
    /// The path as requested, without the query (cut at 512 bytes).
    pub path: String,
    /// Where the created thing lives (the answer's `Location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// What the route adds: a token's name and role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The answer's status code: 2xx the change was made (202: it goes on as a job), else refused; 499 when the
    /// request ended before its answer (the client went away), so the change may or may not have been made.
    pub status: u16,
    /// The peer's address (`ip:port`); `local` for the command line. A proxy in front shows as itself.
    pub client: String,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Increasing; newer records have larger ids (the paging cursor).
    pub id: String,
    /// When the answer was sent (RFC 3339, UTC, milliseconds).
    pub at: String,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

crate::store::record!(AuditRecord, "audit", id);

/// What the log notes of a token created or revoked, whose path holds only its id.
pub fn token_note(token: &Token) -> String {
    format!("token '{}' ({})", token.name, token.role)
}
