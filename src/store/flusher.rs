//! Group commit: one thread makes writes durable for everyone waiting.
//!
//! Writers ask for durability and wait; the thread takes every request queued so far, runs one `fsync`-backed
//! `sled::Db::flush` for all of them, and answers them all. Under load that turns N flushes into one.
//!
//! Why not `sled::Db::flush_async`: in sled 0.34 it runs on sled's small I/O thread pool and waits there for log
//! writes that are queued on the same pool; with a few concurrent writers every pool thread ends up waiting and
//! the process hangs (seen here with 8 concurrent API writers). A dedicated thread cannot starve that pool.

use std::sync::mpsc;

use tokio::sync::oneshot;

use super::{Result, StoreError};

type Waiter = oneshot::Sender<std::result::Result<(), String>>;

pub struct Flusher {
    requests: mpsc::Sender<Waiter>,
}

impl Flusher {
    pub fn start(db: sled::Db) -> std::io::Result<Flusher> {
        let (requests, queue) = mpsc::channel::<Waiter>();
        std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || {
                // Ends when the store (and with it the sender) is dropped.
                while let Ok(first) = queue.recv() {
                    let mut waiters = vec![first];
                    waiters.extend(queue.try_iter());
                    let outcome = db.flush().map(drop).map_err(|err| err.to_string());
                    for waiter in waiters {
                        // A waiter that gave up (its request was cancelled) needs no answer.
                        let _ = waiter.send(outcome.clone());
                    }
                }
            })?;
        Ok(Flusher { requests })
    }

    /// Returns once everything written before the call is on disk.
    pub async fn durable(&self) -> Result<()> {
        let (waiter, answer) = oneshot::channel();
        let stopped = || StoreError::Io(std::io::Error::other("the store's flusher thread has stopped"));
        self.requests.send(waiter).map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(|err| StoreError::Io(std::io::Error::other(err)))
    }
}
