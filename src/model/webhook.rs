//! Webhooks: where the orchestrator's events are POSTed. The API writes the [`Webhook`] (desired); the engine
//! queues each event a webhook wants as a [`QueuedEvent`] and records how delivering went in [`WebhookStatus`]
//! (observed).

use serde::{Deserialize, Serialize};

use super::validate::Invalid;

/// Which events a webhook receives. `ork` is the reference's one event type (its self-healing orchestrator's
/// events); here it means every event, so a client written for the reference keeps working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Ork,
    /// A node's observed state changed (online, unreachable, auth_failed, error), or it was registered or removed.
    Node,
    /// A job finished: succeeded or failed.
    Job,
    /// A storage pool, filesystem or snapshot was created, changed or removed.
    Storage,
    /// A boot file, script or proxyDHCP answer was served.
    Boot,
}

impl EventType {
    /// The event type's name in a delivery's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Ork => "ork",
            EventType::Node => "node",
            EventType::Job => "job",
            EventType::Storage => "storage",
            EventType::Boot => "boot",
        }
    }
}

/// A webhook as stored. The secret is kept because signing needs it (an HMAC key cannot be a hash); the API never
/// answers with it and nothing logs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Webhook {
    pub name: String,
    pub url: String,
    pub eventtypes: Vec<EventType>,
    pub secret: String,
    pub created_at: String,
}

crate::store::record!(Webhook, "webhooks", name);

impl Webhook {
    /// Whether this webhook wants events of `kind`.
    pub fn wants(&self, kind: EventType) -> bool {
        self.eventtypes.iter().any(|t| *t == kind || *t == EventType::Ork)
    }
}

/// Longest URL taken: far above any real receiver's, short enough to show in a table.
const MAX_URL: usize = 2048;
/// A secret shorter than this is guessable; longer than the maximum is a mistake (a file pasted by accident).
const SECRET_LENGTH: std::ops::RangeInclusive<usize> = 16..=256;

/// An http or https URL with a host, no credentials (they would show wherever the URL is listed) and no fragment.
pub fn validate_webhook_url(field: &str, text: &str) -> Result<(), Invalid> {
    if text.len() > MAX_URL {
        return Err(Invalid::new(field, format!("must be at most {MAX_URL} characters")));
    }
    let url = url::Url::parse(text).map_err(|err| Invalid::new(field, format!("not a URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Invalid::new(field, "must be an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Invalid::new(field, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid::new(
            field,
            "must not carry credentials (the secret signs each delivery)",
        ));
    }
    if url.fragment().is_some() {
        return Err(Invalid::new(field, "must not have a #fragment"));
    }
    Ok(())
}

/// At least one event type, each once.
pub fn validate_event_types(field: &str, types: &[EventType]) -> Result<(), Invalid> {
    if types.is_empty() {
        return Err(Invalid::new(field, "must name at least one event type"));
    }
    for (index, kind) in types.iter().enumerate() {
        if types[..index].contains(kind) {
            return Err(Invalid::new(
                format!("{field}[{index}]"),
                format!("'{}' is listed twice", kind.as_str()),
            ));
        }
    }
    Ok(())
}

/// 16 to 256 printable ASCII characters (it goes into an HMAC key, and people paste it between tools).
pub fn validate_secret(field: &str, secret: &str) -> Result<(), Invalid> {
    if !SECRET_LENGTH.contains(&secret.len()) || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Invalid::new(
            field,
            format!(
                "must be {} to {} printable characters without spaces",
                SECRET_LENGTH.start(),
                SECRET_LENGTH.end()
            ),
        ));
    }
    Ok(())
}

/// One event waiting in a webhook's queue, in the store so that it survives a restart. Kept out of the change
/// feed (`Store::append`): the queue is the engine's bookkeeping, not something clients follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedEvent {
    /// `<webhook>/<sequence, 20 digits>`: a webhook's queue is one key range, in order.
    pub id: String,
    /// The delivery's body, exactly as signed and sent.
    pub body: String,
    #[serde(rename = "type")]
    pub kind: EventType,
}

crate::store::record!(QueuedEvent, "webhook_queue", id);

impl QueuedEvent {
    /// The queue key of event `sequence` for `webhook`; keys sort in sequence order.
    pub fn key(webhook: &str, sequence: u64) -> String {
        format!("{webhook}/{sequence:020}")
    }

    /// Where `webhook`'s queue starts (every key of it has this prefix).
    pub fn prefix(webhook: &str) -> String {
        format!("{webhook}/")
    }
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The event's id (the `X-Zos-Event-Id` header, the body's `id`).
    pub event: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub at: String,
    /// 1 for the first try of this event.
    pub attempt: u32,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// True when the receiver answered 2xx: the event left the queue.
    pub delivered: bool,
    /// Why it failed (no connection, timeout, a status that is not 2xx).
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// How a webhook's deliveries are going: written by the engine, shown by `GET /webhooks/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookStatus {
    pub name: String,
    /// Events waiting to be delivered.
    pub pending: u64,
    /// Events dropped because the queue was full (the oldest go first).
    pub dropped: u64,
    /// The last deliveries, newest first.
    pub deliveries: Vec<Delivery>,
}

crate::store::record!(WebhookStatus, "webhook_status", name);
