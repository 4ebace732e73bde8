//! `canon run`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{Auth, Expected, GroupStatus, Injection, KeySource, ReplayMode, SessionStatus, StallReport};
use canon_runtime::{
    Config, CooperativeRunner, Limits, Machine, Progress, RunSummary, Runner, SeededHost, ThreadedRunner,
};
use clap::{Args, ValueEnum};

use crate::bytecode_cmd::hex;
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
    /// Stop a group after this many rounds (exit code 5).
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
    /// Print only one status line (ok, faulted: fault NNNN, stalled, round budget exhausted).
    #[arg(short, long)]
    pub quiet: bool,
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

pub fn run(args: &RunArgs) -> Result<u8> {
    let program = input::program_file(&args.input, args.protocol.as_deref())?;
    check_counts(args)?;
    let config = config(args.seed, args.max_rounds, args.fuel, args.max_instructions, args.security);
    let (keys, key_origin) = crate::keygen_cmd::run_key_source(args.key_seed_file.as_deref(), config.auth)?;
    let injections: Vec<(u64, Injection)> = args.inject.iter().map(|i| (i.nth, i.injection)).collect();
    let fingerprint = crate::cluster_cmd::key_fingerprint(&keys);
    let mut machine = load_machine(&program, config, keys, args.sessions.max(1), &injections)?;
    if let Some(url) = &args.cluster.cluster {
        return crate::cluster_cmd::run_on_cluster(args, url, &program, &mut machine, fingerprint, &key_origin);
    }
    let mut sink = output_sink(args)?;
    let checkpointing = match (&args.checkpoint.checkpoint_dir, args.checkpoint.checkpoint_every, &args.output) {
        (Some(dir), Some(every), Some(output)) => {
            let record = crate::ckpt_cmd::RunRecord {
                input: std::path::absolute(&args.input)?,
                protocol: args.protocol.clone(),
                output: std::path::absolute(output)?,
                threaded: args.runner == RunnerKind::Threaded,
                workers: args.workers,
                key_seed_file: args.key_seed_file.as_deref().map(std::path::absolute).transpose()?,
                every,
                keep: args.checkpoint.keep,
            };
            Some(crate::ckpt_cmd::Checkpointing::start(&record, dir)?)
        }
        (Some(_), Some(_), None) => anyhow::bail!("--checkpoint-every needs -o: a resumed run appends to the replay"),
        _ => None,
    };
    let mut progress = ProgressLine::new(!args.quiet && std::io::stderr().is_terminal());
    let mut observe = |p| progress.show(p);
    let runner: Box<dyn Runner> = match args.runner {
        RunnerKind::Cooperative => Box::new(CooperativeRunner),
        RunnerKind::Threaded => Box::new(ThreadedRunner::new(args.workers)),
    };
    let result = crate::ckpt_cmd::drive(runner.as_ref(), &mut machine, &mut sink, &mut observe, checkpointing.as_ref());
    progress.clear();
    let summary = match (result, &args.output) {
        (Ok(summary), _) => summary,
        (Err(e), Some(path)) => return Err(e).with_context(|| format!("cannot write {}", path.display())),
        (Err(e), None) => return Err(e),
    };
    let runner = match args.runner {
        RunnerKind::Cooperative => "cooperative runner".to_owned(),
        RunnerKind::Threaded => format!("threaded runner, {} workers", args.workers),
    };
    Ok(finish_run(args, &summary, &program, &runner, &key_origin))
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

/// Prints the summary (or the `--quiet` line) and returns the exit code.
pub(crate) fn finish_run(
    args: &RunArgs,
    summary: &RunSummary,
    program: &VerifiedProgram,
    runner: &str,
    key_origin: &crate::keygen_cmd::KeyOrigin,
) -> u8 {
    if args.quiet {
        println!("{}", status_line(summary));
    } else {
        print_summary(args, summary, program.module(), runner);
        if let crate::keygen_cmd::KeyOrigin::File(path) = key_origin {
            println!("  signing keys derived from the key seed {}", path.display());
        }
    }
    report_status(summary)
}

/// Where the replay goes: `-o FILE`, or nowhere.
pub(crate) fn output_sink(args: &RunArgs) -> Result<Box<dyn std::io::Write>> {
    Ok(match &args.output {
        Some(path) => Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::sink()),
    })
}

fn status_name(s: SessionStatus) -> String {
    match s {
        SessionStatus::Faulted { code } => format!("Faulted({code})"),
        other => format!("{other:?}"),
    }
}

fn print_summary(args: &RunArgs, summary: &RunSummary, module: &canon_bytecode::Module, runner: &str) {
    let strings = &module.strings;
    println!("ran {} (seed {}, {runner})", args.input.display(), args.seed);
    println!(
        "  instances {}, sessions {}, messages {}, events {}, rounds {}",
        summary.groups, summary.sessions, summary.messages, summary.events, summary.rounds
    );
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for (status, n) in &summary.statuses {
        *counts.entry(status_name(*status)).or_default() += n;
    }
    let statuses: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("  final session statuses: {}", if statuses.is_empty() { "none".into() } else { statuses.join(", ") });
    // The faults of the first five faulted instances (the summary keeps the first few).
    let mut shown_groups = Vec::new();
    for (group, f) in &summary.first_faults {
        if !shown_groups.contains(group) {
            if shown_groups.len() == 5 {
                break;
            }
            shown_groups.push(*group);
        }
        println!(
            "  fault {} in instance {} coroutine {} at proc {} instr {} (tick {}): {}",
            canon_types::ErrorCode::code(&f.fault),
            group,
            f.coroutine,
            f.proc,
            f.pc,
            f.tick,
            f.fault.describe(module)
        );
        // Compiled choreographies carry a source map: name the statement.
        if let Some(at) = module.source_of(f.proc, f.pc) {
            println!("    at {at}");
        }
    }
    if summary.faults > summary.first_faults.len() as u64 {
        println!("  ... {} faults in all", summary.faults);
    }
    if let Some(g) = &summary.first_stalled
        && let GroupStatus::Stalled(report) = &g.outcome.status
    {
        print_stall(g.group, report, strings);
    }
    if summary.budget_exhausted > 0 {
        println!(
            "  round budget exhausted: {} instance(s) stopped after {} rounds (raise --max-rounds); the replay holds the run so far",
            summary.budget_exhausted, args.max_rounds
        );
    }
    if summary.instruction_budget_exhausted > 0 {
        println!(
            "  instruction budget exhausted: {} instance(s) stopped after {} instructions (raise --max-instructions); the replay holds the run so far",
            summary.instruction_budget_exhausted, args.max_instructions
        );
    }
    if !args.inject.is_empty() {
        let list: Vec<String> = args.inject.iter().map(|i| format!("{}@{}", i.injection.name(), i.nth)).collect();
        println!("  injected per instance: {}", list.join(", "));
    }
    match &args.output {
        Some(path) => println!("  replay root {} -> {}", hex(&summary.root), path.display()),
        None => println!("  replay root {}", hex(&summary.root)),
    }
}

/// What every blocked coroutine of a stalled group waits for.
fn print_stall(group: u32, report: &StallReport, strings: &[String]) {
    println!("  instance {group} stalled at tick {}; blocked:", report.tick);
    for b in &report.blocked {
        let labels: Vec<&str> = b.labels.iter().map(|l| sym(strings, l.0)).collect();
        let waits = match b.waits {
            Expected::Send { peer } => format!("room to send to {}", sym(strings, peer.0)),
            Expected::Recv { peer } => format!("a message from {}", sym(strings, peer.0)),
            Expected::Choose => "room to send".to_owned(),
            Expected::End => "close".to_owned(),
        };
        println!(
            "    coroutine {} endpoint s{}:{} waits for {} [{}]",
            b.coroutine,
            b.sid & 0xffff_ffff,
            sym(strings, b.role_name.0),
            waits,
            labels.join(", ")
        );
    }
}

fn sym(strings: &[String], id: u32) -> &str {
    strings.get(id as usize).map(String::as_str).unwrap_or("?")
}

/// The one line `--quiet` prints: the outcome, and the first fault's code.
pub fn status_line(summary: &RunSummary) -> String {
    if let Some((_, first)) = summary.first_faults.first() {
        format!("faulted: fault {} ({} faulted coroutines)", canon_types::ErrorCode::code(&first.fault), summary.faults)
    } else if let Some(g) = &summary.first_stalled {
        format!("stalled: instance {}", g.group)
    } else if summary.instruction_budget_exhausted > 0 {
        "instruction budget exhausted".to_owned()
    } else if summary.budget_exhausted > 0 {
        "round budget exhausted".to_owned()
    } else {
        "ok".to_owned()
    }
}

pub fn report_status(summary: &RunSummary) -> u8 {
    if summary.faulted() {
        exit::FAULTED
    } else if summary.first_stalled.is_some() {
        exit::STALLED
    } else if summary.budget_exhausted > 0 || summary.instruction_budget_exhausted > 0 {
        exit::BUDGET_EXHAUSTED
    } else {
        exit::OK
    }
}

/// A one-line progress display on stderr for long runs (only on a terminal:
/// logs and pipes get the summary alone). It shows whole percentages of the
/// instances done, and the round count of a long single instance.
pub(crate) struct ProgressLine {
    on: bool,
    shown: Option<(usize, u64)>,
}

impl ProgressLine {
    pub(crate) fn new(on: bool) -> Self {
        ProgressLine { on, shown: None }
    }

    pub(crate) fn show(&mut self, p: Progress) {
        if !self.on || p.groups_total == 0 {
            return;
        }
        let percent = p.groups_done * 100 / p.groups_total;
        if p.rounds == 0 && (p.groups_total < 100 || self.shown.is_some_and(|(q, _)| q == percent)) {
            return;
        }
        self.shown = Some((percent, p.rounds));
        let rounds = if p.rounds > 0 { format!(", current instance at round {}", p.rounds) } else { String::new() };
        eprint!("\r  {}/{} instances ({percent}%){rounds}   ", p.groups_done, p.groups_total);
    }

    pub(crate) fn clear(&self) {
        if self.shown.is_some() {
            eprint!("\r{:60}\r", "");
        }
    }
}
