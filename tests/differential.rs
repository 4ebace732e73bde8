//! Differential tests: the machine (`canon-machine`) and the reference
//! interpreter (`canon-reference`, written from bytecode-spec/ and
//! ARCHITECTURE.md) run the same verified programs with the same seeded host
//! and must emit identical event streams (every field of every event, in
//! canonical order) and end the same way.
//!
//! Inputs: every fixture, the extra programs under `tests/differential/`
//! (opcodes and buffer policies the fixtures do not use), random protocols
//! compiled by canon-choreo, those programs mutated (buffer overrides,
//! payload constants, one replaced instruction), and random modules from
//! `canon_bytecode::testgen` that verify. The host is the seeded default;
//! for a quarter of the seeds it rejects some deliveries.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use canon_bytecode::{Instr, OPCODES, VerifiedProgram, verify};
use canon_machine::event::OwnershipRecord;
use canon_machine::{Auth, Config, Event, Group, GroupStatus, Host, HostCtx, Limits, ReplayMode};
use canon_reference::Ending;
use canon_runtime::SeededHost;
use canon_types::testgen::protocol;
use canon_types::{SymId, Value};
use proptest::prelude::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Every program the differential tests run by name: the fixtures and the
/// extra programs in `tests/differential/`.
fn named_programs() -> Vec<(String, VerifiedProgram)> {
    let mut files = Vec::new();
    for dir in ["fixtures", "fixtures/asm", "tests/differential"] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .expect("directory")
            .map(|e| e.expect("entry").path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("canon" | "casm")))
            .collect();
        entries.sort();
        files.extend(entries);
    }
    files
        .into_iter()
        .map(|p| {
            let program = if p.extension().is_some_and(|e| e == "casm") {
                let text = std::fs::read_to_string(&p).expect("readable");
                let module = canon_bytecode::assemble(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                verify(module).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            } else {
                canon::compile_file(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            };
            (p.file_name().expect("name").to_string_lossy().into_owned(), program)
        })
        .collect()
}

/// The configurations of the bulk (unsigned) and of the signed cases.
fn config(seed: u64, signed: bool, mode: ReplayMode) -> Config {
    Config {
        seed,
        auth: if signed { Auth::Ed25519 } else { Auth::None },
        replay_mode: mode,
        limits: Limits { max_rounds: 2_000, ..Limits::default() },
        ..Config::default()
    }
}

/// The seeded default host, rejecting every `reject`-th delivery a coroutine
/// is asked to accept (counted by its host-call index), if `reject` is set.
struct TestHost {
    inner: SeededHost,
    reject: Option<u64>,
}

impl TestHost {
    fn new(config: &Config, group: u32) -> Box<TestHost> {
        let reject = (config.seed % 4 == 1).then_some(2 + config.seed % 5);
        Box::new(TestHost { inner: SeededHost::new(config.seed ^ u64::from(group)), reject })
    }
}

impl Host for TestHost {
    fn produce(&mut self, ctx: &HostCtx<'_>, label: SymId) -> Value {
        self.inner.produce(ctx, label)
    }
    fn accept(&mut self, ctx: &HostCtx<'_>, label: SymId, payload: &Value) -> bool {
        match self.reject {
            Some(n) if ctx.call_index % n == n - 1 => false,
            _ => self.inner.accept(ctx, label, payload),
        }
    }
    fn choose(&mut self, ctx: &HostCtx<'_>, labels: &[SymId]) -> usize {
        self.inner.choose(ctx, labels)
    }
    fn invoke(&mut self, ctx: &HostCtx<'_>, effect: SymId, arg: &Value) -> Value {
        self.inner.invoke(ctx, effect, arg)
    }
    /// Readiness checks fail where deliveries would be rejected.
    fn check_readiness(&mut self, ctx: &HostCtx<'_>, check: SymId, arg: &Value) -> bool {
        match self.reject {
            Some(n) if ctx.call_index % n == n - 1 => false,
            _ => self.inner.check_readiness(ctx, check, arg),
        }
    }
}

/// The owner label the owned runs claim the group's first session for.
const OWNER: &str = "alice";

fn machine_run(
    program: &Arc<VerifiedProgram>,
    group: u32,
    config: &Config,
    owner: Option<&str>,
) -> (Vec<Event>, Ending, u64) {
    let mut g = Group::new(program.clone(), group, config, TestHost::new(config, group));
    // The reference signs with the public test key seed too.
    g.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    if let Some(owner) = owner {
        // As `Machine::load_choreography_owned` claims an instance's session.
        let claim = OwnershipRecord::Claimed { owner: Arc::from(owner), generation: 0 };
        g.apply_ownership(u64::from(group) << 32, claim).expect("a fresh group's first session can be claimed");
    }
    let outcome = g.run_to_end();
    let mut events = Vec::new();
    g.drain_events(&mut events);
    let ending = match outcome.status {
        GroupStatus::Completed => Ending::Completed,
        GroupStatus::Stalled(_) => Ending::Stalled,
        GroupStatus::BudgetExhausted => Ending::BudgetExhausted,
        // The reference has no instruction budget yet; these configurations
        // keep the default (2^28), far above any generated program. A run that
        // reached it would stop early and diverge from the reference's events.
        GroupStatus::InstructionBudgetExhausted => Ending::BudgetExhausted,
        GroupStatus::Running => panic!("run_to_end returned a running group"),
        other => panic!("a status the reference does not model: {other:?}"),
    };
    (events, ending, outcome.rounds)
}

/// Runs `program` on both implementations; panics naming the first divergent
/// event. Returns the opcodes the reference executed.
fn compare(name: &str, program: &Arc<VerifiedProgram>, group: u32, config: &Config) -> BTreeSet<&'static str> {
    compare_owned(name, program, group, config, None)
}

/// [`compare`], with the group's first session claimed by `owner` (if any)
/// before the run on both implementations.
fn compare_owned(
    name: &str,
    program: &Arc<VerifiedProgram>,
    group: u32,
    config: &Config,
    owner: Option<&str>,
) -> BTreeSet<&'static str> {
    let (events, ending, rounds) = machine_run(program, group, config, owner);
    let mut reference = canon_reference::Reference::new(program, group, *config, TestHost::new(config, group));
    if let Some(owner) = owner {
        reference = reference.with_owner(owner);
    }
    let reference = reference.run();
    let first_diff = events
        .iter()
        .zip(&reference.events)
        .position(|(a, b)| a != b)
        .or_else(|| (events.len() != reference.events.len()).then_some(events.len().min(reference.events.len())));
    if let Some(i) = first_diff {
        let from = i.saturating_sub(4);
        let mut msg = format!(
            "{name} (group {group}, seed {}, auth {:?}, mode {:?}, owner {owner:?}): event {i} differs\n",
            config.seed, config.auth, config.replay_mode
        );
        for j in from..(i + 3) {
            msg += &format!("  [{j}] machine:   {:?}\n", events.get(j));
            msg += &format!("  [{j}] reference: {:?}\n", reference.events.get(j));
        }
        panic!("{msg}");
    }
    assert_eq!(ending, reference.ending, "{name}: the runs end differently");
    if ending != Ending::Stalled {
        assert_eq!(rounds, reference.rounds, "{name}: round counts differ");
    }
    reference.executed
}

fn all_modes() -> [(bool, ReplayMode); 4] {
    [(false, ReplayMode::Off), (true, ReplayMode::Off), (true, ReplayMode::Sequence), (true, ReplayMode::Nullifier)]
}

#[test]
fn every_fixture_runs_identically_on_both_implementations() {
    let mut cases = 0;
    for (name, program) in named_programs() {
        let program = Arc::new(program);
        for seed in 0..4 {
            for (signed, mode) in all_modes() {
                for group in [0, 3] {
                    compare(&name, &program, group, &config(seed, signed, mode));
                    cases += 1;
                    if checks(&program) {
                        compare_owned(&name, &program, group, &config(seed, signed, mode), Some(OWNER));
                        cases += 1;
                    }
                }
            }
        }
    }
    eprintln!("differential: {cases} fixture runs identical");
}

/// Whether `program` has a readiness check (`check` or `consume`): such
/// programs also run with their first session claimed by an owner.
fn checks(program: &VerifiedProgram) -> bool {
    program
        .module()
        .procs
        .iter()
        .flat_map(|p| &p.code)
        .any(|i| matches!(i, Instr::Check { .. } | Instr::Consume { .. }))
}

/// The random protocol of a proptest case, compiled and verified.
fn compiled(k: usize, bytes: &[u8]) -> VerifiedProgram {
    let p = protocol(k, bytes);
    let module = canon_choreo::compile_protocol(&p, &[]).expect("a generated protocol compiles");
    verify(module).expect("a compiled protocol verifies")
}

/// `program` with instruction `at` (counted over all procedures) replaced
/// by `with`, if that still verifies.
fn mutated(program: &VerifiedProgram, at: usize, with: &Instr) -> Option<VerifiedProgram> {
    let mut module = program.module().clone();
    let total: usize = module.procs.iter().map(|p| p.code.len()).sum();
    let mut at = at % total.max(1);
    for p in &mut module.procs {
        if at < p.code.len() {
            p.code[at] = with.clone();
            return verify(module).ok();
        }
        at -= p.code.len();
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random protocols (2–4 roles) compiled by canon-choreo: the bulk
    /// unsigned, every fourth case signed with a replay-consumption mode.
    #[test]
    fn random_protocols_run_identically(
        k in 2usize..=4,
        bytes in proptest::collection::vec(any::<u8>(), 0..96),
        seed in any::<u64>(),
        flavour in 0u8..4,
    ) {
        let program = Arc::new(compiled(k, &bytes));
        let (signed, mode) = match flavour {
            3 => (true, [ReplayMode::Off, ReplayMode::Sequence, ReplayMode::Nullifier][(seed % 3) as usize]),
            _ => (false, ReplayMode::Off),
        };
        compare("random protocol", &program, (seed % 5) as u32, &config(seed, signed, mode));
    }

    /// The same programs, mutated in ways that keep them verifiable and
    /// reach what compiled protocols never do: every `open` gets random
    /// buffer overrides (drop, latest-value, error, resize, block at
    /// capacity 1–3: drops, overwrites, gaps under sequence mode, buffer
    /// faults, deadlocks), the first `produce` may become a `const` of a
    /// random kind (payload faults), one instruction is replaced by one from
    /// elsewhere (kept when it still verifies), and the fuel quantum and
    /// round budget are small (other interleavings, budget exhaustion).
    #[test]
    fn mutated_protocols_run_identically(
        k in 2usize..=4,
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        edges in proptest::collection::vec((0u8..6, 1u32..4), 16),
        at in any::<usize>(),
        from in any::<usize>(),
        konst in 0u8..5,
        seed in any::<u64>(),
        fuel in 1u32..6,
        mode in 0u8..3,
    ) {
        let program = compiled(k, &bytes);
        let module = with_buffers(program.module().clone(), &edges, konst);
        let program = verify(module).expect("buffer overrides and constant loads keep a program verifiable");
        let code: Vec<Instr> = program.module().procs.iter().flat_map(|p| p.code.iter().cloned()).collect();
        let with = code[from % code.len()].clone();
        let program = mutated(&program, at, &with).unwrap_or(program);
        let mode = [ReplayMode::Off, ReplayMode::Sequence, ReplayMode::Nullifier][usize::from(mode)];
        let mut c = config(seed, mode != ReplayMode::Off, mode);
        c.limits.fuel_per_quantum = fuel;
        c.limits.max_rounds = 40;
        compare("mutated protocol", &Arc::new(program), 0, &c);
    }
}

/// Gives every `open` of `module` buffer overrides drawn from `edges`
/// (policy selector, capacity), and replaces the first `produce` with a
/// `const` of a kind chosen by `konst` (4: keep it).
fn with_buffers(mut module: canon_bytecode::Module, edges: &[(u8, u32)], konst: u8) -> canon_bytecode::Module {
    use canon_bytecode::{Backpressure, BufferConfig, BufferMode, Const, EdgeBuffer};
    let k = module.consts.len() as u32;
    let s = module.intern("mutant");
    module.consts.extend([Const::Str(s), Const::Int(-1), Const::Bool(true), Const::Bytes(vec![0; 3])]);
    let mut draw = edges.iter().cycle();
    let mut replaced = konst >= 4;
    for p in &mut module.procs {
        for i in &mut p.code {
            match i {
                Instr::Open { roles, buffers, .. } => {
                    let n = roles.len() as u16;
                    for from in 0..n {
                        for to in (0..n).filter(|&t| t != from) {
                            let &(sel, cap) = draw.next().expect("cycle");
                            let (mode, policy) = match sel {
                                0 => (BufferMode::Fifo, Backpressure::Block),
                                1 => (BufferMode::Fifo, Backpressure::Drop),
                                2 => (BufferMode::Fifo, Backpressure::Error),
                                3 => (BufferMode::Fifo, Backpressure::Resize { max_capacity: cap + 1 }),
                                4 => (BufferMode::LatestValue, Backpressure::Drop),
                                _ => continue,
                            };
                            buffers.push(EdgeBuffer { from, to, config: BufferConfig { mode, policy, capacity: cap } });
                        }
                    }
                }
                Instr::Produce { dst, .. } if !replaced => {
                    *i = Instr::Const { dst: *dst, k: k + u32::from(konst) };
                    replaced = true;
                }
                _ => {}
            }
        }
    }
    module
}

/// Random modules from `canon_bytecode::testgen::arb_module` that verify.
/// The generator keeps references in range but does not follow types, so
/// few of its modules verify: the test draws a fixed sample, runs every one
/// that verifies on both implementations, and requires that some did.
#[test]
fn random_verified_modules_run_identically() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config as RunnerConfig, TestRng, TestRunner};
    let rng = TestRng::deterministic_rng(RunnerConfig::default().rng_algorithm);
    let mut runner = TestRunner::new_with_rng(RunnerConfig::default(), rng);
    let strategy = canon_bytecode::testgen::arb_module();
    let (mut drawn, mut ran) = (0, 0);
    for seed in 0..4096u64 {
        let module = strategy.new_tree(&mut runner).expect("a module").current();
        drawn += 1;
        if let Ok(program) = verify(module) {
            let mut c = config(seed, seed % 2 == 0, ReplayMode::Off);
            c.limits.max_rounds = 64;
            c.limits.fuel_per_quantum = 16;
            compare("random module", &Arc::new(program), 1, &c);
            ran += 1;
        }
    }
    eprintln!("differential: {ran} of {drawn} random modules verified and ran identically");
    assert!(ran > 0, "no random module verified");
}

/// Every opcode of the `OPCODES` table is executed by some differential case
/// (the fixtures, the extra programs and a fixed sample of random protocols),
/// and every one of those runs agrees.
#[test]
fn the_differential_cases_cover_every_opcode() {
    let mut executed = BTreeSet::new();
    for (name, program) in named_programs() {
        executed.extend(compare(&name, &Arc::new(program), 0, &config(1, false, ReplayMode::Off)));
    }
    for i in 0u8..64 {
        let bytes: Vec<u8> = (0..64u8).map(|j| j.wrapping_mul(31).wrapping_add(i.wrapping_mul(17))).collect();
        let program = Arc::new(compiled(2 + usize::from(i % 3), &bytes));
        executed.extend(compare("sample protocol", &program, 0, &config(u64::from(i), false, ReplayMode::Off)));
    }
    let missing: Vec<&str> = OPCODES.iter().map(|(_, m, _)| *m).filter(|m| !executed.contains(m)).collect();
    assert!(missing.is_empty(), "opcodes no differential case executes: {missing:?}");
}

/// The owned runs reach every outcome of `check` and `consume` on both
/// implementations: witnesses issued and consumed, a witness consumed twice
/// (4016), one never issued (4015), an unclaimed session (4007), and a host
/// that answers `false` (3038; seeds whose host rejects some calls).
#[test]
fn owned_runs_cover_every_readiness_outcome() {
    use canon_machine::EventKind;
    let (mut issued, mut consumed, mut failed) = (0, 0, 0);
    let mut refusals = BTreeSet::new();
    for (name, program) in named_programs().into_iter().filter(|(_, p)| checks(p)) {
        let program = Arc::new(program);
        for seed in 0..8 {
            let c = config(seed, false, ReplayMode::Off);
            compare_owned(&name, &program, 0, &c, Some(OWNER));
            let reference = canon_reference::Reference::new(&program, 0, c, TestHost::new(&c, 0)).with_owner(OWNER);
            let events = reference.run().events;
            for (i, e) in events.iter().enumerate() {
                match &e.kind {
                    EventKind::Ownership { record: OwnershipRecord::WitnessIssued { .. } } => issued += 1,
                    EventKind::Ownership { record: OwnershipRecord::Consume { .. } } => {
                        let refused = matches!(
                            events.get(i + 1).map(|n| &n.kind),
                            Some(EventKind::Ownership { record: OwnershipRecord::WitnessRejected { .. } })
                        );
                        consumed += usize::from(!refused);
                    }
                    EventKind::Ownership { record: OwnershipRecord::WitnessRejected { code, .. } }
                    | EventKind::Ownership { record: OwnershipRecord::Rejected { code, .. } } => {
                        refusals.insert(*code);
                    }
                    EventKind::Faulted { code: 3038 } => failed += 1,
                    _ => {}
                }
            }
        }
    }
    assert!(issued > 0 && consumed > 0 && failed > 0, "issued {issued}, consumed {consumed}, failed {failed}");
    assert_eq!(refusals, BTreeSet::from([4007, 4015, 4016]), "the refusals the owned runs reach");
}
