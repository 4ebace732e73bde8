//! Fuzz target: replay decode and signature verification never panic; a
//! decoded replay's error-free re-encoding is not required (the writer owns
//! block boundaries), but decoding is deterministic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(replay) = canon_replay::Replay::decode(data) else { return };
    let again = canon_replay::Replay::decode(data).expect("decoding is deterministic");
    assert_eq!(replay.root, again.root);
    let run = canon_machine::run_identity(&replay.header.program_digest, &replay.header.config_digest());
    let _ = canon_machine::verify_signatures(&run, &replay.events);
    let _ = canon_machine::cross_check(&run, &replay.header.config, &replay.events);
    let _ = canon_replay::render_text(&replay);
});
