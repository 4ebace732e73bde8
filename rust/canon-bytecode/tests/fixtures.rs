//! Data-driven tests over `fixtures/asm/*.casm`: every fixture assembles, its
//! encoding equals the stored `NAME.cbc`, decoding that file gives the same
//! module, its disassembly equals the golden `NAME.disasm`, and it passes the
//! verifier (the faulting and stalling fixtures fail only at run time).
//!
//! `CANON_BLESS=1 cargo test -p canon-bytecode --test fixtures` rewrites the
//! `.cbc` and `.disasm` files; review the diff before committing.

use std::fs;
use std::path::{Path, PathBuf};

use canon_bytecode::{Module, assemble, decode, disassemble, encode, verify};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/asm")
}

fn blessing() -> bool {
    std::env::var_os("CANON_BLESS").is_some_and(|v| v == "1")
}

/// The `.casm` fixtures, sorted by name.
fn sources() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(fixture_dir())
        .expect("fixtures/asm exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "casm"))
        .collect();
    paths.sort();
    paths
}

/// A readable report of the first difference between two texts.
fn text_diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let at = e.iter().zip(&a).position(|(x, y)| x != y).unwrap_or(e.len().min(a.len()));
    let show = |lines: &[&str]| {
        lines.iter().skip(at.saturating_sub(2)).take(5).map(|l| format!("    {l}\n")).collect::<String>()
    };
    format!("first difference at line {}\n  expected:\n{}  actual:\n{}", at + 1, show(&e), show(&a))
}

/// Compares `actual` with the golden file at `path`, or rewrites it when blessing.
fn check_golden(path: &Path, actual: &[u8], describe: impl Fn(&[u8], &[u8]) -> String) -> Result<(), String> {
    if blessing() {
        fs::write(path, actual).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(());
    }
    let expected = fs::read(path).map_err(|e| format!("{}: {e} (run with CANON_BLESS=1)", path.display()))?;
    if expected == actual {
        Ok(())
    } else {
        Err(format!("{} is stale (CANON_BLESS=1 to update): {}", path.display(), describe(&expected, actual)))
    }
}

fn byte_diff(expected: &[u8], actual: &[u8]) -> String {
    let at = expected.iter().zip(actual).position(|(x, y)| x != y).unwrap_or(expected.len().min(actual.len()));
    format!("first differing byte at offset {at} (expected {} bytes, got {})", expected.len(), actual.len())
}

fn check_fixture(casm: &Path) -> Result<Module, String> {
    let name = casm.display();
    let src = fs::read_to_string(casm).map_err(|e| format!("{name}: {e}"))?;
    let header = src.lines().next().unwrap_or_default();
    let expect =
        header.strip_prefix("; expect: ").ok_or_else(|| format!("{name}: first line must be `; expect: ...`"))?;
    let fault_code =
        |code: &str| code.len() == 4 && (code.starts_with('3') || code.starts_with('4')) && code.parse::<u16>().is_ok();
    if !(expect == "ok"
        || expect == "stalled"
        || expect == "cancelled"
        || expect.strip_prefix("fault ").is_some_and(fault_code))
    {
        return Err(format!("{name}: unknown expectation `{expect}`"));
    }
    let module = assemble(&src).map_err(|e| format!("{name}:{e}"))?;
    let bytes = encode(&module);
    check_golden(&casm.with_extension("cbc"), &bytes, byte_diff)?;
    let stored = fs::read(casm.with_extension("cbc")).map_err(|e| format!("{name}: {e}"))?;
    let decoded = decode(&stored).map_err(|e| format!("{name}: stored .cbc does not decode: {e}"))?;
    if decoded != module {
        return Err(format!("{name}: decoding the stored .cbc gives a different module"));
    }
    let text = disassemble(&module);
    check_golden(&casm.with_extension("disasm"), text.as_bytes(), |e, a| {
        text_diff(&String::from_utf8_lossy(e), &String::from_utf8_lossy(a))
    })?;
    match assemble(&text) {
        Ok(again) if again == module => {
            // Every fixture, the faulting and stalling ones included, is a verified program.
            verify(module.clone()).map_err(|e| format!("{name}: rejected by the verifier: {e}"))?;
            Ok(module)
        }
        Ok(_) => Err(format!("{name}: the disassembly assembles to a different module")),
        Err(e) => Err(format!("{name}: the disassembly does not assemble: {e}")),
    }
}

#[test]
fn every_fixture_assembles_encodes_and_disassembles_to_its_golden_files() {
    let sources = sources();
    assert!(sources.len() >= 6, "expected at least 6 fixtures in fixtures/asm, found {}", sources.len());
    let failures: Vec<String> = sources.iter().filter_map(|p| check_fixture(p).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_golden_file_has_a_source() {
    for entry in fs::read_dir(fixture_dir()).expect("fixtures/asm exists") {
        let path = entry.expect("readable directory entry").path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        assert!(["casm", "cbc", "disasm"].contains(&ext), "unexpected file {}", path.display());
        assert!(path.with_extension("casm").exists(), "{} has no .casm source", path.display());
    }
}
