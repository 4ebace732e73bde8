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

#![deny(missing_docs)]

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
/// The subject work items are published on.
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
/// The time one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Errors of the cluster layer.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The server did not answer within the bounded retry.
    #[error("cannot reach NATS at {url} after {attempts} attempts: {last}")]
    Unreachable {
        /// The server's URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last: String,
    },
    /// The connection stayed lost this long.
    #[error("lost the connection to NATS for {0:?}; giving up")]
    Disconnected(Duration),
    /// JetStream refused or is missing.
    #[error("NATS JetStream: {0} (is the server started with -js?)")]
    JetStream(String),
    /// Any other error of the NATS client.
    #[error("NATS: {0}")]
    Nats(String),
    /// Bytes from the server that do not decode.
    #[error("malformed data from the bus: {0}")]
    Malformed(String),
    /// One batch finished twice with different results.
    #[error(
        "determinism violation: batch {batch} (groups {first}..{end}) finished twice with different results: {kept} (kept) and {other} (from worker {worker})"
    )]
    DeterminismViolation {
        /// The batch.
        batch: u32,
        /// Its first group.
        first: usize,
        /// One past its last group.
        end: usize,
        /// The digest of the result kept.
        kept: String,
        /// The digest of the other result.
        other: String,
        /// The worker that produced the other result.
        worker: String,
    },
    /// A worker refused the run.
    #[error("worker {worker} refused run {run}: {reason}")]
    Refused {
        /// The run id.
        run: String,
        /// The refusing worker.
        worker: String,
        /// Why it refused.
        reason: String,
    },
    /// `--resume` named a run the server does not have.
    #[error("run {0} is not on the server (finished more than a day ago, or never started)")]
    UnknownRun(String),
    /// `--resume` with arguments that differ from the run's.
    #[error("run {run} was started with different arguments ({what} differs)")]
    ResumeMismatch {
        /// The run id.
        run: String,
        /// The first argument that differs.
        what: String,
    },
    /// A stored result that does not check out.
    #[error("batch {batch}: {what}")]
    BadResult {
        /// The batch.
        batch: u32,
        /// What is wrong with it.
        what: String,
    },
    /// Writing the replay failed.
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
    /// The machine for `spec` and `program`, or why this worker cannot build it.
    fn machine(&self, spec: &RunSpec, program: Arc<VerifiedProgram>) -> Result<Machine, String>;
    /// The fingerprint of this process's key seed ([`RunSpec::keys`]), if it has one.
    fn keys(&self) -> Option<String>;
}

/// A connection to a NATS server with JetStream, and the run's buckets.
#[derive(Clone)]
pub struct Cluster {
    /// The connection.
    pub client: async_nats::Client,
    /// Its JetStream context.
    pub js: jetstream::Context,
    /// Run specifications, batch manifests, conflicts and refusals ([`RUNS_BUCKET`]).
    pub runs: kv::Store,
    /// Result payload parts ([`PARTS_BUCKET`]).
    pub parts: kv::Store,
    /// Checkpoints of long batches ([`CHECKPOINT_BUCKET`]).
    pub checkpoints: kv::Store,
    /// Programs by digest ([`PROGRAM_BUCKET`]).
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
            Err(_) => match js
                .create_object_store(object_store::Config {
                    bucket: PROGRAM_BUCKET.to_owned(),
                    max_age: KEEP,
                    ..Default::default()
                })
                .await
            {
                Ok(s) => s,
                // Another client created it first (see `bucket`).
                Err(e) => match js.get_object_store(PROGRAM_BUCKET).await {
                    Ok(s) => s,
                    Err(_) => return Err(js_err(format!("creating the object store {PROGRAM_BUCKET}: {e}"))),
                },
            },
        };
        let work = js
            .get_or_create_stream(stream::Config {
                name: WORK_STREAM.to_owned(),
                subjects: vec![format!("{WORK_SUBJECT}.>")],
                retention: stream::RetentionPolicy::WorkQueue,
                max_age: KEEP,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await;
        // Lost a race to create it (see `bucket`): only a stream still missing is an error.
        if let Err(e) = work
            && js.get_stream(WORK_STREAM).await.is_err()
        {
            return Err(js_err(format!("creating the stream {WORK_STREAM}: {e}")));
        }
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

/// The key-value bucket `name`, created if missing. A coordinator and its
/// workers start together and each creates what it finds missing: two
/// clients can both find a bucket missing, and the second create then fails
/// (its subjects overlap the first's stream) although the bucket now exists
/// as wanted. So a failed create is followed by one more look-up, and only a
/// bucket still missing is an error.
async fn bucket(js: &jetstream::Context, name: &str) -> Result<kv::Store, ClusterError> {
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    // The bucket's stream, configured as `create_key_value` would: that
    // function first reads account fields that servers before 2.10 do not send.
    let created = js
        .get_or_create_stream(stream::Config {
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
        .map_err(|e| js_err(format!("creating the bucket {name}: {e}")));
    match (created, js.get_key_value(name).await) {
        (_, Ok(store)) => Ok(store),
        (Err(e), Err(_)) => Err(e),
        (Ok(_), Err(e)) => Err(js_err(format!("opening the bucket {name}: {e}"))),
    }
}

fn js_err<E: std::fmt::Display>(e: E) -> ClusterError {
    ClusterError::JetStream(e.to_string())
}
