//! Verifying a replay as `canon replay verify --program` does: decode it
//! (format and hash chain), check every message signature against the keys
//! bound at open, then re-execute the program from the recorded host answers
//! and diff the result with the recording.
//!
//! Run with `cargo run -p canon --example verify_replay`.

use std::sync::Arc;

use canon::{Config, CooperativeRunner, KeySeed, KeySource, Machine, Replay, Runner, SeededHost};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/two_buyer.canon");
    let program = Arc::new(canon::compile_file(path)?);
    let config = Config { seed: 3, ..Config::default() };

    // Record.
    let mut machine = Machine::new(config);
    // Signing keys derive from a secret key seed; examples use the public
    // test seed, whose signatures prove nothing.
    machine.set_key_source(KeySource::Seed(KeySeed::TEST_ONLY_PUBLIC));
    machine.load(&program, Box::new(SeededHost::new(3)))?;
    let bytes = CooperativeRunner.run(&mut machine).into_replay_bytes();

    // Verify: format and chain, signatures, re-execution.
    let recorded = Replay::decode(&bytes)?;
    let run = canon::run_identity(&recorded.header.program_digest, &recorded.header.config_digest());
    let signatures = canon::verify_signatures(&run, &recorded.events)?;
    // The configuration is recorded in the header: re-execution needs only the program.
    let replayed = canon::reexecute(&program, &recorded)?;
    let diff = canon::diff(&recorded, &replayed);
    println!(
        "{} events, root {}, {} signatures checked, re-execution identical: {}",
        recorded.events.len(),
        canon::hex(&recorded.root),
        signatures.checked,
        diff.is_identical()
    );
    if !diff.is_identical() {
        return Err(format!("re-execution diverges:\n{}", diff.render_text()).into());
    }

    // A damaged copy is refused.
    let mut damaged = bytes.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    if Replay::decode(&damaged).is_ok() {
        return Err("a damaged replay decoded".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_runs() {
        super::main().expect("the verify example runs");
    }
}
