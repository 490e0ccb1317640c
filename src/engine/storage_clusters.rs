//! The storage clusters' health: every heartbeat interval each recorded storage engine is checked over RESP as
//! 0-orchestrator checks one (`SET`, `GET`, `DEL` of a test key). An engine that stops answering is recorded as
//! `error` with the reason (a change on the event feed), and a job to restart the cluster's engines is written;
//! the job runner carries it out like any other (see `workloads/storage_cluster.rs`).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;

use crate::model::storage_cluster::{StorageCluster, StorageClusterServers, StorageClusterSpec};
use crate::model::{Job, JobAction, now_rfc3339};
use crate::store::{Expect, Store};

/// How long one engine may take to answer a check.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks the engine at `ip:port` over RESP; the reason when it does not work.
pub async fn probe(ip: &str, port: u16) -> Result<(), String> {
    let check = async {
        let client = redis::Client::open(format!("redis://{ip}:{port}/")).map_err(|err| err.to_string())?;
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|err| err.to_string())?;
        let _: () = redis::cmd("SET")
            .arg("keytest")
            .arg("ok")
            .query_async(&mut connection)
            .await
            .map_err(|err| err.to_string())?;
        let read: String = redis::cmd("GET")
            .arg("keytest")
            .query_async(&mut connection)
            .await
            .map_err(|err| err.to_string())?;
        let _: () = redis::cmd("DEL")
            .arg("keytest")
            .query_async(&mut connection)
            .await
            .map_err(|err| err.to_string())?;
        if read == "ok" {
            Ok(())
        } else {
            Err(format!("GET answered '{read}' after SET 'ok'"))
        }
    };
    tokio::time::timeout(PROBE_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {PROBE_TIMEOUT:?}")))
}

#[derive(Clone)]
pub struct Monitor {
    pub store: Store,
    pub interval: Duration,
}

impl Monitor {
    /// Runs checks until `shutdown` flips to true.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        // The repair job last written per cluster, so a second is not written while the first runs.
        let mut repairs: HashMap<String, String> = HashMap::new();
        loop {
            if let Err(err) = self.round(&mut repairs).await {
                tracing::error!(error = %err, "storage cluster health round failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn round(&self, repairs: &mut HashMap<String, String>) -> crate::store::Result<()> {
        for recorded in self.store.all::<StorageClusterServers>()? {
            let Some(cluster) = self.store.get::<StorageCluster>(&recorded.label)? else {
                continue;
            };
            let busy = |job: &str| {
                self.store
                    .get::<Job>(job)
                    .ok()
                    .flatten()
                    .is_some_and(|j| !j.value.state.finished())
            };
            let repairing = repairs.get(&recorded.label).is_some_and(|job| busy(job));
            if cluster.value.deleting || busy(&cluster.value.job) || repairing {
                continue;
            }
            self.check(recorded, &cluster.value, repairs).await?;
        }
        Ok(())
    }

    /// Checks one cluster's engines, records what changed, and asks for a repair if any is down.
    async fn check(
        &self,
        mut recorded: StorageClusterServers,
        cluster: &StorageCluster,
        repairs: &mut HashMap<String, String>,
    ) -> crate::store::Result<()> {
        let answers = join_all(recorded.servers.iter().map(|server| probe(&server.ip, server.port))).await;
        let mut changed = false;
        for (server, answer) in recorded.servers.iter_mut().zip(answers) {
            let (status, reason) = match answer {
                Ok(()) => ("ready", None),
                Err(reason) => ("error", Some(reason)),
            };
            if server.status != status {
                match &reason {
                    Some(reason) => {
                        tracing::warn!(cluster = %recorded.label, node = %server.node, port = server.port, %reason, "storage engine down")
                    }
                    None => {
                        tracing::info!(cluster = %recorded.label, node = %server.node, port = server.port, "storage engine back")
                    }
                }
                server.status = status.to_owned();
                server.reason = reason;
                changed = true;
            }
        }
        let down = recorded.servers.iter().any(|server| server.status != "ready");
        if changed {
            let version = self
                .store
                .get::<StorageClusterServers>(&recorded.label)?
                .map(|r| r.version);
            recorded.updated_at = now_rfc3339();
            let label = recorded.label.clone();
            if let Some(version) = version {
                self.store.put(recorded, Expect::Version(version)).await?;
            }
            if !down {
                repairs.remove(&label);
                return Ok(());
            }
        }
        if down {
            let job = Job::new(
                <StorageClusterSpec as crate::model::Spec>::COLLECTION,
                JobAction::Start,
                &cluster.node,
                &cluster.key,
                &cluster.path(),
            );
            tracing::info!(cluster = %cluster.key, job = %job.id, "restarting the cluster's engines");
            repairs.insert(cluster.key.clone(), job.id.clone());
            self.store.put(job, Expect::Absent).await?;
        }
        Ok(())
    }
}
