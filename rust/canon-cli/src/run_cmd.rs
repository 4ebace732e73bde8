//! `canon run`.

use std::io::IsTerminal;
use std::path::PathBuf;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use canon_bytecode::VerifiedProgram;
use canon_machine::{Auth, Expected, GroupStatus, Injection, KeySource, ReplayMode, SessionStatus, StallReport};
use canon_runtime::{
    Config, CooperativeRunner, Limits, Machine, MetricsCollector, RunSummary, Runner, SeededHost, ThreadedRunner,
};
use clap::{Args, ValueEnum};

use canon_runtime::GroupReport;
use canon_types::hex;
use serde_json::{Value as Json, json};

use crate::files::AtomicFile;
use crate::out::Out;
use crate::progress::ProgressLine;
use crate::{exit, input};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunnerKind {
    /// Every group in turn on one thread.
    Cooperative,
    /// Groups spread over --workers OS threads (same replay bytes).
    Threaded,
}

/// `--auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// Every endpoint signs its messages (Ed25519); receivers verify first.
    Ed25519,
    /// No signatures.
    None,
    /// Round-batched Ed25519: one signature per endpoint per round over the
    /// identities of the messages it sent in the round.
    #[value(name = "ed25519-round")]
    Ed25519Round,
}

/// `--replay-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReplayModeArg {
    /// No replay-consumption check.
    Off,
    /// Each message's seq must be the next expected on its edge.
    Sequence,
    /// Each message's identity (hash of its envelope) may be consumed once per
    /// session, in order on its edge (skipping only what the buffer discarded).
    Nullifier,
}

/// Authentication and replay-consumption flags (part of the recorded
/// configuration, so `replay verify` takes them too).
#[derive(Args, Debug, Clone, Copy)]
pub struct SecurityArgs {
    /// Message authentication.
    #[arg(long, value_enum, default_value = "ed25519")]
    pub auth: AuthArg,
    /// Replay-consumption policy at receive.
    #[arg(long, value_enum, default_value = "off")]
    pub replay_mode: ReplayModeArg,
}

/// `--inject KIND[@N]`: a transport fault on the N-th sent message (from 0) of every instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectArg {
    pub injection: Injection,
    pub nth: u64,
}

pub(crate) fn parse_inject(s: &str) -> Result<InjectArg, String> {
    let (kind, nth) = s.split_once('@').unwrap_or((s, "0"));
    let names: Vec<&str> = Injection::ALL.iter().map(|i| i.name()).collect();
    let injection = Injection::from_name(kind)
        .ok_or_else(|| format!("unknown injection `{kind}` (one of {})", names.join(", ")))?;
    let nth = nth.parse().map_err(|_| format!("`{nth}` is not a message index"))?;
    Ok(InjectArg { injection, nth })
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The program: .cbc, .casm, or a choreography (.canon/.scr/.nuscr).
    pub input: PathBuf,
    /// Seed of the default host handler (payloads, choices) and of everything else seeded.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the canonical replay fragment here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "cooperative")]
    pub runner: RunnerKind,
    /// Worker threads for the threaded runner (at most 8 per core, and never fewer than 64 allowed).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Independent instances of the program's entry to run (distinct session ids; host seeds derived
    /// from --seed); each is built when the runner reaches it.
    #[arg(long, default_value_t = 1)]
    pub sessions: u32,
    /// Stop a group after this many rounds (exit code 5). The default is the library's.
    #[arg(long, default_value_t = Limits::default().max_rounds)]
    pub max_rounds: u64,
    /// Instructions a coroutine may run per round.
    #[arg(long, default_value_t = Limits::default().fuel_per_quantum)]
    pub fuel: u32,
    /// Stop a group after this many instructions in total, checked after each round (exit code 5).
    #[arg(long, default_value_t = Limits::default().max_instructions)]
    pub max_instructions: u64,
    /// The protocol to run when a choreography file has several.
    #[arg(long)]
    pub protocol: Option<String>,
    /// Print only one status line (ok, faulted: fault NNNN, stalled, round or instruction budget
    /// exhausted, sessions cancelled, interrupted).
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    /// Print one JSON object (schema in docs/cli.md) instead of the summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub security: SecurityArgs,
    /// The secret key seed endpoint signing keys derive from (`canon keygen -o FILE`). Default: the file
    /// named by CANON_KEY_SEED_FILE, else ~/.config/canon/key-seed, created on first use.
    #[arg(long, value_name = "FILE")]
    pub key_seed_file: Option<PathBuf>,
    /// Inject a transport fault into the N-th message sent (from 0, default 0) by every instance:
    /// duplicate, reorder, drop, corrupt-payload or corrupt-signature. Repeatable.
    #[arg(long, value_name = "KIND[@N]", value_parser = parse_inject)]
    pub inject: Vec<InjectArg>,
    /// Print the run's metrics after the summary (json or prometheus: the Prometheus text format), or
    /// write them to FILE atomically (json=FILE, prometheus=FILE). Not canonical output (docs/cli.md).
    #[arg(long, value_name = "FORMAT[=FILE]", value_parser = crate::metrics::parse_metrics)]
    pub metrics: Option<crate::metrics::MetricsArg>,
    /// Claim each instance's choreography session for this host-side owner before it runs (what
    /// `check Effect.op(..)` needs to issue readiness witnesses; docs/ownership.md).
    #[arg(long, value_name = "LABEL")]
    pub owner: Option<String>,
    #[command(flatten)]
    pub cluster: crate::cluster_cmd::ClusterArgs,
    #[command(flatten)]
    pub checkpoint: crate::ckpt_cmd::CheckpointArgs,
}

/// Host seed of instance `i`: derived from the run seed, never from scheduling.
pub fn instance_seed(seed: u64, i: u32) -> u64 {
    seed ^ u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Worker threads allowed per core (`--workers`), and the least cap whatever
/// the core count.
pub const MAX_WORKERS_PER_CORE: usize = 8;
pub const MIN_WORKERS_CAP: usize = 64;

/// The largest `--workers` this machine accepts.
pub fn max_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores * MAX_WORKERS_PER_CORE).max(MIN_WORKERS_CAP)
}

/// Refuses worker counts that would exhaust threads before running.
/// (`--sessions` needs no cap: instances are built lazily.)
fn check_counts(args: &RunArgs) -> Result<()> {
    let cap = max_workers();
    if args.workers > cap {
        anyhow::bail!(
            "--workers {} is over the limit of {cap} ({MAX_WORKERS_PER_CORE} per core, at least {MIN_WORKERS_CAP})",
            args.workers
        );
    }
    Ok(())
}

/// The machine configuration of a CLI run (also rebuilt by `replay verify`).
pub fn config(seed: u64, max_rounds: u64, fuel: u32, max_instructions: u64, security: SecurityArgs) -> Config {
    let limits = Limits { max_rounds, fuel_per_quantum: fuel.max(1), max_instructions, ..Limits::default() };
    let auth = match security.auth {
        AuthArg::Ed25519 => Auth::Ed25519,
        AuthArg::None => Auth::None,
        AuthArg::Ed25519Round => Auth::Ed25519Round,
    };
    let replay_mode = match security.replay_mode {
        ReplayModeArg::Off => ReplayMode::Off,
        ReplayModeArg::Sequence => ReplayMode::Sequence,
        ReplayModeArg::Nullifier => ReplayMode::Nullifier,
    };
    Config { limits, seed, auth, replay_mode, ..Config::default() }
}

/// The flag Ctrl-C sets: the run stops at the next round boundary. A second
/// Ctrl-C exits at once.
fn interrupt_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
    });
    if let Err(e) = installed {
        crate::out::stderrln!("warning: Ctrl-C will not stop the run cleanly: {e}");
    }
    stop
}

/// What `canon run` reports beyond the library's [`RunSummary`].
struct RunFacts {
    summary: RunSummary,
    /// The instance an interruption cut short, and its rounds.
    cut: Option<(u32, u64)>,
    /// Sessions that ended cancelled or aborted.
    cancelled: u64,
    /// `--inject` faults no instance reached.
    unapplied: Vec<InjectArg>,
}

pub fn run(args: &RunArgs, out: &mut Out) -> Result<u8> {
    let program = input::program_file(&args.input, args.protocol.as_deref())?;
    check_counts(args)?;
    if let Some(m) = &args.metrics {
        m.check_with_json(args.json)?;
    }
    let config = config(args.seed, args.max_rounds, args.fuel, args.max_instructions, args.security);
    let mut collector = args.metrics.as_ref().map(|_| MetricsCollector::new(&program, config.default_buffer));
    let (keys, key_origin) = crate::keygen_cmd::run_key_source(args.key_seed_file.as_deref(), config.auth)?;
    let injections: Vec<(u64, Injection)> = args.inject.iter().map(|i| (i.nth, i.injection)).collect();
    let fingerprint = crate::cluster_cmd::key_fingerprint(&keys);
    let mut machine = load_machine(&program, config, keys, args.sessions.max(1), &injections)?;
    if let Some(owner) = &args.owner {
        // Checkpoints save the owner with the instances not yet built, and
        // a cluster's workers get it with the run parameters.
        machine.claim_lazy(owner);
    }
    if let Some(url) = &args.cluster.cluster {
        return crate::cluster_cmd::run_on_cluster(args, url, &program, &mut machine, fingerprint, &key_origin);
    }
    let checkpointing = match (&args.checkpoint.checkpoint_dir, args.checkpoint.checkpoint_every, &args.output) {
        (Some(dir), Some(every), Some(output)) => {
            let record = crate::ckpt_cmd::RunRecord {
                input: std::path::absolute(&args.input)?,
                protocol: args.protocol.clone(),
                output: std::path::absolute(output)?,
                threaded: args.runner == RunnerKind::Threaded,
                workers: args.workers,
                // The key seed the run used (flag, environment or default
                // file): a resume signs with the same keys.
                key_seed_file: match &key_origin {
                    crate::keygen_cmd::KeyOrigin::File(path) => Some(std::path::absolute(path)?),
                    _ => None,
                },
                every,
                keep: args.checkpoint.keep,
            };
            Some(crate::ckpt_cmd::Checkpointing::start(&record, dir)?)
        }
        (Some(_), Some(_), None) => anyhow::bail!("--checkpoint-every needs -o: a resumed run appends to the replay"),
        _ => None,
    };
    // The replay streams into a temporary file renamed into place at the end
    // (also after Ctrl-C); with --inject or --metrics and no -o, into an
    // anonymous one read back (to find the injections no instance reached,
    // to count the metrics). A checkpointed
    // run writes its replay in place instead: `canon resume` continues the
    // file a killed run left.
    let mut direct = match (&checkpointing, &args.output) {
        (Some(_), Some(path)) => Some(std::io::BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        _ => None,
    };
    let mut file = match &args.output {
        _ if direct.is_some() => None,
        Some(path) => Some(AtomicFile::create(path)?),
        None if !args.inject.is_empty() || args.metrics.is_some() => {
            Some(AtomicFile::create(&std::env::temp_dir().join("canon-run.replay"))?)
        }
        None => None,
    };
    let mut discard = std::io::sink();
    let sink: &mut dyn std::io::Write = match (&mut file, &mut direct) {
        (Some(f), _) => f.writer(),
        (None, Some(d)) => d,
        (None, None) => &mut discard,
    };
    let stop = interrupt_flag();
    let mut progress = ProgressLine::new(!args.quiet && !args.json && std::io::stderr().is_terminal(), args.max_rounds);
    let mut observe = |p| progress.show(p);
    let mut cut = None;
    let mut each = |r: &GroupReport| {
        if r.outcome.status == GroupStatus::Running && cut.is_none() {
            cut = Some((r.group, r.outcome.rounds));
        }
        if let Some(c) = collector.as_mut() {
            c.report(r);
        }
    };
    let runner: Box<dyn Runner> = match args.runner {
        RunnerKind::Cooperative => Box::new(CooperativeRunner),
        RunnerKind::Threaded => Box::new(ThreadedRunner::new(args.workers)),
    };
    let result = crate::ckpt_cmd::drive(
        runner.as_ref(),
        &mut machine,
        sink,
        &mut observe,
        &mut each,
        &stop,
        checkpointing.as_ref(),
    );
    progress.clear();
    if let Some(d) = &mut direct {
        std::io::Write::flush(d).context("cannot write the replay")?;
    }
    let summary = match (result, &args.output) {
        (Ok(summary), _) => summary,
        (Err(e), Some(path)) => return Err(e.context(format!("cannot write {}", path.display()))),
        (Err(e), None) => return Err(e),
    };
    let unapplied = match &mut file {
        Some(f) if !args.inject.is_empty() => unapplied_injections(args, f.reread()?)?,
        _ => Vec::new(),
    };
    let metrics = match (collector, &mut file, &args.output) {
        (Some(c), Some(f), _) => Some(crate::metrics::with_replay(c, f.reread()?)?),
        // A checkpointed run's replay, written in place.
        (Some(c), None, Some(path)) => {
            let replay = std::fs::File::open(path).with_context(|| format!("cannot read back {}", path.display()))?;
            Some(crate::metrics::with_replay(c, replay)?)
        }
        _ => None,
    };
    if let (Some(f), Some(_)) = (file, &args.output) {
        f.commit()?;
    }
    let facts = RunFacts { cut, unapplied, ..RunFacts::of(summary) };
    let status = report_status(&facts);
    let metrics = args.metrics.as_ref().zip(metrics);
    if args.json {
        let mut object = run_json(args, &facts, program.module(), status);
        if let Some((arg, m)) = &metrics
            && arg.in_json_object(args.json)
        {
            object["metrics"] = serde_json::to_value(m)?;
        }
        writeln!(out, "{object}")?;
    } else if args.quiet {
        writeln!(out, "{}", status_line(&facts))?;
    } else {
        print_summary(out, args, &facts, program.module(), None)?;
        if let crate::keygen_cmd::KeyOrigin::File(path) = key_origin {
            writeln!(out, "  signing keys derived from the key seed {}", path.display())?;
        }
    }
    if let Some((arg, m)) = &metrics
        && !arg.in_json_object(args.json)
    {
        arg.emit(m, out)?;
    }
    if facts.summary.interrupted {
        crate::out::stderrln!("interrupted: {}", where_stopped(&facts));
    }
    Ok(status)
}

/// The machine of a run: `sessions` lazily loaded instances of `program`,
/// instance `i` answered by a [`SeededHost`] seeded from the run seed and
/// `i`. Instances are built when the runner reaches them and dropped once
/// written: memory does not grow with --sessions. A cluster worker builds
/// its machine with this function too.
pub fn load_machine(
    program: &Arc<VerifiedProgram>,
    config: Config,
    keys: KeySource,
    sessions: u32,
    injections: &[(u64, Injection)],
) -> Result<Machine> {
    let seed = config.seed;
    let mut machine = Machine::new(config);
    machine.set_key_source(keys);
    machine.load_lazy(
        program,
        sessions,
        Box::new(move |i| Box::new(SeededHost::new(instance_seed(seed, i)))),
        injections,
    )?;
    Ok(machine)
}

impl RunFacts {
    /// The facts of a run known only by its summary (a cluster or resumed run).
    fn of(summary: RunSummary) -> Self {
        let cancelled = summary
            .statuses
            .iter()
            .filter(|(s, _)| matches!(s, SessionStatus::Cancelled | SessionStatus::Aborted))
            .map(|(_, n)| n)
            .sum();
        RunFacts { summary, cut: None, cancelled, unapplied: Vec::new() }
    }
}

/// Prints the summary of a run that was not run here (`--cluster`: the
/// runner line names the cluster) and returns its exit code.
pub(crate) fn finish_run(
    args: &RunArgs,
    summary: &RunSummary,
    program: &VerifiedProgram,
    runner: &str,
    key_origin: &crate::keygen_cmd::KeyOrigin,
) -> u8 {
    let facts = RunFacts::of(summary.clone());
    let mut out = Out::stdout();
    let printed = if args.quiet {
        writeln!(out, "{}", status_line(&facts))
    } else {
        print_summary(&mut out, args, &facts, program.module(), Some(runner)).and_then(|()| match key_origin {
            crate::keygen_cmd::KeyOrigin::File(path) => {
                writeln!(out, "  signing keys derived from the key seed {}", path.display())
            }
            _ => Ok(()),
        })
    };
    // A reader that went away is not an error of the run (as for every command).
    let _ = printed.and_then(|()| out.flush());
    report_status(&facts)
}

/// Where a cluster run's replay goes: `-o FILE` (written in place), or nowhere.
pub(crate) fn output_sink(args: &RunArgs) -> Result<Box<dyn std::io::Write>> {
    Ok(match &args.output {
        Some(path) => Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::sink()),
    })
}

/// The `--quiet` line of a run known only by its summary.
pub(crate) fn summary_status_line(summary: &RunSummary) -> String {
    status_line(&RunFacts::of(summary.clone()))
}

/// The exit code of a run known only by its summary.
pub(crate) fn summary_status(summary: &RunSummary) -> u8 {
    report_status(&RunFacts::of(summary.clone()))
}

/// Where an interrupted run stopped: the instance cut short and its round.
fn where_stopped(facts: &RunFacts) -> String {
    let done = facts.summary.groups - u64::from(facts.cut.is_some());
    match facts.cut {
        Some((group, rounds)) => {
            format!("stopped instance {group} after round {rounds}; {done} instance(s) finished before it")
        }
        None => format!("stopped after {done} finished instance(s)"),
    }
}

/// The `--json` object of `canon run` (schema in docs/cli.md).
fn run_json(args: &RunArgs, facts: &RunFacts, module: &canon_bytecode::Module, status: u8) -> Json {
    let summary = &facts.summary;
    let strings = &module.strings;
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for (s, n) in &summary.statuses {
        *counts.entry(status_name(*s)).or_default() += n;
    }
    let faults: Vec<Json> = summary
        .first_faults
        .iter()
        .map(|(group, f)| {
            json!({
                "code": canon_types::ErrorCode::code(&f.fault),
                "instance": group,
                "coroutine": f.coroutine,
                "proc": f.proc,
                "instr": f.pc,
                "tick": f.tick,
                "message": f.fault.describe(module),
            })
        })
        .collect();
    let stalled = summary.first_stalled.as_ref().and_then(|g| match &g.outcome.status {
        GroupStatus::Stalled(report) => Some(json!({
            "instance": g.group,
            "tick": report.tick,
            "blocked": report.blocked.iter().map(|b| json!({
                "coroutine": b.coroutine,
                "session": b.sid & 0xffff_ffff,
                "role": sym(strings, b.role_name.0),
                "waits": waits(&b.waits, strings),
                "labels": b.labels.iter().map(|l| sym(strings, l.0)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })),
        _ => None,
    });
    json!({
        "input": args.input.display().to_string(),
        "status": status_word(status),
        "exit_code": status,
        "seed": args.seed,
        "runner": runner_name(args.runner),
        "instances": summary.groups,
        "sessions": summary.sessions,
        "messages": summary.messages,
        "events": summary.events,
        "rounds": summary.rounds,
        "session_statuses": counts,
        "faults_total": summary.faults,
        "faults": faults,
        "stalled": stalled,
        "budget_exhausted": { "rounds": summary.budget_exhausted, "instructions": summary.instruction_budget_exhausted },
        "interrupted": summary.interrupted.then(|| where_stopped(facts)),
        "unapplied_injections": facts.unapplied
            .iter()
            .map(|i| format!("{}@{}", i.injection.name(), i.nth))
            .collect::<Vec<_>>(),
        "replay": { "root": hex(&summary.root), "path": args.output.as_ref().map(|p| p.display().to_string()) },
    })
}

/// The one-word status of an exit code of `canon run`.
fn status_word(code: u8) -> &'static str {
    match code {
        exit::OK => "ok",
        exit::FAULTED => "faulted",
        exit::STALLED => "stalled",
        exit::BUDGET_EXHAUSTED => "budget_exhausted",
        exit::SESSIONS_CANCELLED => "sessions_cancelled",
        exit::INTERRUPTED => "interrupted",
        _ => "error",
    }
}

fn runner_name(kind: RunnerKind) -> &'static str {
    match kind {
        RunnerKind::Cooperative => "cooperative",
        RunnerKind::Threaded => "threaded",
    }
}

fn status_name(s: SessionStatus) -> String {
    match s {
        SessionStatus::Faulted { code } => format!("Faulted({code})"),
        other => format!("{other:?}"),
    }
}

fn print_summary(
    out: &mut Out,
    args: &RunArgs,
    facts: &RunFacts,
    module: &canon_bytecode::Module,
    runner_label: Option<&str>,
) -> Result<(), crate::out::OutputError> {
    let summary = &facts.summary;
    let strings = &module.strings;
    let runner = match runner_label {
        Some(label) => label.to_owned(),
        None => format!(
            "{} runner{}",
            runner_name(args.runner),
            if args.runner == RunnerKind::Threaded { format!(", {} workers", args.workers) } else { String::new() }
        ),
    };
    writeln!(out, "ran {} (seed {}, {runner})", args.input.display(), args.seed)?;
    writeln!(
        out,
        "  instances {}, sessions {}, messages {}, events {}, rounds {}",
        summary.groups, summary.sessions, summary.messages, summary.events, summary.rounds
    )?;
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for (status, n) in &summary.statuses {
        *counts.entry(status_name(*status)).or_default() += n;
    }
    let statuses: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    writeln!(
        out,
        "  final session statuses: {}",
        if statuses.is_empty() { "none".into() } else { statuses.join(", ") }
    )?;
    // The faults of the first five faulted instances (the summary keeps the first few).
    let mut shown_groups = Vec::new();
    for (group, f) in &summary.first_faults {
        if !shown_groups.contains(group) {
            if shown_groups.len() == 5 {
                break;
            }
            shown_groups.push(*group);
        }
        writeln!(
            out,
            "  fault {} in instance {} coroutine {} at proc {} instr {} (tick {}): {}",
            canon_types::ErrorCode::code(&f.fault),
            group,
            f.coroutine,
            f.proc,
            f.pc,
            f.tick,
            f.fault.describe(module)
        )?;
        // Compiled choreographies carry a source map: name the statement.
        if let Some(at) = module.source_of(f.proc, f.pc) {
            writeln!(out, "    at {at}")?;
        }
    }
    if summary.faults > summary.first_faults.len() as u64 {
        writeln!(out, "  ... {} faults in all", summary.faults)?;
    }
    if let Some(g) = &summary.first_stalled
        && let GroupStatus::Stalled(report) = &g.outcome.status
    {
        print_stall(out, g.group, report, strings)?;
    }
    if summary.budget_exhausted > 0 {
        writeln!(
            out,
            "  round budget exhausted: {} instance(s) stopped after {} rounds (raise --max-rounds); the replay holds the run so far",
            summary.budget_exhausted, args.max_rounds
        )?;
    }
    if summary.instruction_budget_exhausted > 0 {
        writeln!(
            out,
            "  instruction budget exhausted: {} instance(s) stopped after {} instructions (raise --max-instructions); the replay holds the run so far",
            summary.instruction_budget_exhausted, args.max_instructions
        )?;
    }
    if summary.interrupted {
        writeln!(out, "  interrupted: {}; the replay holds every round run so far", where_stopped(facts))?;
    }
    if !args.inject.is_empty() {
        let list: Vec<String> = args.inject.iter().map(|i| format!("{}@{}", i.injection.name(), i.nth)).collect();
        writeln!(out, "  injected per instance: {}", list.join(", "))?;
        for i in &facts.unapplied {
            writeln!(
                out,
                "  warning: {}@{} was never applied: no instance sent a message #{} (counting from 0)",
                i.injection.name(),
                i.nth,
                i.nth
            )?;
        }
    }
    match &args.output {
        Some(path) => writeln!(out, "  replay root {} -> {}", hex(&summary.root), path.display()),
        None => writeln!(out, "  replay root {}", hex(&summary.root)),
    }
}

fn waits(w: &Expected, strings: &[String]) -> String {
    match w {
        Expected::Send { peer } => format!("room to send to {}", sym(strings, peer.0)),
        Expected::Recv { peer } => format!("a message from {}", sym(strings, peer.0)),
        Expected::Choose => "room to send".to_owned(),
        Expected::End => "close".to_owned(),
    }
}

/// The `--inject` faults that no instance's run reached (an index past the
/// messages sent), found by streaming the written replay's `Injected` events.
fn unapplied_injections(args: &RunArgs, file: std::fs::File) -> Result<Vec<InjectArg>> {
    let mut reader = canon_replay::ReplayReader::new(std::io::BufReader::new(file))
        .map_err(|e| anyhow::anyhow!("reading back the replay: {e}"))?;
    let mut applied = std::collections::BTreeSet::<(&str, u64)>::new();
    let mut events = Vec::new();
    while reader.next_group(&mut events).map_err(|e| anyhow::anyhow!("reading back the replay: {e}"))?.is_some() {
        for e in &events {
            if let canon_machine::EventKind::Injected { injection, nth, .. } = e.kind {
                applied.insert((injection.name(), nth));
            }
        }
    }
    Ok(args.inject.iter().filter(|i| !applied.contains(&(i.injection.name(), i.nth))).copied().collect())
}

/// What every blocked coroutine of a stalled group waits for.
fn print_stall(
    out: &mut Out,
    group: u32,
    report: &StallReport,
    strings: &[String],
) -> Result<(), crate::out::OutputError> {
    writeln!(out, "  instance {group} stalled at tick {}; blocked:", report.tick)?;
    for b in &report.blocked {
        let labels: Vec<&str> = b.labels.iter().map(|l| sym(strings, l.0)).collect();
        writeln!(
            out,
            "    coroutine {} endpoint s{}:{} waits for {} [{}]",
            b.coroutine,
            b.sid & 0xffff_ffff,
            sym(strings, b.role_name.0),
            waits(&b.waits, strings),
            labels.join(", ")
        )?;
    }
    Ok(())
}

fn sym(strings: &[String], id: u32) -> &str {
    strings.get(id as usize).map(String::as_str).unwrap_or("?")
}

/// The one line `--quiet` prints: the outcome, and the first fault's code.
fn status_line(facts: &RunFacts) -> String {
    let summary = &facts.summary;
    if summary.interrupted {
        format!("interrupted: {}", where_stopped(facts))
    } else if let Some((_, first)) = summary.first_faults.first() {
        format!("faulted: fault {} ({} faulted coroutines)", canon_types::ErrorCode::code(&first.fault), summary.faults)
    } else if let Some(g) = &summary.first_stalled {
        format!("stalled: instance {}", g.group)
    } else if summary.instruction_budget_exhausted > 0 {
        "instruction budget exhausted".to_owned()
    } else if summary.budget_exhausted > 0 {
        "round budget exhausted".to_owned()
    } else if facts.cancelled > 0 {
        format!("sessions cancelled: {}", facts.cancelled)
    } else {
        "ok".to_owned()
    }
}

/// The exit code of a run (table in docs/cli.md): an interruption first,
/// then a fault, a stall, a budget, and cancelled sessions.
fn report_status(facts: &RunFacts) -> u8 {
    let summary = &facts.summary;
    if summary.interrupted {
        exit::INTERRUPTED
    } else if summary.faulted() {
        exit::FAULTED
    } else if summary.first_stalled.is_some() {
        exit::STALLED
    } else if summary.budget_exhausted > 0 || summary.instruction_budget_exhausted > 0 {
        exit::BUDGET_EXHAUSTED
    } else if facts.cancelled > 0 {
        exit::SESSIONS_CANCELLED
    } else {
        exit::OK
    }
}
