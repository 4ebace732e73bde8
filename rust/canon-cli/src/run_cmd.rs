//! `canon run`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use canon_machine::{Auth, Expected, GroupStatus, Injection, ReplayMode, SessionStatus, StallReport};
use canon_runtime::{
    Config, CooperativeRunner, Limits, Machine, Progress, RunOutcome, Runner, SeededHost, ThreadedRunner,
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
}

/// `--replay-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReplayModeArg {
    /// No replay-consumption check.
    Off,
    /// Each message's seq must be the next expected on its edge.
    Sequence,
    /// Each message's identity (hash of its envelope) may be consumed once per session.
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

fn parse_inject(s: &str) -> Result<InjectArg, String> {
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
    /// from --seed), at most 100,000.
    #[arg(long, default_value_t = 1)]
    pub sessions: u32,
    /// Stop a group after this many rounds (exit code 5).
    #[arg(long, default_value_t = 1_000_000)]
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
    /// Inject a transport fault into the N-th message sent (from 0, default 0) by every instance:
    /// duplicate, reorder, drop, corrupt-payload or corrupt-signature. Repeatable.
    #[arg(long, value_name = "KIND[@N]", value_parser = parse_inject)]
    pub inject: Vec<InjectArg>,
}

/// Host seed of instance `i`: derived from the run seed, never from scheduling.
fn instance_seed(seed: u64, i: u32) -> u64 {
    seed ^ u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Most instances one `canon run` loads (`--sessions`): every instance is a
/// group held in memory for the whole run.
pub const MAX_SESSIONS: u32 = 100_000;

/// Worker threads allowed per core (`--workers`), and the least cap whatever
/// the core count.
pub const MAX_WORKERS_PER_CORE: usize = 8;
pub const MIN_WORKERS_CAP: usize = 64;

/// The largest `--workers` this machine accepts.
pub fn max_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores * MAX_WORKERS_PER_CORE).max(MIN_WORKERS_CAP)
}

/// Refuses counts that would exhaust memory or threads before running.
fn check_counts(args: &RunArgs) -> Result<()> {
    if args.sessions > MAX_SESSIONS {
        anyhow::bail!(
            "--sessions {} is over the limit of {MAX_SESSIONS} instances per run (each is held in memory); \
             split the run",
            args.sessions
        );
    }
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
    let mut machine = Machine::new(config);
    for i in 0..args.sessions.max(1) {
        let group = machine.load(&program, Box::new(SeededHost::new(instance_seed(args.seed, i))))?;
        if let Some(g) = machine.group_mut(group) {
            args.inject.iter().for_each(|inj| g.inject(inj.nth, inj.injection));
        }
    }
    let mut progress = ProgressLine::new(!args.quiet && std::io::stderr().is_terminal());
    let outcome = match args.runner {
        RunnerKind::Cooperative => CooperativeRunner.run_observed(&mut machine, &mut |p| progress.show(p)),
        RunnerKind::Threaded => ThreadedRunner::new(args.workers).run_observed(&mut machine, &mut |p| progress.show(p)),
    };
    progress.clear();
    if let Some(path) = &args.output {
        std::fs::write(path, outcome.replay_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let strings = &program.module().strings;
    if args.quiet {
        println!("{}", status_line(&outcome));
    } else {
        print_summary(args, &outcome, program.module());
    }
    Ok(report_status(&outcome, strings))
}

fn status_name(s: SessionStatus) -> String {
    match s {
        SessionStatus::Faulted { code } => format!("Faulted({code})"),
        other => format!("{other:?}"),
    }
}

fn print_summary(args: &RunArgs, outcome: &RunOutcome, module: &canon_bytecode::Module) {
    let strings = &module.strings;
    println!(
        "ran {} (seed {}, {} runner{})",
        args.input.display(),
        args.seed,
        match args.runner {
            RunnerKind::Cooperative => "cooperative",
            RunnerKind::Threaded => "threaded",
        },
        if args.runner == RunnerKind::Threaded { format!(", {} workers", args.workers) } else { String::new() }
    );
    println!(
        "  instances {}, sessions {}, messages {}, events {}, rounds {}",
        outcome.groups.len(),
        outcome.session_count(),
        outcome.message_count(),
        outcome.event_count(),
        outcome.rounds()
    );
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for (_, status) in outcome.groups.iter().flat_map(|g| g.sessions.iter()) {
        *counts.entry(status_name(*status)).or_default() += 1;
    }
    let statuses: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("  final session statuses: {}", if statuses.is_empty() { "none".into() } else { statuses.join(", ") });
    for g in outcome.groups.iter().filter(|g| !g.faults.is_empty()).take(5) {
        for f in &g.faults {
            println!(
                "  fault {} in instance {} coroutine {} at proc {} instr {} (tick {}): {}",
                canon_types::ErrorCode::code(&f.fault),
                g.group,
                f.coroutine,
                f.proc,
                f.pc,
                f.tick,
                f.fault.describe(module)
            );
        }
    }
    if let Some(g) = outcome.stalled()
        && let GroupStatus::Stalled(report) = &g.outcome.status
    {
        print_stall(g.group, report, strings);
    }
    if outcome.budget_exhausted() {
        let count = |s: GroupStatus| outcome.groups.iter().filter(|g| g.outcome.status == s).count();
        let rounds = count(GroupStatus::BudgetExhausted);
        if rounds > 0 {
            println!(
                "  round budget exhausted: {rounds} instance(s) stopped after {} rounds (raise --max-rounds); the replay holds the run so far",
                args.max_rounds
            );
        }
        let instructions = count(GroupStatus::InstructionBudgetExhausted);
        if instructions > 0 {
            println!(
                "  instruction budget exhausted: {instructions} instance(s) stopped after {} instructions (raise --max-instructions); the replay holds the run so far",
                args.max_instructions
            );
        }
    }
    if !args.inject.is_empty() {
        let list: Vec<String> = args.inject.iter().map(|i| format!("{}@{}", i.injection.name(), i.nth)).collect();
        println!("  injected per instance: {}", list.join(", "));
    }
    match &args.output {
        Some(path) => println!("  replay root {} -> {}", hex(&outcome.root()), path.display()),
        None => println!("  replay root {}", hex(&outcome.root())),
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
fn status_line(outcome: &RunOutcome) -> String {
    let faults: Vec<_> = outcome.groups.iter().flat_map(|g| g.faults.iter()).collect();
    if let Some(first) = faults.first() {
        format!("faulted: fault {} ({} faulted coroutines)", canon_types::ErrorCode::code(&first.fault), faults.len())
    } else if let Some(g) = outcome.stalled() {
        format!("stalled: instance {}", g.group)
    } else if outcome.groups.iter().any(|g| g.outcome.status == GroupStatus::InstructionBudgetExhausted) {
        "instruction budget exhausted".to_owned()
    } else if outcome.budget_exhausted() {
        "round budget exhausted".to_owned()
    } else {
        "ok".to_owned()
    }
}

fn report_status(outcome: &RunOutcome, _strings: &[String]) -> u8 {
    if outcome.faulted() {
        exit::FAULTED
    } else if outcome.stalled().is_some() {
        exit::STALLED
    } else if outcome.budget_exhausted() {
        exit::BUDGET_EXHAUSTED
    } else {
        exit::OK
    }
}

/// A one-line progress display on stderr for long runs (only on a terminal:
/// logs and pipes get the summary alone). It shows whole percentages of the
/// instances done, and the round count of a long single instance.
struct ProgressLine {
    on: bool,
    shown: Option<(usize, u64)>,
}

impl ProgressLine {
    fn new(on: bool) -> Self {
        ProgressLine { on, shown: None }
    }

    fn show(&mut self, p: Progress) {
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

    fn clear(&self) {
        if self.shown.is_some() {
            eprint!("\r{:60}\r", "");
        }
    }
}
