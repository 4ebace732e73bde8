//! `bytecode-spec/format.md` agrees with the code: every opcode row names its
//! mnemonic and group, and every decode error code is listed.

use std::path::Path;

use canon_bytecode::{DECODE_CODES, OPCODES};

fn spec() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bytecode-spec/format.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_opcode_row_has_its_number_mnemonic_and_group() {
    let spec = spec();
    let missing: Vec<String> = OPCODES
        .iter()
        .map(|(op, mnemonic, group)| format!("| 0x{:02X} | {mnemonic} | {group} |", *op as u8))
        .filter(|row| !spec.contains(row.as_str()))
        .collect();
    assert!(missing.is_empty(), "format.md's opcode table lacks:\n{}", missing.join("\n"));
}

#[test]
fn no_opcode_row_is_stale() {
    let spec = spec();
    for line in spec.lines().filter(|l| l.starts_with("| 0x")) {
        let hex = &line[4..6];
        let byte = u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad opcode row: {line}"));
        let mnemonic = line.split('|').nth(2).unwrap_or("").trim();
        let known = OPCODES.iter().any(|(op, m, _)| *op as u8 == byte && *m == mnemonic);
        assert!(known, "format.md lists an opcode the code does not have: {line}");
    }
}

#[test]
fn every_decode_code_is_listed() {
    let spec = spec();
    for entry in DECODE_CODES {
        let row = format!("| {} | {} |", entry.code, entry.name);
        assert!(spec.contains(&row), "format.md's decode error table lacks `{row}`");
    }
}
