//! `canon worker`: pulls batches from the work queue, runs them with the
//! threaded runner's own batch code, stores their results, then acknowledges.
//!
//! A worker trusts nothing it reads from the bus: the program is decoded,
//! verified and its digest recomputed; the machine it builds must give the
//! replay header the run was specified with; its key seed must give the
//! run's key fingerprint. Any mismatch refuses the run (recorded for the
//! coordinator) and terminates the item instead of running it.
//!
//! A batch runs in segments of `checkpoint_every` rounds: at each pause it
//! is checkpointed (`canon_runtime::Batch`, the checkpoint format) to the
//! checkpoints bucket, and a batch redelivered after its worker died resumes
//! from the latest checkpoint — checked for integrity and fit before it is
//! used — instead of starting over. The blocks are the same either way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use canon_bytecode::VerifiedProgram;
use canon_replay::EncodedBlocks;
use canon_runtime::{Batch, BatchSegment, Checkpoint};
use canon_types::hex;
use futures_util::StreamExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::metrics::Metrics;
use crate::store::{LoadedCheckpoint, Stored};
use crate::wire::{BatchResult, BatchSummary, CheckpointManifest, RunSpec, SavedCheckpoint, WorkItem};
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
    /// Checkpoint a running batch every this many rounds (summed over its
    /// groups) to the checkpoints bucket; `None`: never.
    pub checkpoint_every: Option<u64>,
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
            checkpoint_every: options.checkpoint_every,
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
    checkpoint_every: Option<u64>,
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
            // Redelivered after another worker finished it (a checkpoint a
            // slow worker stored meanwhile is of no use any more).
            message.double_ack().await.map_err(|e| ClusterError::Nats(e.to_string()))?;
            let _ = self.cluster.drop_checkpoint(&run, batch).await;
            return Ok(());
        }
        // The latest checkpoint of a batch redelivered after its worker died.
        let stored = match self.cluster.load_checkpoint(&run, batch).await {
            Ok(stored) => stored,
            Err(e) => {
                eprintln!("canon worker {}: batch {batch} of run {run}: its checkpoint is unreadable ({e})", self.name);
                None
            }
        };
        let had_checkpoint = stored.is_some();
        let (spec, factory, program) = (Arc::clone(&self.spec), Arc::clone(&self.factory), Arc::clone(&self.program));
        let name = self.name.clone();
        let started =
            tokio::task::spawn_blocking(move || start_batch(&spec, factory.as_ref(), program, batch, stored, &name))
                .await
                .map_err(|e| ClusterError::Nats(format!("batch {batch} of run {run} panicked: {e}")))?;
        let Started { run: batch_run, summary, blocks, from } = match started {
            Ok(s) => s,
            Err(e) => {
                eprintln!("canon worker {}: batch {batch} of run {run}: {e}", self.name);
                let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
                return Ok(());
            }
        };
        if let Some(m) = &from {
            self.metrics.resumed.inc();
            eprintln!(
                "canon worker {}: resuming batch {batch} of run {run} from its checkpoint at group {} (stored by {})",
                self.name, m.next_group, m.worker
            );
        }
        let (mut latest, mut storing) = (from, true);
        let (saves, mut saved) = tokio::sync::mpsc::channel::<SavedCheckpoint>(1);
        let (every, keys) = (self.checkpoint_every, self.factory.keys());
        let mut compute =
            tokio::task::spawn_blocking(move || finish_batch(batch_run, summary, blocks, every, batch, keys, &saves));
        let mut beat = tokio::time::interval((self.ack_wait / 3).max(Duration::from_millis(100)));
        beat.tick().await;
        let result = loop {
            tokio::select! {
                r = &mut compute => break r,
                Some(checkpoint) = saved.recv(), if storing => {
                    match self.cluster.store_checkpoint(&run, batch, latest.as_ref(), &checkpoint, &self.name).await {
                        Ok(m) => {
                            self.metrics.checkpoints.inc();
                            latest = Some(m);
                        }
                        Err(e) => {
                            // A later checkpoint would lack this one's blocks: keep the latest stored.
                            eprintln!("canon worker {}: batch {batch} of run {run}: storing a checkpoint: {e}; no more checkpoints of it", self.name);
                            storing = false;
                            saved.close();
                        }
                    }
                }
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
        if (had_checkpoint || latest.is_some())
            && let Err(e) = self.cluster.drop_checkpoint(&run, batch).await
        {
            eprintln!("canon worker {}: batch {batch} of run {run}: deleting its checkpoint: {e}", self.name);
        }
        Ok(())
    }
}

/// A batch ready to run: from its start, or resumed from a checkpoint
/// (`from`), with the totals and blocks of what ran before it.
struct Started {
    run: Batch,
    summary: BatchSummary,
    blocks: EncodedBlocks,
    from: Option<CheckpointManifest>,
}

/// Builds the run's machine for `batch` and, given its stored checkpoint,
/// resumes it from there — or, when the checkpoint does not check out,
/// starts the batch over (a checkpoint saves time, it is never needed).
fn start_batch(
    spec: &RunSpec,
    factory: &dyn MachineFactory,
    program: Arc<VerifiedProgram>,
    batch: u32,
    stored: Option<LoadedCheckpoint>,
    name: &str,
) -> Result<Started, String> {
    if let Some(stored) = stored {
        match resume_batch(spec, factory, Arc::clone(&program), batch, &stored) {
            Ok((run, blocks)) => {
                let LoadedCheckpoint { manifest, .. } = stored;
                return Ok(Started { run, summary: manifest.summary.clone(), blocks, from: Some(manifest) });
            }
            Err(e) => {
                eprintln!("canon worker {name}: batch {batch}: not resuming from its checkpoint ({e}); starting over")
            }
        }
    }
    let machine = factory.machine(spec, program)?;
    let run = Batch::start(machine, spec.groups(batch)).map_err(|e| e.to_string())?;
    Ok(Started { run, summary: BatchSummary::default(), blocks: EncodedBlocks::default(), from: None })
}

/// The batch restored from `stored`, checked: its segments are this
/// batch's (every block digest recomputed), the checkpoint file is intact
/// and is of this program, configuration and batch, the segments are the
/// blocks it records, and the totals cover the groups before it.
fn resume_batch(
    spec: &RunSpec,
    factory: &dyn MachineFactory,
    program: Arc<VerifiedProgram>,
    batch: u32,
    stored: &LoadedCheckpoint,
) -> Result<(Batch, EncodedBlocks), String> {
    let groups = spec.groups(batch);
    let mut blocks = EncodedBlocks::default();
    for payload in &stored.segments {
        let segment = BatchResult::decode(payload).map_err(|e| e.to_string())?;
        if segment.batch != batch || segment.first != groups.start as u64 {
            return Err(format!("a segment of batch {} from group {}", segment.batch, segment.first));
        }
        blocks.extend_from(&segment.blocks);
    }
    let checkpoint = Checkpoint::from_bytes(&stored.checkpoint).map_err(|e| e.to_string())?;
    let machine = factory.machine(spec, program)?;
    let run = Batch::resume(machine, groups.clone(), &checkpoint, &blocks).map_err(|e| e.to_string())?;
    let next = run.next_group() as u64;
    let m = &stored.manifest;
    if m.next_group != next || m.summary.groups != next - groups.start as u64 {
        return Err(format!(
            "the manifest says group {} with {} groups finished, the checkpoint is at group {next}",
            m.next_group, m.summary.groups
        ));
    }
    Ok((run, blocks))
}

/// Runs a started batch to its end, handing a checkpoint to `saves` every
/// `every` rounds, and returns its result.
fn finish_batch(
    mut run: Batch,
    mut summary: BatchSummary,
    mut blocks: EncodedBlocks,
    mut every: Option<u64>,
    batch: u32,
    keys: Option<String>,
    saves: &tokio::sync::mpsc::Sender<SavedCheckpoint>,
) -> Result<BatchResult, String> {
    let first = run.groups().start as u64;
    loop {
        match run.run(every, &mut |r| summary.add(r)).map_err(|e| e.to_string())? {
            BatchSegment::Finished(last) => {
                blocks.extend_from(&last);
                return Ok(BatchResult { batch, first, keys, summary, blocks });
            }
            BatchSegment::Paused(segment) => {
                blocks.extend_from(&segment);
                let checkpoint = match run.checkpoint() {
                    Ok(c) => c.to_bytes(),
                    Err(e) => {
                        // A host that cannot save its state: run on without checkpoints.
                        eprintln!("canon worker: batch {batch} cannot be checkpointed ({e}); running it on without");
                        every = None;
                        continue;
                    }
                };
                let count = segment.block_count();
                let segment =
                    BatchResult { batch, first, keys: keys.clone(), summary: BatchSummary::default(), blocks: segment }
                        .encode();
                let saved = SavedCheckpoint {
                    next_group: run.next_group() as u64,
                    summary: summary.clone(),
                    blocks: count,
                    segment,
                    checkpoint,
                };
                // Gone when the batch was released: nothing more is stored.
                let _ = saves.blocking_send(saved);
            }
        }
    }
}
