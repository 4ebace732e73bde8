//! A choice among peers (type node `choose`, tag 0x05): it encodes and
//! disassembles round trip, and the verifier accepts `select`/`produce`/`send`
//! on it by label (each label goes to its arm's peer) and refuses what the
//! type does not allow.

use canon_bytecode::{assemble, decode, disassemble, encode, verify};
use canon_types::ErrorCode;

const CHOOSE: &str = include_str!("../../../tests/differential/choose.casm");

#[test]
fn a_choose_module_round_trips_and_verifies() {
    let m = assemble(CHOOSE).unwrap();
    assert_eq!(decode(&encode(&m)).unwrap(), m);
    assert_eq!(assemble(&disassemble(&m)).unwrap(), m);
    assert!(disassemble(&m).contains("choose {"), "{}", disassemble(&m));
    verify(m).unwrap();
}

/// `CHOOSE` with one line of A's procedure replaced.
fn with_a_line(old: &str, new: &str) -> Result<(), u16> {
    assert!(CHOOSE.contains(old), "{old}");
    let m = assemble(&CHOOSE.replacen(old, new, 1)).unwrap();
    verify(m).map(|_| ()).map_err(|e| e.code())
}

#[test]
fn the_verifier_checks_sends_on_a_choose_by_label() {
    // In the Quit arm, sending Ok takes the B arm of the choose instead; the
    // second `produce Quit` is then at `C!Ok`, which does not offer it.
    assert_eq!(with_a_line("    send r0, Quit, r1\n", "    send r0, Ok, r1\n"), Err(2034));
    // A select arm the choose does not offer.
    assert_eq!(
        with_a_line("    select r0, [Ok -> ok, Quit -> quit]\n", "    select r0, [Ok -> ok, Nope -> quit]\n"),
        Err(2034)
    );
    // Receiving or closing where the type chooses.
    assert_eq!(with_a_line("    select r0, [Ok -> ok, Quit -> quit]\n", "    recv r0, Ok, r1\n    halt\n"), Err(2033));
    assert_eq!(with_a_line("    select r0, [Ok -> ok, Quit -> quit]\n", "    close r0\n    halt\n"), Err(2036));
}

const SELECT_TO: &str = include_str!("../../../tests/differential/select_to.casm");

/// A choice among peers whose arms share a label: `select_to` (opcode 0x26)
/// encodes, decodes and disassembles round trip and verifies, and a label
/// alone is refused where two arms send it.
#[test]
fn a_select_to_module_round_trips_and_verifies() {
    let m = assemble(SELECT_TO).unwrap();
    let bytes = encode(&m);
    assert_eq!(decode(&bytes).unwrap(), m);
    assert_eq!(encode(&decode(&bytes).unwrap()), bytes);
    let text = disassemble(&m);
    assert!(text.contains("select_to r0, [B Win -> L1, C Win -> L7]"), "{text}");
    assert_eq!(assemble(&text).unwrap(), m);
    verify(m).unwrap();
    let with = |old: &str, new: &str| {
        assert!(SELECT_TO.contains(old), "{old}");
        verify(assemble(&SELECT_TO.replacen(old, new, 1)).unwrap()).map(|_| ()).map_err(|e| e.code())
    };
    let select_to = "    select_to r0, [B Win -> b, C Win -> c]\n";
    // By label alone, `Win` names no arm.
    assert_eq!(with(select_to, "    select r0, [Win -> b]\n"), Err(2046));
    // One (receiver, label) pair twice; a pair the type does not send.
    assert_eq!(with(select_to, "    select_to r0, [B Win -> b, B Win -> c]\n"), Err(2027));
    assert_eq!(with(select_to, "    select_to r0, [B Win -> b, C Lose -> c]\n"), Err(2034));
    // The same label to two receivers in different arms is fine.
    assert_eq!(with(select_to, "    select_to r0, [C Win -> c, B Win -> b]\n"), Ok(()));
}
