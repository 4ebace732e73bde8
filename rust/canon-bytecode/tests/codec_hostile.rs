//! Hostile encodings: counts and lengths at 2³²−1, a 1 GiB length prefix in a
//! file of a few bytes, and deep nesting. Each is refused with a typed error
//! after work proportional to the input, never an allocation sized by the
//! claim. Every input is generated here.

use canon_bytecode::encode::tag;
use canon_bytecode::{DecodeError, assemble, decode};

const HEADER: &[u8] = b"CNBC\x01\x00\x00\x00";
const MAX: u32 = u32::MAX;

/// Header, then sections 1..=5 whose bodies are `bodies` (a body's length
/// prefix is its real length unless `declared` overrides it).
fn module(bodies: [Vec<u8>; 5], declared: Option<(usize, u32)>) -> Vec<u8> {
    let mut out = HEADER.to_vec();
    for (i, body) in bodies.iter().enumerate() {
        out.push(i as u8 + 1);
        let len = match declared {
            Some((at, len)) if at == i => len,
            _ => body.len() as u32,
        };
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
    }
    out
}

fn u32s(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn empty() -> [Vec<u8>; 5] {
    [u32s(&[0]), u32s(&[0]), u32s(&[0]), u32s(&[0]), u32s(&[0])]
}

#[test]
fn a_one_gib_section_length_in_a_tiny_file_is_truncated() {
    let mut bytes = HEADER.to_vec();
    bytes.push(tag::section::STRINGS);
    bytes.extend_from_slice(&(1u32 << 30).to_le_bytes());
    assert_eq!(bytes.len(), 13);
    match decode(&bytes) {
        Err(DecodeError::Truncated { offset: 13, needed, .. }) => assert_eq!(needed, 1 << 30),
        other => panic!("{other:?}"),
    }
    // Eight bytes of length prefix and nothing else: not even a header.
    let eight = [0x01, 0x00, 0x00, 0x40, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(decode(&eight), Err(DecodeError::BadMagic { .. })));
}

#[test]
fn a_section_length_of_two_to_the_32_minus_one_is_truncated() {
    let bytes = module(empty(), Some((0, MAX)));
    assert!(matches!(decode(&bytes), Err(DecodeError::Truncated { .. })), "{:?}", decode(&bytes));
}

#[test]
fn every_list_count_at_two_to_the_32_minus_one_is_too_large() {
    // (section index, body with a count of 2^32-1 where a list starts)
    let cases: Vec<(usize, Vec<u8>, &str)> = vec![
        (0, u32s(&[MAX]), "string"),
        (1, u32s(&[MAX]), "type node"),
        (2, u32s(&[MAX]), "constant"),
        (3, u32s(&[MAX]), "procedure"),
        // One Send node: peer 0, then 2^32-1 branches.
        (1, [u32s(&[1]), vec![tag::ty::SEND], u32s(&[0, MAX])].concat(), "branch"),
        // One Send node with one branch: label 0, 2^32-1 payload items (and
        // the branch's continuation, so the branch count fits).
        (1, [u32s(&[1]), vec![tag::ty::SEND], u32s(&[0, 1, 0, MAX, 0])].concat(), "payload"),
        // One procedure: name 0, 2^32-1 parameters (and the 6 bytes a
        // procedure needs at least after them, so the procedure count fits).
        (3, [u32s(&[1, 0, MAX]), vec![0; 6]].concat(), "parameter"),
    ];
    for (section, body, what) in cases {
        let mut bodies = empty();
        bodies[section] = body;
        match decode(&module(bodies, None)) {
            Err(DecodeError::TooLarge { count, what: w, .. }) => assert_eq!((count, w), (MAX, what)),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn a_string_length_of_two_to_the_32_minus_one_is_truncated() {
    let mut bodies = empty();
    bodies[0] = u32s(&[1, MAX]);
    match decode(&module(bodies, None)) {
        Err(DecodeError::Truncated { what, needed, .. }) => assert_eq!((what, needed), ("string", MAX as usize)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_list_exactly_filling_its_section_decodes_and_one_more_item_is_too_large() {
    // n strings of length 0 take 4 bytes each: the count edge is remaining / 4.
    let n = 1_000u32;
    let mut ok = u32s(&[n]);
    ok.extend(std::iter::repeat_n(0u8, 4 * n as usize));
    let mut bodies = empty();
    bodies[0] = ok.clone();
    bodies[0][..4].copy_from_slice(&(n + 1).to_le_bytes());
    match decode(&module(bodies, None)) {
        Err(DecodeError::TooLarge { count, remaining, .. }) => assert_eq!((count, remaining), (n + 1, 4 * n as usize)),
        other => panic!("{other:?}"),
    }
    // With n distinct-length-0 strings the module decodes (the verifier, not
    // the decoder, rejects duplicate strings).
    let mut bodies = empty();
    bodies[0] = ok;
    let m = decode(&module(bodies, None)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.strings.len(), n as usize);
}

/// `depth` one-item tuples around a unit, as a payload value encoding.
fn nested_tuple(depth: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(depth * 5 + 1);
    for _ in 0..depth {
        bytes.push(canon_types::value::tag::TUPLE);
        bytes.extend_from_slice(&1u32.to_le_bytes());
    }
    bytes.push(canon_types::value::tag::UNIT);
    bytes
}

#[test]
fn payload_tuples_nested_a_hundred_thousand_deep_are_refused_at_the_depth_limit() {
    use canon_types::Value;
    use canon_types::value::{MAX_VALUE_DEPTH, ValueDecodeError};
    let edge = nested_tuple(MAX_VALUE_DEPTH);
    assert_eq!(Value::decode(&edge).map(|(_, n)| n), Ok(edge.len()));
    for depth in [MAX_VALUE_DEPTH + 1, 100_000] {
        assert!(matches!(Value::decode(&nested_tuple(depth)), Err(ValueDecodeError::TooDeep { .. })), "{depth}");
    }
    // A tuple claiming 2^32-1 items in a five-byte input.
    let mut huge = vec![canon_types::value::tag::TUPLE];
    huge.extend_from_slice(&MAX.to_le_bytes());
    assert!(matches!(Value::decode(&huge), Err(ValueDecodeError::Truncated { .. })));
}

#[test]
fn an_assembly_type_nested_a_hundred_thousand_deep_is_refused() {
    let n = 100_000;
    let src = format!(
        ".type t = {}end{}\n.entry main\n.proc main() regs 1\n    halt\n.end\n",
        "B!{a().".repeat(n),
        "}".repeat(n)
    );
    let err = assemble(&src).expect_err("nested too deeply");
    assert!(err.to_string().contains("nested too deeply"), "{err}");
}
