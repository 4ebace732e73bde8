//! Running a scenario for a golden test: cooperative run, re-execution,
//! cross-check of deliveries and edge histories, and the threaded runner.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_replay::Replay;
use canon_runtime::{CooperativeRunner, Machine, Runner, ThreadedRunner, reexecute};

/// Runs `machine` to the end, checks that re-execution reproduces its events,
/// that deliveries and edge histories cross-check and that the threaded
/// runner (on `again()`, the same machine built afresh) writes the same
/// bytes; returns the replay and its event lines.
pub fn finish(
    program: &Arc<VerifiedProgram>,
    mut machine: Machine,
    again: impl FnOnce() -> Machine,
) -> (Replay, String) {
    let outcome = CooperativeRunner.run(&mut machine);
    let replay = Replay::decode(outcome.replay_bytes()).unwrap();
    let re = reexecute(program, &replay).unwrap();
    assert_eq!(re.events, replay.events, "re-execution reproduces the replay");
    let run = canon_machine::run_identity(&replay.header.program_digest, &replay.header.config_digest());
    canon_machine::cross_check(&run, &replay.header.config, &replay.events)
        .expect("deliveries and edge histories cross-check");
    let mut threaded = again();
    let t = ThreadedRunner::new(2).run(&mut threaded);
    assert_eq!(t.replay_bytes(), outcome.replay_bytes(), "cooperative == threaded");
    let text = canon_replay::render_text(&replay);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("t=")).collect();
    (replay, lines.join("\n"))
}
