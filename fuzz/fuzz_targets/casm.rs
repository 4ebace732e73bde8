//! Fuzz target: the `.casm` assembler never panics, and an assembled module
//! round-trips: encode → decode gives it back, and disassemble → assemble
//! gives a module with the same encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let Ok(module) = canon_bytecode::assemble(src) else { return };
    let bytes = canon_bytecode::encode(&module);
    let decoded = canon_bytecode::decode(&bytes).expect("an assembled module decodes");
    assert_eq!(decoded, module, "encode/decode round trip");
    let text = canon_bytecode::disassemble(&module);
    let again = canon_bytecode::assemble(&text).unwrap_or_else(|e| panic!("disassembly does not assemble: {e}\n{text}"));
    assert_eq!(canon_bytecode::encode(&again), bytes, "disassemble/assemble round trip\n{text}");
});
