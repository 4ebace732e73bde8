//! Shared fixtures for the replay tests: a small two-buyer run, arbitrary
//! events, and a builder for hash-consistent files with chosen block bytes.

#![allow(dead_code)]

use canon_machine::event::{Event, EventKind, EventSite, HostPoint, TerminalReason};
use canon_machine::{Injection, ReplayMode};
use canon_replay::ReplayHeader;
use canon_types::{Endpoint, SymId, Value};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// String table of the sample program.
pub const STRINGS: [&str; 6] = ["Buyer1", "Seller", "Title", "Quote", "main", "audit"];

pub fn header() -> ReplayHeader {
    ReplayHeader {
        program_digest: [0xAB; 32],
        config: canon_machine::Config { seed: 42, ..Default::default() },
        strings: STRINGS.iter().map(|s| (*s).to_owned()).collect(),
    }
}

pub fn site(tick: u64, coroutine: u32, role: u16) -> EventSite {
    EventSite { group: 0, tick, coroutine, sid: 0, role }
}

pub fn ev(site: EventSite, kind: EventKind) -> Event {
    Event { site, kind }
}

/// A small run: open, Title from Buyer1 to Seller, Quote back, close.
pub fn two_buyer() -> Vec<Event> {
    let none = EventSite { group: 0, tick: 0, coroutine: 0, sid: EventSite::NO_SID, role: EventSite::NO_ROLE };
    let title = Value::Str("x".into());
    let quote = Value::Int(15);
    vec![
        ev(none, EventKind::Spawned { proc: 0 }),
        ev(site(0, 0, EventSite::NO_ROLE), EventKind::Opened { roles: vec![SymId(0), SymId(1)], keys: vec![] }),
        ev(none, EventKind::Spawned { proc: 1 }),
        ev(none, EventKind::Spawned { proc: 2 }),
        ev(
            site(1, 1, 0),
            EventKind::HostAnswer { point: HostPoint::Produce { label: SymId(2) }, answer: title.clone() },
        ),
        ev(site(1, 1, 0), EventKind::Sent { to: 1, label: SymId(2), seq: 0, payload: title.clone(), signature: None }),
        ev(site(2, 2, 1), EventKind::Received { from: 0, label: SymId(2), seq: 0, payload: title }),
        ev(
            site(2, 2, 1),
            EventKind::Sent { to: 0, label: SymId(3), seq: 0, payload: quote.clone(), signature: Some([7; 64]) },
        ),
        ev(site(3, 1, 0), EventKind::Received { from: 1, label: SymId(3), seq: 0, payload: quote }),
        ev(site(3, 1, 0), EventKind::Halted),
        ev(site(3, 2, 1), EventKind::Closed),
        ev(site(3, 2, 1), EventKind::SessionTerminal { reason: TerminalReason::Closed }),
        ev(site(3, 2, 1), EventKind::EpochAdvanced { epoch: 1 }),
    ]
}

/// The entry's `Spawned`, then `n` Sent events with distinct ticks (enough
/// of them span several blocks).
pub fn many(n: u64) -> Vec<Event> {
    let none = EventSite { group: 0, tick: 0, coroutine: 0, sid: EventSite::NO_SID, role: EventSite::NO_ROLE };
    std::iter::once(ev(none, EventKind::Spawned { proc: 0 }))
        .chain((0..n.saturating_sub(1)).map(|i| {
            ev(
                site(i, 0, 0),
                EventKind::Sent { to: 1, label: SymId(2), seq: i, payload: Value::Int(i as i64), signature: None },
            )
        }))
        .collect()
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Unit),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        proptest::collection::vec(any::<u8>(), 0..6).prop_map(|b| Value::Bytes(b.into())),
        "[a-z]{0,5}".prop_map(|s| Value::Str(s.as_str().into())),
        (0u32..8).prop_map(|i| Value::Label(SymId(i))),
        (any::<u64>(), any::<u16>()).prop_map(|(sid, role)| Value::Endpoint(Endpoint { sid, role })),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| proptest::collection::vec(inner, 0..3).prop_map(|v| Value::Tuple(v.into())))
}

fn arb_kind() -> impl Strategy<Value = EventKind> {
    use EventKind as K;
    let sym = (0u32..8).prop_map(SymId);
    let point = prop_oneof![
        sym.clone().prop_map(|label| HostPoint::Produce { label }),
        sym.clone().prop_map(|label| HostPoint::Accept { label }),
        Just(HostPoint::Choose),
        sym.clone().prop_map(|effect| HostPoint::Invoke { effect }),
    ];
    let reason = prop_oneof![
        Just(TerminalReason::Closed),
        Just(TerminalReason::Cancelled),
        Just(TerminalReason::Aborted),
        any::<u16>().prop_map(|code| TerminalReason::Faulted { code }),
    ];
    prop_oneof![
        any::<u32>().prop_map(|proc| K::Spawned { proc }),
        Just(K::Halted),
        (proptest::collection::vec(sym.clone(), 0..4), proptest::collection::vec(any::<[u8; 32]>(), 0..3))
            .prop_map(|(roles, keys)| K::Opened { roles, keys }),
        (any::<u16>(), sym.clone(), any::<u64>(), arb_value(), proptest::option::of(arb_signature()))
            .prop_map(|(to, label, seq, payload, signature)| K::Sent { to, label, seq, payload, signature }),
        (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>(), any::<bool>()).prop_map(
            |(identity, pre_root, post_root, seq)| {
                let mode = if seq { ReplayMode::Sequence } else { ReplayMode::Nullifier };
                K::Consumed { mode, identity, pre_root, post_root }
            }
        ),
        (0..5u8, any::<u64>(), any::<u16>(), any::<u64>()).prop_map(|(tag, nth, to, seq)| K::Injected {
            injection: Injection::from_byte(tag).unwrap_or(Injection::Drop),
            nth,
            to,
            seq
        }),
        (any::<u16>(), any::<u64>(), any::<[u8; 32]>()).prop_map(|(to, seq, identity)| K::DuplicateRefused {
            to,
            seq,
            identity
        }),
        (any::<u16>(), sym.clone(), any::<u64>(), arb_value()).prop_map(|(from, label, seq, payload)| K::Received {
            from,
            label,
            seq,
            payload
        }),
        (any::<u16>(), sym.clone(), any::<u64>()).prop_map(|(to, label, seq)| K::Dropped { to, label, seq }),
        (any::<u16>(), sym, any::<u64>()).prop_map(|(to, label, seq)| K::Overwritten { to, label, seq }),
        (point, arb_value()).prop_map(|(point, answer)| K::HostAnswer { point, answer }),
        any::<u64>().prop_map(|witness| K::TimeoutIssued { witness }),
        any::<u64>().prop_map(|witness| K::CancellationRequested { witness }),
        any::<u64>().prop_map(|witness| K::Cancelled { witness }),
        Just(K::Aborted),
        any::<u16>().prop_map(|code| K::FailureBranchEntered { code }),
        any::<u16>().prop_map(|code| K::Faulted { code }),
        Just(K::Closed),
        reason.prop_map(|reason| K::SessionTerminal { reason }),
        any::<u64>().prop_map(|epoch| K::EpochAdvanced { epoch }),
        any::<u64>().prop_map(|witness| K::TimeoutExpired { witness }),
        any::<u64>().prop_map(|witness| K::TimeoutWithdrawn { witness }),
        Just(K::EndpointClosed),
        any::<u32>().prop_map(|undelivered| K::Draining { undelivered }),
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u64>()).prop_map(|(from, to, label, seq)| K::Discarded {
            from,
            to,
            label: SymId(label),
            seq
        }),
        (any::<u64>(), any::<u16>())
            .prop_map(|(sid, role)| K::Delegated { endpoint: canon_types::Endpoint { sid, role } }),
        (any::<u64>(), any::<u16>())
            .prop_map(|(sid, role)| K::DelegationCompleted { endpoint: canon_types::Endpoint { sid, role } }),
        (
            0..20u8,
            any::<u16>(),
            any::<u64>(),
            "[a-z]{0,6}",
            "[a-z]{0,6}",
            proptest::collection::vec(any::<u64>(), 0..3)
        )
            .prop_map(|(tag, code, generation, a, b, ids)| {
                use canon_machine::Scope;
                use canon_machine::event::OwnershipRecord as O;
                let scope = match generation % 3 {
                    0 => Scope::Full,
                    1 => Scope::Roles(vec![a.clone(), b.clone()]),
                    _ => Scope::Operations(vec![b.clone()]),
                };
                let (a, b): (std::sync::Arc<str>, std::sync::Arc<str>) = (a.into(), b.into());
                let n = generation;
                let record = match tag {
                    0 => O::Claimed { owner: a, generation },
                    1 => O::Transferred { from: a, to: b, generation },
                    2 => O::Rejected { code, owner: a, generation },
                    3 => O::TransferBegun { owner: a, generation, to: b },
                    4 => O::ReceiptIssued { receipt: n, to: b },
                    5 => O::Commit { receipt: n },
                    6 => O::Rollback { receipt: n },
                    7 => O::Abandon { receipt: n },
                    8 => O::CommitFailed { receipt: n, reason: b },
                    9 => O::Attenuate { owner: a, generation, scope },
                    10 => O::IssueReadiness { owner: a, generation, check: b },
                    11 => O::WitnessIssued { witness: n, generation, check: b },
                    12 => O::Consume { witness: n, generation, check: b },
                    13 => O::WitnessInvalidated { witness: n },
                    14 => O::WitnessRejected { witness: n, code },
                    15 => O::OwnerDied { owner: a, generation, reason: b },
                    16 => O::Terminal { reason: b },
                    17 => O::SemanticHandoff { revoked: a, activated: b, receipt: n, generation },
                    18 => O::TransformationObligation { receipt: n, scope, invalidated_witnesses: ids },
                    _ => O::Mutate { owner: a, generation },
                };
                K::Ownership { record }
            }),
    ]
}

/// Any 64 bytes (proptest has no `Arbitrary` for arrays this long).
pub fn arb_signature() -> impl Strategy<Value = [u8; 64]> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&a);
        sig[32..].copy_from_slice(&b);
        sig
    })
}

/// Puts arbitrary events into canonical order: groups 0, 1, 2, … (an event
/// whose original group is odd starts the next group), ticks
/// non-decreasing within a group, every group starting with its entry's
/// `Spawned`, and coroutine ids among those spawned so far.
pub fn canonical(events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    let (mut group, mut tick, mut spawned) = (None::<u32>, 0u64, 0u32);
    for mut e in events {
        let start = match group {
            None => Some(0),
            Some(g) if e.site.group % 2 == 1 => Some(g + 1),
            Some(_) => None,
        };
        if let Some(g) = start {
            group = Some(g);
            tick = 0;
            spawned = 1;
            let site = EventSite { group: g, tick: 0, coroutine: 0, sid: EventSite::NO_SID, role: EventSite::NO_ROLE };
            out.push(ev(site, EventKind::Spawned { proc: 0 }));
        }
        e.site.group = group.unwrap_or(0);
        tick = tick.max(e.site.tick % 1000);
        e.site.tick = tick;
        if matches!(e.kind, EventKind::Spawned { .. }) {
            spawned += 1;
        }
        e.site.coroutine %= spawned;
        out.push(e);
    }
    out
}

pub fn arb_event() -> impl Strategy<Value = Event> {
    let site = (any::<u32>(), any::<u64>(), any::<u32>(), any::<u64>(), any::<u16>())
        .prop_map(|(group, tick, coroutine, sid, role)| EventSite { group, tick, coroutine, sid, role });
    (site, arb_kind()).prop_map(|(site, kind)| Event { site, kind })
}

/// A file with `header` and the given blocks, each `(event count, event
/// bytes)`, with correct chain hashes, trailer counts and root, so that only
/// the block contents can be wrong.
pub fn build_file(header: &ReplayHeader, blocks: &[(u32, Vec<u8>)], total_events: u64) -> Vec<u8> {
    let mut out = Vec::new();
    header.encode(&mut out);
    let mut chain: [u8; 32] = Sha256::digest(&out).into();
    for (count, body) in blocks {
        let mut block = Vec::new();
        block.extend_from_slice(&count.to_le_bytes());
        block.extend_from_slice(&(body.len() as u32).to_le_bytes());
        block.extend_from_slice(body);
        let digest: [u8; 32] = Sha256::digest(&block).into();
        chain = Sha256::new().chain_update(chain).chain_update(digest).finalize().into();
        out.extend_from_slice(&block);
        out.extend_from_slice(&chain);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
    out.extend_from_slice(&total_events.to_le_bytes());
    out.extend_from_slice(&chain);
    out
}

/// The record bytes of `events`, concatenated.
pub fn records(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    events.iter().for_each(|e| canon_replay::record::encode_event(e, &mut out));
    out
}
