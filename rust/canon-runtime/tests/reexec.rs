//! Re-execution finds the first divergence: a recorded host answer altered in
//! the replay, or a program changed by one instruction, is reported at the
//! first event that differs; an untouched replay re-executes byte for byte.

use std::sync::Arc;

use canon_bytecode::{Instr, VerifiedProgram};
use canon_machine::{EventKind, HostPoint};
use canon_replay::{Replay, ReplayWriter, diff};
use canon_runtime::{Config, CooperativeRunner, Machine, Runner, SeededHost, reexecute};
use canon_types::Value;

fn fixture(name: &str) -> canon_bytecode::Module {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/asm/");
    let src = std::fs::read_to_string(format!("{path}{name}")).expect("fixture exists");
    canon_bytecode::assemble(&src).expect("fixture assembles")
}

fn record(program: &Arc<VerifiedProgram>, config: Config) -> Replay {
    let mut machine = Machine::new(config);
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    machine.load(program, Box::new(SeededHost::new(config.seed))).expect("loads");
    Replay::decode(CooperativeRunner.run(&mut machine).replay_bytes()).expect("decodes")
}

/// The same events under the same header, written again (a valid chain).
fn rewrite(replay: &Replay) -> Replay {
    let mut w = ReplayWriter::new(&replay.header);
    replay.events.iter().for_each(|e| w.push(e));
    w.finish()
}

#[test]
fn an_untouched_replay_reexecutes_identically() {
    let program = Arc::new(canon_bytecode::verify(fixture("ping_pong_loop.casm")).expect("verifies"));
    let config = Config { seed: 5, ..Config::default() };
    let recorded = record(&program, config);
    let again = reexecute(&program, &recorded).expect("re-executes");
    assert!(diff(&recorded, &again).is_identical());
    assert_eq!(again.to_bytes(), recorded.to_bytes());
}

#[test]
fn an_altered_host_answer_diverges_at_the_message_it_produced() {
    let program = Arc::new(canon_bytecode::verify(fixture("ping_pong.casm")).expect("verifies"));
    let config = Config { seed: 3, ..Config::default() };
    let mut tampered = record(&program, config);
    let k = tampered
        .events
        .iter()
        .position(|e| matches!(e.kind, EventKind::HostAnswer { point: HostPoint::Produce { .. }, .. }))
        .expect("ping_pong produces a payload");
    let EventKind::HostAnswer { answer, .. } = &mut tampered.events[k].kind else { unreachable!() };
    *answer = Value::Int(-1);
    let tampered = rewrite(&tampered);
    let replayed = reexecute(&program, &tampered).expect("re-executes");
    let d = diff(&tampered, &replayed);
    // The altered answer is fed back as recorded, so event k agrees; the
    // message it produced (recorded with the original payload) is where the
    // recording and the re-execution part.
    assert!(matches!(tampered.events[k + 1].kind, EventKind::Sent { .. }));
    assert_eq!(d.first_divergence(), Some(k + 1), "{}", d.render_text());
}

#[test]
fn a_program_changed_by_one_instruction_diverges_at_its_first_effect() {
    let module = fixture("ping_pong_loop.casm");
    let program = Arc::new(canon_bytecode::verify(module.clone()).expect("verifies"));
    let config = Config { seed: 8, ..Config::default() };
    let recorded = record(&program, config);
    // `lt r4, r1, r3` (0 < 3: ping) becomes `eq r4, r1, r3` (0 == 3: stop at once).
    let mut changed = module;
    let pinger = changed.procs.iter_mut().find(|p| p.code.iter().any(|i| matches!(i, Instr::Lt { .. }))).expect("lt");
    let at = pinger.code.iter().position(|i| matches!(i, Instr::Lt { .. })).expect("lt");
    let Instr::Lt { dst, a, b } = pinger.code[at] else { unreachable!() };
    pinger.code[at] = Instr::Eq { dst, a, b };
    let changed = Arc::new(canon_bytecode::verify(changed).expect("still verifies"));
    let replayed = reexecute(&changed, &recorded).expect("re-executes");
    let d = diff(&recorded, &replayed);
    let first_send = recorded.events.iter().position(|e| matches!(e.kind, EventKind::Sent { .. })).expect("a send");
    assert_eq!(d.first_divergence(), Some(first_send), "{}", d.render_text());
    assert!(!d.is_identical());
}

/// Counts the bytes read through it.
struct Counted<'a> {
    bytes: &'a [u8],
    read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl std::io::Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::io::Read::read(&mut self.bytes, buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

fn counted(bytes: &[u8]) -> (canon_replay::ReplayReader<Counted<'_>>, std::rc::Rc<std::cell::Cell<u64>>) {
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let reader = canon_replay::ReplayReader::new(Counted { bytes, read: read.clone() }).expect("readable");
    (reader, read)
}

/// The replay of `groups` lazily loaded ping-pong instances, unsigned.
fn many_groups(program: &Arc<VerifiedProgram>, groups: u32, seed: u64) -> Vec<u8> {
    let mut machine = Machine::new(Config { seed, auth: canon_machine::Auth::None, ..Config::default() });
    let make: Box<canon_runtime::HostFactory> = Box::new(move |i| Box::new(SeededHost::new(seed ^ u64::from(i))));
    machine.load_lazy(program, groups, make, &[]).expect("loads");
    let mut out = Vec::new();
    CooperativeRunner.run_to(&mut machine, &mut out, &mut |_| {}, &mut |_| {}).expect("writes to memory");
    out
}

/// Work of re-executing and of diffing a replay of `groups` groups: events
/// visited and bytes read, by re-execution and by a diff of the replay with itself.
fn work(program: &Arc<VerifiedProgram>, groups: u32) -> [u64; 4] {
    let bytes = many_groups(program, groups, 1);
    let (reader, read) = counted(&bytes);
    let r = canon_runtime::reexecute_reader(program, reader, &mut |_, _| true).expect("re-executes");
    assert!(r.diff.is_identical(), "{}", r.diff.render_text());
    assert_eq!(r.groups, u64::from(groups));
    let reexec_bytes = read.get();
    let ((a, read_a), (b, read_b)) = (counted(&bytes), counted(&bytes));
    let (d, _) = canon_replay::diff_readers(a, b).expect("both read");
    assert!(d.is_identical());
    [r.visited, reexec_bytes, d.a_events as u64 + d.b_events as u64, read_a.get() + read_b.get()]
}

#[test]
fn reexecution_and_diff_do_linear_work() {
    let program = Arc::new(canon_bytecode::verify(fixture("ping_pong.casm")).expect("verifies"));
    let small = work(&program, 1_000);
    let large = work(&program, 4_000);
    let names = ["re-execution events visited", "re-execution bytes read", "diff events", "diff bytes read"];
    for ((name, s), l) in names.iter().zip(small).zip(large) {
        let ratio = l as f64 / s as f64;
        assert!(ratio <= 4.5, "{name}: {s} for 1,000 groups, {l} for 4,000 (ratio {ratio:.2})");
        assert!(ratio >= 3.5, "{name}: {s} for 1,000 groups, {l} for 4,000: the counter is not counting");
    }
}

#[test]
fn diff_and_reexecution_stop_at_the_first_divergence() {
    let program = Arc::new(canon_bytecode::verify(fixture("ping_pong.casm")).expect("verifies"));
    let read_to_divergence = |groups: u32| {
        let (a, b) = (many_groups(&program, groups, 1), many_groups(&program, groups, 2));
        let ((ra, read_a), (rb, read_b)) = (counted(&a), counted(&b));
        let (d, _) = canon_replay::diff_readers(ra, rb).expect("both read");
        let index = d.first_divergence().expect("different seeds diverge");
        assert!(index < 16, "the first group already differs");
        read_a.get() + read_b.get()
    };
    // One block of each file is read, whatever the length of the files.
    assert_eq!(read_to_divergence(100), read_to_divergence(2_000));
    // Re-executing a different program stops in its first group too.
    let other = Arc::new(canon_bytecode::verify(fixture("choice.casm")).expect("verifies"));
    let bytes = many_groups(&program, 2_000, 1);
    let (reader, _) = counted(&bytes);
    let r = canon_runtime::reexecute_reader(&other, reader, &mut |_, _| true).expect("runs");
    assert!(!r.diff.is_identical());
    assert!(r.groups <= 2, "re-execution went on after the divergence: {} groups", r.groups);
    assert_eq!(r.recorded, None, "the recording was not read to its end");
}
