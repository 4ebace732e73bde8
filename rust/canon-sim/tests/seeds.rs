//! The simulator in `cargo test`: 50 seeds with every fault, and planted
//! bugs that it must report.

use canon_sim::{FaultSet, Sabotage, SimOptions, repro_command, run_seed};

/// Seeds 0..50, every fault kind, 200 rounds per instance: every invariant
/// holds after every round, and the faults really happened.
#[test]
fn fifty_seeds_hold_every_invariant() {
    let opts = SimOptions { steps: 200, faults: FaultSet::all(), sabotage: None };
    let (mut injected, mut faults, mut events) = (0, 0, 0);
    let mut failures = Vec::new();
    for seed in 0..50 {
        let r = run_seed(seed, &opts);
        injected += r.injected;
        faults += r.faults;
        events += r.events;
        if !r.passed() {
            failures.push(format!("{}\n  {:?}\n  reproduce: {}", r.program, r.violations, repro_command(seed, &opts)));
        }
    }
    eprintln!("sim: 50 seeds, {events} events, {injected} transport faults applied, {faults} coroutine faults");
    assert!(failures.is_empty(), "{} seeds failed:\n{}", failures.len(), failures.join("\n"));
    assert!(injected > 20 && faults > 20, "the seeds injected too little: {injected} transport, {faults} faults");
}

/// The first seed of `0..` that reports a violation under `sabotage`, and what it reported.
fn first_caught(sabotage: Sabotage) -> Option<(u64, Vec<&'static str>)> {
    let opts = SimOptions { steps: 200, faults: FaultSet::all(), sabotage: Some(sabotage) };
    (0..50)
        .map(|seed| run_seed(seed, &opts))
        .find(|r| !r.passed())
        .map(|r| (r.seed, r.violations.iter().map(|v| v.invariant).collect()))
}

#[test]
fn a_flipped_replay_byte_is_reported() {
    let (seed, found) = first_caught(Sabotage::FlipReplayByte).expect("caught");
    assert_eq!(seed, 0, "every seed's replay is checked");
    assert!(found.contains(&"replay verifies"), "{found:?}");
}

#[test]
fn a_rechained_truncated_recording_is_reported_by_re_execution() {
    let (seed, found) = first_caught(Sabotage::TruncateRecording).expect("caught");
    assert_eq!(seed, 0, "every seed is re-executed");
    assert!(found.contains(&"re-execution reproduces the recording"), "{found:?}");
}

#[test]
fn a_broken_buffer_bound_is_reported() {
    let (_, found) = first_caught(Sabotage::TightBufferBound).expect("caught");
    assert_eq!(found.first(), Some(&"buffer bound"), "{found:?}");
}

#[test]
fn a_seed_is_reproducible() {
    let opts = SimOptions { steps: 100, ..SimOptions::default() };
    let (a, b) = (run_seed(7, &opts), run_seed(7, &opts));
    assert_eq!((a.program, a.events, a.injected, a.faults), (b.program, b.events, b.injected, b.faults));
    assert_eq!(repro_command(7, &opts), "canon sim --seed 7 --steps 100 --faults all");
}
