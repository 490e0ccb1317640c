//! The emulator's Redis endpoint: one task per connection, speaking RESP to the keyspace, with 0-core's
//! `AUTH` rule (with a password set, every command but AUTH is refused until it succeeds).

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::keyspace::Keyspace;
use super::resp::{Reply, parse_request};

pub async fn serve(listener: TcpListener, keyspace: Arc<Keyspace>, password: Option<String>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (keyspace, password) = (keyspace.clone(), password.clone());
        tokio::spawn(async move {
            if let Err(err) = connection(stream, &keyspace, password.as_deref()).await {
                tracing::debug!(error = %err, "emulated node: connection ended");
            }
        });
    }
}

async fn connection(mut stream: TcpStream, keyspace: &Keyspace, password: Option<&str>) -> std::io::Result<()> {
    let mut buffer = BytesMut::with_capacity(4096);
    let mut authenticated = password.is_none();
    loop {
        let request = loop {
            match parse_request(&mut buffer) {
                Ok(Some(request)) => break request,
                Ok(None) => {
                    if stream.read_buf(&mut buffer).await? == 0 {
                        return Ok(());
                    }
                }
                Err(reason) => {
                    let mut out = Vec::new();
                    Reply::Error(format!("ERR Protocol error: {reason}")).encode(&mut out);
                    stream.write_all(&out).await?;
                    return Ok(());
                }
            }
        };
        let name = String::from_utf8_lossy(&request[0]).to_ascii_uppercase();
        let reply = if name == "AUTH" {
            let given = request.last().map(|p| String::from_utf8_lossy(p).into_owned());
            match (password, given) {
                (None, _) => Reply::Error("ERR Client sent AUTH, but no password is set".into()),
                (Some(expected), Some(given)) if request.len() >= 2 && given == expected => {
                    authenticated = true;
                    Reply::Status("OK")
                }
                _ => Reply::Error("ERR invalid password".into()),
            }
        } else if !authenticated {
            Reply::Error("NOAUTH permission denied, call AUTH".into())
        } else if name == "QUIT" {
            stream.write_all(b"+OK\r\n").await?;
            return Ok(());
        } else {
            execute(keyspace, &name, &request[1..]).await
        };
        let mut out = Vec::new();
        reply.encode(&mut out);
        stream.write_all(&out).await?;
    }
}

fn wrong_args(name: &str) -> Reply {
    Reply::Error(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

fn integer(arg: &[u8]) -> Option<i64> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// A blocking timeout in seconds (fractions allowed); 0 blocks forever.
fn block_timeout(arg: &[u8]) -> Option<Option<Duration>> {
    let seconds: f64 = std::str::from_utf8(arg).ok()?.parse().ok()?;
    (seconds >= 0.0).then(|| (seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
}

async fn execute(keyspace: &Keyspace, name: &str, args: &[Vec<u8>]) -> Reply {
    let bulk = |value: Option<Vec<u8>>| Reply::Bulk(value);
    match (name, args) {
        ("PING", []) => Reply::Status("PONG"),
        ("PING", [message]) => bulk(Some(message.clone())),
        ("SELECT", [_]) | ("CLIENT", [..]) => Reply::Status("OK"),
        ("RPUSH", [key, values @ ..]) if !values.is_empty() => {
            Reply::Integer(keyspace.rpush(key, values.to_vec()) as i64)
        }
        ("LPOP", [key]) => bulk(keyspace.lpop(key)),
        ("RPOPLPUSH", [source, destination]) => bulk(keyspace.rpoplpush(source, destination)),
        ("BRPOPLPUSH", [source, destination, timeout]) => match block_timeout(timeout) {
            Some(timeout) => bulk(keyspace.brpoplpush(source, destination, timeout).await),
            None => Reply::Error("ERR timeout is not a float or out of range".into()),
        },
        ("BLPOP", [keys @ .., timeout]) if !keys.is_empty() => match block_timeout(timeout) {
            Some(timeout) => match keyspace.blpop(keys, timeout).await {
                Some((key, value)) => Reply::Array(Some(vec![bulk(Some(key)), bulk(Some(value))])),
                None => Reply::Array(None),
            },
            None => Reply::Error("ERR timeout is not a float or out of range".into()),
        },
        ("EXPIRE", [key, seconds]) => match integer(seconds) {
            Some(seconds) if seconds >= 0 => Reply::Integer(keyspace.expire(key, seconds as u64) as i64),
            _ => Reply::Error("ERR value is not an integer or out of range".into()),
        },
        ("TTL", [key]) => Reply::Integer(keyspace.ttl(key)),
        ("EXISTS", keys) if !keys.is_empty() => {
            Reply::Integer(keys.iter().filter(|k| keyspace.exists(k)).count() as i64)
        }
        ("DEL", keys) if !keys.is_empty() => Reply::Integer(keys.iter().filter(|k| keyspace.del(k)).count() as i64),
        ("LLEN", [key]) => Reply::Integer(keyspace.range(key, 0, -1).len() as i64),
        ("LRANGE", [key, start, stop]) => match (integer(start), integer(stop)) {
            (Some(start), Some(stop)) => Reply::Array(Some(
                keyspace
                    .range(key, start, stop)
                    .into_iter()
                    .map(|v| bulk(Some(v)))
                    .collect(),
            )),
            _ => Reply::Error("ERR value is not an integer or out of range".into()),
        },
        (
            "PING" | "SELECT" | "RPUSH" | "LPOP" | "RPOPLPUSH" | "BRPOPLPUSH" | "BLPOP" | "EXPIRE" | "TTL" | "EXISTS"
            | "DEL" | "LLEN" | "LRANGE",
            _,
        ) => wrong_args(name),
        _ => Reply::Error(format!("ERR unknown command '{}'", name.to_ascii_lowercase())),
    }
}
