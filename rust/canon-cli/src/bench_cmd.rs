//! `canon bench [WORKLOAD] [--json]`: the named performance workloads, each
//! timed with the wall clock (a benchmark, not a test: nothing canonical
//! depends on these figures) and measured with the counting allocator of the
//! `canon` binary (allocations and peak live heap).
//!
//! Every line is one `(workload, op)` figure: `ns_per_op`, `ops_per_sec`,
//! `allocs_per_op` and `peak_bytes` (the largest live-heap growth over the
//! timed repetitions). docs/performance.md lists the workloads and the
//! figures they gave.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use canon_bytecode::VerifiedProgram;
use canon_machine::{Auth, Event, Group, GroupStatus, NullHost, ReplayMode};
use canon_replay::{Replay, ReplayWriter};
use canon_runtime::{Config, CooperativeRunner, Machine, Runner, SeededHost, ThreadedRunner, reexecute};
use peakmem_alloc::PeakMemAllocTrait;

use crate::alloc::{ALLOC, count_allocations};
use crate::exit;
use crate::out::Out;

/// `canon bench` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Only this workload (default: every workload). `canon bench --list` names them.
    pub workload: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Tiny sizes (a smoke test of every workload; the figures mean little).
    #[arg(long)]
    pub quick: bool,
    /// Print the workload names and exit.
    #[arg(long)]
    pub list: bool,
    /// Multiplies the default sizes (and repetition counts), e.g. 0.05 for a
    /// run under an instruction-counting profiler.
    #[arg(long, default_value_t = 1.0, hide = true)]
    pub scale: f64,
}

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub workload: &'static str,
    pub op: String,
    pub ns_per_op: f64,
    pub ops_per_sec: f64,
    pub allocs_per_op: f64,
    pub peak_bytes: u64,
}

impl Figure {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "workload": self.workload,
            "op": self.op,
            "ns_per_op": round(self.ns_per_op, 1),
            "ops_per_sec": self.ops_per_sec.round(),
            "allocs_per_op": round(self.allocs_per_op, 4),
            "peak_bytes": self.peak_bytes,
        })
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (x * k).round() / k
}

/// Sizes of one run of the workloads.
#[derive(Debug, Clone, Copy)]
struct Size {
    quick: bool,
    scale: f64,
}

impl Size {
    /// `default` (times `--scale`, at least 1) normally, `quick` under `--quick`.
    fn pick<T: TryFrom<u64> + Into<u64> + Copy>(self, default: T, quick: T) -> T {
        if self.quick {
            return quick;
        }
        let scaled = (default.into() as f64 * self.scale).round().max(1.0) as u64;
        T::try_from(scaled).unwrap_or(default)
    }
}

type Workload = fn(Size, &mut dyn FnMut(Figure)) -> Result<()>;

/// Every workload, in the order `canon bench` runs them.
const WORKLOADS: &[(&str, Workload)] = &[
    ("ping_pong", ping_pong),
    ("ping_pong_signed", ping_pong_signed),
    ("ping_pong_round_signed", ping_pong_round_signed),
    ("session_churn", session_churn),
    ("two_buyer", two_buyer),
    ("two_buyer_signed", two_buyer_signed),
    ("two_buyer_round_signed", two_buyer_round_signed),
    ("parallel_sessions", parallel_sessions),
    ("replay_write", replay_write),
    ("reexecute", reexecute_workload),
    ("send_recv", send_recv),
    ("run_yield_small", run_yield_small),
    ("choice_heavy", choice_heavy),
    ("short_lived_session_churn", short_lived_session_churn),
];

pub fn bench(args: &BenchArgs, out: &mut Out) -> Result<u8> {
    count_allocations();
    if args.list {
        for (name, _) in WORKLOADS {
            writeln!(out, "{name}")?;
        }
        return Ok(exit::OK);
    }
    let selected: Vec<_> = match &args.workload {
        None => WORKLOADS.iter().collect(),
        Some(w) => {
            let found: Vec<_> = WORKLOADS.iter().filter(|(name, _)| name == w).collect();
            if found.is_empty() {
                let names: Vec<_> = WORKLOADS.iter().map(|(n, _)| *n).collect();
                bail!("unknown workload `{w}`; the workloads are: {}", names.join(", "));
            }
            found
        }
    };
    let size = Size { quick: args.quick, scale: args.scale };
    let json = args.json;
    if !json {
        writeln!(
            out,
            "{:<26} {:<22} {:>12} {:>14} {:>11} {:>12}",
            "workload", "op", "ns/op", "ops/s", "allocs/op", "peak bytes"
        )?;
    }
    for (name, workload) in selected {
        // Each figure is shown as soon as it is measured; the first write
        // error stops the bench after the workload.
        let mut failed = None;
        workload(size, &mut |f| {
            if failed.is_some() {
                return;
            }
            let written = if json {
                writeln!(out, "{}", f.json())
            } else {
                writeln!(
                    out,
                    "{:<26} {:<22} {:>12.1} {:>14.0} {:>11.4} {:>12}",
                    f.workload, f.op, f.ns_per_op, f.ops_per_sec, f.allocs_per_op, f.peak_bytes
                )
            };
            failed = written.and_then(|()| out.flush()).err();
        })
        .with_context(|| format!("workload {name}"))?;
        if let Some(e) = failed {
            return Err(e.into());
        }
    }
    Ok(exit::OK)
}

/// Runs `f` once to warm up, then `reps` times, timed and counted; `ops`
/// operations per repetition.
fn measure(workload: &'static str, op: &str, reps: u32, ops: u64, mut f: impl FnMut()) -> Figure {
    f();
    let stats = stats_alloc::INSTRUMENTED_SYSTEM.stats();
    ALLOC.reset_peak_memory();
    // The one wall-clock read of canon: a benchmark's timing, never an input to a run.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    for _ in 0..reps {
        f();
    }
    let elapsed = start.elapsed().as_nanos() as f64;
    let peak_bytes = ALLOC.get_peak_memory() as u64;
    let after = stats_alloc::INSTRUMENTED_SYSTEM.stats();
    let allocs = (after.allocations + after.reallocations) - (stats.allocations + stats.reallocations);
    let total_ops = (u64::from(reps) * ops).max(1) as f64;
    let ns_per_op = elapsed / total_ops;
    Figure {
        workload,
        op: op.to_owned(),
        ns_per_op,
        ops_per_sec: if ns_per_op > 0.0 { 1e9 / ns_per_op } else { 0.0 },
        allocs_per_op: allocs as f64 / total_ops,
        peak_bytes,
    }
}

/// Signing keys for the signed workloads: the public test key seed (a
/// benchmark signs nothing anyone relies on).
fn bench_keys() -> canon_machine::KeySource {
    canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC)
}

fn unsigned() -> Config {
    Config { auth: Auth::None, ..Config::default() }
}

fn verified(src: &str) -> Result<Arc<VerifiedProgram>> {
    let module = canon_bytecode::assemble(src).context("bench program assembles")?;
    Ok(Arc::new(canon_bytecode::verify(module).context("bench program verifies")?))
}

const TWO_BUYER: &str = include_str!("../../../fixtures/two_buyer.canon");

fn two_buyer_program() -> Result<Arc<VerifiedProgram>> {
    Ok(Arc::new(canon::compile_source("two_buyer.canon", TWO_BUYER, None)?))
}

/// Runs `groups` instances of `program` through the cooperative runner with
/// the replay written; returns the replay bytes' length.
fn run_recorded(program: &Arc<VerifiedProgram>, config: &Config, groups: u32, seeded: bool) -> Result<usize> {
    let mut machine = Machine::new(*config);
    machine.set_key_source(bench_keys());
    for g in 0..groups {
        let host: Box<dyn canon_runtime::Host + Send> =
            if seeded { Box::new(SeededHost::new(config.seed ^ u64::from(g))) } else { Box::new(NullHost) };
        machine.load(program, host)?;
    }
    let outcome = CooperativeRunner.run(&mut machine);
    if outcome.faulted() || outcome.stalled().is_some() {
        bail!("the bench program did not complete");
    }
    Ok(outcome.replay_bytes().len())
}

/// Runs `groups` instances of `program` as `canon run --sessions` does:
/// loaded lazily (each built when the runner reaches it and dropped once
/// written), through the cooperative runner, with the replay streamed into
/// memory (where `-o` streams it to a file); returns the replay's length.
/// Host `g` is seeded as in [`run_unrecorded`], so the two run the same
/// sessions and differ only in the recording.
fn run_recorded_lazy(program: &Arc<VerifiedProgram>, config: &Config, groups: u32) -> Result<usize> {
    let mut machine = Machine::new(*config);
    machine.set_key_source(bench_keys());
    let seed = config.seed;
    let hosts = Box::new(move |g: u32| -> Box<dyn canon_runtime::Host + Send> {
        Box::new(SeededHost::new(seed ^ u64::from(g)))
    });
    machine.load_lazy(program, groups, hosts, &[])?;
    let mut replay = Vec::new();
    let summary = CooperativeRunner.run_to(&mut machine, &mut replay, &mut |_| {}, &mut |_| {})?;
    if summary.faulted() || summary.stalled > 0 {
        bail!("the bench program did not complete");
    }
    Ok(replay.len())
}

/// Runs `groups` instances of `program` round by round, draining (and
/// dropping) the events as a runner does, but writing no replay.
fn run_unrecorded(program: &Arc<VerifiedProgram>, config: &Config, groups: u32, events: &mut Vec<Event>) {
    let image = Arc::new(canon_machine::ProgramImage::new(Arc::clone(program)));
    for g in 0..groups {
        let host = Box::new(SeededHost::new(config.seed ^ u64::from(g)));
        let mut group = Group::with_image(Arc::clone(&image), g, config, host);
        group.set_key_source(bench_keys());
        while *group.status() == GroupStatus::Running {
            group.run_round();
            group.drain_events(events);
            events.clear();
        }
        group.drain_events(events);
        events.clear();
    }
}

fn ping_pong_with(
    name: &'static str,
    config: Config,
    iterations: u64,
    reps: u32,
    emit: &mut dyn FnMut(Figure),
) -> Result<()> {
    let program = verified(&canon_bytecode::workloads::ping_pong_casm(iterations))?;
    let messages = 2 * iterations + 1;
    let mut failed = None;
    emit(measure(name, "message", reps, messages, || {
        if let Err(e) = run_recorded(&program, &config, 1, false) {
            failed = Some(e);
        }
    }));
    if let Some(e) = failed {
        return Err(e);
    }
    let mut events = Vec::with_capacity(1 << 12);
    emit(measure(name, "message_unrecorded", reps, messages, || {
        let mut group = Group::new(Arc::clone(&program), 0, &config, Box::new(NullHost));
        group.set_key_source(bench_keys());
        while *group.status() == GroupStatus::Running {
            group.run_round();
            group.drain_events(&mut events);
            events.clear();
        }
        black_box(group.outcome());
    }));
    Ok(())
}

/// One two-role session exchanging messages in a `mu` loop, unsigned; per
/// message, through the cooperative runner with the replay written, and
/// through the machine alone with no replay.
fn ping_pong(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    ping_pong_with("ping_pong", unsigned(), size.pick(200_000, 50), size.pick(5, 1), emit)
}

/// `ping_pong` with every message signed and verified (Ed25519, the default).
fn ping_pong_signed(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    ping_pong_with("ping_pong_signed", Config::default(), size.pick(2_000, 5), size.pick(3, 1), emit)
}

/// `ping_pong_signed` under round-batched signing (`Auth::Ed25519Round`).
fn ping_pong_round_signed(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    let config = Config { auth: Auth::Ed25519Round, ..Config::default() };
    ping_pong_with("ping_pong_round_signed", config, size.pick(2_000, 5), size.pick(3, 1), emit)
}

/// One coroutine opens a two-role session, sends one message, receives it
/// and closes both endpoints, `sessions` times; per session, through the runner.
fn session_churn(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    let sessions: u64 = size.pick(100_000, 20);
    let src = format!(
        ".type ta = B!M(Int).end
.type tb = A?M(Int).end
.const zero = int 0
.const one = int 1
.const n = int {sessions}
.entry main
.proc main() regs 7
    const r2, zero
    const r3, one
    const r4, n
loop:
    lt r5, r2, r4
    jmp_if r5, body
    halt
body:
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    send r0, M, r2
    recv r1, M, r6
    close r0
    close r1
    add r2, r2, r3
    jmp loop
.end
"
    );
    let program = verified(&src)?;
    let config = unsigned();
    let mut failed = None;
    emit(measure("session_churn", "session", size.pick(5, 1), sessions, || {
        if let Err(e) = run_recorded(&program, &config, 1, false) {
            failed = Some(e);
        }
    }));
    failed.map_or(Ok(()), Err)
}

fn two_buyer_with(
    name: &'static str,
    size: Size,
    config: Config,
    sessions: u32,
    emit: &mut dyn FnMut(Figure),
) -> Result<()> {
    let program = two_buyer_program()?;
    let mut failed = None;
    emit(measure(name, "session", size.pick(3, 1), u64::from(sessions), || {
        if let Err(e) = run_recorded_lazy(&program, &config, sessions) {
            failed = Some(e);
        }
    }));
    if let Some(e) = failed {
        return Err(e);
    }
    let mut events = Vec::with_capacity(64);
    emit(measure(name, "session_unrecorded", size.pick(3, 1), u64::from(sessions), || {
        run_unrecorded(&program, &config, sessions, &mut events);
    }));
    Ok(())
}

/// The two-buyer fixture, one session per instance, unsigned: per session
/// end to end with the replay recorded, and with no replay.
fn two_buyer(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    two_buyer_with("two_buyer", size, unsigned(), size.pick(20_000, 4), emit)
}

/// `two_buyer` with every message signed and verified.
fn two_buyer_signed(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    two_buyer_with("two_buyer_signed", size, Config::default(), size.pick(2_000, 2), emit)
}

/// `two_buyer_signed` under round-batched signing (`Auth::Ed25519Round`).
fn two_buyer_round_signed(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    let config = Config { auth: Auth::Ed25519Round, ..Config::default() };
    two_buyer_with("two_buyer_round_signed", size, config, size.pick(2_000, 2), emit)
}

/// Two-buyer instances through the cooperative runner and the threaded
/// runner on two workers, loaded lazily as `canon run --sessions` loads them
/// (each built when the runner reaches it, on a worker under the threaded
/// runner, and dropped once written) with the replay streamed to a
/// discarding sink, as `canon run` without `-o`; per session. The replays'
/// roots are checked equal.
fn parallel_sessions(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    let sessions: u32 = size.pick(100_000, 8);
    let program = two_buyer_program()?;
    let config = unsigned();
    let mut roots = Vec::new();
    let mut failed = None;
    for (op, workers) in [("cooperative", 0usize), ("threaded_2", 2)] {
        emit(measure("parallel_sessions", op, 1, u64::from(sessions), || {
            let mut machine = Machine::new(config);
            machine.set_key_source(bench_keys());
            let seed = config.seed;
            let hosts = Box::new(move |g: u32| -> Box<dyn canon_runtime::Host + Send> {
                Box::new(SeededHost::new(seed ^ u64::from(g)))
            });
            if let Err(e) = machine.load_lazy(&program, sessions, hosts, &[]) {
                failed = Some(e.into());
                return;
            }
            let threaded = ThreadedRunner::new(workers);
            let runner: &dyn Runner = if workers == 0 { &CooperativeRunner } else { &threaded };
            match runner.run_to(&mut machine, &mut std::io::sink(), &mut |_| {}, &mut |_| {}) {
                Ok(summary) => roots.push(summary.root),
                Err(e) => failed = Some(e.into()),
            }
        }));
    }
    if let Some(e) = failed {
        return Err(e);
    }
    if roots.windows(2).any(|w| w[0] != w[1]) {
        bail!("the threaded runner's replay differs from the cooperative runner's");
    }
    Ok(())
}

/// A recorded two-buyer replay of `sessions` instances, and its program.
fn recorded_two_buyer(config: &Config, sessions: u32) -> Result<(Arc<VerifiedProgram>, Replay)> {
    let program = two_buyer_program()?;
    let mut machine = Machine::new(*config);
    machine.set_key_source(bench_keys());
    for g in 0..sessions {
        machine.load(&program, Box::new(SeededHost::new(config.seed ^ u64::from(g))))?;
    }
    let outcome = CooperativeRunner.run(&mut machine);
    let replay = Replay::decode(outcome.replay_bytes())?;
    Ok((program, replay))
}

/// The events of a recorded two-buyer run written into a replay (encoding,
/// block digests, chain); per event.
fn replay_write(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    let (_, replay) = recorded_two_buyer(&unsigned(), size.pick(20_000, 2))?;
    let events = replay.events.len() as u64;
    emit(measure("replay_write", "event", 5, events, || {
        let mut w = ReplayWriter::new(&replay.header);
        for e in &replay.events {
            w.push(e);
        }
        black_box(w.finish_bytes());
    }));
    Ok(())
}

/// Re-execution of a recorded two-buyer replay with its recorded host
/// answers (what `canon replay verify --program` does); per session.
fn reexecute_workload(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    let sessions = size.pick(2_000, 2);
    let config = unsigned();
    let (program, replay) = recorded_two_buyer(&config, sessions)?;
    let mut failed = None;
    emit(measure("reexecute", "session", 3, u64::from(sessions), || match reexecute(&program, &replay) {
        Ok(again) if again.events.len() == replay.events.len() => {}
        Ok(_) => failed = Some(anyhow::anyhow!("re-execution diverged")),
        Err(e) => failed = Some(e.into()),
    }));
    failed.map_or(Ok(()), Err)
}

/// The reference machine's `send_recv`: one machine, 32 two-role sessions
/// of one prebuilt program, one unit message each, replay recorded; per
/// iteration, for each replay-consumption mode.
fn send_recv(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    let program = verified(
        ".type ta = B!M().end
.type tb = A?M().end
.const nothing = unit
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn sender, [r0]
    spawn receiver, [r1]
    halt
.end
.proc sender(ep ta) regs 2
    const r1, nothing
    send r0, M, r1
    close r0
    halt
.end
.proc receiver(ep tb) regs 2
    recv r0, M, r1
    close r0
    halt
.end
",
    )?;
    let reps = size.pick(2_000, 2);
    for (op, replay_mode) in
        [("off", ReplayMode::Off), ("sequence", ReplayMode::Sequence), ("nullifier", ReplayMode::Nullifier)]
    {
        let config = Config { replay_mode, ..unsigned() };
        let mut failed = None;
        emit(measure("send_recv", op, reps, 1, || {
            if let Err(e) = run_recorded(&program, &config, 32, false) {
                failed = Some(e);
            }
        }));
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(())
}

/// A session of `roles` roles (every local type `end`) whose role
/// coroutines each yield `yields` times, then close.
fn yields_src(roles: usize, yields: u64) -> String {
    let names: Vec<String> = (0..roles).map(|i| format!("R{i}")).collect();
    let regs: Vec<String> = (0..roles).map(|i| format!("r{i}")).collect();
    let mut src = format!(
        ".type e = end
.const zero = int 0
.const one = int 1
.const n = int {yields}
.entry main
.proc main() regs {roles}
    open roles [{}], types [{}], handlers [{}], dsts [{}]
",
        names.join(", "),
        vec!["e"; roles].join(", "),
        vec!["default"; roles].join(", "),
        regs.join(", "),
    );
    for r in &regs {
        src.push_str(&format!("    spawn role, [{r}]\n"));
    }
    src.push_str(
        "    halt
.end
.proc role(ep e) regs 5
    const r1, zero
    const r2, one
    const r3, n
loop:
    lt r4, r1, r3
    jmp_if r4, again
    close r0
    halt
again:
    yield
    add r1, r1, r2
    jmp loop
.end
",
    );
    src
}

/// The reference machine's `run_yield_small`: one session, 8 roles × 64 yields; per iteration.
fn run_yield_small(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    let program = verified(&yields_src(8, 64))?;
    let config = unsigned();
    let mut failed = None;
    emit(measure("run_yield_small", "iteration", size.pick(2_000, 2), 1, || {
        if let Err(e) = run_recorded(&program, &config, 1, false) {
            failed = Some(e);
        }
    }));
    failed.map_or(Ok(()), Err)
}

const CHOICE: &str = "module bench.Choice;
type <java> \"java.lang.Integer\" from \"rt.jar\" as Int;
global protocol Choice(role A, role B) {
  choice at A {
    One(Int) from A to B;
  } or {
    Two(Int) from A to B;
  } or {
    Three(Int) from A to B;
  }
}
";

/// The reference machine's `choice_heavy`: compile a two-role three-label
/// choice from choreography text (inside the timed region), then 32
/// sessions each making one choice; per iteration.
fn choice_heavy(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    let config = unsigned();
    let mut failed = None;
    emit(measure("choice_heavy", "iteration", size.pick(1_000, 2), 1, || {
        let run = || -> Result<usize> {
            let program = Arc::new(canon::compile_source("choice.canon", CHOICE, None)?);
            run_recorded(&program, &config, 32, true)
        };
        if let Err(e) = run() {
            failed = Some(e);
        }
    }));
    failed.map_or(Ok(()), Err)
}

/// The reference machine's `short_lived_session_churn`: 32 times a new
/// machine that opens a 4-role session whose roles yield 8 times, runs it
/// and closes it; per iteration.
fn short_lived_session_churn(size: Size, emit: &mut dyn FnMut(Figure)) -> Result<()> {
    let program = verified(&yields_src(4, 8))?;
    let config = unsigned();
    let mut failed = None;
    emit(measure("short_lived_session_churn", "iteration", size.pick(1_000, 2), 1, || {
        for _ in 0..32 {
            if let Err(e) = run_recorded(&program, &config, 1, false) {
                failed = Some(e);
            }
        }
    }));
    failed.map_or(Ok(()), Err)
}
