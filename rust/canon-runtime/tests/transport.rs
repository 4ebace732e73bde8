//! Signed messages, replay-consumption and transport fault injection, end to
//! end: every row of the injection table under every replay mode (and both
//! authentication settings) gives exactly the expected outcome; every
//! recorded replay still verifies (hash chain, signatures, re-execution); a
//! forged signature is found by event index; consumption state is pruned at
//! close; and the runners agree byte for byte.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{
    Auth, EventKind, Group, GroupStatus, Injection, ReplayMode, SessionStatus, SignatureError, cross_check,
    run_identity, verify_signatures,
};
use canon_replay::Replay;
use canon_runtime::{Config, CooperativeRunner, Machine, RunOutcome, Runner, SeededHost, ThreadedRunner, reexecute};
use canon_types::ErrorCode;

/// A streams three `M(Int)` to B without waiting; B receives three.
const STREAM: &str = "
.type ta = B!M(Int).B!M(Int).B!M(Int).end
.type tb = A?M(Int).A?M(Int).A?M(Int).end

.entry main

.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn role_a, [r0]
    spawn role_b, [r1]
    halt
.end

.proc role_a(ep ta) regs 2
    produce r1, r0, M
    send r0, M, r1
    produce r1, r0, M
    send r0, M, r1
    produce r1, r0, M
    send r0, M, r1
    close r0
    halt
.end

.proc role_b(ep tb) regs 2
    recv r0, M, r1
    recv r0, M, r1
    recv r0, M, r1
    close r0
    halt
.end
";

const MODES: [ReplayMode; 3] = [ReplayMode::Off, ReplayMode::Sequence, ReplayMode::Nullifier];

fn program() -> Arc<VerifiedProgram> {
    let module = canon_bytecode::assemble(STREAM).expect("the stream program assembles");
    Arc::new(canon_bytecode::verify(module).expect("the stream program verifies"))
}

fn config(auth: Auth, replay_mode: ReplayMode) -> Config {
    Config { seed: 5, auth, replay_mode, ..Config::default() }
}

/// Runs `instances` groups, each with `inject` applied to its first message.
fn run(config: Config, inject: Option<Injection>, instances: u32, runner: &dyn Runner) -> RunOutcome {
    let program = program();
    let mut machine = Machine::new(config);
    machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
    for i in 0..instances {
        let g = machine.load(&program, Box::new(SeededHost::new(u64::from(i)))).expect("one program");
        if let (Some(group), Some(inj)) = (machine.group_mut(g), inject) {
            group.inject(0, inj);
        }
    }
    runner.run(&mut machine)
}

/// What a run must end with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    /// Completed, B received these seqs in this order.
    Completed(Vec<u64>),
    /// B stalled after receiving these seqs.
    Stalled(Vec<u64>),
    /// B faulted with this code on the first message it received.
    Fault(u16),
}

/// The injection table: the outcome of injecting into A's first message.
fn want(auth: Auth, mode: ReplayMode, inj: Injection) -> Want {
    use Injection as I;
    use ReplayMode as M;
    match (inj, mode) {
        (I::CorruptPayload | I::CorruptSignature, _) if auth == Auth::Ed25519 => Want::Fault(3028),
        (I::CorruptPayload | I::CorruptSignature, _) => Want::Completed(vec![0, 1, 2]),
        (I::Duplicate, M::Off) => Want::Completed(vec![0, 0, 1]),
        (I::Duplicate, M::Sequence) => Want::Fault(3029),
        // Refused where it arrives (DuplicateRefused): B never sees the copy.
        (I::Duplicate, M::Nullifier) => Want::Completed(vec![0, 1, 2]),
        // Both replay modes detect a lost or out-of-order message: the next
        // delivery is past the next expected seq (SequenceGap).
        (I::Reorder | I::Drop, M::Sequence | M::Nullifier) => Want::Fault(3030),
        (I::Reorder, _) => Want::Completed(vec![1, 0, 2]),
        (I::Drop, _) => Want::Stalled(vec![1, 2]),
    }
}

fn received_seqs(replay: &Replay) -> Vec<u64> {
    replay
        .events
        .iter()
        .filter_map(|e| if let EventKind::Received { seq, .. } = e.kind { Some(seq) } else { None })
        .collect()
}

fn observed(outcome: &RunOutcome, replay: &Replay) -> Want {
    let g = &outcome.groups[0];
    match (&g.outcome.status, g.faults.first()) {
        (_, Some(f)) => Want::Fault(f.fault.code()),
        (GroupStatus::Completed, None) => Want::Completed(received_seqs(replay)),
        (GroupStatus::Stalled(_), None) => Want::Stalled(received_seqs(replay)),
        (other, None) => panic!("unexpected status {other:?}"),
    }
}

/// The replay verifies offline: chain (decode), every signature, and
/// re-execution with the recorded answers and injections.
fn assert_verifies(config: Config, outcome: &RunOutcome) -> Replay {
    let replay = Replay::decode(outcome.replay_bytes()).expect("chain verifies");
    let run = run_identity(&replay.header.program_digest, &replay.header.config_digest());
    let report = verify_signatures(&run, &replay.events).expect("signatures verify");
    let cross =
        cross_check(&run, &replay.header.config, &replay.events).expect("receives and consumptions match their sends");
    let received = replay.events.iter().filter(|e| matches!(e.kind, EventKind::Received { .. })).count() as u64;
    assert_eq!(cross.received, received);
    let sent = replay.events.iter().filter(|e| matches!(e.kind, EventKind::Sent { .. })).count() as u64;
    match config.auth {
        Auth::Ed25519 | Auth::Ed25519Round => assert_eq!((report.checked, report.unsigned), (sent, 0)),
        Auth::None => assert_eq!((report.checked, report.unsigned), (0, sent)),
    }
    let again = reexecute(&program(), &replay).expect("re-execution starts");
    assert_eq!(again, replay, "re-execution reproduces the replay");
    replay
}

/// A rejected message leaves an audit trail and changes nothing else: no
/// `Received`/`Consumed` after it, `FailureBranchEntered → Faulted →
/// SessionTerminal{Faulted}` with its code, and the session Faulted.
fn assert_rejection_audited(outcome: &RunOutcome, replay: &Replay, code: u16) {
    let first_fault = replay
        .events
        .iter()
        .position(|e| e.kind == EventKind::FailureBranchEntered { code })
        .expect("the rejection is audited");
    let tail: Vec<&EventKind> = replay.events[first_fault..].iter().map(|e| &e.kind).collect();
    assert_eq!(tail[1], &EventKind::Faulted { code });
    assert!(matches!(tail[2], EventKind::SessionTerminal { .. }));
    assert!(!tail.iter().any(|k| matches!(k, EventKind::Received { .. } | EventKind::Consumed { .. })));
    assert_eq!(outcome.groups[0].sessions[0].1, SessionStatus::Faulted { code });
}

#[test]
fn every_injection_in_every_mode_gives_the_table_outcome_and_still_verifies() {
    for auth in [Auth::Ed25519, Auth::None] {
        for mode in MODES {
            for inj in Injection::ALL {
                let config = config(auth, mode);
                let outcome = run(config, Some(inj), 1, &CooperativeRunner);
                let replay = assert_verifies(config, &outcome);
                let case = format!("{auth:?} {mode:?} {inj:?}");
                let got = observed(&outcome, &replay);
                assert_eq!(got, want(auth, mode, inj), "{case}");
                if let Want::Fault(code) = got {
                    assert_rejection_audited(&outcome, &replay, code);
                }
                let injected = replay.events.iter().filter(|e| matches!(e.kind, EventKind::Injected { .. })).count();
                assert_eq!(injected, 1, "{case}: the injection is recorded once");
            }
        }
    }
}

/// Under nullifier mode a duplicated message is refused where it arrives:
/// `DuplicateRefused` follows its `Injected`, carrying the identity the
/// receiver consumes once; after every round the group's sessions (buffers,
/// types, sequence counters, nullifiers, consumption roots, edge histories)
/// are exactly those of the same run without the duplicate, and nothing
/// faults or is discarded.
#[test]
fn a_refused_duplicate_changes_no_session_state() {
    let program = program();
    for auth in [Auth::Ed25519, Auth::None] {
        let config = config(auth, ReplayMode::Nullifier);
        let states = |inject: Option<Injection>| {
            let mut machine = Machine::new(config);
            machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
            let g = machine.load(&program, Box::new(SeededHost::new(0))).expect("one program");
            let group = machine.group_mut(g).expect("the group");
            if let Some(inj) = inject {
                group.inject(0, inj);
            }
            let mut states = Vec::new();
            while *group.status() == GroupStatus::Running {
                group.run_round();
                states.push(bincode::serde::encode_to_vec(group.store(), bincode::config::standard()).expect("encode"));
            }
            let mut events = Vec::new();
            group.drain_events(&mut events);
            (states, events, group.status().clone())
        };
        let (clean, clean_events, _) = states(None);
        let (refused, events, status) = states(Some(Injection::Duplicate));
        assert_eq!(status, GroupStatus::Completed);
        assert!(clean.len() > 2, "{auth:?}: a run of several rounds");
        assert!(refused == clean, "{auth:?}: the refused copy changed the session state");
        let at = events.iter().position(|e| matches!(e.kind, EventKind::Injected { .. })).expect("the injection");
        let EventKind::DuplicateRefused { to: 1, seq: 0, identity } = events[at + 1].kind else {
            panic!("{auth:?}: no refusal right after the injection: {:?}", events[at + 1])
        };
        let consumed = |id: [u8; 32]| {
            events.iter().filter(|e| matches!(e.kind, EventKind::Consumed { identity, .. } if identity == id)).count()
        };
        assert_eq!(consumed(identity), 1, "{auth:?}: the refused identity is the one the receiver consumes, once");
        assert!(!events.iter().any(|e| matches!(e.kind, EventKind::Discarded { .. } | EventKind::Faulted { .. })));
        // The run is the clean run plus the injection and its refusal.
        let mut without: Vec<_> = events.clone();
        without.drain(at..at + 2);
        assert_eq!(without, clean_events, "{auth:?}");
    }
}

#[test]
fn corrupt_payload_without_auth_is_delivered_as_is() {
    let config = config(Auth::None, ReplayMode::Off);
    let outcome = run(config, Some(Injection::CorruptPayload), 1, &CooperativeRunner);
    let replay = Replay::decode(outcome.replay_bytes()).unwrap();
    let payload = |want_sent: bool| {
        replay.events.iter().find_map(|e| match &e.kind {
            EventKind::Sent { seq: 0, payload, .. } if want_sent => Some(payload.clone()),
            EventKind::Received { seq: 0, payload, .. } if !want_sent => Some(payload.clone()),
            _ => None,
        })
    };
    let (sent, received) = (payload(true).unwrap(), payload(false).unwrap());
    assert_eq!(received, canon_machine::inject::corrupt_value(&sent));
}

#[test]
fn clean_runs_consume_every_message_with_chained_roots() {
    for mode in [ReplayMode::Sequence, ReplayMode::Nullifier] {
        let config = config(Auth::Ed25519, mode);
        let outcome = run(config, None, 1, &CooperativeRunner);
        let replay = assert_verifies(config, &outcome);
        let consumed: Vec<([u8; 32], [u8; 32], [u8; 32])> = replay
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Consumed { mode: m, identity, pre_root, post_root } if m == mode => {
                    Some((identity, pre_root, post_root))
                }
                _ => None,
            })
            .collect();
        assert_eq!(consumed.len(), 3, "{mode:?}");
        assert_eq!(consumed[0].1, [0; 32]);
        for w in consumed.windows(2) {
            assert_eq!(w[0].2, w[1].1, "roots chain");
        }
        for (id, pre, post) in &consumed {
            use sha2::{Digest, Sha256};
            let want: [u8; 32] = Sha256::new().chain_update(pre).chain_update(id).finalize().into();
            assert_eq!(*post, want);
        }
    }
    let off = run(config(Auth::Ed25519, ReplayMode::Off), None, 1, &CooperativeRunner);
    let replay = Replay::decode(off.replay_bytes()).unwrap();
    assert!(!replay.events.iter().any(|e| matches!(e.kind, EventKind::Consumed { .. })), "off records nothing");
}

#[test]
fn a_forged_signature_is_reported_with_its_event_index() {
    let config = config(Auth::Ed25519, ReplayMode::Sequence);
    let outcome = run(config, None, 1, &CooperativeRunner);
    let mut replay = Replay::decode(outcome.replay_bytes()).unwrap();
    let index = replay.events.iter().rposition(|e| matches!(e.kind, EventKind::Sent { .. })).unwrap();
    let EventKind::Sent { signature: Some(sig), seq, .. } = &mut replay.events[index].kind else { panic!("signed") };
    sig[17] ^= 0x40;
    let seq = *seq;
    // Rebuild the file from the modified events: the hash chain is valid again.
    let forged = Replay::decode(&Replay::from_events(&replay.header, &replay.events).to_bytes()).expect("chain ok");
    let run = run_identity(&replay.header.program_digest, &replay.header.config_digest());
    let err = verify_signatures(&run, &forged.events).unwrap_err();
    assert_eq!(err, SignatureError::Forged { index, sid: 0, from: 0, to: 1, seq });
    assert!(err.to_string().starts_with(&format!("event {index}: forged signature")), "{err}");
    // A stripped signature is reported too.
    let EventKind::Sent { signature, .. } = &mut replay.events[index].kind else { panic!("signed") };
    *signature = None;
    assert_eq!(verify_signatures(&run, &replay.events), Err(SignatureError::Missing { index, sid: 0, seq }));
}

#[test]
fn consumption_state_is_pruned_when_sessions_close() {
    for mode in [ReplayMode::Sequence, ReplayMode::Nullifier] {
        // One instruction per round, so the state is observed between receives.
        let mut config = config(Auth::Ed25519, mode);
        config.limits.fuel_per_quantum = 1;
        let mut group = Group::new(program(), 0, &config, Box::new(SeededHost::new(1)));
        group.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
        let mut peak = 0;
        while *group.status() == GroupStatus::Running {
            group.run_round();
            peak = peak.max(group.store().consumption_len());
        }
        assert_eq!(*group.status(), GroupStatus::Completed);
        // One counter per edge in use (only A → B); nullifier also holds 3 identities.
        assert_eq!(peak, if mode == ReplayMode::Sequence { 1 } else { 1 + 3 }, "{mode:?}");
        assert_eq!(group.store().consumption_len(), 0, "{mode:?}: pruned at close");
    }
}

#[test]
fn runners_agree_with_signing_in_every_mode_and_under_injection() {
    for mode in MODES {
        for inj in [None, Some(Injection::Duplicate), Some(Injection::Reorder), Some(Injection::CorruptSignature)] {
            let config = config(Auth::Ed25519, mode);
            let coop = run(config, inj, 5, &CooperativeRunner);
            for workers in [1, 2, 3] {
                let threaded = run(config, inj, 5, &ThreadedRunner::new(workers));
                assert!(coop.replay_bytes() == threaded.replay_bytes(), "{mode:?} {inj:?} at {workers} workers");
            }
        }
    }
}

#[test]
fn host_supplied_keys_are_bound_at_open_verify_and_reexecute_without_the_secret() {
    let program = program();
    let config = config(Auth::Ed25519, ReplayMode::Sequence);
    let mut machine = Machine::new(config);
    machine.load(&program, Box::new(SeededHost::new(0))).expect("loads");
    let group = machine.group_mut(0).expect("group 0");
    group.set_endpoint_key(0, 0, [9; 32]).expect("session 0 is not open yet");
    group.set_endpoint_key(0, 1, [10; 32]).expect("session 0 is not open yet");
    assert!(group.set_endpoint_key(1 << 32, 0, [9; 32]).is_err(), "another group's session");
    let outcome = CooperativeRunner.run(&mut machine);
    assert!(!outcome.faulted());
    let group = machine.group_mut(0).expect("group 0");
    assert!(group.set_endpoint_key(0, 1, [9; 32]).is_err(), "keys are bound at open");
    let replay = Replay::decode(outcome.replay_bytes()).expect("decodes");
    let Some(EventKind::Opened { keys, .. }) =
        replay.events.iter().map(|e| &e.kind).find(|k| matches!(k, EventKind::Opened { .. }))
    else {
        panic!("opened")
    };
    assert_eq!(keys[0], canon_machine::EndpointKey::from_secret(&[9; 32]).verifying_bytes());
    assert_eq!(keys[1], canon_machine::EndpointKey::from_secret(&[10; 32]).verifying_bytes());
    let run = run_identity(&replay.header.program_digest, &replay.header.config_digest());
    assert_eq!(verify_signatures(&run, &replay.events).map(|r| r.checked), Ok(3));
    // Re-execution has neither secret: it takes the keys and signatures from the recording.
    assert_eq!(reexecute(&program, &replay).expect("re-executes"), replay);
}

#[test]
fn without_a_key_source_a_signed_open_faults_and_keys_never_come_from_the_seed() {
    let program = program();
    let mut group =
        Group::new(Arc::clone(&program), 0, &config(Auth::Ed25519, ReplayMode::Off), Box::new(SeededHost::new(0)));
    group.set_endpoint_key(0, 0, [9; 32]).expect("session 0 is not open yet");
    group.run_to_end();
    assert_eq!(group.faults().first().map(|f| f.fault.code()), Some(3037), "role 1 has no key");
    assert_eq!(group.faults()[0].fault, canon_machine::Fault::NoEndpointKey { role: 1 });
    // Unsigned runs need no key.
    let mut unsigned =
        Group::new(Arc::clone(&program), 0, &config(Auth::None, ReplayMode::Sequence), Box::new(SeededHost::new(0)));
    unsigned.run_to_end();
    assert!(unsigned.faults().is_empty());
}

#[test]
fn round_batched_signatures_sign_once_per_endpoint_per_round_and_verify_and_reexecute() {
    for mode in MODES {
        let config = config(Auth::Ed25519Round, mode);
        let outcome = run(config, None, 3, &CooperativeRunner);
        assert!(!outcome.faulted(), "{mode:?}");
        let replay = assert_verifies(config, &outcome);
        // A sends its three messages in one round: one batch, one signature on all three `Sent`.
        let sigs: Vec<[u8; 64]> = replay
            .events
            .iter()
            .filter(|e| e.site.group == 0)
            .filter_map(|e| match &e.kind {
                EventKind::Sent { signature, .. } => *signature,
                _ => None,
            })
            .collect();
        assert_eq!(sigs.len(), 3);
        assert!(sigs.iter().all(|s| *s == sigs[0]), "{mode:?}: one batch signature");
        for workers in [1, 2, 3] {
            let threaded = run(config, None, 3, &ThreadedRunner::new(workers));
            assert!(outcome.replay_bytes() == threaded.replay_bytes(), "{mode:?} at {workers} workers");
        }
    }
}

#[test]
fn round_batched_messages_altered_in_transit_are_rejected() {
    for (inj, code) in [(Injection::CorruptPayload, 3028), (Injection::CorruptSignature, 3028)] {
        for nth in 0..3 {
            let config = config(Auth::Ed25519Round, ReplayMode::Sequence);
            let program = program();
            let mut machine = Machine::new(config);
            machine.set_key_source(canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC));
            machine.load(&program, Box::new(SeededHost::new(0))).expect("loads");
            machine.group_mut(0).expect("group").inject(nth, inj);
            let outcome = CooperativeRunner.run(&mut machine);
            let code_seen = outcome.groups[0].faults.first().map(|f| f.fault.code());
            assert_eq!(code_seen, Some(code), "{inj:?} on message {nth}");
            assert_verifies(config, &outcome);
        }
    }
}

#[test]
fn an_edited_round_batched_message_does_not_verify_offline() {
    let config = config(Auth::Ed25519Round, ReplayMode::Off);
    let outcome = run(config, None, 1, &CooperativeRunner);
    let replay = Replay::decode(outcome.replay_bytes()).unwrap();
    let run_id = run_identity(&replay.header.program_digest, &replay.header.config_digest());
    let sent: Vec<usize> = replay
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.kind, EventKind::Sent { .. }))
        .map(|(i, _)| i)
        .collect();
    for &k in &sent {
        let mut edited = replay.clone();
        let EventKind::Sent { payload, .. } = &mut edited.events[k].kind else { unreachable!() };
        *payload = canon_types::Value::Int(-1);
        let edited = Replay::decode(&Replay::from_events(&edited.header, &edited.events).to_bytes()).unwrap();
        let err = verify_signatures(&run_id, &edited.events).unwrap_err();
        assert!(matches!(err, SignatureError::Forged { index, .. } if index == sent[0]), "message {k}: {err}");
    }
    // Dropping one message of the batch from the record breaks the batch too.
    let mut edited = replay.clone();
    edited.events.remove(sent[1]);
    assert!(verify_signatures(&run_id, &edited.events).is_err());
}

/// A streams three messages in one round over a latest-value edge of
/// capacity 1, then one more a round later (before B, which runs after A,
/// reads). The buffer itself discards seqs 0, 1 and 2 (`Overwritten`):
/// nullifier mode lets a delivery pass exactly the seqs the buffer
/// discarded, so B takes 3 with no fault (and then waits for messages that
/// were lost) — while a transport loss is a gap.
const LATEST: &str = "
.type ta = B!M(Int).B!M(Int).B!M(Int).B!M(Int).end
.type tb = A?M(Int).A?M(Int).A?M(Int).A?M(Int).end

.entry main

.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1], buffers [A -> B latest drop cap 1]
    spawn role_a, [r0]
    spawn role_b, [r1]
    halt
.end

.proc role_a(ep ta) regs 2
    produce r1, r0, M
    send r0, M, r1
    send r0, M, r1
    send r0, M, r1
    yield
    send r0, M, r1
    close r0
    halt
.end

.proc role_b(ep tb) regs 2
    recv r0, M, r1
    recv r0, M, r1
    recv r0, M, r1
    recv r0, M, r1
    close r0
    halt
.end
";

#[test]
fn nullifier_mode_passes_buffer_losses_and_refuses_transport_losses() {
    let program =
        Arc::new(canon_bytecode::verify(canon_bytecode::assemble(LATEST).expect("assembles")).expect("verifies"));
    let run = |inject: Option<(u64, Injection)>| {
        let mut machine = Machine::new(config(Auth::None, ReplayMode::Nullifier));
        let g = machine.load(&program, Box::new(SeededHost::new(1))).expect("one program");
        if let (Some(group), Some((nth, inj))) = (machine.group_mut(g), inject) {
            group.inject(nth, inj);
        }
        let outcome = CooperativeRunner.run(&mut machine);
        let replay = Replay::decode(outcome.replay_bytes()).expect("decodes");
        (outcome.groups[0].faults.first().map(|f| f.fault.code()), received_seqs(&replay))
    };
    assert_eq!(run(None), (None, vec![3]), "the buffer's own losses are not gaps");
    // The transport loses seq 2 (the group's 3rd sent message, after the
    // buffer discarded 0 and 1): seq 3 arrives three past the next expected
    // one with only two discarded by the buffer.
    assert_eq!(run(Some((2, Injection::Drop))), (Some(3030), vec![]));
}
