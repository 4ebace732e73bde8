//! Fuzz target: the choreography front end — parse, elaborate, project and
//! compile — never panics, and whatever it compiles verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let Ok(choreo) = canon_choreo::load("fuzz.canon", src, None) else { return };
    if !canon_choreo::projection_diagnostics(&choreo).is_empty() {
        return;
    }
    if let Ok(module) = canon_choreo::compile_choreography(&choreo) {
        if let Err(e) = canon_bytecode::verify(module) {
            panic!("a compiled choreography does not verify: {e}\n{src}");
        }
    }
});
