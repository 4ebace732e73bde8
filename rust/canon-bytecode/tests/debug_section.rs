//! The optional debug section (source map): round trip, digest, verifier
//! independence, and typed errors for hostile input at every named limit.

mod verify_common;

use canon_bytecode::{
    DebugInfo, DecodeError, MAX_DEBUG_FILE_NAME_BYTES, MAX_DEBUG_STATEMENT_BYTES, Module, NO_SPAN, SourceSpan, decode,
    encode, verify,
};
use proptest::prelude::*;
use verify_common::ping_pong;

/// `ping_pong` with a source map: every instruction of every procedure maps
/// to a span, except the last instruction of each procedure.
fn mapped() -> Module {
    let mut m = ping_pong();
    let spans = vec![
        SourceSpan::new(0, 1, 1, "global protocol P(role A, role B)"),
        SourceSpan::new(0, 2, 5, "Ping(Int) from A to B;"),
        SourceSpan::new(0, 3, 5, "Pong(Int) from B to A;"),
    ];
    let procs = m
        .procs
        .iter()
        .enumerate()
        .map(|(p, proc)| {
            let n = proc.code.len();
            (0..n).map(|pc| if pc + 1 == n { NO_SPAN } else { ((p + pc) % 3) as u32 }).collect()
        })
        .collect();
    m.debug = Some(DebugInfo { files: vec!["p.canon".into()], spans, procs });
    m
}

/// Offset of the debug section's body in `encode(m)`.
fn debug_body_at(m: &Module) -> usize {
    let without = Module { debug: None, ..m.clone() };
    encode(&without).len() + 5
}

#[test]
fn round_trips_and_locates() {
    let m = mapped();
    let bytes = encode(&m);
    assert_eq!(decode(&bytes), Ok(m.clone()));
    assert_eq!(encode(&decode(&bytes).unwrap()), bytes);
    let loc = m.source_of(1, 0).expect("instruction 0 of proc 1 is mapped");
    assert_eq!(loc.to_string(), "p.canon:2:5 `Ping(Int) from A to B;`");
    let last = m.procs[1].code.len() as u32 - 1;
    assert_eq!(m.source_of(1, last), None, "NO_SPAN has no position");
    assert_eq!(m.source_of(1, 999), None);
    assert_eq!(m.source_of(99, 0), None);
    assert_eq!(ping_pong().source_of(1, 0), None, "no debug section, no position");
}

#[test]
fn the_digest_leaves_the_debug_section_out() {
    let (with, without) = (mapped(), ping_pong());
    assert_ne!(encode(&with), encode(&without));
    assert_eq!(with.digest(), without.digest());
    let mut other = mapped();
    other.debug.as_mut().unwrap().spans[0].line = 40;
    assert_eq!(other.digest(), without.digest());
}

#[test]
fn the_verifier_ignores_the_debug_section() {
    let program = verify(mapped()).expect("a mapped module verifies");
    assert_eq!(program.digest(), verify(ping_pong()).unwrap().digest());
    // A map with no procedure lists would be refused by decode, but verify
    // never looks at it.
    let mut m = ping_pong();
    m.debug = Some(DebugInfo::default());
    verify(m).expect("verify does not read debug info");
}

#[test]
fn statement_text_is_collapsed_and_shortened_to_the_limit() {
    let s = SourceSpan::new(0, 1, 1, "Bid(Int)\n   from  A\tto B;");
    assert_eq!(s.statement, "Bid(Int) from A to B;");
    let long = "é".repeat(MAX_DEBUG_STATEMENT_BYTES);
    let s = SourceSpan::new(0, 1, 1, &long);
    assert!(s.statement.len() <= MAX_DEBUG_STATEMENT_BYTES);
    assert!(s.statement.ends_with('…'));
    let exact = "x".repeat(MAX_DEBUG_STATEMENT_BYTES);
    assert_eq!(SourceSpan::new(0, 1, 1, &exact).statement, exact);
}

#[test]
fn statement_limit_edges() {
    let mut m = mapped();
    let at_limit = "x".repeat(MAX_DEBUG_STATEMENT_BYTES);
    m.debug.as_mut().unwrap().spans[0].statement = at_limit;
    assert_eq!(decode(&encode(&m)), Ok(m.clone()));
    m.debug.as_mut().unwrap().spans[0].statement.push('x');
    // files: count 4 + (len 4 + 7 bytes); span 0: file, line, col (12), then the statement length.
    let at = debug_body_at(&m) + 4 + 4 + 7 + 4 + 12;
    assert_eq!(
        decode(&encode(&m)),
        Err(DecodeError::DebugLimit {
            offset: at,
            what: "statement",
            len: MAX_DEBUG_STATEMENT_BYTES as u32 + 1,
            max: MAX_DEBUG_STATEMENT_BYTES
        })
    );
}

#[test]
fn file_name_limit_edges() {
    let mut m = mapped();
    m.debug.as_mut().unwrap().files[0] = "f".repeat(MAX_DEBUG_FILE_NAME_BYTES);
    assert_eq!(decode(&encode(&m)), Ok(m.clone()));
    m.debug.as_mut().unwrap().files[0].push('f');
    let at = debug_body_at(&m) + 4;
    let err = decode(&encode(&m)).unwrap_err();
    assert_eq!(
        err,
        DecodeError::DebugLimit {
            offset: at,
            what: "file name",
            len: MAX_DEBUG_FILE_NAME_BYTES as u32 + 1,
            max: MAX_DEBUG_FILE_NAME_BYTES
        }
    );
}

#[test]
fn indices_must_point_inside_the_map() {
    let mut m = mapped();
    m.debug.as_mut().unwrap().spans[1].file = 1;
    assert!(matches!(
        decode(&encode(&m)),
        Err(DecodeError::DebugMismatch { what: "file index", found: 1, bound: 1, .. })
    ));

    let mut m = mapped();
    m.debug.as_mut().unwrap().procs[2][0] = 3;
    assert!(matches!(
        decode(&encode(&m)),
        Err(DecodeError::DebugMismatch { what: "span index", found: 3, bound: 3, .. })
    ));

    let mut m = mapped();
    m.debug.as_mut().unwrap().procs[1].push(NO_SPAN);
    let code_len = m.procs[1].code.len() as u32;
    let err = decode(&encode(&m)).unwrap_err();
    let longer = DecodeError::DebugMismatch {
        offset: err.offset(),
        what: "instruction map length",
        found: code_len + 1,
        bound: code_len,
    };
    assert_eq!(err, longer);

    let mut m = mapped();
    m.debug.as_mut().unwrap().procs.pop();
    let err = decode(&encode(&m)).unwrap_err();
    assert!(matches!(err, DecodeError::DebugMismatch { what: "procedure map count", found: 2, bound: 3, .. }), "{err}");

    let mut m = mapped();
    m.debug.as_mut().unwrap().procs.push(vec![]);
    let err = decode(&encode(&m)).unwrap_err();
    assert!(matches!(err, DecodeError::DebugMismatch { what: "procedure map count", found: 4, bound: 3, .. }), "{err}");

    let mut m = mapped();
    m.debug.as_mut().unwrap().spans[0].line = 0;
    assert!(matches!(decode(&encode(&m)), Err(DecodeError::NonCanonical { .. })));
}

#[test]
fn bytes_after_the_debug_section_and_a_second_one_are_refused() {
    let mut bytes = encode(&mapped());
    let len = bytes.len();
    bytes.push(0);
    assert_eq!(decode(&bytes), Err(DecodeError::TrailingBytes { offset: len, count: 1 }));
    let mut twice = encode(&mapped());
    let debug = twice[debug_body_at(&mapped()) - 5..].to_vec();
    twice.extend_from_slice(&debug);
    assert_eq!(decode(&twice), Err(DecodeError::TrailingBytes { offset: len, count: debug.len() }));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every truncation and every single-byte change of a mapped module
    /// decodes to a typed error or to a module that re-encodes to the same
    /// bytes; never a panic.
    #[test]
    fn hostile_debug_bytes_get_typed_errors(cut in 0usize..4096, at in 0usize..4096, byte in any::<u8>()) {
        let bytes = encode(&mapped());
        let start = debug_body_at(&mapped()) - 5;
        let cut = start + cut % (bytes.len() - start);
        if let Ok(m) = decode(&bytes[..cut]) {
            prop_assert_eq!(encode(&m), bytes[..cut].to_vec());
        }
        let mut changed = bytes.clone();
        let at = start + at % (bytes.len() - start);
        changed[at] = byte;
        if let Ok(m) = decode(&changed) {
            prop_assert_eq!(encode(&m), changed);
        }
    }
}
