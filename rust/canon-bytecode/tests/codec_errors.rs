//! One test per `DecodeError` variant: a small input that fails in exactly
//! that way, at exactly that offset; and the 1xxx code table.

use canon_bytecode::encode::{HEADER_LEN, tag};
use canon_bytecode::{
    Backpressure, BufferConfig, BufferMode, Const, DECODE_CODES, DecodeError, EdgeBuffer, Instr, Module, Param, Proc,
    decode, encode,
};
use canon_types::{ErrorCode, TypeId, TypeNode};

const HEADER: &[u8] = b"CNBC\x01\x00\x00\x00";

/// A section: `id, body_len u32, body`.
fn section(id: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A module from raw section bodies (strings, types, consts, procs, entry).
fn module_bytes(bodies: [&[u8]; 5]) -> Vec<u8> {
    let mut out = HEADER.to_vec();
    for (i, body) in bodies.iter().enumerate() {
        out.extend(section(i as u8 + 1, body));
    }
    out
}

const EMPTY_LIST: &[u8] = &[0, 0, 0, 0];

/// Offset of the first body byte of section `id` (1-based) when every earlier
/// section is an empty list.
fn body_at(id: usize) -> usize {
    HEADER_LEN + (id - 1) * 9 + 5
}

/// A module with one procedure holding `code`, encoded.
fn with_code(code: Vec<Instr>) -> Vec<u8> {
    let m = Module {
        procs: vec![Proc { name: Default::default(), params: vec![], reg_count: 4, code }],
        ..Module::default()
    };
    encode(&m)
}

/// Offset of the first instruction in [`with_code`]'s encoding.
fn first_instr_at() -> usize {
    // procs body: count u32, name u32, params count u32, reg_count u16, code count u32.
    body_at(4) + 4 + 4 + 4 + 2 + 4
}

#[test]
fn empty() {
    assert_eq!(decode(&[]), Err(DecodeError::Empty { offset: 0 }));
}

#[test]
fn truncated() {
    assert!(matches!(decode(b"CNB"), Err(DecodeError::Truncated { offset: 0, needed: 1, .. })));
    assert!(matches!(decode(HEADER), Err(DecodeError::Truncated { offset: 8, what: "section id", .. })));
    let mut bytes = encode(&Module::default());
    bytes.pop();
    assert!(matches!(decode(&bytes), Err(DecodeError::Truncated { offset: 49, needed: 1, .. })));
}

#[test]
fn bad_magic() {
    assert_eq!(decode(b"CNBX\x01\x00\x00\x00"), Err(DecodeError::BadMagic { offset: 0, found: b"CNBX".to_vec() }));
    assert_eq!(decode(b"\x7fE"), Err(DecodeError::BadMagic { offset: 0, found: b"\x7fE".to_vec() }));
}

#[test]
fn unsupported_version() {
    let mut bytes = encode(&Module::default());
    bytes[4] = 2;
    assert_eq!(decode(&bytes), Err(DecodeError::UnsupportedVersion { offset: 4, version: 2 }));
}

#[test]
fn bad_flags() {
    let mut bytes = encode(&Module::default());
    bytes[7] = 0x80;
    assert_eq!(decode(&bytes), Err(DecodeError::BadFlags { offset: 6, flags: 0x8000 }));
}

#[test]
fn unknown_section() {
    let mut bytes = encode(&Module::default());
    bytes[body_at(2) - 5] = 9;
    assert_eq!(decode(&bytes), Err(DecodeError::UnknownSection { offset: body_at(2) - 5, id: 9 }));
    bytes[body_at(2) - 5] = 0;
    assert_eq!(decode(&bytes), Err(DecodeError::UnknownSection { offset: body_at(2) - 5, id: 0 }));
}

#[test]
fn section_out_of_order() {
    let mut bytes = HEADER.to_vec();
    bytes.extend(section(tag::section::TYPES, EMPTY_LIST));
    assert_eq!(decode(&bytes), Err(DecodeError::SectionOutOfOrder { offset: 8, id: 2, expected: 1 }));
    // A repeated section is out of order too.
    let mut bytes = HEADER.to_vec();
    bytes.extend(section(tag::section::STRINGS, EMPTY_LIST));
    bytes.extend(section(tag::section::STRINGS, EMPTY_LIST));
    assert_eq!(decode(&bytes), Err(DecodeError::SectionOutOfOrder { offset: 17, id: 1, expected: 2 }));
}

#[test]
fn section_length_mismatch() {
    let bytes = module_bytes([&[0, 0, 0, 0, 0xAA], EMPTY_LIST, EMPTY_LIST, EMPTY_LIST, EMPTY_LIST]);
    let err = decode(&bytes).unwrap_err();
    assert_eq!(err, DecodeError::SectionLengthMismatch { offset: body_at(1) + 4, id: 1, declared: 5, used: 4 });
}

#[test]
fn unknown_opcode() {
    let mut bytes = with_code(vec![Instr::Nop, Instr::Halt]);
    let at = first_instr_at() + 1;
    assert_eq!(bytes[at], 0x06, "the halt opcode");
    bytes[at] = 0xEE;
    assert_eq!(decode(&bytes), Err(DecodeError::UnknownOpcode { offset: at, byte: 0xEE }));
}

#[test]
fn unknown_type_node_tag() {
    let bytes = module_bytes([EMPTY_LIST, &[1, 0, 0, 0, 7], EMPTY_LIST, EMPTY_LIST, EMPTY_LIST]);
    let at = body_at(2) + 4;
    assert_eq!(decode(&bytes), Err(DecodeError::UnknownTag { offset: at, what: "type node", tag: 7 }));
}

#[test]
fn unknown_const_tag() {
    // Endpoint (6) and tuple (7) are value tags but not constant tags.
    let bytes = module_bytes([EMPTY_LIST, EMPTY_LIST, &[1, 0, 0, 0, 6], EMPTY_LIST, EMPTY_LIST]);
    let at = body_at(3) + 4;
    assert_eq!(decode(&bytes), Err(DecodeError::UnknownTag { offset: at, what: "constant", tag: 6 }));
}

#[test]
fn unknown_param_tag() {
    let m = Module {
        procs: vec![Proc { name: Default::default(), params: vec![Param::Value], reg_count: 1, code: vec![] }],
        ..Module::default()
    };
    let mut bytes = encode(&m);
    let at = body_at(4) + 4 + 4 + 4;
    assert_eq!(bytes[at], tag::param::VALUE);
    bytes[at] = 2;
    assert_eq!(decode(&bytes), Err(DecodeError::UnknownTag { offset: at, what: "parameter", tag: 2 }));
}

/// `open` with no roles/types/handlers/dsts and one edge buffer; returns the
/// encoding and the offset of the buffer's `mode` byte.
fn open_with_buffer(policy: Backpressure) -> (Vec<u8>, usize) {
    let buffer = EdgeBuffer { from: 0, to: 1, config: BufferConfig { mode: BufferMode::Fifo, policy, capacity: 8 } };
    let open = Instr::Open { roles: vec![], types: vec![], handlers: vec![], dsts: vec![], buffers: vec![buffer] };
    // opcode, four empty lists, buffer count, from, to.
    (with_code(vec![open]), first_instr_at() + 1 + 16 + 4 + 4)
}

#[test]
fn unknown_buffer_mode_and_policy_tags() {
    let (mut bytes, mode_at) = open_with_buffer(Backpressure::Block);
    bytes[mode_at] = 2;
    assert_eq!(decode(&bytes), Err(DecodeError::UnknownTag { offset: mode_at, what: "buffer mode", tag: 2 }));
    bytes[mode_at] = tag::mode::LATEST_VALUE;
    bytes[mode_at + 1] = 4;
    let err = DecodeError::UnknownTag { offset: mode_at + 1, what: "backpressure policy", tag: 4 };
    assert_eq!(decode(&bytes), Err(err));
}

#[test]
fn bad_utf8() {
    let bytes =
        module_bytes([&[1, 0, 0, 0, 3, 0, 0, 0, b'o', 0xC3, 0x28], EMPTY_LIST, EMPTY_LIST, EMPTY_LIST, EMPTY_LIST]);
    assert_eq!(decode(&bytes), Err(DecodeError::BadUtf8 { offset: body_at(1) + 9 }));
}

#[test]
fn non_canonical_bool() {
    let mut bytes = encode(&Module { consts: vec![Const::Bool(true)], ..Module::default() });
    let at = body_at(3) + 5;
    assert_eq!(bytes[at], 1);
    bytes[at] = 2;
    assert!(matches!(decode(&bytes), Err(DecodeError::NonCanonical { offset, .. }) if offset == at));
}

#[test]
fn non_canonical_max_capacity() {
    let (bytes, _) = open_with_buffer(Backpressure::Resize { max_capacity: 9 });
    assert!(decode(&bytes).is_ok());
    let (mut bytes, mode_at) = open_with_buffer(Backpressure::Drop);
    let max_at = mode_at + 2 + 4;
    bytes[max_at] = 9;
    assert!(matches!(decode(&bytes), Err(DecodeError::NonCanonical { offset, .. }) if offset == max_at));
}

#[test]
fn trailing_bytes() {
    let mut bytes = encode(&Module::default());
    let len = bytes.len();
    bytes.extend_from_slice(&[0, 0]);
    assert_eq!(decode(&bytes), Err(DecodeError::TrailingBytes { offset: len, count: 2 }));
}

#[test]
fn too_large() {
    // 0x40000000 strings cannot fit in 0 remaining bytes: rejected before any allocation.
    let bytes = module_bytes([&[0, 0, 0, 0x40], EMPTY_LIST, EMPTY_LIST, EMPTY_LIST, EMPTY_LIST]);
    let err = DecodeError::TooLarge { offset: body_at(1), what: "string", count: 0x4000_0000, remaining: 0 };
    assert_eq!(decode(&bytes), Err(err));
    // A count of one item too many for the bytes left in its section.
    let types = module_bytes([EMPTY_LIST, &[2, 0, 0, 0, 0], EMPTY_LIST, EMPTY_LIST, EMPTY_LIST]);
    assert!(matches!(decode(&types), Err(DecodeError::TooLarge { count: 2, remaining: 1, .. })));
}

#[test]
fn a_var_pointing_anywhere_still_decodes() {
    // Decode checks structure only; references are the verifier's business.
    let m = Module {
        types: canon_types::TypeGraph { nodes: vec![TypeNode::Var { mu: TypeId(99) }] },
        entry: 5,
        ..Module::default()
    };
    assert_eq!(decode(&encode(&m)), Ok(m));
}

/// One value of every variant, in code order.
fn one_of_each() -> Vec<DecodeError> {
    vec![
        DecodeError::Empty { offset: 0 },
        DecodeError::Truncated { offset: 0, what: "x", needed: 1 },
        DecodeError::BadMagic { offset: 0, found: vec![] },
        DecodeError::UnsupportedVersion { offset: 4, version: 9 },
        DecodeError::BadFlags { offset: 6, flags: 1 },
        DecodeError::UnknownSection { offset: 8, id: 9 },
        DecodeError::SectionOutOfOrder { offset: 8, id: 2, expected: 1 },
        DecodeError::SectionLengthMismatch { offset: 8, id: 1, declared: 5, used: 4 },
        DecodeError::UnknownOpcode { offset: 8, byte: 0xFF },
        DecodeError::UnknownTag { offset: 8, what: "x", tag: 9 },
        DecodeError::BadUtf8 { offset: 8 },
        DecodeError::NonCanonical { offset: 8, what: "x" },
        DecodeError::TrailingBytes { offset: 8, count: 1 },
        DecodeError::TooLarge { offset: 8, what: "x", count: 9, remaining: 0 },
        DecodeError::DebugLimit { offset: 8, what: "x", len: 300, max: 256 },
        DecodeError::DebugMismatch { offset: 8, what: "x", found: 3, bound: 2 },
    ]
}

#[test]
fn the_code_table_lists_every_variant_once_in_the_1xxx_range() {
    let errors = one_of_each();
    assert_eq!(DECODE_CODES.len(), errors.len());
    for (entry, err) in DECODE_CODES.iter().zip(&errors) {
        assert_eq!(entry.code, err.code());
        assert_eq!(entry.name, err.name());
        assert!(format!("{err:?}").starts_with(entry.name), "{} is not {err:?}", entry.name);
        assert!((1000..2000).contains(&entry.code));
        assert!(!entry.summary.is_empty());
    }
    for w in DECODE_CODES.windows(2) {
        assert!(w[0].code < w[1].code, "codes must be unique and increasing");
    }
}

#[test]
fn every_message_names_its_offset() {
    for err in one_of_each() {
        let msg = err.to_string();
        assert!(msg.contains(&format!("byte {}", err.offset())), "{msg}");
    }
}
