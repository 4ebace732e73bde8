//! Data-driven tests over `fixtures/asm/*.casm`: every fixture assembles, its
//! encoding equals the stored `NAME.cbc`, decoding that file gives the same
//! module, its disassembly equals the insta snapshot `NAME.disasm.snap`, and
//! it passes the verifier (the faulting and stalling fixtures fail only at run
//! time).
//!
//! The `.cbc` files are inputs of other tests, the fuzz corpus and the specs'
//! examples, so they stay plain files: `CANON_BLESS=1 cargo test -p
//! canon-bytecode --test fixtures` rewrites them (review the diff before
//! committing). A changed disassembly fails and leaves `NAME.disasm.snap.new`:
//! review and accept it with `cargo insta review`.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
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

/// Compares `text` with the snapshot `NAME.disasm.snap` beside `casm`; a
/// mismatch leaves `NAME.disasm.snap.new` for `cargo insta review`.
fn check_disasm_snapshot(casm: &Path, text: &str) -> Result<(), String> {
    let stem = casm.file_stem().and_then(|s| s.to_str()).expect("a UTF-8 file name");
    let absolute = fs::canonicalize(casm).map_err(|e| format!("{}: {e}", casm.display()))?;
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(absolute.parent().expect("a directory"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_input_file(&absolute);
    catch_unwind(AssertUnwindSafe(|| settings.bind(|| insta::assert_snapshot!(format!("{stem}.disasm"), text))))
        .map_err(|_| {
            format!("{}: the disassembly differs from {stem}.disasm.snap (`cargo insta review`)", casm.display())
        })
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
    check_disasm_snapshot(casm, &text)?;
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
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let source = match name.strip_suffix(".disasm.snap") {
            Some(stem) => path.with_file_name(format!("{stem}.casm")),
            None => {
                assert!(
                    ["casm", "cbc"].contains(&ext),
                    "unexpected file {} (disassemblies are `.disasm.snap`)",
                    path.display()
                );
                path.with_extension("casm")
            }
        };
        assert!(source.exists(), "{} has no .casm source", path.display());
    }
}
