//! The watch that keeps a [`Replica`] current: from the revision after the last one applied, over every key
//! under the prefix, reconnecting (to the next member if need be) whenever the stream ends, with a fresh auth token when etcd
//! wants a user (the stream may have ended because its token did).

use std::sync::Arc;
use std::time::Duration;

use super::gateway::{Gateway, WatchMessage, prefix_end};
use super::replica::Replica;

/// Pause before reconnecting a watch that ended or could not start.
const RETRY: Duration = Duration::from_millis(500);

pub async fn follow(gateway: Arc<Gateway>, replica: Arc<Replica>) {
    let start = replica.prefix().to_vec();
    let end = prefix_end(&start);
    loop {
        let from = replica.applied() + 1;
        match gateway.watch(&start, &end, from).await {
            Ok(stream) => match read(stream, &replica).await {
                Ok(Ending::Compacted(compacted)) => {
                    tracing::warn!(
                        from,
                        compacted,
                        "etcd compacted changes this instance had not seen; reloading"
                    );
                    match super::load(&gateway, &start).await {
                        Ok((kvs, revision)) => replica.replace(kvs, revision),
                        Err(err) => tracing::warn!("cannot reload the state from etcd: {err}"),
                    }
                }
                Ok(Ending::Closed) => {
                    tracing::debug!("the etcd watch ended; reconnecting");
                    gateway.forget_tokens();
                }
                Err(problem) => {
                    tracing::warn!("the etcd watch failed: {problem}; reconnecting");
                    gateway.forget_tokens();
                }
            },
            Err(err) => tracing::warn!("cannot watch etcd: {err}"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

enum Ending {
    /// The stream ended (the member went away or closed it).
    Closed,
    /// etcd refused to watch from a revision it has compacted away.
    Compacted(u64),
}

/// Applies the stream's messages as they come: JSON objects, one per line.
async fn read(mut stream: reqwest::Response, replica: &Replica) -> Result<Ending, String> {
    let mut pending = Vec::new();
    while let Some(chunk) = stream.chunk().await.map_err(|err| err.without_url().to_string())? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let message: WatchMessage =
                serde_json::from_slice(&line).map_err(|err| format!("cannot read a watch message: {err}"))?;
            if let Some(error) = message.error {
                return Err(error.to_string());
            }
            let Some(result) = message.result else { continue };
            if result.canceled {
                return match result.compact_revision {
                    0 => Ok(Ending::Closed),
                    compacted => Ok(Ending::Compacted(compacted)),
                };
            }
            if !result.events.is_empty() {
                replica.apply(result.events);
            }
        }
    }
    Ok(Ending::Closed)
}
