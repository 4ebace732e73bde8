//! Allocations per message and per session through the cooperative runner
//! with the replay written, counted by this test binary's global allocator
//! (never timed):
//!
//! - a ping-pong of ten times as many messages makes no more allocations
//!   (zero per message in the steady state: the machine, the runner and the
//!   replay writer reuse their buffers);
//! - a two-buyer session costs at most a fixed small number of allocations,
//!   measured as the difference between runs of 2,000 and 1,000 sessions;
//! - a finished, written group costs no memory: after a run of lazily loaded
//!   two-buyer instances the live heap is the same for 500 and for 2,000.
//!
//! The counters are global: one `#[test]` only, so nothing else allocates
//! concurrently in this binary.

use std::alloc::System;
use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{Auth, Config, NullHost};
use canon_runtime::{CooperativeRunner, Machine, Runner, SeededHost};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn unsigned() -> Config {
    Config { auth: Auth::None, ..Config::default() }
}

/// The `ping_pong` workload of `canon bench`: `2 * iterations + 1` messages.
fn ping_pong(iterations: u64) -> Arc<VerifiedProgram> {
    let src = canon_bytecode::workloads::ping_pong_casm(iterations);
    Arc::new(canon_bytecode::verify(canon_bytecode::assemble(&src).expect("assembles")).expect("verifies"))
}

/// Allocations (and reallocations) of loading `groups` instances and running
/// them through the cooperative runner, the replay streamed into `sink`.
fn run_counted(
    program: &Arc<VerifiedProgram>,
    config: Config,
    groups: u32,
    seeded: bool,
    sink: &mut dyn std::io::Write,
) -> usize {
    let region = Region::new(GLOBAL);
    let mut machine = Machine::new(config);
    for g in 0..groups {
        let host: Box<dyn canon_runtime::Host + Send> =
            if seeded { Box::new(SeededHost::new(u64::from(g))) } else { Box::new(NullHost) };
        machine.load(program, host).expect("loads");
    }
    let summary = CooperativeRunner.run_to(&mut machine, sink, &mut |_| {}, &mut |_| {}).expect("writes");
    assert!(summary.events > 0);
    drop(machine);
    let change = region.change();
    change.allocations + change.reallocations
}

/// One `#[test]`: the counters are global, and the harness itself allocates
/// while it reports a finished test.
#[test]
fn allocations_per_message_and_session_and_no_memory_kept_per_finished_group() {
    allocations_per_message_and_per_session_through_the_runner();
    a_finished_written_group_costs_no_memory();
}

fn allocations_per_message_and_per_session_through_the_runner() {
    let config = unsigned();
    // Ping-pong: the replay streamed to a sink that keeps nothing, so every
    // allocation counted is the machine's, the runner's or the writer's.
    let (small, large) = (ping_pong(1_000), ping_pong(10_000));
    let few = run_counted(&small, config, 1, false, &mut std::io::sink());
    let many = run_counted(&large, config, 1, false, &mut std::io::sink());
    eprintln!("ping-pong: {few} allocations for 2,001 messages, {many} for 20,001");
    assert!(many <= few, "18,000 more messages made {} more allocations", many.saturating_sub(few));
    // Into a growing in-memory replay: only the output vector's doublings.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let few = run_counted(&small, config, 1, false, &mut a);
    let many = run_counted(&large, config, 1, false, &mut b);
    assert!(many <= few + 4, "in memory: {few} allocations for 2,001 messages, {many} for 20,001");

    // Two-buyer sessions, one group each, seeded host answers.
    let src = include_str!("../fixtures/two_buyer.canon");
    let program = Arc::new(canon::compile_source("two_buyer.canon", src, None).expect("compiles"));
    let base = run_counted(&program, config, 1_000, true, &mut std::io::sink());
    let double = run_counted(&program, config, 2_000, true, &mut std::io::sink());
    let per_session = (double - base) as f64 / 1_000.0;
    eprintln!("two-buyer: {base} allocations for 1,000 sessions, {double} for 2,000: {per_session} per session");
    assert!(per_session <= MAX_ALLOCATIONS_PER_TWO_BUYER_SESSION, "{per_session} allocations per two-buyer session");
}

/// Bytes live on the heap now.
fn live() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize
}

/// Live heap left by a run of `groups` lazily loaded two-buyer instances,
/// measured with the machine still alive and the replay sent to a sink that
/// keeps nothing.
fn left_after_lazy_run(program: &Arc<VerifiedProgram>, groups: u32) -> isize {
    let before = live();
    let mut machine = Machine::new(unsigned());
    machine.load_lazy(program, groups, Box::new(|g| Box::new(SeededHost::new(u64::from(g)))), &[]).expect("loads");
    let summary =
        CooperativeRunner.run_to(&mut machine, &mut std::io::sink(), &mut |_| {}, &mut |_| {}).expect("writes");
    assert_eq!(summary.groups, u64::from(groups));
    let left = live() - before;
    drop(machine);
    left
}

fn a_finished_written_group_costs_no_memory() {
    let src = include_str!("../fixtures/two_buyer.canon");
    let program = Arc::new(canon::compile_source("two_buyer.canon", src, None).expect("compiles"));
    // A first run fills what a thread keeps across runs (the writer's memo of the last header hashed).
    left_after_lazy_run(&program, 10);
    let few = left_after_lazy_run(&program, 500);
    let many = left_after_lazy_run(&program, 2_000);
    eprintln!("live heap after the run: {few} bytes for 500 groups, {many} for 2,000");
    assert_eq!(few, many, "1,500 more finished groups left {} bytes", many - few);
    assert!(few.abs() < 1024, "a run left {few} bytes");
}

/// The allocations one two-buyer session costs (its group, coroutines,
/// session storage, events and host answers).
const MAX_ALLOCATIONS_PER_TWO_BUYER_SESSION: f64 = 21.0;
