//! Checkpoint and restore (`bytecode-spec/checkpoint.md`): for random
//! programs and random checkpoint rounds, running to the end equals running
//! to a checkpoint, saving it to bytes, restoring from those bytes (into a
//! fresh machine) and running to the end — byte for byte, with the
//! cooperative and the threaded runner (several worker counts) on either
//! side of the checkpoint.

use std::sync::Arc;

use canon_bytecode::{VerifiedProgram, verify};
use canon_machine::{Auth, Config, KeySeed, KeySource, Limits, ReplayMode};
use canon_runtime::{Checkpoint, CooperativeRunner, Machine, Runner, SeededHost, Segment, ThreadedRunner};
use canon_types::testgen::protocol;
use proptest::prelude::*;

fn compiled(k: usize, bytes: &[u8]) -> Arc<VerifiedProgram> {
    let p = protocol(k, bytes);
    let module = canon_choreo::compile_protocol(&p, &[]).expect("a generated protocol compiles");
    Arc::new(verify(module).expect("a compiled protocol verifies"))
}

fn config(seed: u64, auth: Auth, mode: ReplayMode) -> Config {
    Config {
        seed,
        auth,
        replay_mode: mode,
        limits: Limits { max_rounds: 200, fuel_per_quantum: 3, ..Limits::default() },
        ..Config::default()
    }
}

fn keys() -> KeySource {
    KeySource::Seed(KeySeed::TEST_ONLY_PUBLIC)
}

/// A machine with `eager` eagerly and `lazy` lazily loaded instances.
fn machine(program: &Arc<VerifiedProgram>, config: &Config, eager: u32, lazy: u32) -> Machine {
    let mut m = Machine::new(*config);
    m.set_key_source(keys());
    let seed = config.seed;
    for _ in 0..eager {
        m.load(program, Box::new(SeededHost::new(seed))).expect("loads");
    }
    if lazy > 0 {
        m.load_lazy(program, lazy, Box::new(move |_| Box::new(SeededHost::new(seed))), &[]).expect("loads lazily");
    }
    m
}

fn runner(workers: usize) -> Box<dyn Runner> {
    match workers {
        0 => Box::new(CooperativeRunner),
        n => Box::new(ThreadedRunner::new(n)),
    }
}

/// Runs to the end uninterrupted.
fn uninterrupted(program: &Arc<VerifiedProgram>, config: &Config, eager: u32, lazy: u32) -> Vec<u8> {
    CooperativeRunner.run(&mut machine(program, config, eager, lazy)).into_replay_bytes()
}

/// Runs with `first` until the first pause after `rounds` rounds,
/// checkpoints, restores from the checkpoint's bytes into a new machine and
/// finishes with `second` (pausing and checkpointing again every `rounds`
/// rounds). Returns the replay and how many checkpoints were taken.
fn interrupted(
    program: &Arc<VerifiedProgram>,
    config: &Config,
    (eager, lazy): (u32, u32),
    rounds: u64,
    first: usize,
    second: usize,
) -> (Vec<u8>, usize) {
    let mut m = machine(program, config, eager, lazy);
    let mut out = Vec::new();
    let mut taken = 0;
    let mut workers = first;
    loop {
        let seg = runner(workers).run_segment(&mut m, &mut out, &mut |_| {}, &mut |_| {}, Some(rounds)).expect("runs");
        match seg {
            Segment::Finished(_) => return (out, taken),
            Segment::Paused => {
                let bytes = m.checkpoint().expect("checkpoints").to_bytes();
                taken += 1;
                let ck = Checkpoint::from_bytes(&bytes).expect("reads back");
                assert!(ck.header.replay_bytes as usize <= out.len());
                // Resume as a new process would: the replay's prefix up to the
                // checkpoint, appended to by a machine restored from the bytes.
                out.truncate(ck.header.replay_bytes as usize);
                let seed = config.seed;
                m = Machine::restore(program, &ck, Box::new(move |_| Box::new(SeededHost::new(seed))), keys())
                    .expect("restores");
                workers = second;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random protocols, random checkpoint rounds, both runners on both sides.
    #[test]
    fn restore_then_run_equals_the_uninterrupted_run(
        k in 2usize..=4,
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        seed in any::<u64>(),
        flavour in 0u8..4,
        rounds in 1u64..12,
        eager in 0u32..3,
        lazy in 0u32..4,
        first in 0usize..4,
        second in 0usize..4,
    ) {
        prop_assume!(eager + lazy > 0);
        let program = compiled(k, &bytes);
        let (auth, mode) = match flavour {
            0 => (Auth::None, ReplayMode::Off),
            1 => (Auth::Ed25519, ReplayMode::Sequence),
            2 => (Auth::Ed25519Round, ReplayMode::Nullifier),
            _ => (Auth::Ed25519, ReplayMode::Nullifier),
        };
        let c = config(seed, auth, mode);
        let whole = uninterrupted(&program, &c, eager, lazy);
        let (resumed, _) = interrupted(&program, &c, (eager, lazy), rounds, first, second);
        prop_assert!(whole == resumed, "replays differ: {} vs {} bytes", whole.len(), resumed.len());
    }
}

/// Random modules from `canon_bytecode::testgen::arb_module` that verify,
/// checkpointed every few rounds.
#[test]
fn random_verified_modules_restore_identically() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config as RunnerConfig, TestRng, TestRunner};
    let rng = TestRng::deterministic_rng(RunnerConfig::default().rng_algorithm);
    let mut runner = TestRunner::new_with_rng(RunnerConfig::default(), rng);
    let strategy = canon_bytecode::testgen::arb_module();
    let mut ran = 0;
    for seed in 0..2048u64 {
        let module = strategy.new_tree(&mut runner).expect("a module").current();
        let Ok(program) = verify(module) else { continue };
        let program = Arc::new(program);
        let mut c = config(seed, if seed % 2 == 0 { Auth::Ed25519 } else { Auth::None }, ReplayMode::Off);
        c.limits.max_rounds = 64;
        let whole = uninterrupted(&program, &c, 2, 2);
        let (resumed, _) = interrupted(&program, &c, (2, 2), 1 + seed % 7, (seed % 3) as usize, (seed % 4) as usize);
        assert!(whole == resumed, "module {seed}: replays differ");
        ran += 1;
    }
    assert!(ran > 0, "no random module verified");
}

/// A long run checkpointed often takes many checkpoints, and the last
/// continues to the same bytes (the checkpoints are not all at the start).
#[test]
fn many_checkpoints_in_one_run() {
    let program = compiled(3, &[7, 1, 200, 3, 9, 9, 4, 1, 0, 5, 6, 7, 8, 9, 10, 11]);
    let c = config(5, Auth::Ed25519, ReplayMode::Sequence);
    let whole = uninterrupted(&program, &c, 1, 40);
    for (first, second) in [(0, 0), (0, 3), (2, 0), (3, 1)] {
        let (resumed, taken) = interrupted(&program, &c, (1, 40), 5, first, second);
        assert_eq!(whole, resumed, "workers {first} then {second}");
        assert!(taken > 3, "only {taken} checkpoints");
    }
}
