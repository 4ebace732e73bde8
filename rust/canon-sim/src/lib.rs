//! canon's seeded fault simulator (in the manner of TigerBeetle's VOPR and
//! FoundationDB's simulator): one seed names one simulation exactly — the
//! program (a fixture, a random protocol compiled by canon-choreo, or a
//! random module that verifies), the configuration (auth, replay mode,
//! budgets), the instances, the transport faults injected into them, the
//! host's misbehaviour (wrong answers, handler panics), host-side ownership
//! operations (owner death, cancellation) and the rounds at which the
//! machine goes through a checkpoint file — and [`run_seed`] runs it,
//! checking invariants after every round of every instance and, at the end,
//! that the replay verifies, that the cooperative and threaded runners write
//! the same bytes (uninterrupted, and paused, checkpointed, restored and
//! recovered from handler panics), and that re-execution reproduces the
//! recording.
//!
//! Faults are injected only where the machine already takes them as inputs
//! (`Group::inject` at the transport boundary, host answers,
//! `Group::apply_ownership`, checkpoint files); the simulator schedules
//! rounds and reads state, and the machine's one `step` does all the
//! executing.

#![deny(missing_docs)]

mod check;
pub mod faults;
pub mod host;
pub mod programs;
pub mod rng;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Once};

use canon_bytecode::VerifiedProgram;
use canon_machine::{
    Auth, Config, Event, Group, GroupStatus, Injection, KeySeed, KeySource, OwnershipRecord, ReplayMode, cross_check,
    run_identity, verify_signatures,
};
use canon_replay::{Replay, ReplayHeader, ReplayWriter};
use canon_runtime::{Checkpoint, CooperativeRunner, Machine, RunError, Runner, Segment, ThreadedRunner};

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
    /// The fault kinds this simulation may inject.
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
    /// A run recovering from a handler panic keeps the bytes written after
    /// its last checkpoint instead of rolling the replay back to it.
    KeepPanickedBytes,
}

/// The one-line command that reproduces seed `seed` under `opts`.
pub fn repro_command(seed: u64, opts: &SimOptions) -> String {
    format!("canon sim --seed {seed} --steps {} --faults {}", opts.steps, opts.faults.to_arg())
}

/// What one seed did.
#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    /// The seed that names this simulation.
    pub seed: u64,
    /// Where the program came from.
    pub program: String,
    /// The `--auth` mode the seed chose.
    pub auth: String,
    /// The `--replay-mode` the seed chose.
    pub replay_mode: String,
    /// Instances (sessions) run.
    pub instances: u32,
    /// Rounds run, over all instances.
    pub rounds: u64,
    /// Replay events recorded, over all instances.
    pub events: u64,
    /// Transport faults planned and applied (`Injected` events).
    pub planned: u64,
    /// Transport faults that took effect (an `Injected` event each).
    pub injected: u64,
    /// Coroutine faults (each typed and recorded).
    pub faults: u64,
    /// Instances that ended at a budget.
    pub cut: u32,
    /// Handler panics caught and recovered from a checkpoint (by the
    /// simulator's rounds and by the runners).
    pub panics: u64,
    /// Checkpoint files written and restored to continue the run.
    pub restores: u64,
    /// Host-side ownership operations applied (owner deaths, cancellations).
    pub ownership: u64,
    /// Invariants found broken; empty when the seed passed.
    pub violations: Vec<Violation>,
}

impl SeedReport {
    /// No invariant was broken.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// A host-side ownership operation on an instance's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerOp {
    /// The owner dies (`OwnerDied`, 4011).
    Died,
    /// A staged transfer is abandoned: the session is cancelled.
    Cancel,
}

/// The owner every planned operation is made by.
const OWNER: &str = "sim-owner";

/// One seed's simulation, drawn from the seed.
struct Plan {
    program: SimProgram,
    config: Config,
    keys: KeySource,
    /// Per instance: the transport faults, as `(nth sent message, injection)`.
    injections: Vec<Vec<(u64, Injection)>>,
    host: SimHost,
    /// Per instance: an ownership operation and the round it is due before
    /// (applied only if the instance is still running then).
    ownership: Vec<Option<(u64, OwnerOp)>>,
    /// With `FaultKind::Checkpoint`: picks the rounds after which the
    /// machine goes through a checkpoint file.
    checkpoints: Option<u64>,
    faults: FaultSet,
    sabotage: Option<Sabotage>,
}

impl Plan {
    /// Whether the simulation keeps checkpoints (to recover from panics or to restore at random rounds).
    fn checkpointing(&self) -> bool {
        self.checkpoints.is_some() || self.faults.contains(FaultKind::Panic)
    }

    /// Whether the rounds of instance `id` end at `tick` with a checkpoint round trip.
    fn checkpoint_after(&self, id: u32, tick: u64) -> bool {
        self.checkpoints.is_some_and(|salt| rng::mix(salt ^ (u64::from(id) << 40) ^ tick).is_multiple_of(5))
    }
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
    let host = SimHost::new(rng.next_u64(), opts.faults);
    let ops: Vec<OwnerOp> = [(FaultKind::OwnerDeath, OwnerOp::Died), (FaultKind::Cancel, OwnerOp::Cancel)]
        .into_iter()
        .filter(|(k, _)| opts.faults.contains(*k))
        .map(|(_, op)| op)
        .collect();
    let ownership = (0..instances)
        .map(|_| match !ops.is_empty() && rng.one_in(3) {
            true => Some((1 + rng.below(12), ops[rng.below(ops.len() as u64) as usize])),
            false => None,
        })
        .collect();
    let checkpoints = opts.faults.contains(FaultKind::Checkpoint).then(|| rng.next_u64());
    Ok(Plan {
        program,
        config,
        keys: KeySource::Seed(KeySeed::from_bytes(secret)),
        injections,
        host,
        ownership,
        checkpoints,
        faults: opts.faults,
        sabotage: opts.sabotage,
    })
}

/// Which instances' hosts panic at their planned positions.
#[derive(Debug, Clone, Default)]
struct Arming {
    /// No host panics.
    off: bool,
    /// These instances' hosts do not.
    disarmed: BTreeSet<u32>,
}

impl Arming {
    fn off() -> Arming {
        Arming { off: true, disarmed: BTreeSet::new() }
    }

    fn host(&self, plan: &Plan, id: u32) -> SimHost {
        match self.off || self.disarmed.contains(&id) {
            true => plan.host.disarmed(),
            false => plan.host,
        }
    }
}

/// The session an instance's owner claims: the first one it opens.
fn owned_sid(id: u32) -> u64 {
    u64::from(id) << 32
}

/// Applies `op` to the owned session of `group` (a refused operation is
/// recorded and changes nothing, like any other).
fn apply_op(group: &mut Group, op: OwnerOp) {
    let sid = owned_sid(group.id());
    let owner: Arc<str> = Arc::from(OWNER);
    match op {
        OwnerOp::Died => {
            let reason = Arc::from("simulated owner death");
            let _ = group.apply_ownership(sid, OwnershipRecord::OwnerDied { owner, generation: 0, reason });
        }
        OwnerOp::Cancel => {
            let begun = OwnershipRecord::TransferBegun { owner, generation: 0, to: Arc::from("sim-successor") };
            if let Ok(receipt) = group.apply_ownership(sid, begun) {
                let _ = group.apply_ownership(sid, OwnershipRecord::Abandon { receipt: receipt.number() });
            }
        }
    }
}

/// The plan's instances loaded into a machine: transport injections
/// applied, and the session of every instance with a planned ownership
/// operation claimed by [`OWNER`].
fn machine(plan: &Plan, arming: &Arming) -> Machine {
    let mut m = Machine::new(plan.config);
    m.set_key_source(plan.keys.clone());
    for (id, injections) in plan.injections.iter().enumerate() {
        let id = id as u32;
        let loaded = m.load(&plan.program.program, Box::new(arming.host(plan, id)));
        let Some(g) = loaded.ok().and_then(|g| m.group_mut(g)) else {
            panic!("instance {id} of one program loads into a fresh machine")
        };
        injections.iter().for_each(|&(nth, inj)| g.inject(nth, inj));
        if plan.ownership[id as usize].is_some() {
            let claim = OwnershipRecord::Claimed { owner: Arc::from(OWNER), generation: 0 };
            let _ = g.apply_ownership(owned_sid(id), claim);
        }
    }
    m
}

/// Saves `m` to a checkpoint file's bytes.
fn save(m: &Machine) -> Result<(Vec<u8>, u64), String> {
    let ck = m.checkpoint().map_err(|e| format!("checkpoint refused: {e}"))?;
    Ok((ck.to_bytes(), ck.header.replay_bytes))
}

/// The machine a checkpoint file's bytes restore, hosts armed as `arming` says.
fn restore(plan: &Plan, bytes: &[u8], arming: &Arming) -> Result<Machine, String> {
    let ck = Checkpoint::from_bytes(bytes).map_err(|e| format!("checkpoint does not read back: {e}"))?;
    let hosts: Vec<SimHost> = (0..plan.injections.len() as u32).map(|id| arming.host(plan, id)).collect();
    let make = move |id: u32| -> Box<dyn canon_machine::Host + Send> { Box::new(hosts[id as usize]) };
    Machine::restore(&plan.program.program, &ck, Box::new(make), plan.keys.clone())
        .map_err(|e| format!("checkpoint does not restore: {e}"))
}

/// Whether a caught panic is one the host was planned to throw.
fn planned(panic: &(dyn std::any::Any + Send)) -> bool {
    panic.downcast_ref::<&str>() == Some(&host::PLANNED_PANIC)
        || panic.downcast_ref::<String>().is_some_and(|s| s.contains(host::PLANNED_PANIC))
}

/// Planned handler panics are caught by design; keep them off stderr (the
/// default hook still reports every other panic). Installed once per process.
fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !planned(info.payload()) {
                previous(info);
            }
        }));
    });
}

/// Runs seed `seed`: never panics; a panic anywhere is reported as a violation.
pub fn run_seed(seed: u64, opts: &SimOptions) -> SeedReport {
    if opts.faults.contains(FaultKind::Panic) {
        quiet_planned_panics();
    }
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
    let mut sim = Sim { m: machine(&plan, &Arming::default()), arming: Arming::default(), applied: Vec::new() };
    let mut ticks = Vec::new();
    for (id, injections) in plan.injections.iter().enumerate() {
        let slack = if injections.is_empty() { 0 } else { 2 };
        let slack = if opts.sabotage == Some(Sabotage::TightBufferBound) { -1 } else { slack };
        let mut checker = Checker::new(slack, plan.config.replay_mode);
        match sim.run_instance(&plan, id as u32, &mut checker, &mut events, &mut report) {
            Some(tick) => ticks.push(tick),
            None => return report,
        }
    }
    report.events = events.len() as u64;
    report.injected =
        events.iter().filter(|e| matches!(e.kind, canon_machine::EventKind::Injected { .. })).count() as u64;
    let mut recording = ReplayWriter::new(&header);
    events.iter().for_each(|e| recording.push(e));
    let mut bytes = recording.finish_bytes();
    check_runners(&plan, &bytes, &sim.applied, &ticks, &mut report);
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

/// The simulator's own run: every instance in one machine, driven round by
/// round by the simulator (as the cooperative runner does), with the last
/// checkpoint file kept to recover from a handler panic.
struct Sim {
    m: Machine,
    arming: Arming,
    /// The ownership operations applied: `(instance, tick, op)`.
    applied: Vec<(u32, u64, OwnerOp)>,
}

/// What the simulator kept at its last checkpoint.
struct Saved {
    bytes: Vec<u8>,
    log: usize,
    checker: Checker,
    applied: usize,
}

impl Sim {
    /// Runs instance `id` to its end, checking after every round; appends
    /// its events to `log`. Returns its final tick, or `None` when the
    /// seed cannot go on (the violation is in the report).
    fn run_instance(
        &mut self,
        plan: &Plan,
        id: u32,
        checker: &mut Checker,
        log: &mut Vec<Event>,
        report: &mut SeedReport,
    ) -> Option<u64> {
        let fail = |report: &mut SeedReport, invariant: &'static str, detail: String| {
            report.violations.push(Violation { invariant, detail });
            None
        };
        let mut saved = None;
        if plan.checkpointing() {
            match save(&self.m) {
                Ok((bytes, _)) => {
                    saved = Some(Saved { bytes, log: log.len(), checker: checker.clone(), applied: self.applied.len() })
                }
                Err(e) => return fail(report, "checkpoints restore", e),
            }
        }
        let mut round = Vec::new();
        loop {
            let Some(group) = self.m.group_mut(id) else {
                return fail(report, "checkpoints restore", format!("instance {id} is missing"));
            };
            let running = *group.status() == GroupStatus::Running;
            checker.before_round(group);
            let tick = group.tick();
            if running
                && let Some((at, op)) = plan.ownership[id as usize]
                && at == tick
            {
                apply_op(group, op);
                self.applied.push((id, tick, op));
                report.ownership += 1;
            }
            if running && let Err(panic) = catch_unwind(AssertUnwindSafe(|| group.run_round())) {
                let Some(s) = saved.as_ref().filter(|_| planned(panic.as_ref())) else {
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    return fail(report, "no panic", format!("instance {id} tick {tick}: {what}"));
                };
                // The handler panicked mid-round: the group is discarded and
                // the instance continues from the last checkpoint, its host
                // no longer panicking (every other answer is the same).
                report.panics += 1;
                self.arming.disarmed.insert(id);
                self.m = match restore(plan, &s.bytes, &self.arming) {
                    Ok(m) => m,
                    Err(e) => return fail(report, "checkpoints restore", e),
                };
                log.truncate(s.log);
                *checker = s.checker.clone();
                self.applied.truncate(s.applied);
                report.ownership = self.applied.len() as u64;
                continue;
            }
            group.drain_events(&mut round);
            checker.after_round(group, &round, &mut report.violations);
            log.append(&mut round);
            if !running {
                report.rounds += group.tick();
                report.faults += group.faults().len() as u64;
                if matches!(group.status(), GroupStatus::BudgetExhausted | GroupStatus::InstructionBudgetExhausted) {
                    report.cut += 1;
                }
                return Some(group.tick());
            }
            if plan.checkpoint_after(id, group.tick()) {
                // The machine through a checkpoint file and back; the run continues on the restored one.
                let restored = save(&self.m).and_then(|(bytes, _)| Ok((restore(plan, &bytes, &self.arming)?, bytes)));
                match restored {
                    Ok((m, bytes)) => {
                        self.m = m;
                        report.restores += 1;
                        let applied = self.applied.len();
                        saved = Some(Saved { bytes, log: log.len(), checker: checker.clone(), applied });
                    }
                    Err(e) => return fail(report, "checkpoints restore", e),
                }
            }
        }
    }
}

/// The runners against the simulated rounds' recording: with no ownership
/// operation, the cooperative and threaded runners write the same bytes
/// uninterrupted; with planned panics, a panicking host surfaces from
/// either runner (on a worker thread for the threaded one) as the typed
/// `HostPanicked`, with a prefix of the recording written; and a run
/// paused at the ownership operations' rounds and at random rounds,
/// checkpointed, restored, recovered from panics from its last checkpoint
/// and finished on either runner writes the recording's bytes.
fn check_runners(
    plan: &Plan,
    recorded: &[u8],
    applied: &[(u32, u64, OwnerOp)],
    ticks: &[u64],
    report: &mut SeedReport,
) {
    let workers = 1 + (report.seed % 3) as usize;
    let threaded = ThreadedRunner::new(workers);
    let runners: [(&str, &dyn Runner); 2] = [("cooperative", &CooperativeRunner), ("threaded", &threaded)];
    if applied.is_empty() {
        for (name, runner) in runners {
            if runner.run(&mut machine(plan, &Arming::off())).into_replay_bytes() != recorded {
                report.violations.push(Violation {
                    invariant: "runners agree",
                    detail: format!(
                        "the {name} runner's replay differs from the simulated rounds' ({workers} workers)"
                    ),
                });
            }
        }
    }
    if plan.faults.contains(FaultKind::Panic) && applied.is_empty() {
        for (name, runner) in runners {
            let mut sink = Vec::new();
            let mut m = machine(plan, &Arming::default());
            let ran = catch_unwind(AssertUnwindSafe(|| {
                runner.run_segment(&mut m, &mut sink, &mut |_| {}, &mut |_| {}, None)
            }));
            let wrong = match ran {
                Err(_) => Some("a handler panic escaped the runner".to_owned()),
                Ok(Err(RunError::HostPanicked { .. })) if recorded.starts_with(&sink) => {
                    report.panics += 1;
                    None
                }
                Ok(Err(RunError::HostPanicked { group, .. })) => {
                    Some(format!("after group {group}'s handler panicked, the bytes written are not a prefix"))
                }
                Ok(Ok(Segment::Finished(_))) if sink == recorded => None,
                Ok(other) => Some(format!("ended with {other:?} and bytes that are not the recording's")),
            };
            if let Some(detail) = wrong {
                report.violations.push(Violation {
                    invariant: "handler panics are typed",
                    detail: format!("{name} runner ({workers} workers): {detail}"),
                });
            }
        }
    }
    if plan.checkpointing() || !applied.is_empty() {
        let finish: &dyn Runner = if report.seed.is_multiple_of(2) { &CooperativeRunner } else { &threaded };
        match staged(plan, recorded, applied, ticks, finish, report) {
            Ok(bytes) if bytes == recorded => {}
            Ok(_) => report.violations.push(Violation {
                invariant: "a resumed run reproduces the recording",
                detail: "a run paused, checkpointed, restored and resumed differs from the simulated rounds'".into(),
            }),
            Err(e) => {
                report.violations.push(Violation { invariant: "a resumed run reproduces the recording", detail: e })
            }
        }
    }
}

/// A cooperative run of the plan paused at every ownership operation's
/// round (the operation applied there) and, with checkpoints, at a few
/// random rounds; at every pause the machine goes through a checkpoint
/// file and continues restored. A handler panic (hosts armed) rolls the
/// replay back to the last checkpoint's bytes and continues from it with
/// the hosts disarmed. The last segment runs on `finish`.
fn staged(
    plan: &Plan,
    recorded: &[u8],
    applied: &[(u32, u64, OwnerOp)],
    ticks: &[u64],
    finish: &dyn Runner,
    report: &mut SeedReport,
) -> Result<Vec<u8>, String> {
    // Rounds are counted over instances in order, as the runner counts them.
    let starts: Vec<u64> = ticks.iter().scan(0, |sum, t| Some(std::mem::replace(sum, *sum + t))).collect();
    let mut stops: BTreeMap<u64, Vec<(u32, OwnerOp)>> = BTreeMap::new();
    for &(id, tick, op) in applied {
        stops.entry(starts[id as usize] + tick).or_default().push((id, op));
    }
    let total: u64 = ticks.iter().sum();
    if let Some(salt) = plan.checkpoints {
        for k in 0..3 {
            stops.entry(1 + rng::mix(salt ^ k) % total.max(1)).or_default();
        }
    }
    let mut arming = match plan.faults.contains(FaultKind::Panic) {
        true => Arming::default(),
        false => Arming::off(),
    };
    let mut m = machine(plan, &arming);
    let mut sink = Vec::new();
    let mut count = 0;
    let mut last = (0, save(&m)?.0);
    loop {
        let next = stops.range(count + 1..).next().map(|(k, _)| *k);
        let runner = if next.is_none() { finish } else { &CooperativeRunner as &dyn Runner };
        let budget = next.map(|n| n - count);
        match runner.run_segment(&mut m, &mut sink, &mut |_| {}, &mut |_| {}, budget) {
            Ok(Segment::Finished(_)) => return Ok(sink),
            Ok(Segment::Paused) => {
                count = next.ok_or("paused with no pause asked for")?;
                for &(id, op) in &stops[&count] {
                    let group = m.group_mut(id).ok_or_else(|| format!("instance {id} is not held at its pause"))?;
                    if group.tick() != count - starts[id as usize] {
                        return Err(format!("paused instance {id} at tick {}, not at round {count}", group.tick()));
                    }
                    apply_op(group, op);
                }
                let (bytes, at) = save(&m)?;
                if at != sink.len() as u64 {
                    return Err(format!("checkpoint at {at} replay bytes, {} written", sink.len()));
                }
                m = restore(plan, &bytes, &arming)?;
                report.restores += 1;
                last = (count, bytes);
            }
            Err(RunError::HostPanicked { group, .. }) if !arming.off => {
                if !recorded.starts_with(&sink) {
                    return Err(format!("after group {group}'s handler panicked, the bytes written are not a prefix"));
                }
                report.panics += 1;
                arming = Arming::off();
                let ck = Checkpoint::from_bytes(&last.1).map_err(|e| e.to_string())?;
                if plan.sabotage != Some(Sabotage::KeepPanickedBytes) {
                    sink.truncate(ck.header.replay_bytes as usize);
                }
                m = restore(plan, &last.1, &arming)?;
                count = last.0;
            }
            Err(e) => return Err(format!("the run stopped: {e}")),
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
        .and_then(|()| cross_check(&run, &replay.header.config, &replay.events).map(|_| ()).map_err(|e| e.to_string()));
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
