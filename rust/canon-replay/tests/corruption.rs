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
    // Block 2 starts after the header and two blocks of 81 records of 51 bytes.
    let block_len = 8 + 81 * 51 + 32;
    let block2 = header_len() + 2 * block_len;
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
    v[4] = 2;
    assert_eq!(Replay::decode(&v), Err(ReplayError::UnsupportedVersion { offset: 4, version: 2 }));
    let mut f = bytes.clone();
    f[7] = 1;
    assert_eq!(Replay::decode(&f), Err(ReplayError::UnsupportedFlags { offset: 6, flags: 0x100 }));
    let mut seed = bytes;
    seed[72] ^= 1;
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
    assert!(matches!(err, ReplayError::TrailerMismatch { field: "event count", recorded: 10, actual: 11, .. }));
}

#[test]
fn hash_consistent_but_malformed_records_are_typed_errors() {
    let h = header();
    let body = records(&two_buyer());
    let base = header_len() + 8;

    let mut unknown = body.clone();
    unknown[0] = 0x7f;
    let err = Replay::decode(&build_file(&h, &[(11, unknown)], 11)).unwrap_err();
    assert_eq!(err, ReplayError::UnknownEventKind { offset: base, block: 0, event: 0, kind: 0x7f });

    let err = Replay::decode(&build_file(&h, &[(12, body.clone())], 12)).unwrap_err();
    assert!(matches!(err, ReplayError::CountMismatch { block: 0, recorded: 12, decoded: 11, .. }));

    let cut = body[..body.len() - 3].to_vec();
    let err = Replay::decode(&build_file(&h, &[(11, cut)], 11)).unwrap_err();
    assert!(matches!(err, ReplayError::EventOverrun { block: 0, event: 10, what: "epoch", .. }), "{err}");
}

#[test]
fn bad_payload_and_bad_tags_name_the_event() {
    let h = header();
    let events = two_buyer();
    let first_two = records(&events[..2]).len();
    // Event 2 is a HostAnswer: site, point tag, label u32, then the answer value.
    let mut bad_point = records(&events);
    bad_point[first_two + 27] = 9;
    let err = Replay::decode(&build_file(&h, &[(11, bad_point)], 11)).unwrap_err();
    assert!(matches!(err, ReplayError::BadEventField { event: 2, field: "host point", tag: 9, .. }), "{err}");
    let mut bad_value = records(&events);
    bad_value[first_two + 27 + 5] = 0xee;
    let err = Replay::decode(&build_file(&h, &[(11, bad_value)], 11)).unwrap_err();
    let offset = header_len() + 8 + first_two + 32;
    assert!(matches!(err, ReplayError::BadValue { event: 2, offset: o, .. } if o == offset), "{err}");
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
    let blocks = [(5, records(&events[..5])), (6, records(&events[5..]))];
    let err = Replay::decode(&build_file(&h, &blocks, 11)).unwrap_err();
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
