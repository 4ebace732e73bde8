//! `canon run`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use canon_machine::{Auth, Expected, GroupStatus, Injection, ReplayMode, SessionStatus, StallReport};
use canon_runtime::{
    Config, CooperativeRunner, Limits, Machine, Progress, RunOutcome, Runner, SeededHost, ThreadedRunner,
};
use clap::{Args, ValueEnum};

use canon_types::hex;
use serde_json::{Value as Json, json};

use crate::out::Out;
use crate::{exit, files, input};

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
    /// Worker threads for the threaded runner.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Independent instances of the program's entry to run (distinct session ids; host seeds derived from --seed).
    #[arg(long, default_value_t = 1)]
    pub sessions: u32,
    /// Stop a group after this many rounds (exit code 5). The default is the library's.
    #[arg(long, default_value_t = Limits::default().max_rounds)]
    pub max_rounds: u64,
    /// Instructions a coroutine may run per round.
    #[arg(long, default_value_t = Limits::default().fuel_per_quantum)]
    pub fuel: u32,
    /// The protocol to run when a choreography file has several.
    #[arg(long)]
    pub protocol: Option<String>,
    /// Print only one status line (ok, faulted: fault NNNN, stalled, round budget exhausted,
    /// sessions cancelled, interrupted).
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    /// Print one JSON object (schema in docs/cli.md) instead of the summary.
    #[arg(long)]
    pub json: bool,
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

/// The machine configuration of a CLI run (also rebuilt by `replay verify`).
pub fn config(seed: u64, max_rounds: u64, fuel: u32, security: SecurityArgs) -> Config {
    let limits = Limits { max_rounds, fuel_per_quantum: fuel.max(1), ..Limits::default() };
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
        eprintln!("warning: Ctrl-C will not stop the run cleanly: {e}");
    }
    stop
}

pub fn run(args: &RunArgs, out: &mut Out) -> Result<u8> {
    let program = input::program_file(&args.input, args.protocol.as_deref())?;
    let config = config(args.seed, args.max_rounds, args.fuel, args.security);
    let mut machine = Machine::new(config);
    for i in 0..args.sessions.max(1) {
        let group = machine.load(&program, Box::new(SeededHost::new(instance_seed(args.seed, i))))?;
        if let Some(g) = machine.group_mut(group) {
            args.inject.iter().for_each(|inj| g.inject(inj.nth, inj.injection));
        }
    }
    let stop = interrupt_flag();
    let mut progress = ProgressLine::new(!args.quiet && !args.json && std::io::stderr().is_terminal());
    let mut observe = |p: Progress| progress.show(p);
    let outcome = match args.runner {
        RunnerKind::Cooperative => CooperativeRunner.run_until(&mut machine, &mut observe, &stop),
        RunnerKind::Threaded => ThreadedRunner::new(args.workers).run_until(&mut machine, &mut observe, &stop),
    };
    progress.clear();
    if let Some(path) = &args.output {
        files::write_atomic(path, outcome.replay_bytes())?;
    }
    let status = report_status(&outcome);
    if args.json {
        writeln!(out, "{}", run_json(args, &outcome, program.module(), status))?;
    } else if args.quiet {
        writeln!(out, "{}", status_line(&outcome))?;
    } else {
        print_summary(out, args, &outcome, program.module())?;
    }
    if outcome.interrupted() {
        eprintln!("interrupted: {}", where_stopped(&outcome));
    }
    Ok(status)
}

/// Where an interrupted run stopped: the instance cut short and its round.
fn where_stopped(outcome: &RunOutcome) -> String {
    let done = outcome.groups.iter().filter(|g| g.outcome.status != GroupStatus::Running).count();
    match outcome.groups.iter().find(|g| g.outcome.status == GroupStatus::Running) {
        Some(g) => format!(
            "stopped instance {} after round {}; {done} instance(s) finished before it",
            g.group, g.outcome.rounds
        ),
        None => format!("stopped after {done} finished instance(s)"),
    }
}

/// The `--json` object of `canon run` (schema in docs/cli.md).
fn run_json(args: &RunArgs, outcome: &RunOutcome, module: &canon_bytecode::Module, status: u8) -> Json {
    let strings = &module.strings;
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for (_, s) in outcome.groups.iter().flat_map(|g| g.sessions.iter()) {
        *counts.entry(status_name(*s)).or_default() += 1;
    }
    let faults: Vec<Json> = outcome
        .groups
        .iter()
        .flat_map(|g| g.faults.iter().map(move |f| (g.group, f)))
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
    let stalled = outcome.stalled().and_then(|g| match &g.outcome.status {
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
        "instances": outcome.groups.len(),
        "sessions": outcome.session_count(),
        "messages": outcome.message_count(),
        "events": outcome.event_count(),
        "rounds": outcome.rounds(),
        "session_statuses": counts,
        "faults": faults,
        "stalled": stalled,
        "interrupted": outcome.interrupted().then(|| where_stopped(outcome)),
        "unapplied_injections": unapplied_injections(args, outcome)
            .iter()
            .map(|i| format!("{}@{}", i.injection.name(), i.nth))
            .collect::<Vec<_>>(),
        "replay": { "root": hex(&outcome.root()), "path": args.output.as_ref().map(|p| p.display().to_string()) },
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
    outcome: &RunOutcome,
    module: &canon_bytecode::Module,
) -> Result<(), crate::out::OutputError> {
    let strings = &module.strings;
    writeln!(
        out,
        "ran {} (seed {}, {} runner{})",
        args.input.display(),
        args.seed,
        runner_name(args.runner),
        if args.runner == RunnerKind::Threaded { format!(", {} workers", args.workers) } else { String::new() }
    )?;
    writeln!(
        out,
        "  instances {}, sessions {}, messages {}, events {}, rounds {}",
        outcome.groups.len(),
        outcome.session_count(),
        outcome.message_count(),
        outcome.event_count(),
        outcome.rounds()
    )?;
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for (_, status) in outcome.groups.iter().flat_map(|g| g.sessions.iter()) {
        *counts.entry(status_name(*status)).or_default() += 1;
    }
    let statuses: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    writeln!(
        out,
        "  final session statuses: {}",
        if statuses.is_empty() { "none".into() } else { statuses.join(", ") }
    )?;
    for g in outcome.groups.iter().filter(|g| !g.faults.is_empty()).take(5) {
        for f in &g.faults {
            writeln!(
                out,
                "  fault {} in instance {} coroutine {} at proc {} instr {} (tick {}): {}",
                canon_types::ErrorCode::code(&f.fault),
                g.group,
                f.coroutine,
                f.proc,
                f.pc,
                f.tick,
                f.fault.describe(module)
            )?;
        }
    }
    if let Some(g) = outcome.stalled()
        && let GroupStatus::Stalled(report) = &g.outcome.status
    {
        print_stall(out, g.group, report, strings)?;
    }
    if outcome.budget_exhausted() {
        let stopped = outcome.groups.iter().filter(|g| g.outcome.status == GroupStatus::BudgetExhausted).count();
        writeln!(
            out,
            "  round budget exhausted: {stopped} instance(s) stopped after {} rounds (raise --max-rounds); the replay holds the run so far",
            args.max_rounds
        )?;
    }
    if outcome.interrupted() {
        writeln!(out, "  interrupted: {}; the replay holds every round run so far", where_stopped(outcome))?;
    }
    if !args.inject.is_empty() {
        let list: Vec<String> = args.inject.iter().map(|i| format!("{}@{}", i.injection.name(), i.nth)).collect();
        writeln!(out, "  injected per instance: {}", list.join(", "))?;
        for i in unapplied_injections(args, outcome) {
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
        Some(path) => writeln!(out, "  replay root {} -> {}", hex(&outcome.root()), path.display()),
        None => writeln!(out, "  replay root {}", hex(&outcome.root())),
    }
}

fn waits(w: &Expected, strings: &[String]) -> String {
    match w {
        Expected::Send { peer } => format!("room to send to {}", sym(strings, peer.0)),
        Expected::Recv { peer } => format!("a message from {}", sym(strings, peer.0)),
        Expected::End => "close".to_owned(),
    }
}

/// The `--inject` faults that no instance's run reached (an index past the
/// messages sent), found from the replay's `Injected` events.
fn unapplied_injections(args: &RunArgs, outcome: &RunOutcome) -> Vec<InjectArg> {
    let Ok(replay) = canon_replay::Replay::decode(outcome.replay_bytes()) else { return Vec::new() };
    let applied: std::collections::BTreeSet<(&str, u64)> = replay
        .events
        .iter()
        .filter_map(|e| match e.kind {
            canon_machine::EventKind::Injected { injection, nth, .. } => Some((injection.name(), nth)),
            _ => None,
        })
        .collect();
    args.inject.iter().filter(|i| !applied.contains(&(i.injection.name(), i.nth))).copied().collect()
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

/// Whether a session of the run ended cancelled or aborted.
fn sessions_cancelled(outcome: &RunOutcome) -> usize {
    outcome
        .groups
        .iter()
        .flat_map(|g| g.sessions.iter())
        .filter(|(_, s)| matches!(s, SessionStatus::Cancelled | SessionStatus::Aborted))
        .count()
}

/// The one line `--quiet` prints: the outcome, and the first fault's code.
fn status_line(outcome: &RunOutcome) -> String {
    let faults: Vec<_> = outcome.groups.iter().flat_map(|g| g.faults.iter()).collect();
    if outcome.interrupted() {
        format!("interrupted: {}", where_stopped(outcome))
    } else if let Some(first) = faults.first() {
        format!("faulted: fault {} ({} faulted coroutines)", canon_types::ErrorCode::code(&first.fault), faults.len())
    } else if let Some(g) = outcome.stalled() {
        format!("stalled: instance {}", g.group)
    } else if outcome.budget_exhausted() {
        "round budget exhausted".to_owned()
    } else if sessions_cancelled(outcome) > 0 {
        format!("sessions cancelled: {}", sessions_cancelled(outcome))
    } else {
        "ok".to_owned()
    }
}

/// The exit code of a run (table in docs/cli.md): an interruption first,
/// then a fault, a stall, the round budget, and cancelled sessions.
fn report_status(outcome: &RunOutcome) -> u8 {
    if outcome.interrupted() {
        exit::INTERRUPTED
    } else if outcome.faulted() {
        exit::FAULTED
    } else if outcome.stalled().is_some() {
        exit::STALLED
    } else if outcome.budget_exhausted() {
        exit::BUDGET_EXHAUSTED
    } else if sessions_cancelled(outcome) > 0 {
        exit::SESSIONS_CANCELLED
    } else {
        exit::OK
    }
}

/// Progress on stderr for long runs, with rate and ETA (only on a terminal:
/// logs and pipes get the summary alone). It appears for runs of 100 or more
/// instances, or when one instance runs long.
struct ProgressLine {
    on: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressLine {
    fn new(on: bool) -> Self {
        ProgressLine { on, bar: None }
    }

    fn show(&mut self, p: Progress) {
        if !self.on || p.groups_total == 0 || (p.rounds == 0 && p.groups_total < 100 && self.bar.is_none()) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(p.groups_total as u64),
                indicatif::ProgressDrawTarget::stderr(),
            );
            let style = indicatif::ProgressStyle::with_template(
                "  {pos}/{len} instances ({percent}%) {per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        bar.set_position(p.groups_done as u64);
        if p.rounds > 0 {
            bar.set_message(format!("current instance at round {}", p.rounds));
        } else {
            bar.set_message("");
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
