//! Fuzz target: `decode` never panics, names an offset inside the input, and
//! accepts only canonical encodings (`encode(decode(b)) == b`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match canon_bytecode::decode(data) {
        Ok(module) => assert_eq!(canon_bytecode::encode(&module), data, "accepted bytes must be canonical"),
        Err(err) => assert!(err.offset() <= data.len(), "{err}: offset past the end of {} bytes", data.len()),
    }
});
