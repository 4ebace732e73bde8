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
