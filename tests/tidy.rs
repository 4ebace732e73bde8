//! Repository-wide rules, checked in `cargo test` (STYLE.md 20).

use std::fs;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/` trees of every crate under `rust/` (shipped code, not tests/benches).
fn shipped_sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut crates: Vec<_> = fs::read_dir(repo_root().join("rust")).unwrap().filter_map(Result::ok).collect();
    crates.sort_by_key(|e| e.path());
    for krate in crates {
        rust_sources(&krate.path().join("src"), &mut out);
    }
    assert!(out.len() > 10, "expected the crates' sources, found {}", out.len());
    out
}

/// Lines of `src` that are code, not comments (good enough for these rules).
fn code_lines(src: &str) -> impl Iterator<Item = (usize, &str)> {
    src.lines().enumerate().filter(|(_, l)| {
        let t = l.trim_start();
        !(t.starts_with("//") || t.starts_with("///") || t.starts_with("//!") || t.starts_with('*'))
    })
}

#[test]
fn no_placeholders_or_debug_macros_in_shipped_code() {
    let banned = ["todo!(", "unimplemented!(", "dbg!(", "include!("];
    let mut hits = Vec::new();
    for path in shipped_sources() {
        let src = fs::read_to_string(&path).unwrap();
        for (i, line) in code_lines(&src) {
            for b in banned {
                if line.contains(b) {
                    hits.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(hits.is_empty(), "banned macros in shipped code:\n{}", hits.join("\n"));
}

/// Hex is written by one helper, `canon_types::hex` (`hex`, `Hex`): no
/// hand-written per-byte `{:02x}` loop elsewhere in shipped code.
#[test]
fn one_hex_encoder() {
    let mut hits = Vec::new();
    for path in shipped_sources() {
        let rel =
            path.strip_prefix(repo_root().join("rust")).expect("under rust/").to_string_lossy().replace('\\', "/");
        if rel == "canon-types/src/hex.rs" {
            continue;
        }
        let src = fs::read_to_string(&path).unwrap();
        for (i, line) in code_lines(&src) {
            let per_byte = line.contains(".map(") || line.contains("for_each(");
            if (line.contains("02x}") || line.contains("02X}")) && per_byte {
                hits.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(hits.is_empty(), "hex through canon_types::hex:\n{}", hits.join("\n"));
}

#[test]
fn no_hash_collections_in_canonical_crates() {
    let canonical = ["canon-types", "canon-bytecode", "canon-choreo", "canon-machine", "canon-replay", "canon-runtime"];
    let mut hits = Vec::new();
    for path in shipped_sources() {
        let in_canonical = canonical.iter().any(|c| path.components().any(|p| p.as_os_str() == *c));
        if !in_canonical {
            continue;
        }
        let src = fs::read_to_string(&path).unwrap();
        for (i, line) in code_lines(&src) {
            if line.contains("HashMap") || line.contains("HashSet") {
                hits.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(hits.is_empty(), "hash collections in canonical crates:\n{}", hits.join("\n"));
}

#[test]
fn every_opcode_is_in_the_spec_table() {
    let spec = fs::read_to_string(repo_root().join("bytecode-spec/format.md")).expect("bytecode-spec/format.md");
    let mut missing = Vec::new();
    for (op, mnemonic, _) in canon_bytecode::OPCODES {
        let row = format!("| 0x{:02X} | {mnemonic} |", *op as u8);
        let row_lower = format!("| 0x{:02x} | {mnemonic} |", *op as u8);
        let row_code = format!("| 0x{:02X} | `{mnemonic}` |", *op as u8);
        if !(spec.contains(&row) || spec.contains(&row_lower) || spec.contains(&row_code)) {
            missing.push(row);
        }
    }
    assert!(missing.is_empty(), "opcodes missing from bytecode-spec/format.md's table:\n{}", missing.join("\n"));
}

#[test]
fn no_source_file_is_huge() {
    let mut big = Vec::new();
    for path in shipped_sources() {
        let lines = fs::read_to_string(&path).unwrap().lines().count();
        if lines > 1000 {
            big.push(format!("{} ({lines} lines)", path.display()));
        }
    }
    assert!(big.is_empty(), "split these files along a seam:\n{}", big.join("\n"));
}
