//! Crafted checkpoints — bodies edited and re-sealed (length and SHA-256
//! recomputed), as the `checkpoint` fuzz target makes them — are refused
//! with a typed error before they run, never run under other terms than
//! the replay records, and never panic the machine. Each input is rebuilt
//! here from a valid checkpoint by a small generator.

use std::path::Path;
use std::sync::Arc;

use canon_bytecode::{VerifiedProgram, decode, verify};
use canon_machine::{Auth, Config, Limits, ReplayMode};
use canon_runtime::{
    CHECKPOINT_HEADER_BYTES, Checkpoint, CheckpointError, CooperativeRunner, Machine, Runner, SeededHost, Segment,
};
use canon_types::ErrorCode;
use sha2::{Digest, Sha256};

fn program(name: &str) -> Arc<VerifiedProgram> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("workspace root");
    let bytes = std::fs::read(root.join("fixtures/asm").join(name)).expect("fixture");
    Arc::new(verify(decode(&bytes).expect("decodes")).expect("verifies"))
}

/// Limits with values found nowhere else in a checkpoint body.
const LIMITS: Limits = Limits {
    max_sessions: 0x0A1B_2C3D,
    max_coroutines: 0x0B1C_2D3E,
    max_payload_bytes: 4096,
    fuel_per_quantum: 37,
    max_rounds: 1234,
    max_call_depth: 64,
    max_nullifiers_per_session: 1 << 16,
    max_roles_per_open: 64,
    max_instructions: 1 << 40,
};

fn config() -> Config {
    Config { seed: 5, auth: Auth::None, replay_mode: ReplayMode::Off, limits: LIMITS, ..Config::default() }
}

/// A checkpoint of two `ping_pong_loop` instances paused after 3 rounds.
fn paused() -> (Arc<VerifiedProgram>, Vec<u8>) {
    let p = program("ping_pong_loop.cbc");
    let mut m = Machine::new(config());
    for _ in 0..2 {
        m.load(&p, Box::new(SeededHost::new(1))).expect("loads");
    }
    let seg = CooperativeRunner.run_segment(&mut m, &mut Vec::new(), &mut |_| {}, &mut |_| {}, Some(3));
    assert_eq!(seg.expect("runs"), Segment::Paused);
    (p, m.checkpoint().expect("checkpoints").to_bytes())
}

/// `bytes` with its body length and digest recomputed.
fn resealed(mut bytes: Vec<u8>) -> Vec<u8> {
    let len = (bytes.len() - CHECKPOINT_HEADER_BYTES) as u64;
    bytes[136..144].copy_from_slice(&len.to_le_bytes());
    let digest = Sha256::digest(&bytes[CHECKPOINT_HEADER_BYTES..]);
    bytes[144..176].copy_from_slice(&digest);
    bytes
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    (0..hay.len().saturating_sub(needle.len() - 1)).filter(|&i| hay[i..].starts_with(needle)).collect()
}

fn restore(p: &Arc<VerifiedProgram>, bytes: &[u8]) -> Result<Machine, CheckpointError> {
    let ck = Checkpoint::from_bytes(bytes)?;
    Machine::restore(p, &ck, Box::new(|_| Box::new(SeededHost::new(1))), canon_machine::KeySource::None)
}

/// A saved group whose limits are not the configuration's (here a fuel
/// quantum of 4 billion instructions, which would let one round spin for
/// hours) is refused: a restored group runs under the configuration its
/// replay records. Before, the group's own saved limits were used.
#[test]
fn a_group_saved_under_other_limits_is_refused() {
    let (p, bytes) = paused();
    // The group states' limits: max_sessions and max_coroutines side by side (fixed-width little-endian).
    let mut needle = LIMITS.max_sessions.to_le_bytes().to_vec();
    needle.extend_from_slice(&LIMITS.max_coroutines.to_le_bytes());
    let body = &bytes[CHECKPOINT_HEADER_BYTES..];
    // The configuration's canonical bytes come first in the body, the two saved groups last.
    let hits = find_all(body, &needle);
    assert!(hits.len() >= 3, "the configuration and one Limits per saved group: {hits:?}");
    for &hit in &hits[hits.len() - 2..] {
        let fuel_at = CHECKPOINT_HEADER_BYTES + hit + 12;
        assert_eq!(bytes[fuel_at..fuel_at + 4], 37u32.to_le_bytes());
        let mut crafted = bytes.clone();
        crafted[fuel_at..fuel_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = restore(&p, &resealed(crafted)).err().expect("refused");
        assert_eq!(err.code(), 5116, "{err}");
        assert!(err.to_string().contains("not the checkpoint's configuration"), "{err}");
    }
    // Unedited, it restores and finishes.
    let mut m = restore(&p, &bytes).expect("restores");
    CooperativeRunner.run_to(&mut m, &mut Vec::new(), &mut |_| {}, &mut |_| {}).expect("finishes");
}

/// Every little-endian u16 of a paused checkpoint's body, one more and one
/// less, re-sealed: each is refused with a typed error or restores and runs
/// to its end without the machine panicking (a panic inside a round
/// surfaces as `HostPanicked`; `SeededHost` never panics). Found by the
/// `checkpoint` fuzz target: a session's open-endpoint count one less than
/// its open endpoints made the last `close` underflow it. Now
/// `BadGroupState` (5116), as are a miscounted live-coroutine total and edge
/// slots naming no edge.
#[test]
fn every_nudged_counter_is_refused_or_runs_without_a_panic() {
    let (p, bytes) = paused();
    let mut refused = 0;
    for at in CHECKPOINT_HEADER_BYTES..bytes.len() - 1 {
        for delta in [1u16, u16::MAX] {
            let mut crafted = bytes.clone();
            let v = u16::from_le_bytes([crafted[at], crafted[at + 1]]).wrapping_add(delta);
            crafted[at..at + 2].copy_from_slice(&v.to_le_bytes());
            let Ok(mut m) = restore(&p, &resealed(crafted)) else {
                refused += 1;
                continue;
            };
            match CooperativeRunner.run_to(&mut m, &mut Vec::new(), &mut |_| {}, &mut |_| {}) {
                Ok(_) => {}
                Err(e) => panic!("byte {at} {delta:+}: the restored run failed: {e}"),
            }
        }
    }
    assert!(refused > 0, "some edits are refused");
}

/// A coroutine id no group of [`paused`] has (each has `main`, `pinger`
/// and `ponger`: ids 0, 1 and 2).
const NO_COROUTINE: u32 = 0x0707;

/// The body offsets of each saved session's endpoint table: two
/// `EndpointState`s (`current`, `original`, `owner` as fixed-width u32s,
/// `closed` as one byte) after the sequence length 2, owned by `pinger`
/// (1) and `ponger` (2), both open. Returns the offsets of the two owners.
fn owner_offsets(body: &[u8]) -> Vec<(usize, usize)> {
    let u32_at = |i: usize| u32::from_le_bytes(body[i..i + 4].try_into().expect("4 bytes"));
    (0..body.len().saturating_sub(8 + 2 * 13))
        .filter(|&i| body[i..i + 8] == 2u64.to_le_bytes())
        .map(|i| (i + 8 + 8, i + 8 + 13 + 8))
        .filter(|&(a, b)| u32_at(a) == 1 && body[a + 4] == 0 && u32_at(b) == 2 && body[b + 4] == 0)
        .collect()
}

/// The body offsets of every edge's waiter that names `pinger` or
/// `ponger`: an `Edge`'s `send_seq`, `recv_seq` (a few messages), `lost`
/// (0), `dirty` and `held` (a byte each: 0 or 1, and `None`), then the
/// waiter as a fixed-width u32.
fn waiter_offsets(body: &[u8]) -> Vec<usize> {
    let u64_at = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
    let u32_at = |i: usize| u32::from_le_bytes(body[i..i + 4].try_into().expect("4 bytes"));
    (0..body.len().saturating_sub(30))
        .filter(|&i| {
            let (sent, received) = (u64_at(i), u64_at(i + 8));
            (1..100).contains(&sent)
                && received <= sent
                && u64_at(i + 16) == 0
                && body[i + 24] <= 1
                && body[i + 25] == 0
        })
        .map(|i| i + 26)
        .filter(|&w| matches!(u32_at(w), 1 | 2))
        .collect()
}

/// An endpoint owned by a coroutine its group does not have is refused
/// with `DanglingCoroutine` (5118) naming the endpoint and the owner;
/// before, it restored, and the endpoint's real coroutine then faulted
/// with `NotOwner` on its next use (a state no run can reach). An owner
/// of `u32::MAX` is an endpoint in transit, not a coroutine: that edit is
/// not refused for its owner (the session then faults as having lost a
/// delegated endpoint).
#[test]
fn an_endpoint_owned_by_no_coroutine_is_refused() {
    let (p, bytes) = paused();
    let body = &bytes[CHECKPOINT_HEADER_BYTES..];
    let owners = owner_offsets(body);
    // The first group is paused inside its session; the second has not run yet.
    assert_eq!(owners.len(), 1, "the paused group's two-endpoint session: {owners:?}");
    for &(a, b) in &owners {
        for (at, role) in [(a, 0), (b, 1)] {
            let mut crafted = bytes.clone();
            let at = CHECKPOINT_HEADER_BYTES + at;
            crafted[at..at + 4].copy_from_slice(&NO_COROUTINE.to_le_bytes());
            let err = restore(&p, &resealed(crafted)).err().expect("refused");
            assert_eq!(err.code(), 5118, "{err}");
            let text = err.to_string();
            assert!(text.contains(&format!("endpoint {role} of session")), "{text}");
            assert!(text.contains(&format!("owned by coroutine {NO_COROUTINE}")), "{text}");
        }
    }
    // In transit is an owner restore accepts.
    let (a, _) = owners[0];
    let mut crafted = bytes.clone();
    let at = CHECKPOINT_HEADER_BYTES + a;
    crafted[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    if let Err(e) = restore(&p, &resealed(crafted)) {
        assert_ne!(e.code(), 5118, "in transit is not a dangling owner: {e}");
    }
}

/// An edge whose parked waiter is a coroutine its group does not have is
/// refused with `DanglingCoroutine` (5118) naming the edge and the waiter.
/// At a round boundary of `ping_pong_loop` one side is always parked on its
/// receive, so the paused group has such an edge.
#[test]
fn a_waiter_that_is_no_coroutine_is_refused() {
    let (p, bytes) = paused();
    let waiters = waiter_offsets(&bytes[CHECKPOINT_HEADER_BYTES..]);
    assert_eq!(waiters.len(), 1, "the paused group's parked coroutine: {waiters:?}");
    for &w in &waiters {
        let mut crafted = bytes.clone();
        let at = CHECKPOINT_HEADER_BYTES + w;
        crafted[at..at + 4].copy_from_slice(&NO_COROUTINE.to_le_bytes());
        let err = restore(&p, &resealed(crafted)).err().expect("refused");
        assert_eq!(err.code(), 5118, "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("coroutine {NO_COROUTINE}, which the group does not have, is parked on edge")),
            "{text}"
        );
    }
    // No waiter at all names no coroutine, so it is not refused as dangling
    // (the coroutine stays parked and the group stalls).
    let mut crafted = bytes.clone();
    let at = CHECKPOINT_HEADER_BYTES + waiters[0];
    crafted[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    if let Err(e) = restore(&p, &resealed(crafted)) {
        assert_ne!(e.code(), 5118, "no waiter is not a dangling waiter: {e}");
    }
}

/// A checkpoint carries the run summary of the groups before it, and a
/// re-sealed body can give any counts. Found by the `checkpoint` fuzz
/// target: a summary counting u64::MAX sessions made the next finished
/// group overflow it (a panic in debug builds). Counts now saturate.
#[test]
fn a_restored_summary_at_the_top_of_its_counts_does_not_overflow() {
    use canon_machine::{GroupOutcome, GroupStatus, SessionStatus};
    use canon_runtime::metrics::ReportTotals;
    use canon_runtime::{GroupReport, RunSummary};
    let top = u64::MAX;
    let mut summary = RunSummary {
        groups: top,
        sessions: top,
        messages: top,
        faults: top,
        stalled: top,
        budget_exhausted: top,
        totals: ReportTotals {
            instances: top,
            rounds: top,
            instructions: top,
            outcomes: [top; 6],
            rounds_buckets: [top; 22],
        },
        ..RunSummary::default()
    };
    summary.statuses.push((SessionStatus::Closed, top));
    let outcome = GroupOutcome { status: GroupStatus::BudgetExhausted, rounds: 3, steps: 9, faults: 0 };
    let report =
        GroupReport { group: 0, outcome, sessions: vec![(0, SessionStatus::Closed)], faults: Vec::new(), messages: 5 };
    summary.add(&report);
    assert_eq!((summary.groups, summary.sessions, summary.messages, summary.budget_exhausted), (top, top, top, top));
    assert_eq!(summary.statuses, vec![(SessionStatus::Closed, top)]);
    assert_eq!(summary.totals.instances, top);
    assert_eq!((summary.totals.outcomes[2], summary.totals.rounds_buckets[2]), (top, top));
    let mut later = summary.clone();
    later.totals.merge(&summary.totals);
    assert_eq!(later.totals, summary.totals, "merging saturates too");
}

/// Every 8-byte window of a paused checkpoint's body set to `u64::MAX` and
/// re-sealed: each is refused with a typed error, or restores, runs to its
/// end and gives its metrics (as `canon resume --metrics` does) without a
/// panic. The windows that land on the saved run summary leave it at the
/// top of its counts when the two groups finish: the summary's own counts
/// (the `checkpoint` fuzz target's crash in `RunSummary::add`) and its
/// report totals (instances, outcomes, rounds per instance), which
/// overflowed in `ReportTotals::add` and in the metrics' histogram.
#[test]
fn every_count_at_its_top_restores_runs_and_reports_without_a_panic() {
    use canon_runtime::metrics::MetricsCollector;
    let (p, bytes) = paused();
    let (mut refused, mut sessions_top, mut instances_top, mut buckets_top) = (0, 0, 0, 0);
    for at in CHECKPOINT_HEADER_BYTES..bytes.len() - 7 {
        let mut crafted = bytes.clone();
        crafted[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let Ok(mut m) = restore(&p, &resealed(crafted)) else {
            refused += 1;
            continue;
        };
        let summary = match CooperativeRunner.run_to(&mut m, &mut Vec::new(), &mut |_| {}, &mut |_| {}) {
            Ok(s) => s,
            Err(e) => panic!("byte {at}: the restored run failed: {e}"),
        };
        sessions_top += usize::from(summary.sessions == u64::MAX);
        instances_top += usize::from(summary.totals.instances == u64::MAX);
        buckets_top += usize::from(summary.totals.rounds_buckets.contains(&u64::MAX));
        let mut collector = MetricsCollector::new(&p, config().default_buffer);
        collector.report_totals(&summary.totals);
        let metrics = collector.finish();
        assert!(metrics.encode_prometheus().contains("instance_rounds"), "byte {at}");
    }
    assert!(refused > 0, "some edits are refused");
    assert!(sessions_top > 0, "some edit reaches the summary's session count");
    assert!(instances_top > 0, "some edit reaches the report totals' instance count");
    assert!(buckets_top > 0, "some edit reaches the rounds-per-instance buckets");
}

/// A saved run's lazily loaded groups begin right after its saved groups
/// and end at its last group; a crafted `first` group near `u64::MAX`
/// overflowed that check's sum (found by the `checkpoint` fuzz target).
/// Now refused as a bad position. The lazy part ends the body: `first`
/// (u64), `count` (u32), its injections (here none: a u64 length 0), then
/// its owner (here none: one byte 0).
#[test]
fn lazily_loaded_groups_past_the_last_group_are_refused() {
    let p = program("ping_pong_loop.cbc");
    let mut m = Machine::new(config());
    m.load(&p, Box::new(SeededHost::new(1))).expect("loads");
    m.load_lazy(&p, 2, Box::new(|_| Box::new(SeededHost::new(1))), &[]).expect("loads lazily");
    let seg = CooperativeRunner.run_segment(&mut m, &mut Vec::new(), &mut |_| {}, &mut |_| {}, Some(3));
    assert_eq!(seg.expect("runs"), Segment::Paused);
    let bytes = m.checkpoint().expect("checkpoints").to_bytes();
    assert_eq!(bytes.last(), Some(&0), "no owner");
    let n = bytes.len() - 1;
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    assert_eq!(u64_at(n - 8), 0, "no injections");
    assert_eq!(bytes[n - 12..n - 8], 2u32.to_le_bytes(), "two lazily loaded groups");
    assert_eq!(u64_at(n - 20), 1, "after the one eager group");
    for first in [u64::MAX, u64::MAX - 1, 2] {
        let mut crafted = bytes.clone();
        crafted[n - 20..n - 12].copy_from_slice(&first.to_le_bytes());
        let err = Checkpoint::from_bytes(&resealed(crafted)).expect_err("refused");
        assert_eq!(err.code(), 5112, "{err}");
        assert!(err.to_string().contains("do not cover groups up to 3"), "{err}");
    }
    let mut m = restore(&p, &bytes).expect("restores unedited");
    CooperativeRunner.run_to(&mut m, &mut Vec::new(), &mut |_| {}, &mut |_| {}).expect("finishes");
}
