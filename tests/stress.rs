//! Stress of the threaded runner's work distribution: thousands of tiny
//! groups, one group with many coroutines in yield loops, groups of very
//! different sizes, more workers than groups and no groups at all. Every run
//! is bounded by its program (and the round budget), never by a clock; every
//! replay must equal the cooperative runner's.

use std::path::Path;
use std::sync::Arc;

use canon::VerifiedProgram;
use canon_machine::GroupStatus;
use canon_runtime::{Config, CooperativeRunner, Limits, Machine, RunOutcome, Runner, SeededHost, ThreadedRunner};

/// `main` asks the host for a width (an `Int` below 1000), spawns that many
/// spinners and halts; each spinner yields `spins` times. Groups therefore
/// differ widely in size, decided by their host seed.
const SPINNERS: &str = "
.const zero = int 0
.const one = int 1
.const spins = int SPINS
.const width = int WIDTH
.const nothing = unit

.entry main

; r0 counter, r1 one, r2 width, r3 scratch, r4 unit
.proc main() regs 5
    const r0, zero
    const r1, one
    const r4, nothing
    HOW_WIDE
loop:
    lt r3, r0, r2
    jmp_if r3, more
    halt
more:
    spawn spinner, []
    add r0, r0, r1
    jmp loop
.end

; r0 counter, r1 one, r2 limit, r3 scratch
.proc spinner() regs 4
    const r0, zero
    const r1, one
    const r2, spins
again:
    yield
    add r0, r0, r1
    lt r3, r0, r2
    jmp_if r3, again
    halt
.end
";

/// The spinner program: `width` spinners (or as many as the host answers to
/// `invoke Width` when `width` is `None`), each yielding `spins` times.
fn spinners(width: Option<u32>, spins: u32) -> Arc<VerifiedProgram> {
    let how_wide = match width {
        Some(_) => "const r2, width",
        None => "invoke r2, Width, r4",
    };
    let src = SPINNERS
        .replace("SPINS", &spins.to_string())
        .replace("WIDTH", &width.unwrap_or(0).to_string())
        .replace("HOW_WIDE", how_wide);
    let module = canon_bytecode::assemble(&src).expect("spinner program assembles");
    Arc::new(canon_bytecode::verify(module).expect("spinner program verifies"))
}

fn fixture(name: &str) -> Arc<VerifiedProgram> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/asm").join(name);
    let src = std::fs::read_to_string(&path).expect("fixture is readable");
    let module = canon_bytecode::assemble(&src).expect("fixture assembles");
    Arc::new(canon_bytecode::verify(module).expect("fixture verifies"))
}

fn run(program: &Arc<VerifiedProgram>, instances: u32, runner: &dyn Runner) -> RunOutcome {
    let config = Config { limits: Limits { max_rounds: 10_000, ..Limits::default() }, seed: 5, ..Config::default() };
    let mut machine = Machine::new(config);
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    for i in 0..instances {
        machine.load(program, Box::new(SeededHost::new(u64::from(i) * 31 + 5))).expect("one program per machine");
    }
    runner.run(&mut machine)
}

/// Runs cooperatively and threaded at each of `workers`; asserts identical
/// bytes and reports; returns the cooperative outcome.
fn parity(program: &Arc<VerifiedProgram>, instances: u32, workers: &[usize]) -> RunOutcome {
    let reference = run(program, instances, &CooperativeRunner);
    for &w in workers {
        let threaded = run(program, instances, &ThreadedRunner::new(w));
        assert!(threaded.replay_bytes() == reference.replay_bytes(), "{instances} groups: threaded({w}) differs");
        assert_eq!(threaded.groups, reference.groups, "{instances} groups: threaded({w}) reports differ");
    }
    reference
}

fn all_completed(outcome: &RunOutcome) -> bool {
    outcome.groups.iter().all(|g| g.outcome.status == GroupStatus::Completed)
}

#[test]
fn two_thousand_tiny_groups_over_eight_workers() {
    let outcome = parity(&fixture("ping_pong.casm"), 2_000, &[8]);
    assert_eq!(outcome.groups.len(), 2_000);
    assert!(all_completed(&outcome));
    assert_eq!(outcome.session_count(), 2_000);
    assert!(outcome.groups.iter().enumerate().all(|(i, g)| g.group as usize == i), "reports in group order");
}

#[test]
fn one_group_of_many_coroutines_in_yield_loops() {
    let outcome = parity(&spinners(Some(300), 40), 1, &[1, 4, 8]);
    assert!(all_completed(&outcome));
    let g = &outcome.groups[0];
    // Spawning 300 spinners takes `main` about 1,500 instructions: more than
    // one fuel quantum (1,024), so the last spinners are spawned in round 1,
    // first run in round 2, yield in rounds 2..=41 and end in round 42.
    assert_eq!(Limits::default().fuel_per_quantum, 1_024);
    assert_eq!(g.outcome.rounds, 43, "two spawn rounds, 40 yield rounds, the round the last spinners end");
    assert!(g.outcome.steps > 300 * 40 * 4, "every spinner ran its loop: {} steps", g.outcome.steps);
}

#[test]
fn groups_of_very_different_sizes_balance_without_deadlock() {
    let program = spinners(None, 3);
    let outcome = parity(&program, 40, &[2, 3, 8]);
    assert!(all_completed(&outcome));
    let steps: Vec<u64> = outcome.groups.iter().map(|g| g.outcome.steps).collect();
    let (lo, hi) = (steps.iter().min().copied().unwrap_or(0), steps.iter().max().copied().unwrap_or(0));
    assert!(hi > 10 * lo.max(1), "the host's widths should make groups uneven: {lo}..{hi} steps");
}

#[test]
fn more_workers_than_groups_and_no_groups_at_all() {
    let program = fixture("three_party_relay.casm");
    let outcome = parity(&program, 3, &[8, 64]);
    assert!(all_completed(&outcome));
    let empty = parity(&program, 0, &[1, 8]);
    assert!(empty.groups.is_empty());
    assert_eq!(empty.event_count(), 0);
}

#[test]
fn round_budget_bounds_a_group_that_never_ends() {
    // ping_pong_loop ends; a spinner that yields more often than the budget
    // allows does not, and stops as budget-exhausted on every runner alike.
    let program = spinners(Some(4), 50_000);
    let outcome = parity(&program, 6, &[2, 4]);
    assert!(outcome.budget_exhausted());
    assert!(outcome.groups.iter().all(|g| g.outcome.rounds == 10_000));
}
