//! One set of defaults: `canon run` without flags uses the library's
//! `Config::default()` (with the given seed), so a replay recorded by a host
//! with default settings verifies with `canon replay verify --program` and no
//! flag, and a flag that differs from the recording names the field.

mod common;

use std::sync::Arc;

use canon::{Config, CooperativeRunner, KeySeed, KeySource, Machine, Runner, SeededHost};
use common::{arg, canon, repo_root, temp_dir};

const PROGRAM: &str = "fixtures/two_buyer.canon";

/// A run by a host with `Config::default()` and seed `seed`.
fn library_replay(seed: u64) -> Vec<u8> {
    let program = Arc::new(canon::compile_file(repo_root().join(PROGRAM)).expect("the program compiles"));
    let mut machine = Machine::new(Config { seed, ..Config::default() });
    machine.set_key_source(KeySource::Seed(KeySeed::TEST_ONLY_PUBLIC));
    machine.load(&program, Box::new(SeededHost::new(seed))).expect("the program loads");
    CooperativeRunner.run(&mut machine).into_replay_bytes()
}

#[test]
fn the_cli_run_defaults_are_the_library_defaults() {
    let dir = temp_dir("defaults");
    let cli = dir.join("cli.replay");
    canon(&["run", PROGRAM, "--seed", "5", "-q", "-o", &arg(&cli)]).expect_code(0);
    let cli_bytes = std::fs::read(&cli).expect("read the CLI's replay");
    assert!(cli_bytes == library_replay(5), "canon run --seed 5 and Config {{ seed: 5, ..default }} differ");
}

#[test]
fn a_library_replay_with_default_settings_verifies_without_flags() {
    let dir = temp_dir("defaults-verify");
    let replay = dir.join("host.replay");
    std::fs::write(&replay, library_replay(11)).expect("write the replay");
    let program = arg(&repo_root().join(PROGRAM));
    let verify = |extra: &[&str]| {
        let mut args =
            vec!["replay".to_owned(), "verify".to_owned(), arg(&replay), "--program".to_owned(), program.clone()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        canon(&args)
    };
    verify(&[]).expect_code(0).stdout_has(&["verified: integrity, behaviour"]);
    // The run flags at their defaults agree with the recording ...
    let limits = canon::Limits::default();
    verify(&["--max-rounds", &limits.max_rounds.to_string(), "--fuel", &limits.fuel_per_quantum.to_string()])
        .expect_code(0);
    // ... and one that differs names the configuration field.
    verify(&["--max-rounds", "100000000"])
        .expect_clean_failure()
        .stderr_has(&["`max_rounds`", &format!("recorded as {}, given 100000000", limits.max_rounds)]);
}
