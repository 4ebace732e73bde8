//! Hostile replays, each generated here: a payload nested 100,000 deep, a
//! 1 GiB length prefix in an 8-byte file, counts at 2³²−1 in a short block.
//! Every one is a typed error, with no stack overflow and no allocation of
//! what the file claims.

mod common;

use canon_machine::HostPoint;
use canon_machine::event::{EventKind, EventSite};
use canon_replay::{MAGIC, Replay, ReplayError};
use canon_types::Value;
use canon_types::value::{MAX_VALUE_DEPTH, tag};
use common::{build_file, ev, header, records, site};

/// `depth` one-item tuples around a unit, as a value encoding.
fn nested_tuple(depth: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(depth * 5 + 1);
    for _ in 0..depth {
        bytes.push(tag::TUPLE);
        bytes.extend_from_slice(&1u32.to_le_bytes());
    }
    bytes.push(tag::UNIT);
    bytes
}

/// A one-block replay whose second event is a host answer holding `answer` (raw value bytes).
fn with_answer(answer: &[u8]) -> Vec<u8> {
    let spawned = ev(site(0, 0, EventSite::NO_ROLE), EventKind::Spawned { proc: 0 });
    let host =
        ev(site(0, 0, EventSite::NO_ROLE), EventKind::HostAnswer { point: HostPoint::Choose, answer: Value::Unit });
    let mut body = records(&[spawned, host]);
    assert_eq!(body.pop(), Some(tag::UNIT), "the answer is the record's last byte");
    body.extend_from_slice(answer);
    build_file(&header(), &[(2, body)], 2)
}

#[test]
fn a_payload_nested_a_hundred_thousand_deep_is_a_typed_error() {
    assert!(Replay::decode(&with_answer(&nested_tuple(MAX_VALUE_DEPTH))).is_ok(), "the limit itself decodes");
    for depth in [MAX_VALUE_DEPTH + 1, 100_000] {
        let err = Replay::decode(&with_answer(&nested_tuple(depth))).expect_err("too deep");
        assert!(matches!(err, ReplayError::BadValue { .. }), "depth {depth}: {err}");
    }
}

#[test]
fn a_one_gib_length_prefix_in_an_eight_byte_file_is_truncation() {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&(1u32 << 30).to_le_bytes());
    assert_eq!(bytes.len(), 8);
    assert!(Replay::decode(&bytes).is_err());
    // A block claiming 2³²−1 events in 1 GiB after a valid header.
    let mut file = Vec::new();
    header().encode(&mut file);
    file.extend_from_slice(&u32::MAX.to_le_bytes());
    file.extend_from_slice(&(1u32 << 30).to_le_bytes());
    let err = Replay::decode(&file).expect_err("truncated");
    assert!(matches!(err, ReplayError::Truncated { .. }), "{err}");
}

#[test]
fn a_tuple_of_two_to_the_32_minus_one_items_in_a_short_record_is_an_error() {
    let mut huge = vec![tag::TUPLE];
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(Replay::decode(&with_answer(&huge)).is_err());
}
