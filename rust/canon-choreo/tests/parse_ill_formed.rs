//! Data-driven test: every `fixtures/choreo/ill_formed/NAME.canon` must be
//! rejected by [`canon_choreo::check_source`], and its rendered diagnostics
//! must equal the insta snapshot `NAME.diag.snap` beside it. A changed
//! rendering (or a new fixture) fails and leaves `NAME.diag.snap.new`: review
//! and accept it with `cargo insta review` (or `INSTA_UPDATE=always cargo test
//! -p canon-choreo --test parse_ill_formed`, then read the diff).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/choreo/ill_formed")
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(fixture_dir())
        .expect("fixtures/choreo/ill_formed exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "canon"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_ill_formed_fixture_matches_its_snapshot_diagnostics() {
    let files = fixtures();
    assert!(files.len() >= 10, "expected at least 10 ill-formed fixtures, found {}", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8 file name");
        let src = fs::read_to_string(path).expect("readable fixture");
        let rendered = match canon_choreo::check_source(name, &src) {
            Ok(_) => {
                failures.push(format!("{name}: accepted, but it is an ill-formed fixture"));
                continue;
            }
            Err(rendered) => rendered,
        };
        common::assert_beside(path, "diag", &rendered, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every snapshot has its fixture, and no hand-written `.diag` is left.
#[test]
fn every_snapshot_has_a_fixture() {
    let orphans = common::orphans(&fixture_dir(), &["diag"], &["canon"]);
    assert!(orphans.is_empty(), "snapshots without a fixture, or old goldens (delete them): {orphans:?}");
}

#[test]
fn each_owned_fixture_reports_exactly_one_error_with_its_code() {
    let expected: &[(&str, u16)] = &[
        ("do_arity", 6008),
        ("duplicate_buffer", 6015),
        ("duplicate_protocol", 6009),
        ("duplicate_role", 6004),
        ("empty_choice", 6011),
        ("invalid_buffer", 6016),
        ("invalid_token", 6002),
        ("misplaced_buffer", 6020),
        ("non_tail_recursive_do", 6018),
        ("self_send", 6005),
        ("syntax_error", 6001),
        ("unbound_continue", 6006),
        ("undefined_do", 6007),
        ("unknown_role", 6003),
        ("unreachable_after_continue", 6019),
        ("unterminated_comment", 6014),
        ("unused_role", 6010),
    ];
    for (name, code) in expected {
        let path = fixture_dir().join(format!("{name}.canon"));
        let src = fs::read_to_string(&path).expect("fixture exists");
        let err = canon_choreo::load(name, &src, None).expect_err(name);
        let codes: Vec<u16> = err.items.iter().map(|d| d.code).collect();
        assert_eq!(codes, [*code], "{name}:\n{}", err.render());
    }
}
