//! Scribble compatibility through the real `canon` binary: `check` reports
//! every protocol, imports resolve under the module root and `--import-path`,
//! multicast sends one value, and `project --format dot` is deterministic on
//! the compatibility corpus.

mod common;

use std::path::Path;

use common::{arg, canon, canon_in, repo_root, temp_dir};

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

#[test]
fn check_reports_every_protocol_and_compile_asks_for_one() {
    let dir = temp_dir("several");
    write(
        &dir,
        "two.scr",
        "global protocol First(role A, role B) { Ping() from A to B; }\n\
         global protocol Second(role A, role B) { Pong() from B to A; }\n",
    );
    canon_in(&dir, &["check", "two.scr"]).expect_code(0).stdout_has(&[
        "two.scr: ok: protocol First with 2 roles (A, B)",
        "two.scr: ok: protocol Second with 2 roles (A, B)",
    ]);
    let only = canon_in(&dir, &["check", "two.scr", "--protocol", "Second"]);
    only.expect_code(0).stdout_has(&["protocol Second"]);
    assert!(!only.stdout.contains("First"), "{only}");
    canon_in(&dir, &["compile", "two.scr"]).expect_clean_failure().stderr_has(&["E6012", "First, Second"]);
    canon_in(&dir, &["compile", "two.scr", "--protocol", "First"]).expect_code(0);
}

#[test]
fn check_reports_a_failing_protocol_and_still_lists_the_others() {
    let dir = temp_dir("one-bad");
    write(
        &dir,
        "mixed.scr",
        "global protocol Good(role A, role B) { Ping() from A to B; }\n\
         global protocol Bad(role A, role B, role C) {\n  choice at A { X() from A to B; } or { Y() from A to C; Y() from C to B; }\n}\n",
    );
    let o = canon_in(&dir, &["check", "mixed.scr"]);
    o.expect_clean_failure().stderr_has(&["error[E6105]", "while projecting protocol `Bad`"]);
    o.stdout_has(&["mixed.scr: ok: protocol Good"]);
}

#[test]
fn imports_resolve_under_the_module_root_and_the_import_path() {
    let dir = temp_dir("imports");
    write(
        &dir,
        "app/shop/Main.scr",
        "module shop.Main;\nimport shop.Pay;\nimport audit.Log as L;\n\
         global protocol Main(role B, role S) { Order() from B to S; do shop.Pay.Pay(B, S); do L.Log(S, B); }\n",
    );
    write(
        &dir,
        "app/shop/Pay.nuscr",
        "module shop.Pay;\nglobal protocol Pay(role P, role Q) { Card(int) from P to Q; }\n",
    );
    write(
        &dir,
        "vendor/audit/Log.canon",
        "module audit.Log;\nglobal protocol Log(role X, role Y) { Entry() from X to Y; }\n",
    );
    let missing = canon_in(&dir, &["check", "app/shop/Main.scr"]);
    missing.expect_clean_failure().stderr_has(&["E6023", "module `audit.Log` not found", "audit/Log.canon"]);
    canon_in(&dir, &["check", "app/shop/Main.scr", "--import-path", "vendor"]).expect_code(0).stdout_has(&[
        "ok: protocol Main",
        "ok: protocol shop.Pay.Pay",
        "ok: protocol audit.Log.Log",
    ]);
    canon_in(&dir, &["project", "app/shop/Main.scr", "--import-path", "vendor", "--role", "B"])
        .expect_code(0)
        .stdout_has(&["Order() to S;", "Card(int) to S;", "Entry() from S;"]);
}

/// An error inside an imported module is shown with the module's path, line
/// and excerpt, in the text and the JSON form, by every command that loads
/// the file: a projection failure (`check` lists it with the importing file's
/// protocols; `run` refuses the file), a parse error and an unknown role.
#[test]
fn an_error_inside_an_imported_module_shows_the_module_s_line_and_excerpt() {
    let dir = temp_dir("imported-error");
    write(
        &dir,
        "app/shop/Main.scr",
        "module shop.Main;\nimport lib.Bad;\n\nglobal protocol Main(role A, role B) {\n  Hello() from A to B;\n}\n",
    );
    write(
        &dir,
        "app/lib/Bad.scr",
        "module lib.Bad;\n\n// C is never told which branch A chose.\nglobal protocol Untold(role A, role B, role C) {\n  \
         choice at A {\n    Go() from A to B;\n    Go() from B to C;\n  } or {\n    Stop() from A to B;\n  }\n}\n",
    );
    let module = Path::new("app").join("lib").join("Bad.scr");
    let at = format!("--> {}:5:3", module.display());
    let check = canon_in(&dir, &["check", "app/shop/Main.scr"]);
    check.expect_clean_failure().stdout_has(&["app/shop/Main.scr: ok: protocol Main"]);
    check.stderr_has(&["error[E6105]", &at, "5 |   choice at A {", "in imported protocol `lib.Bad.Untold`"]);
    let run = canon_in(&dir, &["run", "app/shop/Main.scr", "-q"]);
    run.expect_clean_failure().stderr_has(&["error[E6105]", &at, "5 |   choice at A {"]);

    let json = canon_in(&dir, &["check", "app/shop/Main.scr", "--message-format", "json"]);
    json.expect_clean_failure();
    let line = json.stderr.lines().find(|l| l.contains("E6105")).expect("a JSON line for the failure");
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
    assert_eq!(v["file"], module.display().to_string(), "{line}");
    assert_eq!((v["line"].as_u64(), v["column"].as_u64()), (Some(5), Some(3)), "{line}");
    assert!(v["rendered"].as_str().is_some_and(|r| r.contains(&at)), "{line}");

    write(
        &dir,
        "app/lib/Bad.scr",
        "module lib.Bad;\nglobal protocol Untold(role A, role B) {\n  Go() from A to B\n}\n",
    );
    let parse = canon_in(&dir, &["check", "app/shop/Main.scr"]);
    parse.expect_clean_failure().stderr_has(&[
        "error[E6001]",
        &format!("--> {}:3:", module.display()),
        "Go() from A to B",
    ]);
    write(
        &dir,
        "app/lib/Bad.scr",
        "module lib.Bad;\nglobal protocol Untold(role A, role B) {\n  Go() from A to Bee;\n}\n",
    );
    let role = canon_in(&dir, &["check", "app/shop/Main.scr"]);
    role.expect_clean_failure().stderr_has(&[
        "error[E6003]",
        &format!("--> {}:3:", module.display()),
        "Go() from A to Bee;",
    ]);
}

#[test]
fn both_buyers_are_quoted_the_same_price() {
    let dir = temp_dir("quote");
    let replay = dir.join("tb.replay");
    let fixture = repo_root().join("fixtures/two_buyer.canon");
    canon(&["run".to_owned(), arg(&fixture), "--seed".to_owned(), "7".to_owned(), "-o".to_owned(), arg(&replay)])
        .expect_code(0);
    let shown = canon(&["replay".to_owned(), "show".to_owned(), arg(&replay)]);
    shown.expect_code(0);
    let quotes: Vec<&str> = shown.stdout.lines().filter(|l| l.contains("Received <- Seller Quote(")).collect();
    assert_eq!(quotes.len(), 2, "{shown}");
    let value = |l: &str| l.split("Quote(").nth(1).and_then(|r| r.split(')').next()).map(str::to_owned);
    assert_eq!(value(quotes[0]), value(quotes[1]), "{shown}");
    let produced = shown.stdout.lines().filter(|l| l.contains("HostAnswer produce Quote")).count();
    assert_eq!(produced, 1, "{shown}");
}

#[test]
fn project_dot_is_deterministic_on_the_corpus() {
    let dir = repo_root().join("tests/compat/accept");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "scr" || e == "nuscr"))
        .collect();
    files.sort();
    let mut projected = 0;
    for path in files {
        let args = ["project".to_owned(), arg(&path), "--format".to_owned(), "dot".to_owned()];
        let first = canon(&args);
        if first.code != Some(0) {
            // Files with several entry protocols need --protocol; `check` covers them.
            first.expect_clean_failure().stderr_has(&["E6012"]);
            continue;
        }
        let second = canon(&args);
        assert_eq!(first.stdout_bytes, second.stdout_bytes, "{}", path.display());
        assert!(first.stdout.starts_with("digraph"), "{first}");
        projected += 1;
    }
    assert!(projected >= 80, "projected {projected} corpus files");
}
