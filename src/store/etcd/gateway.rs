//! etcd's v3 API through its JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`, `/v3/watch`, …), over reqwest.
//!
//! Why the gateway and not gRPC: reqwest is already how this binary speaks HTTP, the gateway is part of every
//! etcd server since 3.3 (same API, same semantics: it is the gRPC service behind a JSON mapping), and the
//! maintained gRPC crate (`etcd-client`) would bring tonic, prost and a protoc-generated build step for the
//! calls used here. The mapping's rules: bytes are base64, 64-bit integers are strings, fields at their
//! default value (0, false, empty) are left out.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::access::{Access, User};
use crate::store::{Result, StoreError};

/// How long one call may take. A cluster without quorum holds a write until its own timeout (seven seconds and
/// more); the API answers 503 before that.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// The members to talk to, tried in turn from the last one that answered.
pub struct Gateway {
    http: reqwest::Client,
    /// Each member's base URL (`http(s)://host:port`).
    endpoints: Vec<String>,
    /// The etcd user to log in as, if the cluster has authentication enabled.
    user: Option<User>,
    /// The auth token each member issued (see [`Gateway::token`]).
    tokens: Mutex<Vec<Option<String>>>,
    current: AtomicUsize,
    /// Why the last call found no member to serve it; `None` once one did.
    trouble: Mutex<Option<String>>,
}

pub fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// The key just after every key that starts with `prefix` (etcd's `range_end` for a prefix).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[derive(Debug, Default, Deserialize)]
pub struct Header {
    #[serde(default, deserialize_with = "int")]
    pub revision: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyValue {
    #[serde(default, deserialize_with = "bytes")]
    pub key: Vec<u8>,
    #[serde(default, deserialize_with = "bytes")]
    pub value: Vec<u8>,
    #[serde(default, deserialize_with = "int")]
    pub create_revision: u64,
    #[serde(default, deserialize_with = "int")]
    pub mod_revision: u64,
    /// The lease the key lives under (0: none).
    #[serde(default, deserialize_with = "int")]
    pub lease: u64,
}

#[derive(Debug, Default, Deserialize)]
pub struct RangeResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub kvs: Vec<KeyValue>,
    #[serde(default)]
    pub more: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct TxnResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub succeeded: bool,
    #[serde(default)]
    pub responses: Vec<ResponseOp>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ResponseOp {
    pub response_range: Option<RangeResponse>,
}

/// A lease as `/v3/lease/grant` and `/v3/lease/keepalive` describe it; `ttl` 0 when it has expired.
#[derive(Debug, Default, Deserialize)]
pub struct Lease {
    #[serde(rename = "ID", default, deserialize_with = "int")]
    pub id: u64,
    #[serde(rename = "TTL", default, deserialize_with = "int")]
    pub ttl: u64,
}

/// The answer to one keepalive: the gateway maps the streaming call to a stream of one message.
#[derive(Debug, Default, Deserialize)]
pub struct KeepAlive {
    #[serde(default)]
    pub result: Lease,
}

#[derive(Debug, Deserialize)]
pub struct WatchMessage {
    pub result: Option<WatchResult>,
    pub error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WatchResult {
    #[serde(default)]
    pub events: Vec<Event>,
    #[serde(default)]
    pub canceled: bool,
    #[serde(default, deserialize_with = "int")]
    pub compact_revision: u64,
}

#[derive(Debug, Default, Deserialize)]
pub struct Event {
    /// `DELETE`, or absent for a put.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub kv: KeyValue,
}

impl Event {
    pub fn is_delete(&self) -> bool {
        self.kind.as_deref() == Some("DELETE")
    }
}

fn int<'de, D: Deserializer<'de>>(from: D) -> std::result::Result<u64, D::Error> {
    match Value::deserialize(from)? {
        Value::String(text) => text.parse().map_err(serde::de::Error::custom),
        Value::Number(number) => number
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("negative revision")),
        _ => Ok(0),
    }
}

fn bytes<'de, D: Deserializer<'de>>(from: D) -> std::result::Result<Vec<u8>, D::Error> {
    let text = String::deserialize(from)?;
    BASE64.decode(text).map_err(serde::de::Error::custom)
}

/// What one member said to one request.
enum Answer {
    /// 2xx, with the body.
    Done(String),
    /// The member turned down the auth token (expired, or issued by another member): authenticate again.
    BadToken,
    /// The member cannot serve it now (unreachable, no leader, overloaded): try the next one.
    PassOver(String),
    /// A definite refusal, the same on any member.
    Refused(String),
}

impl Gateway {
    pub fn new(access: &Access) -> Result<Gateway> {
        let http = access.http_client().map_err(StoreError::Etcd)?;
        let endpoints = access.urls();
        Ok(Gateway {
            http,
            tokens: Mutex::new(vec![None; endpoints.len()]),
            endpoints,
            user: access.user.clone(),
            current: AtomicUsize::new(0),
            trouble: Mutex::new(None),
        })
    }

    /// Why the last call failed, while no call has succeeded since.
    pub fn trouble(&self) -> Option<String> {
        lock(&self.trouble).clone()
    }

    fn note(&self, trouble: Option<String>) {
        *lock(&self.trouble) = trouble;
    }

    /// One unary call. A member that cannot be reached, or answers that it is unavailable (no leader, no
    /// quorum), is passed over for the next; when none answers the error is `Unavailable`.
    pub async fn call<R: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<R> {
        let mut last_problem = String::from("no endpoint");
        let first = self.current.load(Ordering::Relaxed);
        for attempt in 0..self.endpoints.len() {
            let index = (first + attempt) % self.endpoints.len();
            let mut answer = self.ask(index, path, body).await;
            if matches!(answer, Answer::BadToken) {
                self.forget_token(index);
                answer = self.ask(index, path, body).await;
            }
            match answer {
                Answer::Done(text) => {
                    self.current.store(index, Ordering::Relaxed);
                    self.note(None);
                    return serde_json::from_str(&text)
                        .map_err(|err| StoreError::Etcd(format!("{path}: cannot read the answer: {err}")));
                }
                Answer::PassOver(problem) => last_problem = problem,
                Answer::BadToken => return Err(StoreError::Etcd(format!("{path}: the etcd auth token is refused"))),
                Answer::Refused(message) => return Err(StoreError::Etcd(format!("{path}: {message}"))),
            }
        }
        self.note(Some(last_problem.clone()));
        Err(StoreError::Unavailable(last_problem))
    }

    /// Sends one request to member `index`, with this process's auth token for it when etcd wants a user.
    async fn ask(&self, index: usize, path: &str, body: &Value) -> Answer {
        let endpoint = &self.endpoints[index];
        let token = match self.token(index).await {
            Ok(token) => token,
            Err(answer) => return answer,
        };
        let mut request = self
            .http
            .post(format!("{endpoint}{path}"))
            .timeout(CALL_TIMEOUT)
            .json(body);
        if let Some(token) = token {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => return Answer::PassOver(format!("{endpoint}: {}", without_url(err))),
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(text) => text,
            Err(err) => return Answer::PassOver(format!("{endpoint}: {}", without_url(err))),
        };
        if status.is_success() {
            return Answer::Done(text);
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|answer| answer.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or(text);
        if self.user.is_some() && message.contains("invalid auth token") {
            Answer::BadToken
        } else if status.is_server_error() || unavailable(&message) {
            Answer::PassOver(format!("{endpoint}: {message}"))
        } else if self.user.is_none() && message.contains("user name is empty") {
            Answer::Refused(format!(
                "{message} (the cluster has authentication enabled: give --etcd-user)"
            ))
        } else {
            Answer::Refused(message)
        }
    }

    /// The auth token for member `index` (`None` when no user is configured), asked for once and kept until the
    /// member turns it down. Per member: etcd's default ("simple") tokens are only valid where they were issued.
    async fn token(&self, index: usize) -> std::result::Result<Option<String>, Answer> {
        let Some(user) = &self.user else {
            return Ok(None);
        };
        if let Some(token) = lock(&self.tokens)[index].clone() {
            return Ok(Some(token));
        }
        let endpoint = &self.endpoints[index];
        let body = json!({"name": user.name, "password": user.password});
        let sent = self
            .http
            .post(format!("{endpoint}/v3/auth/authenticate"))
            .timeout(CALL_TIMEOUT)
            .json(&body)
            .send()
            .await;
        let response = sent.map_err(|err| Answer::PassOver(format!("{endpoint}: {}", without_url(err))))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|err| Answer::PassOver(format!("{endpoint}: {}", without_url(err))))?;
        let answer = serde_json::from_str::<Value>(&text).unwrap_or_default();
        if let Some(token) = answer
            .get("token")
            .and_then(Value::as_str)
            .filter(|_| status.is_success())
        {
            lock(&self.tokens)[index] = Some(token.to_owned());
            return Ok(Some(token.to_owned()));
        }
        // etcd answers in JSON, except for a refusal of its own gateway (a plain-text line).
        let message = answer.get("message").and_then(Value::as_str).unwrap_or(text.trim());
        let mut problem = format!("etcd user '{}' cannot log in: {message}", user.name);
        if message.contains("CommonName") {
            problem.push_str(" (with authentication enabled, etcd takes no client certificate with a CN from its gateway: use one without a CN)");
        }
        Err(if status.is_server_error() || unavailable(message) {
            Answer::PassOver(format!("{endpoint}: {problem}"))
        } else {
            Answer::Refused(problem)
        })
    }

    fn forget_token(&self, index: usize) {
        lock(&self.tokens)[index] = None;
    }

    /// Drops every auth token, so the next request logs in again: for the watch, whose stream may end because
    /// its token did.
    pub fn forget_tokens(&self) {
        lock(&self.tokens).fill(None);
    }

    /// Opens a watch of every key from `start` to `end` from `revision` on: the response's body is a stream of
    /// JSON messages, one per line.
    pub async fn watch(&self, start: &[u8], end: &[u8], revision: u64) -> Result<reqwest::Response> {
        let body = json!({"create_request": {
            "key": b64(start), "range_end": b64(end), "start_revision": revision.to_string(),
        }});
        let first = self.current.load(Ordering::Relaxed);
        let mut last_problem = String::from("no endpoint");
        for attempt in 0..self.endpoints.len() {
            let index = (first + attempt) % self.endpoints.len();
            let endpoint = &self.endpoints[index];
            let mut request = self.http.post(format!("{endpoint}/v3/watch")).json(&body);
            match self.token(index).await {
                Ok(Some(token)) => request = request.header(reqwest::header::AUTHORIZATION, token),
                Ok(None) => {}
                Err(Answer::PassOver(problem) | Answer::Refused(problem)) => {
                    last_problem = problem;
                    continue;
                }
                Err(_) => continue,
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    last_problem = format!("{endpoint}: HTTP {}", response.status());
                }
                Err(err) => last_problem = format!("{endpoint}: {}", without_url(err)),
            }
        }
        Err(StoreError::Unavailable(last_problem))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// etcd's ways of saying the cluster cannot serve the request now.
fn unavailable(message: &str) -> bool {
    [
        "no leader",
        "timed out",
        "timeout",
        "not capable",
        "unhealthy",
        "too many requests",
    ]
    .iter()
    .any(|sign| message.contains(sign))
}

/// The error and its causes (a TLS failure is two or three levels down: "error sending request" alone does not
/// tell an operator that the member's certificate was not trusted), without the URL the caller already names.
fn without_url(err: reqwest::Error) -> String {
    let timeout = err.is_timeout();
    let err = err.without_url();
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        cause = inner.source();
    }
    if timeout {
        format!("{text} (no answer within {CALL_TIMEOUT:?})")
    } else {
        text
    }
}
