//! `canon worker` and `canon run --cluster`: the front end of
//! `canon-cluster`. It decides what the run parameters are and how a worker
//! rebuilds the machine from them — with [`run_cmd::load_machine`], the
//! function a local run uses.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use canon_bytecode::VerifiedProgram;
use canon_cluster::{Cluster, MachineFactory, RunSpec, Submission, WorkerOptions, metrics::Metrics, wire};
use canon_machine::{Injection, KeySeed, KeySource};
use canon_runtime::{Machine, MetricsCollector};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::keygen_cmd::{KEY_SEED_ENV, KeyOrigin, default_key_seed_path, read_key_seed};
use crate::progress::ProgressLine;
use crate::run_cmd::{self, AuthArg, ReplayModeArg, RunArgs, SecurityArgs};

/// Default groups per batch of `run --cluster`.
pub const DEFAULT_BATCH: u32 = 64;

/// `canon run` flags for running on a cluster.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Run the instances on the workers of this NATS server (JetStream), e.g. nats://127.0.0.1:4222.
    /// The replay is byte-identical to a local run's.
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// Instances per batch (the unit of work a worker pulls and, if it dies, redoes).
    #[arg(long, default_value_t = DEFAULT_BATCH, requires = "cluster")]
    pub batch: u32,
    /// Finish an interrupted cluster run (its id is printed when it starts); batches already done are
    /// not run again. The other flags must be those of the first invocation.
    #[arg(long, value_name = "RUN_ID", requires = "cluster")]
    pub resume: Option<String>,
    /// Give up when the connection to the server stays lost this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS", requires = "cluster")]
    pub lost_after: u64,
}

/// `canon worker`.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The NATS server (JetStream enabled), e.g. nats://127.0.0.1:4222.
    #[arg(long, value_name = "URL")]
    pub nats: String,
    /// Batches run at once, each on its own thread (default: the cores of this machine).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// The secret key seed signing keys derive from; it never travels. Default: CANON_KEY_SEED_FILE,
    /// else ~/.config/canon/key-seed when it exists. Runs under another key seed are refused.
    #[arg(long, value_name = "FILE")]
    pub key_seed_file: Option<PathBuf>,
    /// Seconds a batch may go unacknowledged before it is given to another worker (set when the
    /// workers' consumer is created; a running batch renews it every third of it).
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub ack_wait: u64,
    /// After SIGTERM, seconds running batches may take to finish before they are released.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub grace: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics (loopback addresses only).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Print the metrics in the Prometheus text format when the worker stops.
    #[arg(long)]
    pub print_metrics: bool,
    /// This worker's name in the results it stores (default: worker-PID).
    #[arg(long)]
    pub name: Option<String>,
    /// Stop after this many batches.
    #[arg(long, value_name = "N")]
    pub max_batches: Option<u64>,
    /// Checkpoint a running batch every ROUNDS rounds (summed over its instances) to the server, so
    /// that a batch redelivered after its worker died resumes from there; 0: never.
    #[arg(long, default_value_t = DEFAULT_CHECKPOINT_ROUNDS, value_name = "ROUNDS")]
    pub checkpoint_every: u64,
}

/// Default rounds between two checkpoints of a running batch (`canon worker --checkpoint-every`).
pub const DEFAULT_CHECKPOINT_ROUNDS: u64 = 100_000;

/// The run parameters that travel in the specification: what a worker
/// needs, beyond the program and the instance count, to build the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Params {
    seed: u64,
    max_rounds: u64,
    fuel: u32,
    max_instructions: u64,
    auth: String,
    replay_mode: String,
    /// `KIND@N`, as `--inject` takes them.
    inject: Vec<String>,
    /// `--owner`: the host-side owner claiming each instance's session
    /// (absent, and so not in the specification, without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
}

fn value_name<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value().map(|p| p.get_name().to_owned()).unwrap_or_default()
}

impl Params {
    fn of(args: &RunArgs) -> Params {
        Params {
            seed: args.seed,
            max_rounds: args.max_rounds,
            fuel: args.fuel,
            max_instructions: args.max_instructions,
            auth: value_name(&args.security.auth),
            replay_mode: value_name(&args.security.replay_mode),
            inject: args.inject.iter().map(|i| format!("{}@{}", i.injection.name(), i.nth)).collect(),
            owner: args.owner.clone(),
        }
    }

    fn machine(&self, program: &Arc<VerifiedProgram>, keys: KeySource, sessions: u32) -> Result<Machine> {
        let security = SecurityArgs {
            auth: AuthArg::from_str(&self.auth, false).map_err(|e| anyhow::anyhow!("auth: {e}"))?,
            replay_mode: ReplayModeArg::from_str(&self.replay_mode, false)
                .map_err(|e| anyhow::anyhow!("replay mode: {e}"))?,
        };
        let config = run_cmd::config(self.seed, self.max_rounds, self.fuel, self.max_instructions, security);
        let injections: Vec<(u64, Injection)> = self
            .inject
            .iter()
            .map(|s| run_cmd::parse_inject(s).map(|i| (i.nth, i.injection)).map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?;
        let mut machine = run_cmd::load_machine(program, config, keys, sessions, &injections)?;
        if let Some(owner) = &self.owner {
            machine.claim_lazy(owner);
        }
        Ok(machine)
    }
}

/// The public fingerprint of a key source ([`RunSpec::keys`]): the verifying
/// key of endpoint (sid 0, role 0), which equals another's only when the
/// key seeds are equal, and tells nothing of the seed.
pub fn key_fingerprint(keys: &KeySource) -> Option<String> {
    match keys {
        KeySource::Seed(seed) => Some(canon_types::hex(&seed.endpoint_key(0, 0).verifying_bytes())),
        _ => None,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// `canon run FILE --cluster URL`: publishes the run and writes the replay
/// as the workers finish its batches.
pub fn run_on_cluster(
    args: &RunArgs,
    url: &str,
    program: &Arc<VerifiedProgram>,
    machine: &mut Machine,
    keys: Option<String>,
    key_origin: &KeyOrigin,
) -> Result<u8> {
    if args.cluster.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let spec = RunSpec {
        version: wire::WIRE_VERSION,
        program: canon_types::hex(&program.digest()),
        sessions: args.sessions.max(1),
        batch: args.cluster.batch,
        params: serde_json::to_value(Params::of(args)).expect("run parameters serialise"),
        header: canon_cluster::coordinator::header_digest(machine),
        keys,
    };
    let run = match &args.cluster.resume {
        Some(id) => id.clone(),
        None => {
            let mut id = [0u8; 8];
            getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("cannot draw a run id: {e}"))?;
            canon_types::hex(&id)
        }
    };
    let submission = Submission {
        run: run.clone(),
        spec,
        program: canon_bytecode::encode(program.module()),
        resume: args.cluster.resume.is_some(),
        lost_after: Duration::from_secs(args.cluster.lost_after),
    };
    // --metrics reads the replay back: without -o it goes to an anonymous file.
    let mut scratch = None;
    let mut sink: Box<dyn std::io::Write> = match (&args.output, &args.metrics) {
        (None, Some(_)) => {
            let file = tempfile::tempfile().context("cannot create a temporary file for the replay")?;
            scratch = Some(file.try_clone()?);
            Box::new(std::io::BufWriter::with_capacity(1 << 16, file))
        }
        _ => run_cmd::output_sink(args)?,
    };
    let on = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut progress = ProgressLine::new(on, args.max_rounds);
    let rt = runtime()?;
    let collected = rt.block_on(async {
        let cluster = Cluster::connect(url, "canon-coordinator").await?;
        canon_cluster::coordinate(&cluster, &submission, machine, &mut *sink, &mut |p| progress.show(p)).await
    });
    progress.clear();
    rt.shutdown_timeout(Duration::from_secs(1));
    let collected = match (collected, &args.output) {
        (Ok(c), _) => c,
        (Err(canon_cluster::ClusterError::Io(e)), Some(path)) => {
            return Err(e).with_context(|| format!("cannot write {}", path.display()));
        }
        (Err(e), _) => return Err(anyhow::Error::new(e).context(format!("cluster run {run}"))),
    };
    std::io::Write::flush(&mut sink).context("cannot write the replay")?;
    drop(sink);
    // The metrics: the batches' report totals (summed into the summary),
    // then the replay read back, as a local run computes them.
    let metrics = match &args.metrics {
        Some(arg) => {
            let replay = match (scratch, &args.output) {
                (Some(f), _) => f,
                (None, path) => {
                    let path = path.as_ref().context("the replay was written nowhere")?;
                    std::fs::File::open(path).with_context(|| format!("cannot read back {}", path.display()))?
                }
            };
            let mut collector = MetricsCollector::new(program, machine.config().default_buffer);
            collector.report_totals(&collected.summary.totals);
            Some((arg, crate::metrics::with_replay(collector, replay)?))
        }
        None => None,
    };
    let runner = format!("cluster runner, run {run}");
    let status = run_cmd::finish_run(args, &collected.summary, program, &runner, key_origin);
    if let Some((arg, m)) = metrics {
        arg.emit(&m, &mut crate::out::Out::stdout())?;
    }
    Ok(status)
}

/// What a worker builds machines with: the run parameters and its own key seed.
struct Factory {
    seed: Option<KeySeed>,
}

impl MachineFactory for Factory {
    fn machine(&self, spec: &RunSpec, program: Arc<VerifiedProgram>) -> Result<Machine, String> {
        let params: Params = serde_json::from_value(spec.params.clone()).map_err(|e| format!("run parameters: {e}"))?;
        let keys = match (&spec.keys, &self.seed) {
            (None, _) => KeySource::None,
            (Some(_), Some(seed)) => KeySource::Seed(seed.clone()),
            (Some(_), None) => return Err("the run is signed and this worker has no key seed".into()),
        };
        params.machine(&program, keys, spec.sessions).map_err(|e| format!("{e:#}"))
    }

    fn keys(&self) -> Option<String> {
        self.seed.as_ref().and_then(|s| key_fingerprint(&KeySource::Seed(s.clone())))
    }
}

/// The worker's key seed: the flag, else the environment, else the default
/// file when it exists (a worker never creates one: a fresh seed would match
/// no run).
fn worker_key_seed(flag: Option<&std::path::Path>) -> Result<Option<KeySeed>> {
    let path = match (flag, std::env::var_os(KEY_SEED_ENV).filter(|v| !v.is_empty())) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(env)) => PathBuf::from(env),
        (None, None) => match default_key_seed_path() {
            Some(p) if p.exists() => p,
            _ => return Ok(None),
        },
    };
    read_key_seed(&path).map(Some)
}

/// `canon worker --nats URL`.
pub fn worker(args: &WorkerArgs, out: &mut crate::out::Out) -> Result<u8> {
    let seed = worker_key_seed(args.key_seed_file.as_deref())?;
    let concurrency = args.concurrency.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    if concurrency == 0 || concurrency > run_cmd::max_workers() {
        bail!("--concurrency must be between 1 and {}", run_cmd::max_workers());
    }
    let options = WorkerOptions {
        concurrency,
        ack_wait: Duration::from_secs(args.ack_wait.max(1)),
        grace: Duration::from_secs(args.grace),
        name: args.name.clone().unwrap_or_else(|| format!("worker-{}", std::process::id())),
        max_batches: args.max_batches,
        checkpoint_every: (args.checkpoint_every > 0).then_some(args.checkpoint_every),
    };
    let metrics = Metrics::new();
    let rt = runtime()?;
    let result = rt.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            crate::out::stderrln!("canon worker: stopping (finishing running batches)");
            let _ = stop_tx.send(true);
        });
        if let Some(addr) = args.metrics_addr {
            let served = metrics.clone();
            let listener = served.serve(addr);
            tokio::spawn(async move {
                if let Err(e) = listener.await {
                    crate::out::stderrln!("canon worker: metrics endpoint: {e}");
                }
            });
        }
        let cluster = Cluster::connect(&args.nats, &options.name).await?;
        canon_cluster::run_worker(cluster, Arc::new(Factory { seed }), options, metrics.clone(), stop_rx).await
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    if args.print_metrics {
        out.text(&metrics.render())?;
    }
    result?;
    Ok(crate::exit::OK)
}
