//! The Scribble/nuscr compatibility corpus, `tests/compat/`:
//!
//! - `accept/`: protocols Scribble or nuscr accept. Every protocol of the
//!   file (and of the modules it imports) must check, project and compile;
//!   the local protocols of every role must equal the insta snapshot
//!   `NAME.proj.snap` beside the file, and the Graphviz output must be the
//!   same on every load.
//! - `reject/`: protocols Scribble or nuscr reject. canon must reject them
//!   too, with the rendered diagnostics of the snapshot `NAME.diag.snap`.
//! - `refused/`: protocols Scribble accepts but canon does not support
//!   (see the compatibility table in docs/language.md): refused with the
//!   diagnostics of `NAME.diag.snap`.
//!
//! Imports resolve under each file's module root (`tests/compat/` for
//! `module app.X;`), where `lib/` holds the imported modules.
//!
//! A changed output (or a new file) fails the test and leaves
//! `NAME.KIND.snap.new` beside the file: review and accept it with `cargo
//! insta review` (or `INSTA_UPDATE=always cargo test -p canon-choreo --test
//! compat_corpus`, then read `git diff tests/compat/`).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use canon_choreo::{Choreography, ImportPaths, check_protocols, load_for_check};
use canon_types::project_all;

/// Relative to the crate directory (the test's working directory), so the
/// paths in rendered diagnostics are the same on every machine.
fn corpus_dir(kind: &str) -> PathBuf {
    Path::new("../../tests/compat").join(kind)
}

fn files(kind: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(corpus_dir(kind))
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "scr" || e == "nuscr" || e == "canon"))
        .collect();
    out.sort();
    out
}

/// Loads `path` for checking, then checks every protocol: `Ok` with the
/// choreography, or the rendered diagnostics.
fn check(path: &Path) -> Result<Choreography, String> {
    let src = fs::read_to_string(path).expect("readable corpus file");
    let choreo = load_for_check(path, &src, None, &ImportPaths::default()).map_err(|d| d.render())?;
    let mut failures = Vec::new();
    for report in check_protocols(&choreo) {
        if let Err(d) = report.outcome {
            // An imported protocol's failure shows its module's file and lines.
            failures.push(choreo.diagnostics_in(report.file, vec![d]).render());
        }
    }
    if failures.is_empty() { Ok(choreo) } else { Err(failures.join("\n")) }
}

/// The local protocols of every role of every non-`aux` protocol.
fn projections(c: &Choreography) -> Result<String, String> {
    let mut out = String::new();
    for p in c.protocols.iter().filter(|p| !p.aux) {
        let all = project_all(&p.protocol).map_err(|e| format!("{}: {e}", p.protocol.name))?;
        for (role, ty) in &all {
            out.push_str(&canon_types::pretty::pretty_local(&p.protocol.name, role, ty));
        }
    }
    Ok(out)
}

fn dots(c: &Choreography) -> String {
    let mut out = String::new();
    for p in c.protocols.iter().filter(|p| !p.aux) {
        if let Ok(all) = project_all(&p.protocol) {
            out.push_str(&canon_types::dot::dot_all(&p.protocol.name, &all));
        }
    }
    out
}

#[test]
fn every_accepted_protocol_checks_and_projects_as_its_snapshot() {
    let files = files("accept");
    assert!(files.len() >= 80, "expected at least 80 accepted protocols, found {}", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let c = match check(path) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{}: refused\n{e}", path.display()));
                continue;
            }
        };
        match projections(&c) {
            Ok(text) => common::assert_beside(path, "proj", &text, &mut failures),
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
        let again = check(path).expect("a second load checks too");
        assert_eq!(dots(&c), dots(&again), "{}: dot output differs between loads", path.display());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn every_refusal_matches_its_snapshot(kind: &str, at_least: usize) {
    let files = files(kind);
    assert!(files.len() >= at_least, "expected at least {at_least} protocols in {kind}/, found {}", files.len());
    let mut failures = Vec::new();
    for path in &files {
        match check(path) {
            Ok(_) => failures.push(format!("{}: accepted, expected a refusal", path.display())),
            Err(text) => {
                assert!(text.contains("error[E6"), "{}: not a choreography diagnostic\n{text}", path.display());
                common::assert_beside(path, "diag", &text, &mut failures);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_rejected_protocol_is_refused_with_its_snapshot_diagnostic() {
    every_refusal_matches_its_snapshot("reject", 40);
}

#[test]
fn every_unsupported_construct_is_refused_with_its_snapshot_diagnostic() {
    every_refusal_matches_its_snapshot("refused", 1);
}

/// A protocol that fails inside an imported module is reported with that
/// module's path, line and source excerpt, by `check_protocols` and by
/// `projection_failures` alike (the importing file's own text would point
/// at the wrong lines).
#[test]
fn an_error_inside_an_imported_module_names_its_file_line_and_excerpt() {
    let path = corpus_dir("reject").join("154_error_inside_an_imported_module.scr");
    let src = fs::read_to_string(&path).expect("readable corpus file");
    let choreo = load_for_check(&path, &src, None, &ImportPaths::default()).expect("loads");
    let module = Path::new("../../tests/compat/lib/Unprojectable.scr");
    assert_eq!(choreo.sources.len(), 2, "the file and its one module");
    assert_eq!(Path::new(&choreo.sources[1].name), module);
    let report = check_protocols(&choreo).into_iter().find(|r| r.name == "lib.Unprojectable.Untold").expect("listed");
    assert!(report.imported && report.file == 1, "{report:?}");
    let d = report.outcome.expect_err("C is never told");
    let rendered = choreo.diagnostics_in(report.file, vec![d]).render();
    let at = format!(" --> {}:5:3\n", module.display());
    assert!(rendered.contains(&at), "{rendered}");
    assert!(rendered.contains("5 |   choice at A {\n"), "{rendered}");
    let failures = canon_choreo::projection_failures(&choreo);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].file_name, choreo.sources[1].name);
    assert!(failures[0].render().contains(&at), "{}", failures[0].render());
    // The diagnostic's own position is the module's line 5, not the importing file's.
    assert_eq!(failures[0].line_col(failures[0].items[0].span.start), (5, 3));
}

/// Every snapshot has its protocol, and no hand-written golden is left
/// (outputs are insta snapshots).
#[test]
fn every_snapshot_has_its_protocol() {
    for kind in ["accept", "reject", "refused"] {
        let orphans = common::orphans(&corpus_dir(kind), &["proj", "diag"], &["scr", "nuscr", "canon"]);
        assert!(orphans.is_empty(), "snapshots without a protocol, or old goldens (delete them): {orphans:?}");
    }
}

/// The rows of the compatibility table in docs/language.md: example path
/// and expected diagnostic code (`None` for "accepted").
fn table_rows() -> Vec<(String, Option<String>)> {
    let doc = fs::read_to_string("../../docs/language.md").expect("docs/language.md");
    let start = doc.find("## Compatibility with Scribble and nuscr").expect("the compatibility section");
    let section = &doc[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let mut rows = Vec::new();
    for line in section[..end].lines().filter(|l| l.starts_with("| ") && !l.starts_with("| construct")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 5, "a compatibility row has 5 cells: {line}");
        let example = cells[3].trim_matches('`').to_owned();
        let code = if cells[4] == "—" { None } else { Some(cells[4].to_owned()) };
        rows.push((example, code));
    }
    rows
}

#[test]
fn every_example_of_the_compatibility_table_has_the_stated_outcome() {
    let rows = table_rows();
    assert!(rows.len() >= 40, "the compatibility table lists {} constructs", rows.len());
    for (example, code) in rows {
        let path = Path::new("../../tests/compat").join(&example);
        assert!(path.exists(), "the table names a missing example {example}");
        match (check(&path), code) {
            (Ok(_), None) => {}
            (Err(text), Some(code)) => {
                assert!(text.contains(&format!("error[{code}]")), "{example}: not {code}\n{text}")
            }
            (Ok(_), Some(code)) => panic!("{example}: accepted, the table says {code}"),
            (Err(text), None) => panic!("{example}: refused, the table says accepted\n{text}"),
        }
    }
}

/// Every prefix of every corpus file (a protocol cut off anywhere) is
/// refused or accepted with diagnostics, never a panic.
#[test]
fn every_truncated_corpus_file_fails_cleanly() {
    let mut loads = 0;
    for kind in ["accept", "reject", "refused"] {
        for path in files(kind) {
            let src = fs::read_to_string(&path).expect("readable corpus file");
            for end in (0..src.len()).filter(|&i| src.is_char_boundary(i)) {
                if let Ok(c) = canon_choreo::load("cut.scr", &src[..end], None) {
                    let _ = check_protocols(&c);
                }
                loads += 1;
            }
        }
    }
    assert!(loads > 10_000, "only {loads} truncated loads");
}
