//! Round-trip and robustness properties of the binary format, and the spec's
//! own example module (`bytecode-spec/format.md`).

use std::path::Path;

use canon_bytecode::testgen::{arb_module, arb_module_unchecked};
use canon_bytecode::{Const, Instr, Module, Param, Proc, decode, encode};
use canon_types::{FlatBranch, SymId, TypeGraph, TypeId, TypeNode};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// How a valid encoding is damaged before decoding it again.
#[derive(Debug, Clone)]
enum Mutation {
    Set { at: usize, byte: u8 },
    Flip { at: usize, bit: u8 },
    Truncate { len: usize },
    Insert { at: usize, byte: u8 },
    Remove { at: usize },
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    // Positions are taken modulo the input length when applied.
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Remove { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    match *m {
        Mutation::Set { at, byte } => bytes[at % n] = byte,
        Mutation::Flip { at, bit } => bytes[at % n] ^= 1 << bit,
        Mutation::Truncate { len } => bytes.truncate(len % n),
        Mutation::Insert { at, byte } => bytes.insert(at % (n + 1), byte),
        Mutation::Remove { at } => {
            bytes.remove(at % n);
        }
    }
}

/// Decoding never panics; an accepted input is canonical; a rejected one
/// names an offset inside (or just past) the input.
fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
    match decode(bytes) {
        Ok(m) => prop_assert_eq!(encode(&m), bytes.to_vec(), "accepted bytes must be the canonical encoding"),
        Err(e) => prop_assert!(e.offset() <= bytes.len(), "{e} names offset {} past {}", e.offset(), bytes.len()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decode_inverts_encode(m in arb_module()) {
        let bytes = encode(&m);
        prop_assert_eq!(decode(&bytes), Ok(m.clone()));
        prop_assert_eq!(m.digest(), <[u8; 32]>::from(Sha256::digest(&bytes)));
    }

    #[test]
    fn decode_inverts_encode_at_every_width(m in arb_module_unchecked()) {
        prop_assert_eq!(decode(&encode(&m)), Ok(m));
    }

    #[test]
    fn mutated_encodings_decode_canonically_or_fail_in_range(
        m in arb_module_unchecked(),
        mutations in proptest::collection::vec(arb_mutation(), 1..4),
    ) {
        let mut bytes = encode(&m);
        for mutation in &mutations {
            if bytes.is_empty() {
                break;
            }
            apply(&mut bytes, mutation);
        }
        check_decode(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_decode(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(body in proptest::collection::vec(any::<u8>(), 0..96)) {
        let mut bytes = b"CNBC\x01\x00\x00\x00".to_vec();
        bytes.extend_from_slice(&body);
        check_decode(&bytes)?;
    }
}

#[test]
fn every_truncation_of_a_valid_encoding_is_rejected_in_range() {
    let bytes = encode(&ping_pong());
    for len in 0..bytes.len() {
        let err = decode(&bytes[..len]).expect_err("a strict prefix is never a module");
        assert!(err.offset() <= len, "prefix {len}: {err}");
    }
}

#[test]
fn the_empty_module_has_a_pinned_encoding_and_digest() {
    let bytes = encode(&Module::default());
    let expected: Vec<u8> = [
        &b"CNBC"[..],
        &[1, 0, 0, 0],
        &[1, 4, 0, 0, 0, 0, 0, 0, 0],
        &[2, 4, 0, 0, 0, 0, 0, 0, 0],
        &[3, 4, 0, 0, 0, 0, 0, 0, 0],
        &[4, 4, 0, 0, 0, 0, 0, 0, 0],
        &[5, 4, 0, 0, 0, 0, 0, 0, 0],
    ]
    .concat();
    assert_eq!(bytes, expected);
    assert_eq!(hex(&Module::default().digest()), "94052b613bb6657ebd436d47ca1ea03823fe54336fddaea02df0448e1e68ae07");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ping-pong module that `bytecode-spec/format.md` shows in hex.
fn ping_pong() -> Module {
    let strings: Vec<String> =
        ["main", "A", "B", "Ping", "Int", "default", "role_a", "role_b"].map(String::from).to_vec();
    let sym = |s: &str| SymId(strings.iter().position(|t| t == s).expect("in the table") as u32);
    let (a, b, ping, int, default) = (sym("A"), sym("B"), sym("Ping"), sym("Int"), sym("default"));
    let msg = FlatBranch { label: ping, payload: vec![int], cont: TypeId(1) };
    let nodes = vec![
        TypeNode::Send { peer: b, branches: vec![msg.clone()] },
        TypeNode::End,
        TypeNode::Recv { peer: a, branches: vec![msg] },
    ];
    let open = Instr::Open {
        roles: vec![a, b],
        types: vec![TypeId(0), TypeId(2)],
        handlers: vec![default, default],
        dsts: vec![0, 1],
        buffers: vec![],
    };
    let main =
        vec![open, Instr::Spawn { proc: 1, args: vec![0] }, Instr::Spawn { proc: 2, args: vec![1] }, Instr::Halt];
    let role_a = vec![
        Instr::Const { dst: 1, k: 0 },
        Instr::Send { ep: 0, label: ping, src: 1 },
        Instr::Close { ep: 0 },
        Instr::Halt,
    ];
    let role_b = vec![Instr::Recv { ep: 0, label: ping, dst: 1 }, Instr::Close { ep: 0 }, Instr::Halt];
    let procs = vec![
        Proc { name: sym("main"), params: vec![], reg_count: 2, code: main },
        Proc { name: sym("role_a"), params: vec![Param::Endpoint(TypeId(0))], reg_count: 2, code: role_a },
        Proc { name: sym("role_b"), params: vec![Param::Endpoint(TypeId(2))], reg_count: 2, code: role_b },
    ];
    Module { types: TypeGraph { nodes }, consts: vec![Const::Int(7)], procs, entry: 0, strings, debug: None }
}

/// The hex between the example markers of `format.md`: whitespace-separated
/// byte pairs, `#` starts a comment, code-fence lines are skipped.
fn spec_example_bytes() -> Vec<u8> {
    spec_bytes_between("example-module")
}

/// The hex between the `<!-- {marker}:begin -->` and `:end` markers of `format.md`.
fn spec_bytes_between(marker: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bytecode-spec/format.md");
    let spec = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let begin = spec.find(&format!("<!-- {marker}:begin -->")).expect("begin marker in format.md");
    let end = spec.find(&format!("<!-- {marker}:end -->")).expect("end marker in format.md");
    let mut bytes = Vec::new();
    for (i, line) in spec[begin..end].lines().skip(1).enumerate() {
        if line.trim_start().starts_with("```") {
            continue;
        }
        let data = line.split('#').next().unwrap_or("");
        for pair in data.split_whitespace() {
            let byte = u8::from_str_radix(pair, 16)
                .unwrap_or_else(|_| panic!("format.md example, line {} after the marker: bad hex `{pair}`", i + 1));
            bytes.push(byte);
        }
    }
    bytes
}

#[test]
fn the_spec_example_decodes_to_the_ping_pong_module() {
    let bytes = spec_example_bytes();
    let m = decode(&bytes).unwrap_or_else(|e| panic!("format.md example does not decode: {e}"));
    assert_eq!(m, ping_pong());
    assert_eq!(m.sym(m.procs[m.entry as usize].name), "main");
    assert!(matches!(m.procs[0].code[0], Instr::Open { ref roles, .. } if roles == &[SymId(1), SymId(2)]));
    assert_eq!(encode(&m), bytes, "re-encoding the spec example must give the same bytes");
}

#[test]
fn the_spec_debug_example_decodes_to_the_mapped_module() {
    let mut bytes = spec_example_bytes();
    bytes.extend(spec_bytes_between("example-debug"));
    let m = decode(&bytes).unwrap_or_else(|e| panic!("format.md debug example does not decode: {e}"));
    let debug = m.debug.as_ref().expect("a debug section");
    assert_eq!(debug.files, ["pp.canon"]);
    assert_eq!(m.source_of(0, 0), None, "main is unmapped");
    let loc = m.source_of(1, 1).expect("role_a's send is mapped").to_string();
    assert_eq!(loc, "pp.canon:2:3 `Ping(Int) from A to B;`");
    assert_eq!(Module { debug: None, ..m.clone() }, ping_pong());
    assert_eq!(m.digest(), ping_pong().digest(), "the digest leaves the debug section out");
    assert_eq!(encode(&m), bytes);
}
