//! canon's seeded fault simulator (in the manner of TigerBeetle's VOPR and
//! FoundationDB's simulator): one seed names one simulation exactly — the
//! program (a fixture, a random protocol compiled by canon-choreo, or a
//! random module that verifies), the configuration (auth, replay mode,
//! budgets), the instances, the transport faults injected into them and the
//! host's misbehaviour — and [`run_seed`] runs it, checking invariants after
//! every round of every instance and, at the end, that the replay verifies,
//! that the cooperative and threaded runners write the same bytes, and that
//! re-execution reproduces the recording.
//!
//! Faults are injected only where the machine already takes them as inputs
//! (`Group::inject` at the transport boundary, host answers); the
//! simulator schedules rounds and reads state, and the machine's one `step`
//! does all the executing.

mod check;
pub mod faults;
pub mod host;
pub mod programs;
pub mod rng;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{
    Auth, Config, Event, Group, GroupStatus, Injection, KeySeed, KeySource, ProgramImage, ReplayMode, cross_check,
    run_identity, verify_signatures,
};
use canon_replay::{Replay, ReplayHeader, ReplayWriter};
use canon_runtime::{CooperativeRunner, Machine, Runner, ThreadedRunner};

use check::Checker;
pub use check::Violation;
pub use faults::{FaultKind, FaultSet};
use host::SimHost;
use programs::SimProgram;
use rng::Rng;

/// What a simulation runs: the round budget per instance and the faults
/// it may inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimOptions {
    /// Rounds each instance may run (`Limits::max_rounds`).
    pub steps: u64,
    pub faults: FaultSet,
    /// A bug planted in the harness's own inputs, to show that it reports
    /// one (tests only; `None` in `canon sim`).
    pub sabotage: Option<Sabotage>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions { steps: 1_000, faults: FaultSet::all(), sabotage: None }
    }
}

/// A bug planted on purpose, for the test that the simulator can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// One byte of the recording flipped before it is checked.
    FlipReplayByte,
    /// The recording's last event removed and the file re-chained, so it
    /// still verifies but is no longer what the program does.
    TruncateRecording,
    /// The buffer check told buffers hold one message less than they may.
    TightBufferBound,
}

/// The one-line command that reproduces seed `seed` under `opts`.
pub fn repro_command(seed: u64, opts: &SimOptions) -> String {
    format!("canon sim --seed {seed} --steps {} --faults {}", opts.steps, opts.faults.to_arg())
}

/// What one seed did.
#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    pub seed: u64,
    /// Where the program came from.
    pub program: String,
    pub auth: String,
    pub replay_mode: String,
    pub instances: u32,
    /// Rounds run, over all instances.
    pub rounds: u64,
    pub events: u64,
    /// Transport faults planned and applied (`Injected` events).
    pub planned: u64,
    pub injected: u64,
    /// Coroutine faults (each typed and recorded).
    pub faults: u64,
    /// Instances that ended at a budget.
    pub cut: u32,
    pub violations: Vec<Violation>,
}

impl SeedReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// One seed's simulation, drawn from the seed.
struct Plan {
    program: SimProgram,
    config: Config,
    keys: KeySource,
    /// Per instance: the transport faults, as `(nth sent message, injection)`.
    injections: Vec<Vec<(u64, Injection)>>,
    host: SimHost,
}

fn plan(seed: u64, opts: &SimOptions) -> Result<Plan, String> {
    let mut rng = Rng::new(seed);
    let program = match rng.below(20) {
        0..=9 => programs::fixture(rng.below(programs::fixture_count() as u64) as usize)?,
        10..=16 => programs::random_protocol(&mut rng)?,
        _ => match programs::random_module(&mut rng) {
            Some(p) => p,
            None => programs::random_protocol(&mut rng)?,
        },
    };
    let mut config = Config { seed: rng.next_u64(), ..Config::default() };
    config.auth = [Auth::None, Auth::Ed25519, Auth::Ed25519Round][rng.below(3) as usize];
    config.replay_mode = [ReplayMode::Off, ReplayMode::Sequence, ReplayMode::Nullifier][rng.below(3) as usize];
    config.limits.max_rounds = opts.steps.max(1);
    if rng.one_in(2) {
        config.limits.fuel_per_quantum = 1 + rng.below(32) as u32;
    }
    if opts.faults.contains(FaultKind::Cut) && rng.one_in(4) {
        // The instance is cut short: a round or an instruction budget that ends it mid-protocol.
        match rng.one_in(2) {
            true => config.limits.max_rounds = 1 + rng.below(config.limits.max_rounds.min(32)),
            false => config.limits.max_instructions = 1 + rng.below(256),
        }
    }
    let mut secret = [0u8; 32];
    secret.chunks_mut(8).for_each(|c| c.copy_from_slice(&rng.next_u64().to_le_bytes()));
    let kinds = opts.faults.injections();
    let instances = 1 + rng.below(3) as usize;
    let injections = (0..instances)
        .map(|_| match kinds.is_empty() {
            true => Vec::new(),
            false => {
                (0..rng.below(4)).map(|_| (rng.below(12), kinds[rng.below(kinds.len() as u64) as usize])).collect()
            }
        })
        .collect();
    Ok(Plan {
        program,
        config,
        keys: KeySource::Seed(KeySeed::from_bytes(secret)),
        injections,
        host: SimHost::new(rng.next_u64(), opts.faults),
    })
}

/// Runs seed `seed`: never panics; a panic anywhere is reported as a violation.
pub fn run_seed(seed: u64, opts: &SimOptions) -> SeedReport {
    match catch_unwind(AssertUnwindSafe(|| simulate(seed, opts))) {
        Ok(report) => report,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            let violation = Violation { invariant: "no panic", detail: what };
            SeedReport { seed, violations: vec![violation], ..SeedReport::default() }
        }
    }
}

fn simulate(seed: u64, opts: &SimOptions) -> SeedReport {
    let mut report = SeedReport { seed, ..SeedReport::default() };
    let plan = match plan(seed, opts) {
        Ok(p) => p,
        Err(e) => {
            report.violations.push(Violation { invariant: "programs build", detail: e });
            return report;
        }
    };
    report.program = plan.program.origin.clone();
    report.auth = format!("{:?}", plan.config.auth);
    report.replay_mode = format!("{:?}", plan.config.replay_mode);
    report.instances = plan.injections.len() as u32;
    report.planned = plan.injections.iter().map(|i| i.len() as u64).sum();
    let program = &plan.program.program;
    let header = ReplayHeader {
        program_digest: program.digest(),
        config: plan.config,
        strings: program.module().strings.clone(),
    };
    let mut events = Vec::new();
    let image = Arc::new(ProgramImage::new(Arc::clone(program)));
    for (id, injections) in plan.injections.iter().enumerate() {
        let mut group = new_group(&plan, &image, id as u32, injections);
        let slack = if injections.is_empty() { 0 } else { 2 };
        let slack = if opts.sabotage == Some(Sabotage::TightBufferBound) { -1 } else { slack };
        let mut checker = Checker::new(slack, plan.config.replay_mode);
        run_checked(&mut group, &mut checker, &mut events, &mut report);
    }
    report.events = events.len() as u64;
    report.injected =
        events.iter().filter(|e| matches!(e.kind, canon_machine::EventKind::Injected { .. })).count() as u64;
    let mut recording = ReplayWriter::new(&header);
    events.iter().for_each(|e| recording.push(e));
    let mut bytes = recording.finish_bytes();
    check_runners(&plan, &bytes, &mut report);
    match opts.sabotage {
        Some(Sabotage::FlipReplayByte) => {
            let at = bytes.len() / 2;
            bytes[at] ^= 0x10;
        }
        Some(Sabotage::TruncateRecording) => {
            let mut forged = ReplayWriter::new(&header);
            events.iter().take(events.len().saturating_sub(1)).for_each(|e| forged.push(e));
            bytes = forged.finish_bytes();
        }
        _ => {}
    }
    check_replay(program, &bytes, &mut report);
    report
}

/// Instance `id` of the plan, with its injections and keys.
fn new_group(plan: &Plan, image: &Arc<ProgramImage>, id: u32, injections: &[(u64, Injection)]) -> Group {
    let mut group = Group::with_image(Arc::clone(image), id, &plan.config, Box::new(plan.host));
    group.set_key_source(plan.keys.clone());
    injections.iter().for_each(|&(nth, inj)| group.inject(nth, inj));
    group
}

/// Runs `group` round by round (as `canon_runtime::run_group` does),
/// checking after every round; appends its events to `log`.
fn run_checked(group: &mut Group, checker: &mut Checker, log: &mut Vec<Event>, report: &mut SeedReport) {
    let mut round = Vec::new();
    loop {
        let running = *group.status() == GroupStatus::Running;
        checker.before_round(group);
        if running {
            group.run_round();
        }
        group.drain_events(&mut round);
        checker.after_round(group, &round, &mut report.violations);
        log.append(&mut round);
        if !running {
            break;
        }
    }
    report.rounds += group.tick();
    report.faults += group.faults().len() as u64;
    if matches!(group.status(), GroupStatus::BudgetExhausted | GroupStatus::InstructionBudgetExhausted) {
        report.cut += 1;
    }
}

/// The plan's instances loaded into a runtime machine.
fn machine(plan: &Plan) -> Machine {
    let mut m = Machine::new(plan.config);
    m.set_key_source(plan.keys.clone());
    for (id, injections) in plan.injections.iter().enumerate() {
        let loaded = m.load(&plan.program.program, Box::new(plan.host));
        let group = loaded.ok().and_then(|g| m.group_mut(g));
        match group {
            Some(g) => injections.iter().for_each(|&(nth, inj)| g.inject(nth, inj)),
            None => panic!("instance {id} of one program loads into a fresh machine"),
        }
    }
    m
}

/// Cooperative == threaded == the simulator's own round-by-round run.
fn check_runners(plan: &Plan, recorded: &[u8], report: &mut SeedReport) {
    let workers = 1 + (report.seed % 3) as usize;
    let runs = [
        ("cooperative", CooperativeRunner.run(&mut machine(plan)).into_replay_bytes()),
        ("threaded", ThreadedRunner::new(workers).run(&mut machine(plan)).into_replay_bytes()),
    ];
    for (name, bytes) in runs {
        if bytes != recorded {
            report.violations.push(Violation {
                invariant: "runners agree",
                detail: format!("the {name} runner's replay differs from the simulated rounds' ({workers} workers)"),
            });
        }
    }
}

/// The recording decodes (hash chain, canonical order), its signatures and
/// its receive/consume cross-check hold, and re-execution reproduces it.
fn check_replay(program: &Arc<VerifiedProgram>, bytes: &[u8], report: &mut SeedReport) {
    let replay = match Replay::decode(bytes) {
        Ok(r) => r,
        Err(e) => {
            report.violations.push(Violation { invariant: "replay verifies", detail: e.to_string() });
            return;
        }
    };
    let run = run_identity(&replay.header.program_digest, &replay.header.config_digest());
    let checked = verify_signatures(&run, &replay.events)
        .map(|_| ())
        .map_err(|e| e.to_string())
        .and_then(|()| cross_check(&run, &replay.events).map(|_| ()).map_err(|e| e.to_string()));
    if let Err(e) = checked {
        report.violations.push(Violation { invariant: "replay verifies", detail: e });
    }
    match canon_runtime::reexecute(program, &replay) {
        Ok(again) if again.to_bytes() == bytes => {}
        Ok(again) => {
            let diff = canon_replay::diff(&replay, &again);
            report.violations.push(Violation {
                invariant: "re-execution reproduces the recording",
                detail: format!("{diff:?}").chars().take(400).collect(),
            });
        }
        Err(e) => report
            .violations
            .push(Violation { invariant: "re-execution reproduces the recording", detail: e.to_string() }),
    }
}
