//! The simulator in `cargo test`: 50 seeds with every fault, and planted
//! bugs that it must report.

use canon_sim::{FaultSet, Sabotage, SimOptions, repro_command, run_seed};

/// Seeds 0..50, every fault kind, 200 rounds per instance: every invariant
/// holds after every round, and the faults really happened — transport and
/// host faults, handler panics recovered from checkpoints, checkpoint
/// round trips at random rounds, owner deaths and cancellations.
#[test]
fn fifty_seeds_hold_every_invariant() {
    let opts = SimOptions { steps: 200, faults: FaultSet::all(), sabotage: None };
    let (mut injected, mut faults, mut events) = (0, 0, 0);
    let (mut panics, mut restores, mut ownership) = (0, 0, 0);
    let mut failures = Vec::new();
    for seed in 0..50 {
        let r = run_seed(seed, &opts);
        injected += r.injected;
        faults += r.faults;
        events += r.events;
        panics += r.panics;
        restores += r.restores;
        ownership += r.ownership;
        if !r.passed() {
            failures.push(format!("{}\n  {:?}\n  reproduce: {}", r.program, r.violations, repro_command(seed, &opts)));
        }
    }
    eprintln!(
        "sim: 50 seeds, {events} events, {injected} transport faults applied, {faults} coroutine faults, \
         {panics} handler panics recovered, {restores} checkpoint restores, {ownership} ownership operations"
    );
    assert!(failures.is_empty(), "{} seeds failed:\n{}", failures.len(), failures.join("\n"));
    assert!(injected > 20 && faults > 20, "the seeds injected too little: {injected} transport, {faults} faults");
    assert!(
        panics > 5 && restores > 20 && ownership > 5,
        "too few: {panics} panics, {restores} restores, {ownership} ops"
    );
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
fn a_recovery_that_keeps_the_panicked_bytes_is_reported() {
    let (_, found) = first_caught(Sabotage::KeepPanickedBytes).expect("caught");
    assert!(found.contains(&"a resumed run reproduces the recording"), "{found:?}");
}

/// Each new fault kind alone: it happens, and the seeds pass.
#[test]
fn panics_checkpoints_and_ownership_operations_alone() {
    for (faults, what) in [("panic", 0), ("checkpoint", 1), ("owner-death,cancel", 2)] {
        let opts = SimOptions { steps: 100, faults: FaultSet::parse(faults).expect("names"), sabotage: None };
        let reports: Vec<_> = (100..115).map(|seed| run_seed(seed, &opts)).collect();
        let failed: Vec<_> = reports.iter().filter(|r| !r.passed()).map(|r| (r.seed, &r.violations)).collect();
        assert!(failed.is_empty(), "--faults {faults}: {failed:?}");
        let happened: u64 = reports.iter().map(|r| [r.panics, r.restores, r.ownership][what]).sum();
        assert!(happened > 0, "--faults {faults} did nothing in 15 seeds");
    }
}

#[test]
fn a_seed_is_reproducible() {
    let opts = SimOptions { steps: 100, ..SimOptions::default() };
    let (a, b) = (run_seed(7, &opts), run_seed(7, &opts));
    assert_eq!((a.program, a.events, a.injected, a.faults), (b.program, b.events, b.injected, b.faults));
    assert_eq!(repro_command(7, &opts), "canon sim --seed 7 --steps 100 --faults all");
}
