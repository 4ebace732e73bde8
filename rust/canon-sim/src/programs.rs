//! The programs a simulation draws from: every fixture (embedded at build
//! time, so `canon sim --seed S` reproduces anywhere), random protocols from
//! `canon_types::testgen` compiled by canon-choreo, and random modules from
//! `canon_bytecode::testgen` that verify.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};

use crate::rng::Rng;

/// A fixture, by file name and text.
struct Fixture {
    name: &'static str,
    text: &'static str,
}

macro_rules! fixture {
    ($path:literal) => {
        Fixture { name: $path, text: include_str!(concat!("../../../", $path)) }
    };
}

/// Every choreography and assembly fixture of the repository.
const FIXTURES: &[Fixture] = &[
    fixture!("fixtures/calculator.canon"),
    fixture!("fixtures/seeds/decision_pipeline.canon"),
    fixture!("fixtures/double_buffering.canon"),
    fixture!("fixtures/fibonacci_server.canon"),
    fixture!("fixtures/job_lifecycle.canon"),
    fixture!("fixtures/oauth_login.canon"),
    fixture!("fixtures/ring5.canon"),
    fixture!("fixtures/smtp_session.canon"),
    fixture!("fixtures/streaming.canon"),
    fixture!("fixtures/three_buyer.canon"),
    fixture!("fixtures/travel_agency.canon"),
    fixture!("fixtures/two_buyer.canon"),
    fixture!("fixtures/asm/choice.casm"),
    fixture!("fixtures/asm/deadlock.casm"),
    fixture!("fixtures/asm/fault_buffer_full.casm"),
    fixture!("fixtures/asm/fault_payload_type.casm"),
    fixture!("fixtures/asm/job_lease.casm"),
    fixture!("fixtures/asm/ping_pong.casm"),
    fixture!("fixtures/asm/ping_pong_loop.casm"),
    fixture!("fixtures/asm/three_party_relay.casm"),
    fixture!("fixtures/asm/timeout.casm"),
    fixture!("tests/differential/buffers.casm"),
    fixture!("tests/differential/faults.casm"),
    fixture!("tests/differential/ops.casm"),
    fixture!("tests/differential/timeouts.casm"),
];

/// Number of embedded fixtures.
pub fn fixture_count() -> usize {
    FIXTURES.len()
}

/// A program of the simulation and where it came from (for the report).
#[derive(Clone)]
pub struct SimProgram {
    /// Where it came from: a fixture's name, a random protocol or a random module.
    pub origin: String,
    /// The verified program.
    pub program: Arc<VerifiedProgram>,
}

/// Why a program could not be built: a fixture that no longer compiles, or
/// a generated protocol the compiler refuses. Either is a failure of the seed.
pub type ProgramError = String;

/// Fixture `i`, compiled and verified.
pub fn fixture(i: usize) -> Result<SimProgram, ProgramError> {
    let f = FIXTURES.get(i).ok_or_else(|| format!("no fixture {i}"))?;
    let program = if f.name.ends_with(".casm") {
        let module = canon_bytecode::assemble(f.text).map_err(|e| format!("{}: {e}", f.name))?;
        canon_bytecode::verify(module).map_err(|e| format!("{}: {e}", f.name))?
    } else {
        canon::compile_source(f.name, f.text, None).map_err(|e| format!("{}: {e}", f.name))?
    };
    Ok(SimProgram { origin: f.name.to_owned(), program: Arc::new(program) })
}

/// A random protocol among 2–4 roles from `rng`, projected, compiled and verified.
pub fn random_protocol(rng: &mut Rng) -> Result<SimProgram, ProgramError> {
    let k = 2 + rng.below(3) as usize;
    let bytes: Vec<u8> = (0..96).map(|_| rng.next_u64() as u8).collect();
    let protocol = canon_types::testgen::protocol(k, &bytes);
    let module = canon_choreo::compile_protocol(&protocol, &[]).map_err(|e| format!("random protocol: {e}"))?;
    let program = canon_bytecode::verify(module).map_err(|e| format!("random protocol: {e}"))?;
    Ok(SimProgram { origin: format!("random protocol ({k} roles)"), program: Arc::new(program) })
}

/// Draws at most this many random modules looking for one that verifies.
const MODULE_DRAWS: usize = 512;

/// A random module from `canon_bytecode::testgen` that verifies, or `None`
/// when none of `MODULE_DRAWS` draws did.
pub fn random_module(rng: &mut Rng) -> Option<SimProgram> {
    let mut seed = [0u8; 32];
    seed.iter_mut().for_each(|b| *b = rng.next_u64() as u8);
    let mut runner = TestRunner::new_with_rng(RunnerConfig::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let strategy = canon_bytecode::testgen::arb_module();
    (0..MODULE_DRAWS).find_map(|draw| {
        let module = strategy.new_tree(&mut runner).ok()?.current();
        let program = canon_bytecode::verify(module).ok()?;
        Some(SimProgram { origin: format!("random module (draw {draw})"), program: Arc::new(program) })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_compiles() {
        for i in 0..fixture_count() {
            fixture(i).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
