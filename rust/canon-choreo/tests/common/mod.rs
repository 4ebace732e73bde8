//! Snapshots kept beside the file they were made from, for the data-driven
//! tests: `dir/NAME.KIND.snap` for the input `dir/NAME.EXT`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// The insta snapshot of kind `kind` (`proj`, `diag`) for `input`.
pub fn snapshot_path(input: &Path, kind: &str) -> PathBuf {
    input.with_extension(format!("{kind}.snap"))
}

/// Compares `got` with the snapshot `dir/NAME.KIND.snap` of `input`. A
/// mismatch or a missing snapshot leaves `NAME.KIND.snap.new` beside it (for
/// `cargo insta review`) and is recorded in `failures` instead of stopping the
/// test, so one run lists every changed file.
pub fn assert_beside(input: &Path, kind: &str, got: &str, failures: &mut Vec<String>) {
    let stem = input.file_stem().and_then(|s| s.to_str()).expect("a UTF-8 file name");
    // Absolute and without `..`, so the snapshot's header names the input
    // relative to the workspace root.
    let absolute = std::fs::canonicalize(input).expect("an existing input");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(absolute.parent().expect("a directory"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_input_file(&absolute);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(format!("{stem}.{kind}"), got));
    }));
    if outcome.is_err() {
        failures.push(format!(
            "{}: missing, or differs from the output (review with `cargo insta review`)",
            snapshot_path(input, kind).display()
        ));
    }
}

/// The snapshots (`*.snap`) in `dir` whose input (`NAME.EXT` for one of
/// `exts`) is gone, and any old-style golden (`NAME.KIND` without `.snap`).
pub fn orphans(dir: &Path, kinds: &[&str], exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("a UTF-8 file name").to_owned();
        if kinds.iter().any(|k| name.ends_with(&format!(".{k}"))) {
            out.push(path);
            continue;
        }
        let Some(base) = kinds.iter().find_map(|k| name.strip_suffix(&format!(".{k}.snap"))) else { continue };
        if !exts.iter().any(|e| dir.join(format!("{base}.{e}")).exists()) {
            out.push(path);
        }
    }
    out.sort();
    out
}
