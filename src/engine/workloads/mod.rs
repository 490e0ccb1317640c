//! The workload reconciler: runs the orchestrator jobs the API writes, one at a time per workload, until each has
//! succeeded or failed for good.
//!
//! Jobs are picked up from the store's change feed, and at start from the store itself, so a job written just
//! before a crash (or interrupted by one) is run again after the restart. Every step is written so that running
//! it twice does no harm: before creating anything, the node is asked whether it already has it.
//!
//! A node that cannot be reached is retried with backoff; a node that refuses the change (an unknown flist, a
//! name taken) fails the job at once, with the error the API answers.

mod containers;
mod gateways;
mod images;
mod nbd_server;
mod network;
mod storage;
mod storage_cluster;
mod vms;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;

use crate::model::gateway::GatewaySpec;
use crate::model::image::Image;
use crate::model::network::{BridgeSpec, ZerotierJoin};
use crate::model::storage::{FilesystemSpec, SnapshotSpec, StoragePoolSpec};
use crate::model::storage_cluster::StorageClusterSpec;
use crate::model::vm::VmSpec;
use crate::model::{
    ContainerSpec, Job, JobAction, JobError, JobState, Node, Spec, Workload, WorkloadStatus, now_rfc3339,
};
use crate::store::{ChangeKind, Expect, Record, Store, StoreError};
use crate::zos::{Clients, ZosClient, ZosError};

/// Tries before a job whose node cannot be reached is given up.
const MOST_ATTEMPTS: u32 = 8;
/// The longest pause between two tries.
const LONGEST_BACKOFF: Duration = Duration::from_secs(30);

/// Why a step did not complete.
pub enum Failure {
    /// Try again later: the node is unreachable, slow, or the store is busy.
    Transient(String),
    /// The change cannot be made as asked.
    Permanent(JobError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transient(reason) => f.write_str(reason),
            Failure::Permanent(error) => f.write_str(&error.message),
        }
    }
}

impl Failure {
    /// Something the job needs is gone: the API's 404.
    pub fn not_found(message: String) -> Failure {
        Failure::Permanent(JobError::new(404, "not_found", message, None))
    }
}

impl From<ZosError> for Failure {
    fn from(err: ZosError) -> Failure {
        match err {
            ZosError::Command { message, .. } => Failure::Permanent(node_refused(&message)),
            ZosError::AuthRefused(message) => {
                Failure::Permanent(JobError::new(502, "node_auth_refused", message, None))
            }
            other => Failure::Transient(other.to_string()),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Failure {
        Failure::Transient(err.to_string())
    }
}

/// A node's refusal, in API terms: what the caller got wrong (400/409/507) where the node's message says so.
fn node_refused(message: &str) -> JobError {
    let (status, code, field) = if message.contains("failed to download flist") {
        (400, "unknown_flist", Some("flist"))
    } else if message.contains("port") && message.contains("already in use") {
        (409, "port_in_use", Some("ports"))
    } else if message.contains("cannot open /dev/") {
        (400, "unknown_device", Some("devices"))
    } else if message.contains("device in use") {
        (409, "device_in_use", Some("devices"))
    } else if message.contains("No space left on device") {
        (507, "no_space", Some("quota"))
    } else if message.contains("not enough memory") {
        (409, "not_enough_memory", Some("memory"))
    } else if message.contains("already exists") {
        (409, "already_exists", Some("name"))
    } else {
        (502, "node_command_failed", None)
    };
    JobError::new(status, code, format!("the node refused: {message}"), field)
}

/// A kind's reconciler (its `apply`), its future boxed so that every kind fits one row shape.
type Reconcile = for<'a, 'r> fn(&'a mut Step<'r>, &'a ZosClient) -> BoxFuture<'a, Result<(), Failure>>;

/// Where a kind's jobs do their work.
enum Reconciler {
    /// On the job's node, through its 0-core client.
    OnNode(Reconcile),
    /// Off any node (an image: its URL and the storage engines).
    OffNode(for<'a, 'r> fn(&'a mut Step<'r>) -> BoxFuture<'a, Result<(), Failure>>),
}

/// One kind of workload the runner knows: a row of `KINDS`. Everything but `reconcile` follows from the kind's
/// `Spec`, so a new kind is its reconciler's file and one `kind::<S>(…)` row.
struct Kind {
    /// Its store collection, which is also its jobs' `kind`.
    collection: &'static str,
    /// The body field holding its name (`Spec::NAME_FIELD`), for a node's "already exists".
    name_field: &'static str,
    /// Converges the node (or, off nodes, the storage) towards the desired record the job is about.
    reconcile: Reconciler,
    /// Removes what a failed creation (or migration) left in the store.
    forget: for<'a, 'r> fn(&'a Step<'r>) -> BoxFuture<'a, Result<(), Failure>>,
    /// Writes the jobs a crash lost (see `Runner::adopt_orphans`).
    adopt: for<'a> fn(&'a Runner) -> BoxFuture<'a, crate::store::Result<()>>,
}

const fn kind<S: Spec>(reconcile: Reconcile) -> Kind {
    Kind {
        collection: S::COLLECTION,
        name_field: S::NAME_FIELD,
        reconcile: Reconciler::OnNode(reconcile),
        forget: |step| Box::pin(step.remove::<S>()),
        adopt: |runner| Box::pin(runner.adopt_orphans::<S>()),
    }
}

/// Every kind the runner converges.
static KINDS: &[Kind] = &[
    kind::<ContainerSpec>(|step, client| Box::pin(containers::apply(step, client))),
    kind::<StoragePoolSpec>(|step, client| Box::pin(storage::apply_pool(step, client))),
    kind::<FilesystemSpec>(|step, client| Box::pin(storage::apply_filesystem(step, client))),
    kind::<SnapshotSpec>(|step, client| Box::pin(storage::apply_snapshot(step, client))),
    kind::<BridgeSpec>(|step, client| Box::pin(network::apply_bridge(step, client))),
    kind::<ZerotierJoin>(|step, client| Box::pin(network::apply_zerotier(step, client))),
    kind::<VmSpec>(|step, client| Box::pin(vms::apply(step, client))),
    kind::<StorageClusterSpec>(|step, client| Box::pin(storage_cluster::apply(step, client))),
    kind::<GatewaySpec>(|step, client| Box::pin(gateways::apply(step, client))),
    Kind {
        collection: Image::COLLECTION,
        name_field: "imageName",
        reconcile: Reconciler::OffNode(|step| Box::pin(images::apply(step))),
        forget: |step| Box::pin(images::remove(step)),
        adopt: |runner| Box::pin(images::adopt_orphans(runner)),
    },
];

/// The row of the jobs of `collection`.
fn kind_of(collection: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|kind| kind.collection == collection)
}

/// What a job's step may use, and how it reports progress.
pub struct Step<'a> {
    runner: &'a Runner,
    job: Job,
    version: u64,
}

impl Step<'_> {
    /// Records how far the job is, for the API and the UI.
    pub async fn progress(&mut self, percent: u8, step: &str) -> Result<(), Failure> {
        tracing::debug!(job = %self.job.id, percent, step, "job progress");
        self.job.progress = percent;
        self.job.step = step.to_owned();
        self.save().await
    }

    async fn save(&mut self) -> Result<(), Failure> {
        self.job.updated_at = now_rfc3339();
        let saved = self
            .runner
            .store
            .put(self.job.clone(), Expect::Version(self.version))
            .await?;
        self.version = saved.version;
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.runner.store
    }

    /// The desired record this job is about; `None` when it is gone and the job was a deletion (nothing left
    /// to do), a 404 failure when it is gone otherwise.
    pub fn desired<S: Spec>(&self) -> Result<Option<Workload<S>>, Failure> {
        match self.store().get::<Workload<S>>(&self.job.target)? {
            Some(record) => Ok(Some(record.value)),
            None if self.job.action == JobAction::Delete => Ok(None),
            None => Err(Failure::not_found(format!(
                "{} '{}' was deleted meanwhile",
                S::COLLECTION,
                self.job.target
            ))),
        }
    }

    /// The node has let go of the workload: forget its observed state and its record.
    pub async fn remove<S: Spec>(&self) -> Result<(), Failure> {
        self.observed(None).await?;
        self.store().delete::<Workload<S>>(&self.job.target, None).await?;
        Ok(())
    }

    /// The end of a migration, once the node `source` has let go of `workload`: its record there (and what was
    /// observed of it) goes, and the record at its new home forgets where it came from.
    pub async fn forget_source<S: Spec>(&self, source: &str, workload: &Workload<S>) -> Result<(), Failure> {
        let old = Workload::<S>::key(source, &workload.parents, workload.spec.name());
        let store = self.store();
        store
            .delete::<WorkloadStatus>(&format!("{}/{old}", S::COLLECTION), None)
            .await?;
        store.delete::<Workload<S>>(&old, None).await?;
        if let Some(current) = store.get::<Workload<S>>(&workload.key)? {
            let mut moved = current.value;
            moved.moved_from = None;
            store.put(moved, Expect::Version(current.version)).await?;
        }
        Ok(())
    }

    /// The 0-core client of another node than the job's (a VM's old node while it migrates).
    pub fn client_for(&self, node: &str) -> Result<Arc<ZosClient>, Failure> {
        let node = self
            .store()
            .get::<Node>(node)?
            .ok_or_else(|| Failure::not_found(format!("node '{node}' not found")))?;
        Ok(self.runner.clients.get(&node.value.address)?)
    }

    /// Removes what a failed creation (or migration) left in the store.
    async fn forget(&self) -> Result<(), Failure> {
        match kind_of(&self.job.kind) {
            Some(kind) => (kind.forget)(self).await,
            None => Ok(()),
        }
    }

    /// Records what the node now has of the workload (`None`: nothing).
    pub async fn observed(&self, status: Option<(&str, Option<u64>)>) -> Result<(), Failure> {
        let id = format!("{}/{}", self.job.kind, self.job.target);
        let store = &self.runner.store;
        let current = store.get::<WorkloadStatus>(&id)?;
        match (status, current) {
            (None, Some(_)) => {
                store.delete::<WorkloadStatus>(&id, None).await?;
            }
            (None, None) => {}
            (Some((status, core_id)), current) => {
                let record = WorkloadStatus {
                    id,
                    status: status.to_owned(),
                    core_id,
                    updated_at: now_rfc3339(),
                };
                let expect = Expect::after(current.as_ref());
                store.put(record, expect).await?;
            }
        }
        Ok(())
    }
}

/// How old a change without a job must be to be taken for one a crash cut short (see `adopt_orphans`).
const ORPHAN_AGE: Duration = Duration::from_secs(10);

pub struct Runner {
    store: Store,
    clients: Arc<Clients>,
    /// Jobs being run now, so the feed and the start-up scan never run one twice.
    running: Mutex<HashSet<String>>,
    /// One lock per workload: its jobs run one after the other, in the order they were written.
    workloads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Runner {
    pub fn new(store: Store, clients: Arc<Clients>) -> Arc<Runner> {
        Arc::new(Runner {
            store,
            clients,
            running: Mutex::default(),
            workloads: Mutex::default(),
        })
    }

    /// Runs jobs until the store's feed closes: the unfinished ones found at start, then each new one. The jobs
    /// run in a set this future owns: dropping it (the engine's term ending) cancels them where they wait, as
    /// a crash would, and the next runner resumes them.
    pub async fn run(self: Arc<Self>) {
        let mut changes = self.store.watch();
        let mut jobs = JoinSet::new();
        if let Err(err) = self.adopt_all_orphans().await {
            tracing::error!(error = %err, "cannot check workloads for lost jobs");
        }
        // The changes too young to judge at start are looked at again once they are not.
        let again = self.clone();
        jobs.spawn(async move {
            tokio::time::sleep(ORPHAN_AGE).await;
            if let Err(err) = again.adopt_all_orphans().await {
                tracing::error!(error = %err, "cannot check workloads for lost jobs");
            }
        });
        self.resume_unfinished(&mut jobs);
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) if change.collection == Job::COLLECTION && change.kind == ChangeKind::Created => {
                        self.clone().spawn(&mut jobs, change.id);
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => self.resume_unfinished(&mut jobs),
                    Err(RecvError::Closed) => return,
                },
                Some(_) = jobs.join_next(), if !jobs.is_empty() => {}
            }
        }
    }

    async fn adopt_all_orphans(&self) -> crate::store::Result<()> {
        for kind in KINDS {
            (kind.adopt)(self).await?;
        }
        Ok(())
    }

    /// The API writes a change as two durable writes, the desired record and then its job. A crash between them
    /// leaves a record whose job does not exist: its job is written now, under the id the record names, so the
    /// change is made after all (the caller never got an answer, so either outcome is honest; this one loses
    /// nothing). A record younger than [`ORPHAN_AGE`] is left alone: it may be a request between its two writes
    /// on this very instance (the API answers while the runner starts), whose own job write would then fail.
    async fn adopt_orphans<S: Spec>(&self) -> crate::store::Result<()> {
        let now = Job::now_millis();
        for workload in self.store.all::<Workload<S>>()? {
            let young = Job::made_at_millis(&workload.job)
                .is_some_and(|made| now.saturating_sub(made) < ORPHAN_AGE.as_millis() as u64);
            if workload.job.is_empty() || young || self.store.get::<Job>(&workload.job)?.is_some() {
                continue;
            }
            let observed = self.store.get::<WorkloadStatus>(&workload.status_id())?.is_some();
            let action = match (workload.deleting, observed, workload.running) {
                (true, _, _) => JobAction::Delete,
                (false, false, _) => JobAction::Create,
                (false, true, true) => JobAction::Start,
                (false, true, false) => JobAction::Stop,
            };
            let mut job = Job::new(S::COLLECTION, action, &workload.node, &workload.key, &workload.path());
            job.id = workload.job.clone();
            tracing::warn!(job = %job.id, target = %job.target, ?action, "a change had no job (crash between two writes); adding it");
            self.store.put(job, Expect::Absent).await?;
        }
        Ok(())
    }

    fn resume_unfinished(self: &Arc<Self>, jobs: &mut JoinSet<()>) {
        match self.store.all::<Job>() {
            Ok(all) => {
                for job in all.into_iter().filter(|job| !job.state.finished()) {
                    tracing::info!(job = %job.id, target = %job.target, action = ?job.action, "resuming job");
                    self.clone().spawn(jobs, job.id);
                }
            }
            Err(err) => tracing::error!(error = %err, "cannot read unfinished jobs"),
        }
    }

    fn spawn(self: Arc<Self>, jobs: &mut JoinSet<()>, id: String) {
        if !self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone())
        {
            return;
        }
        jobs.spawn(async move {
            self.execute(&id).await;
            self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }

    async fn execute(&self, id: &str) {
        let Ok(Some(first)) = self.store.get::<Job>(id) else {
            return;
        };
        let workload = self
            .workloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(first.value.target.clone())
            .or_default()
            .clone();
        let _turn = workload.lock().await;
        let mut backoff = Duration::from_millis(500);
        loop {
            let Ok(Some(current)) = self.store.get::<Job>(id) else {
                return;
            };
            if current.value.state.finished() {
                return;
            }
            let mut step = Step {
                runner: self,
                version: current.version,
                job: current.value,
            };
            step.job.state = JobState::Running;
            step.job.attempts += 1;
            let outcome = match step.save().await {
                Ok(()) => self.apply(&mut step).await,
                Err(failure) => Err(failure),
            };
            let finished = match outcome {
                Ok(()) => Some(None),
                Err(Failure::Permanent(error)) => Some(Some(error)),
                Err(Failure::Transient(reason)) if step.job.attempts >= MOST_ATTEMPTS => Some(Some(JobError::new(
                    504,
                    "node_unavailable",
                    format!("gave up after {} tries: {reason}", step.job.attempts),
                    None,
                ))),
                Err(Failure::Transient(reason)) => {
                    tracing::warn!(job = %id, attempt = step.job.attempts, %reason, "job step failed; will retry");
                    let _ = step.progress(step.job.progress, &format!("retrying: {reason}")).await;
                    None
                }
            };
            if let Some(error) = finished {
                self.finish(step, error).await;
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(LONGEST_BACKOFF);
        }
    }

    async fn finish(&self, mut step: Step<'_>, error: Option<JobError>) {
        if let Some(error) = &error {
            tracing::warn!(job = %step.job.id, target = %step.job.target, code = %error.code, message = %error.message, "job failed");
            // A creation that failed leaves nothing behind: the caller may try again with the same name.
            if matches!(step.job.action, JobAction::Create | JobAction::Migrate)
                && let Err(err) = step.forget().await
            {
                tracing::error!(job = %step.job.id, error = %err, "cannot remove the failed workload");
            }
        } else {
            tracing::info!(job = %step.job.id, target = %step.job.target, action = ?step.job.action, "job succeeded");
        }
        step.job.state = if error.is_some() {
            JobState::Failed
        } else {
            JobState::Succeeded
        };
        step.job.progress = if error.is_some() { step.job.progress } else { 100 };
        step.job.step = if error.is_some() { "failed" } else { "done" }.into();
        step.job.error = error;
        // The job record is the only trace of the outcome: keep trying until it is written.
        while let Err(Failure::Transient(reason)) = step.save().await {
            tracing::error!(job = %step.job.id, %reason, "cannot record the job's outcome; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn apply(&self, step: &mut Step<'_>) -> Result<(), Failure> {
        let kind = kind_of(&step.job.kind).ok_or_else(|| {
            Failure::Permanent(JobError::new(
                500,
                "internal",
                format!("no reconciler for '{}'", step.job.kind),
                None,
            ))
        })?;
        let applied = match kind.reconcile {
            Reconciler::OnNode(reconcile) => {
                let node = self
                    .store
                    .get::<Node>(&step.job.node)?
                    .ok_or_else(|| Failure::not_found(format!("node '{}' not found", step.job.node)))?;
                let client: Arc<ZosClient> = self.clients.get(&node.value.address)?;
                reconcile(step, &client).await
            }
            Reconciler::OffNode(reconcile) => reconcile(step).await,
        };
        // A node's "already exists" is about the workload's name, whichever field holds it for this kind.
        applied.map_err(|failure| match failure {
            Failure::Permanent(mut error) if error.field.as_deref() == Some("name") => {
                error.field = Some(kind.name_field.to_owned());
                Failure::Permanent(error)
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crash between the desired record and its job: at start the job is written under the id the record
    /// names, with the action the record's state calls for.
    #[tokio::test]
    async fn a_record_whose_job_was_lost_gets_its_job_at_start() {
        let (_dir, store) = Store::scratch();
        let spec: ContainerSpec =
            serde_json::from_value(serde_json::json!({"name": "web", "flist": "https://hub/x.flist"})).unwrap();
        let mut created = Workload::new("n1", Vec::new(), spec.clone());
        created.job = "lost-create".into();
        let mut deleted = Workload::new(
            "n1",
            Vec::new(),
            ContainerSpec {
                name: "old".into(),
                ..spec.clone()
            },
        );
        deleted.job = "lost-delete".into();
        deleted.deleting = true;
        // Written just now: as far as the runner can tell, a request between its two writes.
        let mut young = Workload::new(
            "n1",
            Vec::new(),
            ContainerSpec {
                name: "young".into(),
                ..spec
            },
        );
        young.job = Job::new("containers", JobAction::Create, "n1", "n1/young", "/x").id;
        store.put(created, Expect::Absent).await.unwrap();
        store.put(deleted, Expect::Absent).await.unwrap();
        store.put(young.clone(), Expect::Absent).await.unwrap();
        let runner = Runner::new(store.clone(), Arc::new(Clients::new(Duration::from_secs(1))));
        runner.adopt_all_orphans().await.unwrap();
        assert!(
            store.get::<Job>(&young.job).unwrap().is_none(),
            "a young change is not adopted"
        );
        let job = store
            .get::<Job>("lost-create")
            .unwrap()
            .expect("the lost job is written")
            .value;
        assert_eq!(
            (job.action, job.state, job.target.as_str()),
            (JobAction::Create, JobState::Queued, "n1/web")
        );
        let job = store
            .get::<Job>("lost-delete")
            .unwrap()
            .expect("the lost job is written")
            .value;
        assert_eq!(job.action, JobAction::Delete);
        runner.adopt_all_orphans().await.unwrap();
        assert_eq!(store.all::<Job>().unwrap().len(), 2, "nothing twice");
    }
}
