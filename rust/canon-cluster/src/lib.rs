//! canon on many machines: one run's groups, in batches, over NATS JetStream.
//!
//! Groups share nothing and a replay block never spans groups, so a run of K
//! instances splits into batches of consecutive groups that any process can
//! run — with the same code the threaded runner uses
//! ([`canon_runtime::run_groups`]) — and whose encoded blocks, appended in
//! group order ([`canon_replay::ReplayWriter::append`]), give exactly the
//! bytes of a local run. This crate only schedules batches and moves bytes:
//!
//! - [`Cluster`] connects (with a bounded retry) and creates what a run needs
//!   on the server: the work-queue stream, the workers' pull consumer, the
//!   program object store and three key-value buckets;
//! - [`coordinator`] publishes a run and collects its results in group order;
//! - [`worker`] pulls batches, runs them and stores their results; a long
//!   batch is checkpointed at round boundaries, and a redelivered batch
//!   resumes from its latest checkpoint.
//!
//! The machine, runners and replay stay synchronous and free of networking;
//! nothing here is a dependency of them. See `docs/cluster.md`.

pub mod coordinator;
pub mod metrics;
pub mod store;
pub mod wire;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};
use canon_bytecode::VerifiedProgram;
use canon_runtime::Machine;

pub use coordinator::{Collected, Submission, coordinate};
pub use wire::{BatchResult, BatchSummary, RunSpec, WorkItem};
pub use worker::{WorkerOptions, run_worker};

/// The work-queue stream and the subjects of its items.
pub const WORK_STREAM: &str = "CANON_WORK";
pub const WORK_SUBJECT: &str = "canon.work";
/// The durable pull consumer every worker shares.
pub const WORKER_CONSUMER: &str = "canon-workers";
/// Programs, by the hex SHA-256 of their canonical encoding.
pub const PROGRAM_BUCKET: &str = "canon-programs";
/// Run specifications, batch manifests, conflicts and refusals: `RUN.spec`,
/// `RUN.done.B`, `RUN.conflict.B`, `RUN.refused.WORKER`.
pub const RUNS_BUCKET: &str = "canon-runs";
/// Result payload parts: `RUN.B.DIGEST.N`.
pub const PARTS_BUCKET: &str = "canon-parts";
/// Checkpoints of long batches: `RUN.B.latest` (the manifest of the latest)
/// and the parts it names, `RUN.B.DIGEST.N`; deleted once the batch is done.
pub const CHECKPOINT_BUCKET: &str = "canon-checkpoints";
/// How long runs, results and programs are kept on the server.
pub const KEEP: Duration = Duration::from_secs(24 * 3600);
/// Connection attempts before giving up, and the time each may take.
pub const CONNECT_ATTEMPTS: u32 = 3;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Errors of the cluster layer.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach NATS at {url} after {attempts} attempts: {last}")]
    Unreachable { url: String, attempts: u32, last: String },
    #[error("lost the connection to NATS for {0:?}; giving up")]
    Disconnected(Duration),
    #[error("NATS JetStream: {0} (is the server started with -js?)")]
    JetStream(String),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("malformed data from the bus: {0}")]
    Malformed(String),
    #[error(
        "determinism violation: batch {batch} (groups {first}..{end}) finished twice with different results: {kept} (kept) and {other} (from worker {worker})"
    )]
    DeterminismViolation { batch: u32, first: usize, end: usize, kept: String, other: String, worker: String },
    #[error("worker {worker} refused run {run}: {reason}")]
    Refused { run: String, worker: String, reason: String },
    #[error("run {0} is not on the server (finished more than a day ago, or never started)")]
    UnknownRun(String),
    #[error("run {run} was started with different arguments ({what} differs)")]
    ResumeMismatch { run: String, what: String },
    #[error("batch {batch}: {what}")]
    BadResult { batch: u32, what: String },
    #[error("writing the replay: {0}")]
    Io(#[from] std::io::Error),
}

fn nats<E: std::fmt::Display>(e: E) -> ClusterError {
    ClusterError::Nats(e.to_string())
}

/// Builds the machine of a run on a worker, from the specification's
/// `params` and the verified program (the front end's business: seeds,
/// limits, hosts, keys). It must give the coordinator's machine exactly.
pub trait MachineFactory: Send + Sync {
    fn machine(&self, spec: &RunSpec, program: Arc<VerifiedProgram>) -> Result<Machine, String>;
    /// The fingerprint of this process's key seed ([`RunSpec::keys`]), if it has one.
    fn keys(&self) -> Option<String>;
}

/// A connection to a NATS server with JetStream, and the run's buckets.
#[derive(Clone)]
pub struct Cluster {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub runs: kv::Store,
    pub parts: kv::Store,
    pub checkpoints: kv::Store,
    pub programs: object_store::ObjectStore,
    url: String,
}

impl Cluster {
    /// Connects to `url` (at most [`CONNECT_ATTEMPTS`] attempts of
    /// [`CONNECT_TIMEOUT`]) and creates what is missing on the server.
    pub async fn connect(url: &str, name: &str) -> Result<Cluster, ClusterError> {
        let mut last = String::new();
        let mut client = None;
        for attempt in 0..CONNECT_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            let options = async_nats::ConnectOptions::new()
                .name(name)
                .connection_timeout(CONNECT_TIMEOUT)
                .request_timeout(Some(Duration::from_secs(10)));
            match options.connect(url).await {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let client = client.ok_or_else(|| ClusterError::Unreachable {
            url: url.to_owned(),
            attempts: CONNECT_ATTEMPTS,
            last,
        })?;
        let js = jetstream::new(client.clone());
        let runs = bucket(&js, RUNS_BUCKET).await?;
        let parts = bucket(&js, PARTS_BUCKET).await?;
        let checkpoints = bucket(&js, CHECKPOINT_BUCKET).await?;
        let programs = match js.get_object_store(PROGRAM_BUCKET).await {
            Ok(s) => s,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: PROGRAM_BUCKET.to_owned(),
                    max_age: KEEP,
                    ..Default::default()
                })
                .await
                .map_err(|e| js_err(format!("creating the object store {PROGRAM_BUCKET}: {e}")))?,
        };
        js.get_or_create_stream(stream::Config {
            name: WORK_STREAM.to_owned(),
            subjects: vec![format!("{WORK_SUBJECT}.>")],
            retention: stream::RetentionPolicy::WorkQueue,
            max_age: KEEP,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| js_err(format!("creating the stream {WORK_STREAM}: {e}")))?;
        Ok(Cluster { client, js, runs, parts, checkpoints, programs, url: url.to_owned() })
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The workers' shared durable pull consumer; created with `ack_wait` by
    /// the first worker (a later one binds to it as it is).
    pub async fn work_consumer(&self, ack_wait: Duration) -> Result<consumer::PullConsumer, ClusterError> {
        let stream = self.js.get_stream(WORK_STREAM).await.map_err(js_err)?;
        stream
            .get_or_create_consumer(
                WORKER_CONSUMER,
                consumer::pull::Config {
                    durable_name: Some(WORKER_CONSUMER.to_owned()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait,
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| js_err(format!("creating the consumer {WORKER_CONSUMER}: {e}")))
    }

    /// Largest part of a result payload that fits one message.
    pub fn part_bytes(&self) -> usize {
        let max = self.client.server_info().max_payload;
        (max / 2).max(64 * 1024)
    }

    /// Stores `bytes` under object `name` in the program store (used to
    /// publish a program; `name` is normally its digest).
    pub async fn put_program(&self, name: &str, bytes: &[u8]) -> Result<(), ClusterError> {
        let mut reader = bytes;
        self.programs.put(name, &mut reader).await.map_err(nats)?;
        Ok(())
    }

    /// The bytes stored under `name` in the program store, if any.
    pub async fn program_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, ClusterError> {
        use tokio::io::AsyncReadExt;
        let mut object = match self.programs.get(name).await {
            Ok(o) => o,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(nats(e)),
        };
        let mut bytes = Vec::new();
        object.read_to_end(&mut bytes).await.map_err(nats)?;
        Ok(Some(bytes))
    }
}

async fn bucket(js: &jetstream::Context, name: &str) -> Result<kv::Store, ClusterError> {
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    // The bucket's stream, configured as `create_key_value` would: that
    // function first reads account fields that servers before 2.10 do not send.
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age: KEEP,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| js_err(format!("creating the bucket {name}: {e}")))?;
    js.get_key_value(name).await.map_err(|e| js_err(format!("opening the bucket {name}: {e}")))
}

fn js_err<E: std::fmt::Display>(e: E) -> ClusterError {
    ClusterError::JetStream(e.to_string())
}
