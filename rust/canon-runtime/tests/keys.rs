//! Signing keys are secrets: what a replay proves about its messages.
//!
//! - a replay alone is not enough to forge a signature that verifies: no key
//!   derivable from anything the replay contains is an endpoint key;
//! - a signature is bound to its run (program and configuration, seed included);
//! - a run signed with a key seed re-executes to the same bytes without it;
//! - without re-execution, every `Received` and `Consumed` is checked against
//!   its `Sent`, so an edited delivery is found even with the chain rebuilt;
//! - a forger who replaces the recorded keys passes the internal checks and is
//!   stopped only by an anchor outside the file (trusted keys or the root).

use std::collections::BTreeSet;
use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::auth::{EnvelopeFields, envelope_into};
use canon_machine::{
    CrossCheckError, EndpointKey, EventKind, KeySeed, KeySource, ReplayMode, SignatureError, cross_check, run_identity,
    untrusted_key, verify_signatures,
};
use canon_replay::Replay;
use canon_runtime::{Config, CooperativeRunner, Machine, Runner, SeededHost, reexecute};
use canon_types::Value;
use sha2::{Digest, Sha256};

/// A secret the replay never sees.
const SECRET: [u8; 32] = [0x5e; 32];

fn program() -> Arc<VerifiedProgram> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/asm/ping_pong_loop.casm");
    let src = std::fs::read_to_string(path).expect("fixture exists");
    Arc::new(canon_bytecode::verify(canon_bytecode::assemble(&src).expect("assembles")).expect("verifies"))
}

fn record(config: Config, keys: KeySource, host_seed: u64) -> Replay {
    let mut machine = Machine::new(config);
    machine.set_key_source(keys);
    machine.load(&program(), Box::new(SeededHost::new(host_seed))).expect("loads");
    let outcome = CooperativeRunner.run(&mut machine);
    assert!(!outcome.faulted());
    Replay::decode(outcome.replay_bytes()).expect("decodes")
}

fn run_of(r: &Replay) -> [u8; 32] {
    run_identity(&r.header.program_digest, &r.header.config_digest())
}

fn rechain(r: &Replay) -> Replay {
    Replay::decode(&Replay::from_events(&r.header, &r.events).to_bytes()).expect("a rebuilt chain decodes")
}

/// Every 32-byte value a replay holder can read or compute from the file.
fn material(r: &Replay) -> Vec<[u8; 32]> {
    let mut m = vec![r.header.program_digest, r.header.config_digest(), r.root, run_of(r)];
    m.extend(r.block_hashes.iter().copied());
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&r.header.seed().to_le_bytes());
    m.push(seed);
    for e in &r.events {
        match &e.kind {
            EventKind::Opened { keys, .. } => m.extend(keys.iter().copied()),
            EventKind::Sent { signature: Some(s), .. } => {
                m.push(s[..32].try_into().expect("32 bytes"));
                m.push(s[32..].try_into().expect("32 bytes"));
            }
            _ => {}
        }
    }
    m
}

/// The keys a replay holder could try for endpoint (sid, role): the old
/// seed derivation, and a key seed or a raw secret made of any readable value.
fn candidate_keys(r: &Replay, sid: u64, role: u16) -> Vec<EndpointKey> {
    let old: [u8; 32] = Sha256::new()
        .chain_update(b"canon-endpoint-key")
        .chain_update(r.header.seed().to_le_bytes())
        .chain_update(sid.to_le_bytes())
        .chain_update(role.to_le_bytes())
        .finalize()
        .into();
    let mut keys = vec![EndpointKey::from_secret(&old), KeySeed::TEST_ONLY_PUBLIC.endpoint_key(sid, role)];
    for m in material(r) {
        keys.push(EndpointKey::from_secret(&m));
        keys.push(KeySeed::from_bytes(m).endpoint_key(sid, role));
    }
    keys
}

#[test]
fn a_replay_alone_is_not_enough_to_forge_a_signature_that_verifies() {
    let config = Config { seed: 11, ..Config::default() };
    let replay = record(config, KeySource::Seed(KeySeed::from_bytes(SECRET)), 11);
    let run = run_of(&replay);
    let index = replay.events.iter().position(|e| matches!(e.kind, EventKind::Sent { .. })).expect("a message");
    let site = replay.events[index].site;
    let EventKind::Opened { keys, .. } =
        &replay.events.iter().find(|e| matches!(e.kind, EventKind::Opened { .. })).expect("opened").kind
    else {
        unreachable!()
    };
    let recorded_key = keys[usize::from(site.role)];
    let candidates = candidate_keys(&replay, site.sid, site.role);
    assert!(candidates.len() > 10);
    for (i, key) in candidates.iter().enumerate() {
        assert_ne!(key.verifying_bytes(), recorded_key, "candidate {i} from the replay is the endpoint key");
        // Alter the message, sign it with the candidate, rebuild the chain: it does not verify.
        let mut forged = replay.clone();
        let EventKind::Sent { to, label, seq, payload, signature } = &mut forged.events[index].kind else {
            unreachable!()
        };
        *payload = Value::Int(1_000_000);
        let mut env = Vec::new();
        let f =
            EnvelopeFields { run: &run, sid: site.sid, from: site.role, to: *to, seq: *seq, label: *label, payload };
        envelope_into(&mut env, f);
        *signature = Some(key.sign(&env));
        let (to, seq) = (*to, *seq);
        let forged = rechain(&forged);
        assert_eq!(
            verify_signatures(&run, &forged.events),
            Err(SignatureError::Forged { index, sid: site.sid, from: site.role, to, seq }),
            "candidate {i}"
        );
    }
    // Only the holder of the secret has the endpoint key.
    let real = KeySeed::from_bytes(SECRET).endpoint_key(site.sid, site.role);
    assert_eq!(real.verifying_bytes(), recorded_key);
}

#[test]
fn a_signature_from_one_run_does_not_verify_in_another() {
    let keys = KeySource::Seed(KeySeed::from_bytes(SECRET));
    // Same program, key seed and host answers; only the run seed differs.
    let a = record(Config { seed: 1, ..Config::default() }, keys.clone(), 9);
    let b = record(Config { seed: 2, ..Config::default() }, keys, 9);
    assert_ne!(run_of(&a), run_of(&b));
    let sent = |r: &Replay| r.events.iter().position(|e| matches!(e.kind, EventKind::Sent { .. })).expect("sent");
    let (ia, ib) = (sent(&a), sent(&b));
    let (EventKind::Sent { payload: pa, .. }, EventKind::Sent { payload: pb, signature: Some(sb), .. }) =
        (&a.events[ia].kind, &b.events[ib].kind)
    else {
        panic!("signed messages")
    };
    assert_eq!(pa, pb, "the same message in both runs");
    let mut spliced = a.clone();
    let EventKind::Sent { signature, .. } = &mut spliced.events[ia].kind else { unreachable!() };
    assert_ne!(signature.as_ref(), Some(sb), "the envelope binds the run");
    *signature = Some(*sb);
    let spliced = rechain(&spliced);
    assert!(matches!(verify_signatures(&run_of(&a), &spliced.events), Err(SignatureError::Forged { .. })));
}

#[test]
fn a_key_seed_run_reexecutes_identically_without_the_secret() {
    for mode in [ReplayMode::Off, ReplayMode::Sequence, ReplayMode::Nullifier] {
        let config = Config { seed: 4, replay_mode: mode, ..Config::default() };
        let recorded = record(config, KeySource::Seed(KeySeed::from_bytes(SECRET)), 4);
        let again = reexecute(&program(), &recorded).expect("re-executes");
        assert_eq!(again.to_bytes(), recorded.to_bytes(), "{mode:?}");
        // Another key seed gives other keys and signatures, and the same behaviour.
        let other = record(config, KeySource::Seed(KeySeed::from_bytes([1; 32])), 4);
        assert_ne!(other.root, recorded.root);
        assert_eq!(other.events.len(), recorded.events.len());
    }
}

#[test]
fn an_edited_delivery_is_found_without_reexecution() {
    let config = Config { seed: 3, replay_mode: ReplayMode::Nullifier, ..Config::default() };
    let replay = record(config, KeySource::Seed(KeySeed::from_bytes(SECRET)), 3);
    let run = run_of(&replay);
    let clean = cross_check(&run, &config, &replay.events).expect("consistent");
    assert!(clean.received > 2 && clean.consumed == clean.received);

    // A received payload that was never sent (chain rebuilt, signatures untouched).
    let mut edited = replay.clone();
    let index = edited.events.iter().position(|e| matches!(e.kind, EventKind::Received { .. })).expect("received");
    let EventKind::Received { payload, .. } = &mut edited.events[index].kind else { unreachable!() };
    *payload = Value::Int(-7);
    let edited = rechain(&edited);
    assert!(verify_signatures(&run, &edited.events).is_ok(), "signatures cover Sent only");
    assert!(
        matches!(cross_check(&run, &config, &edited.events), Err(CrossCheckError::NotAsSent { index: i, .. }) if i == index)
    );

    // A consumption root that does not chain.
    let mut edited = replay.clone();
    let index = edited.events.iter().rposition(|e| matches!(e.kind, EventKind::Consumed { .. })).expect("consumed");
    let EventKind::Consumed { post_root, .. } = &mut edited.events[index].kind else { unreachable!() };
    post_root[0] ^= 1;
    assert_eq!(cross_check(&run, &config, &rechain(&edited).events), Err(CrossCheckError::WrongRoot { index, sid: 0 }));

    // A Received whose Sent was removed.
    let mut edited = replay.clone();
    let sent = edited.events.iter().position(|e| matches!(e.kind, EventKind::Sent { .. })).expect("sent");
    edited.events.remove(sent);
    assert!(matches!(cross_check(&run, &config, &rechain(&edited).events), Err(CrossCheckError::NeverSent { .. })));
}

#[test]
fn replaced_keys_pass_internal_checks_and_fail_every_anchor() {
    let config = Config { seed: 6, ..Config::default() };
    let replay = record(config, KeySource::Seed(KeySeed::from_bytes(SECRET)), 6);
    let run = run_of(&replay);
    let trusted: BTreeSet<[u8; 32]> = replay
        .events
        .iter()
        .flat_map(|e| match &e.kind {
            EventKind::Opened { keys, .. } => keys.clone(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(untrusted_key(&replay.events, &trusted), None);
    // The forger's own key seed: new keys in Opened, every message re-signed with altered payloads.
    let forger = KeySeed::from_bytes([0xf0; 32]);
    let mut forged = replay.clone();
    let mut env = Vec::new();
    let mut histories: std::collections::BTreeMap<(u64, u16, u16), [u8; 32]> = std::collections::BTreeMap::new();
    for e in &mut forged.events {
        let site = e.site;
        match &mut e.kind {
            EventKind::Opened { keys, .. } => {
                for (role, k) in keys.iter_mut().enumerate() {
                    *k = forger.endpoint_key(site.sid, role as u16).verifying_bytes();
                }
            }
            EventKind::Sent { to, label, seq, payload, signature } => {
                if let Value::Int(i) = payload {
                    *i += 1;
                }
                let f = EnvelopeFields {
                    run: &run,
                    sid: site.sid,
                    from: site.role,
                    to: *to,
                    seq: *seq,
                    label: *label,
                    payload,
                };
                envelope_into(&mut env, f);
                *signature = Some(forger.endpoint_key(site.sid, site.role).sign(&env));
            }
            EventKind::Received { from, label, seq, payload } => {
                if let Value::Int(i) = payload {
                    *i += 1;
                }
                // The edge histories are unkeyed: the forger recomputes them.
                let f = EnvelopeFields {
                    run: &run,
                    sid: site.sid,
                    from: *from,
                    to: site.role,
                    seq: *seq,
                    label: *label,
                    payload,
                };
                envelope_into(&mut env, f);
                let h = histories.entry((site.sid, *from, site.role)).or_insert([0; 32]);
                *h = canon_machine::auth::chain(h, &canon_machine::auth::identity(&env));
            }
            EventKind::EdgeHistory { from, to, history, .. } => {
                *history = histories.get(&(site.sid, *from, *to)).copied().unwrap_or([0; 32]);
            }
            _ => {}
        }
    }
    let forged = rechain(&forged);
    assert!(verify_signatures(&run, &forged.events).is_ok(), "integrity alone does not prove authorship");
    assert!(cross_check(&run, &config, &forged.events).is_ok());
    assert!(untrusted_key(&forged.events, &trusted).is_some(), "trusted keys anchor");
    assert_ne!(forged.root, replay.root, "root anchor");
    // Re-execution with the program catches the altered behaviour too.
    let again = reexecute(&program(), &forged).expect("re-executes");
    assert_ne!(again, forged);
}
