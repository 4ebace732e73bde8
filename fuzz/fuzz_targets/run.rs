//! Fuzz target: decode → verify → run. A module that decodes and verifies runs
//! under small limits (rounds, instructions, coroutines, sessions, payload
//! bytes) without panicking, and running it twice gives the same outcome and
//! events (determinism).
#![no_main]

use std::sync::Arc;

use canon_machine::{Config, Group, Limits, NullHost};
use libfuzzer_sys::fuzz_target;

/// Limits small enough that every input finishes in milliseconds.
fn config() -> Config {
    let limits = Limits {
        max_sessions: 16,
        max_coroutines: 16,
        max_payload_bytes: 4_096,
        fuel_per_quantum: 64,
        max_rounds: 64,
        max_call_depth: 16,
        max_nullifiers_per_session: 64,
        max_roles_per_open: 8,
        max_instructions: 20_000,
    };
    Config { limits, ..Config::default() }
}

fn run(program: &Arc<canon_bytecode::VerifiedProgram>) -> (canon_machine::GroupOutcome, Vec<canon_machine::Event>) {
    let mut group = Group::new(Arc::clone(program), 0, &config(), Box::new(NullHost));
    let outcome = group.run_to_end();
    let mut events = Vec::new();
    group.drain_events(&mut events);
    (outcome, events)
}

fuzz_target!(|data: &[u8]| {
    let Ok(module) = canon_bytecode::decode(data) else { return };
    let Ok(program) = canon_bytecode::verify(module) else { return };
    let program = Arc::new(program);
    let first = run(&program);
    assert!(first.0.steps <= 20_000 + 16 * 64, "instruction budget overshot: {}", first.0.steps);
    assert_eq!(first, run(&program), "two runs of one program differ");
});
