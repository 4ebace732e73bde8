//! The verifier against the repository's own files: every `fixtures/asm/*.casm`
//! (and its `.cbc`) verifies, and `bytecode-spec/format.md` lists every verify
//! error code.

use std::fs;
use std::path::{Path, PathBuf};

use canon_bytecode::{VERIFY_CODES, assemble, decode, verify};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn casm_fixtures() -> Vec<PathBuf> {
    let dir = repo_root().join("fixtures/asm");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "casm"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_asm_fixture_verifies() {
    let paths = casm_fixtures();
    assert!(!paths.is_empty(), "no fixtures/asm/*.casm");
    let mut failures = Vec::new();
    for path in paths {
        let src = fs::read_to_string(&path).unwrap();
        let module = match assemble(&src) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{}: does not assemble: {e}", path.display()));
                continue;
            }
        };
        if let Err(e) = verify(module.clone()) {
            failures.push(format!("{}: {e}", path.display()));
        }
        if let Ok(bytes) = fs::read(path.with_extension("cbc")) {
            match decode(&bytes) {
                Ok(decoded) if decoded == module => {}
                Ok(_) => failures.push(format!("{}: .cbc differs from .casm", path.display())),
                Err(e) => failures.push(format!("{}: .cbc does not decode: {e}", path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "fixtures that do not verify:\n{}", failures.join("\n"));
}

#[test]
fn the_spec_lists_every_verify_code() {
    let spec = fs::read_to_string(repo_root().join("bytecode-spec/format.md")).unwrap();
    let missing: Vec<String> = VERIFY_CODES
        .iter()
        .map(|c| format!("| {} | {} |", c.code, c.name))
        .filter(|row| !spec.contains(row.as_str()))
        .collect();
    assert!(missing.is_empty(), "verify codes missing from bytecode-spec/format.md:\n{}", missing.join("\n"));
}
