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
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
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

/// A sink that fails after `ok` bytes.
struct Failing {
    ok: usize,
}

impl std::io::Write for Failing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.ok {
            return Err(std::io::Error::other("disk full"));
        }
        self.ok -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// [`machine`], with the groups loaded lazily.
fn lazy_machine(program: &Arc<VerifiedProgram>, groups: u32) -> Machine {
    let mut machine = Machine::new(Config { seed: 3, ..Config::default() });
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    let make: Box<canon_runtime::HostFactory> = Box::new(|i| Box::new(SeededHost::new(u64::from(i) ^ 0xa5a5)));
    machine.load_lazy(program, groups, make, &[]).expect("loads");
    machine
}

#[test]
fn lazily_loaded_groups_stream_the_same_bytes_and_summary() {
    let program = program();
    let eager = run(&program, 150, &CooperativeRunner);
    for runner in [&CooperativeRunner as &dyn Runner, &ThreadedRunner::new(3)] {
        let mut machine = lazy_machine(&program, 150);
        assert_eq!(machine.group_count(), 150);
        let mut bytes = Vec::new();
        let mut reports = Vec::new();
        let summary =
            runner.run_to(&mut machine, &mut bytes, &mut |_| {}, &mut |r| reports.push(r.clone())).expect("writes");
        assert!(bytes == eager.replay_bytes(), "lazily loaded groups write other bytes");
        assert_eq!(reports, eager.groups);
        assert_eq!(summary, eager.summary);
        assert_eq!(summary.groups, 150);
        assert!(machine.groups().is_empty(), "finished lazy groups are dropped");
    }
}

#[test]
fn nothing_loads_after_lazy_instances() {
    let program = program();
    let mut machine = lazy_machine(&program, 2);
    let err = machine.load(&program, Box::new(SeededHost::new(0))).unwrap_err();
    assert_eq!(err, canon_runtime::LoadError::AfterLazy { lazy: 2 });
    assert_eq!(canon_types::ErrorCode::code(&err), 4006);
}

#[test]
fn a_failing_sink_stops_the_run_with_its_error() {
    let program = program();
    for runner in [&CooperativeRunner as &dyn Runner, &ThreadedRunner::new(2), &ThreadedRunner::new(4)] {
        let mut machine = lazy_machine(&program, 3_000);
        let mut groups = 0;
        let err = runner
            .run_to(&mut machine, &mut Failing { ok: 100_000 }, &mut |_| {}, &mut |_| groups += 1)
            .expect_err("the sink fails");
        assert_eq!(err.to_string(), "disk full");
        assert!(groups < 3_000, "the run stopped early ({groups} groups written)");
    }
}

#[test]
fn the_summary_keeps_bounded_detail() {
    use canon_machine::{CoroutineFault, GroupOutcome};
    let fault = |coroutine| CoroutineFault {
        coroutine,
        proc: 0,
        pc: 0,
        tick: 0,
        fault: canon_machine::Fault::UnknownSession { sid: 9 },
    };
    let mut summary = canon_runtime::RunSummary::default();
    for g in 0..100 {
        let outcome = GroupOutcome { status: GroupStatus::Completed, rounds: u64::from(g), steps: 0, faults: 3 };
        let report = canon_runtime::GroupReport {
            group: g,
            outcome,
            sessions: vec![(u64::from(g) << 32, canon_machine::SessionStatus::Closed)],
            faults: vec![fault(0), fault(1), fault(2)],
            messages: 2,
        };
        summary.add(&report);
    }
    assert_eq!((summary.groups, summary.sessions, summary.messages, summary.rounds), (100, 100, 200, 99));
    assert_eq!(summary.faults, 300);
    assert_eq!(summary.first_faults.len(), canon_runtime::SUMMARY_FAULTS);
    assert_eq!(summary.statuses, [(canon_machine::SessionStatus::Closed, 100)]);
}
