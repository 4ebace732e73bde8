//! A threaded run: 500 independent two-buyer instances on two worker
//! threads, and the proof that the replay bytes equal the cooperative
//! runner's.
//!
//! Run with `cargo run -p canon --example threaded`.

use std::sync::Arc;

use canon::{Config, CooperativeRunner, Machine, Runner, SeededHost, ThreadedRunner, VerifiedProgram};

const INSTANCES: u64 = 500;

fn machine(program: &Arc<VerifiedProgram>) -> Result<Machine, canon::LoadError> {
    let mut machine = Machine::new(Config { seed: 9, ..Config::default() });
    // Signing keys derive from a secret key seed (`canon keygen`); the public
    // test seed keeps the example self-contained (its signatures prove nothing).
    machine.set_key_source(canon::KeySource::Seed(canon::KeySeed::TEST_ONLY_PUBLIC));
    for i in 0..INSTANCES {
        machine.load(program, Box::new(SeededHost::new(9 ^ i)))?;
    }
    Ok(machine)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/two_buyer.canon");
    let program = Arc::new(canon::compile_file(path)?);
    let threaded = ThreadedRunner::new(2).run(&mut machine(&program)?);
    let cooperative = CooperativeRunner.run(&mut machine(&program)?);
    println!(
        "{} instances, {} messages, root {}",
        threaded.groups.len(),
        threaded.message_count(),
        canon::hex(&threaded.root())
    );
    if threaded.replay_bytes() != cooperative.replay_bytes() {
        return Err("the threaded replay differs from the cooperative one".into());
    }
    println!("threaded and cooperative replays are byte-identical");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_runs() {
        super::main().expect("the threaded example runs");
    }
}
