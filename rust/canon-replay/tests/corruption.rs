//! Damaged input: every error is typed, names where, and nothing panics.

mod common;

use canon_machine::event::{EventKind, EventSite};
use canon_replay::{BLOCK_TARGET_BYTES, Replay, ReplayError, ReplayWriter};
use canon_types::{ErrorCode, SymId, Value};
use common::{build_file, header, many, records, two_buyer};
use proptest::prelude::*;

fn valid(events: &[canon_machine::event::Event]) -> Vec<u8> {
    let mut w = ReplayWriter::new(&header());
    events.iter().for_each(|e| w.push(e));
    w.finish_bytes()
}

fn header_len() -> usize {
    let mut h = Vec::new();
    header().encode(&mut h);
    h.len()
}

#[test]
fn truncation_at_every_offset_is_an_error() {
    let bytes = valid(&two_buyer());
    for cut in 0..bytes.len() {
        let err = Replay::decode(&bytes[..cut]).expect_err("a truncated replay must not decode");
        assert!(err.offset() <= cut, "cut {cut}: {err} names an offset past the end");
    }
}

#[test]
fn every_single_byte_flip_of_a_small_replay_is_an_error() {
    let bytes = valid(&two_buyer());
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= mask;
            assert!(Replay::decode(&damaged).is_err(), "flip 0x{mask:02x} at byte {i} went unnoticed");
        }
    }
}

#[test]
fn a_flip_inside_a_block_names_that_block_and_its_first_event() {
    let events = many(400);
    let bytes = valid(&events);
    let replay = Replay::decode(&bytes).unwrap();
    assert!(replay.block_count() >= 4);
    // Block 2 starts after the header and two blocks of 81 records: of 51
    // bytes each, but for the entry's 31-byte `Spawned` in block 0.
    let block_len = 8 + 81 * 51 + 32;
    let block2 = header_len() + 2 * block_len - 20;
    let mut damaged = bytes.clone();
    damaged[block2 + 8 + 100] ^= 0x10;
    assert_eq!(
        Replay::decode(&damaged),
        Err(ReplayError::ChainMismatch { offset: block2, block: 2, first_event: 162 })
    );
    // Damage to the stored hash of block 1 is reported at block 1.
    let mut damaged = bytes;
    damaged[block2 - 1] ^= 0x01;
    let err = Replay::decode(&damaged).unwrap_err();
    assert!(matches!(err, ReplayError::ChainMismatch { block: 1, first_event: 81, .. }), "{err}");
}

#[test]
fn header_errors_name_their_fields() {
    let bytes = valid(&two_buyer());
    let mut m = bytes.clone();
    m[0] = b'X';
    assert_eq!(Replay::decode(&m).unwrap_err().code(), 5001);
    let mut v = bytes.clone();
    v[4] = 3;
    assert_eq!(Replay::decode(&v), Err(ReplayError::UnsupportedVersion { offset: 4, version: 3 }));
    let mut f = bytes.clone();
    f[7] = 1;
    assert_eq!(Replay::decode(&f), Err(ReplayError::UnsupportedFlags { offset: 6, flags: 0x100 }));
    // The seed inside the configuration: still a canonical configuration, so the chain catches it.
    let mut seed = bytes;
    seed[44 + 55] ^= 1;
    let err = Replay::decode(&seed).unwrap_err();
    assert_eq!(err, ReplayError::ChainMismatch { offset: header_len(), block: 0, first_event: 0 });
}

#[test]
fn trailer_errors() {
    let bytes = valid(&two_buyer());
    let n = bytes.len();
    let mut extra = bytes.clone();
    extra.push(0);
    assert_eq!(Replay::decode(&extra), Err(ReplayError::TrailingBytes { offset: n, extra: 1 }));
    let mut root = bytes.clone();
    root[n - 1] ^= 1;
    assert_eq!(Replay::decode(&root), Err(ReplayError::RootMismatch { offset: n - 32 }));
    let mut count = bytes;
    count[n - 40] ^= 1;
    let err = Replay::decode(&count).unwrap_err();
    assert!(matches!(err, ReplayError::TrailerMismatch { field: "event count", recorded: 12, actual: 13, .. }));
}

#[test]
fn hash_consistent_but_malformed_records_are_typed_errors() {
    let h = header();
    let body = records(&two_buyer());
    let base = header_len() + 8;

    let mut unknown = body.clone();
    unknown[0] = 0x7f;
    let err = Replay::decode(&build_file(&h, &[(13, unknown)], 13)).unwrap_err();
    assert_eq!(err, ReplayError::UnknownEventKind { offset: base, block: 0, event: 0, kind: 0x7f });

    let err = Replay::decode(&build_file(&h, &[(14, body.clone())], 14)).unwrap_err();
    assert!(matches!(err, ReplayError::CountMismatch { block: 0, recorded: 14, decoded: 13, .. }));

    let cut = body[..body.len() - 3].to_vec();
    let err = Replay::decode(&build_file(&h, &[(13, cut)], 13)).unwrap_err();
    assert!(matches!(err, ReplayError::EventOverrun { block: 0, event: 12, what: "epoch", .. }), "{err}");
}

#[test]
fn bad_payload_and_bad_tags_name_the_event() {
    let h = header();
    let events = two_buyer();
    let first_four = records(&events[..4]).len();
    // Event 4 is a HostAnswer: site, point tag, label u32, then the answer value.
    let mut bad_point = records(&events);
    bad_point[first_four + 27] = 9;
    let err = Replay::decode(&build_file(&h, &[(13, bad_point)], 13)).unwrap_err();
    assert!(matches!(err, ReplayError::BadEventField { event: 4, field: "host point", tag: 9, .. }), "{err}");
    let mut bad_value = records(&events);
    bad_value[first_four + 27 + 5] = 0xee;
    let err = Replay::decode(&build_file(&h, &[(13, bad_value)], 13)).unwrap_err();
    let offset = header_len() + 8 + first_four + 32;
    assert!(matches!(err, ReplayError::BadValue { event: 4, offset: o, .. } if o == offset), "{err}");
}

#[test]
fn bad_signature_flag_replay_mode_and_injection_tags_name_the_event() {
    use canon_machine::{Injection, ReplayMode};
    let s = common::site(0, 0, 0);
    let sent = EventKind::Sent { to: 1, label: SymId(0), seq: 0, payload: Value::Unit, signature: None };
    let consumed =
        EventKind::Consumed { mode: ReplayMode::Sequence, identity: [1; 32], pre_root: [0; 32], post_root: [2; 32] };
    let injected = EventKind::Injected { injection: Injection::Reorder, nth: 3, to: 1, seq: 3 };
    let cases =
        [(sent, 27 + 14, 2, "signature flag"), (consumed, 27, 0, "replay mode"), (injected, 27, 5, "injection")];
    for (kind, at, tag, field) in cases {
        let mut body = records(&[common::ev(s, kind)]);
        body[at] = tag;
        let err = Replay::decode(&build_file(&header(), &[(1, body)], 1)).unwrap_err();
        assert!(
            matches!(err, ReplayError::BadEventField { event: 0, field: f, tag: t, .. } if f == field && t == tag),
            "{err}"
        );
    }
}

#[test]
fn blocks_cut_off_the_canonical_points_are_rejected() {
    let h = header();
    let events = two_buyer();
    // Two short blocks where the writer would write one.
    let blocks = [(5, records(&events[..5])), (8, records(&events[5..]))];
    let err = Replay::decode(&build_file(&h, &blocks, 13)).unwrap_err();
    assert!(matches!(err, ReplayError::NonCanonicalBlock { block: 0, first_event: 0, .. }), "{err}");
    // One block that runs past the target after it was reached.
    let long = many(120);
    let err = Replay::decode(&build_file(&h, &[(120, records(&long))], 120)).unwrap_err();
    assert!(matches!(err, ReplayError::NonCanonicalBlock { block: 0, .. }), "{err}");
    assert!(records(&long).len() > BLOCK_TARGET_BYTES + 50);
}

#[test]
fn huge_role_count_does_not_allocate() {
    let e = common::ev(common::site(0, 0, EventSite::NO_ROLE), EventKind::Opened { roles: vec![], keys: vec![] });
    let mut body = records(&[e]);
    let n = body.len();
    // The record ends with role count 0 and key count 0.
    let mut roles = body.clone();
    roles[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = Replay::decode(&build_file(&header(), &[(1, roles)], 1)).unwrap_err();
    assert!(matches!(err, ReplayError::EventOverrun { what: "role list", .. }), "{err}");
    body[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = Replay::decode(&build_file(&header(), &[(1, body)], 1)).unwrap_err();
    assert!(matches!(err, ReplayError::EventOverrun { what: "key list", .. }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Replay::decode(&bytes);
    }

    #[test]
    fn random_tails_after_a_valid_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = Vec::new();
        header().encode(&mut bytes);
        bytes.extend_from_slice(&tail);
        prop_assert!(Replay::decode(&bytes).is_err());
    }

    #[test]
    fn any_byte_flip_of_a_multi_block_replay_is_an_error(pos in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let bytes = valid(&many(200));
        let i = pos.index(bytes.len());
        let mut damaged = bytes;
        damaged[i] ^= mask;
        let err = Replay::decode(&damaged).expect_err("every byte is covered by a check");
        prop_assert!(err.offset() <= damaged.len());
    }
}

/// A hash-consistent one-block file of `events` (the chain cannot catch it).
fn rechained(events: &[canon_machine::event::Event]) -> Vec<u8> {
    build_file(&header(), &[(events.len() as u32, records(events))], events.len() as u64)
}

#[test]
fn a_claimed_group_the_file_does_not_hold_is_group_order() {
    // Structurally valid blocks, re-chained: the last event claims group 1,000,000.
    let mut events = two_buyer();
    let last = events.len() - 1;
    events[last].site.group = 1_000_000;
    let blocks = [(last as u32, records(&events[..last])), (1, records(&events[last..]))];
    let err = Replay::decode(&build_file(&header(), &blocks, events.len() as u64)).unwrap_err();
    assert!(
        matches!(err, ReplayError::GroupOrder { event, group: 1_000_000, previous: Some(0), .. } if event == last as u64),
        "{err}"
    );
    assert_eq!(err.code(), 5017);
    // A file whose first group is not 0.
    let mut first = two_buyer();
    first.iter_mut().for_each(|e| e.site.group = 1);
    let err = Replay::decode(&rechained(&first)).unwrap_err();
    assert!(matches!(err, ReplayError::GroupOrder { event: 0, group: 1, previous: None, .. }), "{err}");
}

#[test]
fn a_group_that_comes_back_is_group_order() {
    let one = two_buyer();
    let mut two: Vec<_> = one.clone();
    two.iter_mut().for_each(|e| e.site.group = 1);
    let back: Vec<_> = one.iter().take(1).cloned().collect();
    let blocks = [(one.len() as u32, records(&one)), (two.len() as u32, records(&two)), (1, records(&back))];
    let total = (one.len() + two.len() + 1) as u64;
    let err = Replay::decode(&build_file(&header(), &blocks, total)).unwrap_err();
    assert!(matches!(err, ReplayError::GroupOrder { group: 0, previous: Some(1), .. }), "{err}");
}

#[test]
fn a_tick_going_back_is_tick_order() {
    let mut events = two_buyer();
    events[6].site.tick = 0; // a Received at tick 2 after events at tick 1
    let err = Replay::decode(&rechained(&events)).unwrap_err();
    assert!(matches!(err, ReplayError::TickOrder { event: 6, tick: 0, previous: 1, .. }), "{err}");
    assert_eq!(err.code(), 5018);
}

#[test]
fn an_unspawned_coroutine_is_unknown_coroutine() {
    let mut events = two_buyer();
    events[4].site.coroutine = 3; // only coroutines 0, 1, 2 were spawned
    let err = Replay::decode(&rechained(&events)).unwrap_err();
    assert!(matches!(err, ReplayError::UnknownCoroutine { event: 4, coroutine: 3, spawned: 3, .. }), "{err}");
    assert_eq!(err.code(), 5019);
    // Coroutine 1 acting before its Spawned.
    let mut early = two_buyer();
    early.swap(2, 4);
    let err = Replay::decode(&rechained(&early)).unwrap_err();
    assert!(matches!(err, ReplayError::UnknownCoroutine { coroutine: 1, spawned: 1, .. }), "{err}");
}

#[test]
fn every_byte_of_the_configuration_is_checked() {
    // Every flip of a configuration byte is caught, by the configuration
    // check (tags) or the hash chain (numbers), with or without events.
    for events in [two_buyer(), Vec::new()] {
        let bytes = valid(&events);
        for i in 40..40 + 4 + canon_machine::Config::CANONICAL_LEN {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[i] ^= mask;
                assert!(Replay::decode(&damaged).is_err(), "flip 0x{mask:02x} of header byte {i} went unnoticed");
            }
        }
    }
}

#[test]
fn a_stream_read_in_tiny_pieces_decodes_the_same() {
    /// Hands out one byte per read.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else { return Ok(0) };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }
    let bytes = valid(&many(300));
    assert_eq!(Replay::read(Trickle(&bytes)), Replay::decode(&bytes));
    let mut cut = bytes.clone();
    cut.truncate(bytes.len() - 10);
    assert_eq!(Replay::read(Trickle(&cut)), Replay::decode(&cut));
}

#[test]
fn a_huge_block_length_in_a_short_file_is_truncation() {
    let mut bytes = valid(&two_buyer());
    let at = header_len() + 4;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = Replay::decode(&bytes).unwrap_err();
    assert!(matches!(err, ReplayError::Truncated { what: "block events", .. }), "{err}");
}
