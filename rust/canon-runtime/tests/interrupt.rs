//! `Runner::run_to_until`: a set flag stops the run at a round boundary, the
//! replay written is finished and valid, and the summary says interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use canon_bytecode::VerifiedProgram;
use canon_machine::GroupStatus;
use canon_replay::Replay;
use canon_runtime::{Config, CooperativeRunner, Machine, Runner, SeededHost, ThreadedRunner};

const PING_PONG: &str =
    "global protocol P(role A, role B) { rec L { Ping(Int) from A to B; Pong(Int) from B to A; continue L; } }";
const ONCE: &str = "global protocol P(role A, role B) { Ping(Int) from A to B; Pong(Int) from B to A; }";

fn program(src: &str) -> Arc<VerifiedProgram> {
    let choreo = canon_choreo::load("p.canon", src, None).expect("parses");
    let module = canon_choreo::compile_choreography(&choreo).expect("compiles");
    Arc::new(canon_bytecode::verify(module).expect("verifies"))
}

fn machine(program: &Arc<VerifiedProgram>, groups: u32) -> Machine {
    let mut machine = Machine::new(Config { seed: 5, ..Config::default() });
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    for i in 0..groups {
        machine.load(program, Box::new(SeededHost::new(u64::from(i)))).expect("loads");
    }
    machine
}

#[test]
fn a_flag_set_before_the_run_leaves_a_valid_replay_of_one_unstarted_group() {
    let p = program(PING_PONG);
    let runners: [Box<dyn Runner>; 2] = [Box::new(CooperativeRunner), Box::new(ThreadedRunner::new(3))];
    for runner in runners {
        let mut m = machine(&p, 8);
        let mut bytes = Vec::new();
        let mut reports = Vec::new();
        let stop = AtomicBool::new(true);
        let summary = runner
            .run_to_until(&mut m, &mut bytes, &mut |_| {}, &mut |r| reports.push(r.clone()), &stop)
            .expect("writes to memory");
        assert!(summary.interrupted);
        assert!(summary.groups <= 1, "no group starts after the flag: {summary:?}");
        assert!(reports.iter().all(|r| r.outcome.status == GroupStatus::Running));
        let replay = Replay::decode(&bytes).expect("the partial replay is valid");
        assert_eq!(replay.root, summary.root);
    }
}

#[test]
fn a_flag_set_after_the_first_group_keeps_it_and_drops_the_rest() {
    let p = program(ONCE);
    let mut m = machine(&p, 5);
    let stop = AtomicBool::new(false);
    let mut bytes = Vec::new();
    let summary = CooperativeRunner
        .run_to_until(&mut m, &mut bytes, &mut |_| {}, &mut |_| stop.store(true, Ordering::Relaxed), &stop)
        .expect("writes to memory");
    assert!(summary.interrupted, "{summary:?}");
    assert_eq!(summary.groups, 1);
    let replay = Replay::decode(&bytes).expect("valid");
    assert!(replay.events.iter().all(|e| e.site.group == 0));
    // The same group, uninterrupted, writes the same events.
    let mut whole = machine(&p, 1);
    let full = CooperativeRunner.run(&mut whole);
    assert!(!full.interrupted());
    assert_eq!(Replay::decode(full.replay_bytes()).expect("valid").events, replay.events);
}

#[test]
fn an_unset_flag_changes_nothing() {
    let p = program(ONCE);
    let (mut a, mut b) = (machine(&p, 70), machine(&p, 70));
    let plain = ThreadedRunner::new(2).run(&mut a);
    let mut bytes = Vec::new();
    let summary = ThreadedRunner::new(2)
        .run_to_until(&mut b, &mut bytes, &mut |_| {}, &mut |_| {}, &AtomicBool::new(false))
        .expect("writes");
    assert!(!summary.interrupted);
    assert_eq!(plain.replay_bytes(), &bytes[..]);
}
