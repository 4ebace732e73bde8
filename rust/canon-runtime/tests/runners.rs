//! The threaded runner against the cooperative one at the edges of its work
//! distribution: group counts around its batch sizes, a worker count of zero
//! written into the public field, more workers than groups, a machine run
//! twice, and re-execution of a multi-group replay.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::GroupStatus;
use canon_replay::Replay;
use canon_runtime::{Config, CooperativeRunner, Machine, RunOutcome, Runner, SeededHost, ThreadedRunner};

/// Buyer chooses (through the seeded host) whether to buy; the seller
/// follows. Different groups take different branches.
const CHOICE: &str = "
.type buyer = Seller!{Buy(Int).Seller?Receipt(String).end, Quit().end}
.type seller = Buyer?{Buy(Int).Buyer!Receipt(String).end, Quit().end}

.entry main

.proc main() regs 2
    open roles [Buyer, Seller], types [buyer, seller], handlers [default, default], dsts [r0, r1]
    spawn buyer, [r0]
    spawn seller, [r1]
    halt
.end

.proc buyer(ep buyer) regs 2
    select r0, [Buy -> buy, Quit -> quit]
buy:
    produce r1, r0, Buy
    send r0, Buy, r1
    recv r0, Receipt, r1
    close r0
    halt
quit:
    produce r1, r0, Quit
    send r0, Quit, r1
    close r0
    halt
.end

.proc seller(ep seller) regs 2
    offer r0, r1, [Buy -> buy, Quit -> quit]
buy:
    produce r1, r0, Receipt
    send r0, Receipt, r1
    close r0
    halt
quit:
    close r0
    halt
.end
";

fn program() -> Arc<VerifiedProgram> {
    let module = canon_bytecode::assemble(CHOICE).expect("assembles");
    Arc::new(canon_bytecode::verify(module).expect("verifies"))
}

fn machine(program: &Arc<VerifiedProgram>, groups: u32) -> Machine {
    let mut machine = Machine::new(Config { seed: 3, ..Config::default() });
    for i in 0..groups {
        machine.load(program, Box::new(SeededHost::new(u64::from(i) ^ 0xa5a5))).expect("one program");
    }
    machine
}

fn run(program: &Arc<VerifiedProgram>, groups: u32, runner: &dyn Runner) -> RunOutcome {
    runner.run(&mut machine(program, groups))
}

fn assert_same(reference: &RunOutcome, other: &RunOutcome, what: &str) {
    assert!(other.replay_bytes() == reference.replay_bytes(), "{what}: replay bytes differ");
    assert_eq!(other.groups, reference.groups, "{what}: group reports differ");
    assert_eq!(other.event_count(), reference.event_count(), "{what}: event counts differ");
}

#[test]
fn group_counts_around_batch_boundaries() {
    let program = program();
    for groups in [0, 1, 2, 7, 15, 16, 17, 63, 64, 65, 129, 1_031] {
        let reference = run(&program, groups, &CooperativeRunner);
        assert_eq!(reference.groups.len(), groups as usize);
        assert!(reference.groups.iter().all(|g| g.outcome.status == GroupStatus::Completed));
        for workers in [1, 2, 3, 5, 8] {
            let threaded = run(&program, groups, &ThreadedRunner::new(workers));
            assert_same(&reference, &threaded, &format!("{groups} groups, {workers} workers"));
        }
    }
}

#[test]
fn the_seeded_host_sends_groups_down_both_branches() {
    let outcome = run(&program(), 64, &CooperativeRunner);
    let messages: Vec<u64> = outcome.groups.iter().map(|g| g.messages).collect();
    assert!(messages.contains(&1) && messages.contains(&2), "both Quit (1 message) and Buy (2): {messages:?}");
}

#[test]
fn zero_workers_in_the_public_field_still_runs_every_group() {
    let program = program();
    let reference = run(&program, 9, &CooperativeRunner);
    let zero = run(&program, 9, &ThreadedRunner { workers: 0 });
    assert_same(&reference, &zero, "workers: 0");
    assert_eq!(ThreadedRunner::new(0).workers, 1);
}

#[test]
fn a_machine_run_twice_records_nothing_the_second_time_on_either_runner() {
    let program = program();
    for runner in [&CooperativeRunner as &dyn Runner, &ThreadedRunner::new(3)] {
        let mut m = machine(&program, 5);
        let first = runner.run(&mut m);
        assert!(first.event_count() > 5);
        let second = runner.run(&mut m);
        assert_eq!(second.event_count(), 0, "finished groups have nothing left to run");
        assert_eq!(
            second.groups,
            first.groups.iter().map(|g| canon_runtime::GroupReport { messages: 0, ..g.clone() }).collect::<Vec<_>>()
        );
    }
}

#[test]
fn threaded_replays_of_many_groups_re_execute_identically() {
    let program = program();
    let threaded = run(&program, 40, &ThreadedRunner::new(4));
    let recorded = Replay::decode(threaded.replay_bytes()).expect("readable");
    let again = canon_runtime::reexecute(&program, &recorded).expect("re-executes");
    assert!(again.to_bytes() == threaded.replay_bytes(), "re-execution diverges");
}
