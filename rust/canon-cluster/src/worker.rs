//! `canon worker`: pulls batches from the work queue, runs them with the
//! threaded runner's own batch code, stores their results, then acknowledges.
//!
//! A worker trusts nothing it reads from the bus: the program is decoded,
//! verified and its digest recomputed; the machine it builds must give the
//! replay header the run was specified with; its key seed must give the
//! run's key fingerprint. Any mismatch refuses the run (recorded for the
//! coordinator) and terminates the item instead of running it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use canon_bytecode::VerifiedProgram;
use futures_util::StreamExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::metrics::Metrics;
use crate::store::Stored;
use crate::wire::{BatchResult, BatchSummary, RunSpec, WorkItem, hex};
use crate::{Cluster, ClusterError, MachineFactory};

/// How a worker runs.
#[derive(Clone)]
pub struct WorkerOptions {
    /// Batches run at once (each on its own thread).
    pub concurrency: usize,
    /// The consumer's ack deadline (when this worker creates it); a running
    /// batch is kept alive by progress signals every third of it.
    pub ack_wait: Duration,
    /// After SIGTERM, how long running batches may take to finish before
    /// they are released to other workers.
    pub grace: Duration,
    /// This worker's name, in manifests and refusals.
    pub name: String,
    /// Stop after this many batches (for tests and benchmarks).
    pub max_batches: Option<u64>,
}

/// What a worker knows about one run: ready to run, or refused.
#[derive(Clone)]
enum RunState {
    Ready { spec: Arc<RunSpec>, program: Arc<VerifiedProgram> },
    Refused(String),
}

/// Runs a worker until `shutdown` turns true (SIGTERM), `max_batches` are
/// done or the connection is lost for good.
pub async fn run_worker(
    cluster: Cluster,
    factory: Arc<dyn MachineFactory>,
    options: WorkerOptions,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ClusterError> {
    let consumer = cluster.work_consumer(options.ack_wait).await?;
    let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut runs: BTreeMap<String, RunState> = BTreeMap::new();
    let mut tasks = JoinSet::new();
    let mut taken = 0u64;
    let (release_tx, release_rx) = watch::channel(false);
    eprintln!("canon worker {}: pulling work from {}", options.name, cluster.url());
    loop {
        if *shutdown.borrow() || options.max_batches.is_some_and(|m| taken >= m) {
            break;
        }
        while let Some(done) = tasks.try_join_next() {
            report(done);
        }
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => p.expect("the semaphore is never closed"),
            _ = shutdown.changed() => break,
        };
        let fetched = tokio::select! {
            f = fetch_one(&consumer) => f,
            _ = shutdown.changed() => break,
        };
        let Some(message) = fetched? else { continue };
        let item: WorkItem = match serde_json::from_slice(&message.payload) {
            Ok(item) => item,
            Err(e) => {
                eprintln!("canon worker {}: dropping a malformed work item: {e}", options.name);
                let _ = message.ack_with(AckKind::Term).await;
                continue;
            }
        };
        let state = match runs.get(&item.run) {
            Some(s) => s.clone(),
            None => {
                let s = prepare(&cluster, factory.as_ref(), &item.run, &options.name).await?;
                runs.insert(item.run.clone(), s.clone());
                s
            }
        };
        let (spec, program) = match state {
            RunState::Ready { spec, program } => (spec, program),
            RunState::Refused(reason) => {
                eprintln!("canon worker {}: refusing batch {} of run {}: {reason}", options.name, item.batch, item.run);
                metrics.refused.inc();
                let _ = message.ack_with(AckKind::Term).await;
                continue;
            }
        };
        taken += 1;
        let job = Job {
            cluster: cluster.clone(),
            factory: Arc::clone(&factory),
            spec,
            program,
            item,
            name: options.name.clone(),
            ack_wait: options.ack_wait,
            metrics: metrics.clone(),
        };
        let release = release_rx.clone();
        tasks.spawn(async move {
            let _permit = permit;
            job.run(message, release).await
        });
    }
    // Finish what is running, for at most the grace period; then release it.
    let drain = async {
        while let Some(done) = tasks.join_next().await {
            report(done);
        }
    };
    if tokio::time::timeout(options.grace, drain).await.is_err() {
        eprintln!("canon worker {}: releasing unfinished batches to other workers", options.name);
        let _ = release_tx.send(true);
        while let Some(done) = tasks.join_next().await {
            report(done);
        }
    }
    eprintln!("canon worker {}: stopped", options.name);
    Ok(())
}

fn report(done: Result<Result<(), ClusterError>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("canon worker: {e}"),
        Err(e) => eprintln!("canon worker: a batch task failed: {e}"),
    }
}

/// One message, or none within a second.
async fn fetch_one(consumer: &async_nats::jetstream::consumer::PullConsumer) -> Result<Option<Message>, ClusterError> {
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .map_err(|e| ClusterError::Nats(e.to_string()))?;
    match batch.next().await {
        Some(Ok(m)) => Ok(Some(m)),
        Some(Err(e)) => {
            eprintln!("canon worker: fetching work: {e}");
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// Fetches and checks everything about a run once: the specification, the
/// program (decoded, verified, digest recomputed), the key fingerprint and
/// the machine's replay header.
async fn prepare(
    cluster: &Cluster,
    factory: &dyn MachineFactory,
    run: &str,
    worker: &str,
) -> Result<RunState, ClusterError> {
    let refuse = |reason: String| async move {
        eprintln!("canon worker {worker}: refusing run {run}: {reason}");
        cluster.refuse(run, worker, &reason).await?;
        Ok::<RunState, ClusterError>(RunState::Refused(reason))
    };
    let Some(spec) = cluster.spec(run).await? else {
        return refuse("no specification on the server".into()).await;
    };
    let Some(bytes) = cluster.program_bytes(&spec.program).await? else {
        return refuse(format!("program {} is not in the program store", spec.program)).await;
    };
    let program = match canon_bytecode::decode(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|m| canon_bytecode::verify(m).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => return refuse(format!("program {} does not decode and verify: {e}", spec.program)).await,
    };
    let digest = hex(&program.digest());
    if digest != spec.program {
        return refuse(format!(
            "program digest mismatch: the run names {}, the stored bytes are {digest}",
            spec.program
        ))
        .await;
    }
    if spec.keys != factory.keys() && spec.keys.is_some() {
        return refuse(format!(
            "key seed mismatch: the run's verifying-key fingerprint is {}, this worker's is {}",
            spec.keys.as_deref().unwrap_or("none"),
            factory.keys().as_deref().unwrap_or("none (no key seed)")
        ))
        .await;
    }
    let program = Arc::new(program);
    let machine = match factory.machine(&spec, Arc::clone(&program)) {
        Ok(m) => m,
        Err(e) => return refuse(format!("cannot build the machine: {e}")).await,
    };
    let header = crate::coordinator::header_digest(&machine);
    if header != spec.header {
        return refuse(format!(
            "replay header mismatch: the run's is {}, this worker's machine gives {header}",
            spec.header
        ))
        .await;
    }
    Ok(RunState::Ready { spec: Arc::new(spec), program })
}

struct Job {
    cluster: Cluster,
    factory: Arc<dyn MachineFactory>,
    spec: Arc<RunSpec>,
    program: Arc<VerifiedProgram>,
    item: WorkItem,
    name: String,
    ack_wait: Duration,
    metrics: Metrics,
}

impl Job {
    /// Runs the batch (signalling progress so the item is not redelivered
    /// while it runs), stores the result, acknowledges. Released (nak'd) if
    /// `release` turns true first.
    async fn run(self, message: Message, mut release: watch::Receiver<bool>) -> Result<(), ClusterError> {
        let (run, batch) = (self.item.run.clone(), self.item.batch);
        if batch >= self.spec.batches() {
            eprintln!("canon worker {}: run {run} has no batch {batch}", self.name);
            let _ = message.ack_with(AckKind::Term).await;
            return Ok(());
        }
        if self.cluster.manifest(&run, batch).await?.is_some() {
            // Redelivered after another worker finished it.
            message.double_ack().await.map_err(|e| ClusterError::Nats(e.to_string()))?;
            return Ok(());
        }
        let (spec, factory, program) = (Arc::clone(&self.spec), Arc::clone(&self.factory), Arc::clone(&self.program));
        let mut compute = tokio::task::spawn_blocking(move || run_batch(&spec, factory.as_ref(), program, batch));
        let mut beat = tokio::time::interval((self.ack_wait / 3).max(Duration::from_millis(100)));
        beat.tick().await;
        let result = loop {
            tokio::select! {
                r = &mut compute => break r,
                _ = beat.tick() => { let _ = message.ack_with(AckKind::Progress).await; }
                _ = release.changed() => {
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                    return Ok(());
                }
            }
        };
        let result = match result {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                eprintln!("canon worker {}: batch {batch} of run {run}: {e}", self.name);
                let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
                return Ok(());
            }
            Err(e) => return Err(ClusterError::Nats(format!("batch {batch} of run {run} panicked: {e}"))),
        };
        let payload = result.encode();
        match self.cluster.store_result(&run, batch, &payload, &self.name).await? {
            Stored::New => {
                self.metrics.record(&result.summary, payload.len() as u64);
            }
            Stored::Duplicate => {
                self.metrics.duplicates.inc();
            }
            Stored::Conflict(c) => {
                eprintln!(
                    "canon worker {}: determinism violation in run {run} batch {batch}: stored {}, this worker got {}",
                    self.name, c.kept, c.other
                );
            }
        }
        message.double_ack().await.map_err(|e| ClusterError::Nats(e.to_string()))?;
        Ok(())
    }
}

/// Builds the run's machine and runs one batch of it.
fn run_batch(
    spec: &RunSpec,
    factory: &dyn MachineFactory,
    program: Arc<VerifiedProgram>,
    batch: u32,
) -> Result<BatchResult, String> {
    let mut machine = factory.machine(spec, program)?;
    let groups = spec.groups(batch);
    let mut summary = BatchSummary::default();
    let first = groups.start as u64;
    let blocks = canon_runtime::run_groups(&mut machine, groups, &mut |r| summary.add(r));
    Ok(BatchResult { batch, first, keys: factory.keys(), summary, blocks })
}
