//! The documentation's shell examples are tests. Every shell block of
//! README.md and docs/*.md runs against the built `canon` binary, in a fresh
//! temporary directory per document that holds a copy of `fixtures/`, of
//! `tests/compat/` as `compat/`, and flat copies of `fixtures/asm/*.casm` and
//! `fixtures/*.canon`, and its shown
//! output is checked.
//!
//! A shell block is a fenced block tagged `sh`, `bash`, `shell` or `console`,
//! or any fenced block with a line starting with `$ ` or `canon ` (an
//! untagged block of commands must run too, or say why not). In it:
//! - `$ COMMAND` lines are run (through `bash -c`, stdout and stderr merged),
//!   and the lines up to the next `$ ` line are the output they must print;
//!   a command that exits non-zero shows `[exit N]` as its last output line
//!   (the exit code is always checked). An output line `...` stands for any
//!   number of lines.
//! - without `$ ` lines (a `sh` block), the whole block is one script run
//!   with `set -e`: it must exit 0; its output is not checked.
//!
//! Markers are HTML comments on the line right before the fence:
//! - `<!-- doc-test: skip REASON -->` opts a block out (the reason is
//!   required); a shell block with neither a command nor an opt-out fails.
//! - `<!-- doc-test: file NAME -->` writes the block's text to NAME in the
//!   document's directory before the commands after it run.
//!
//! `CANON_BLESS=1 cargo test -p canon-cli --test docs` rewrites the shown
//! outputs in the documents from what the commands print now (blocks using
//! `...` are kept while they still match); review the diff.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{repo_root, temp_dir};

fn blessing() -> bool {
    std::env::var_os("CANON_BLESS").is_some_and(|v| v == "1")
}

/// One fenced block.
struct Block {
    /// Line index of the opening fence.
    open: usize,
    /// Line index of the closing fence.
    close: usize,
    info: String,
    /// The marker comment right before the fence, if any.
    marker: Option<String>,
}

impl Block {
    fn body<'a>(&self, lines: &'a [String]) -> &'a [String] {
        &lines[self.open + 1..self.close]
    }

    fn is_shell(&self, lines: &[String]) -> bool {
        matches!(self.info.as_str(), "sh" | "bash" | "shell" | "console")
            || self.body(lines).iter().any(|l| l.starts_with("$ ") || l.trim_start().starts_with("canon "))
    }
}

fn blocks(lines: &[String]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        if let Some(info) = t.strip_prefix("```") {
            let close = (i + 1..lines.len()).find(|&j| lines[j].trim_start().starts_with("```")).unwrap_or(lines.len());
            let marker = i
                .checked_sub(1)
                .and_then(|p| lines[p].trim().strip_prefix("<!-- doc-test:"))
                .and_then(|m| m.strip_suffix("-->"))
                .map(|m| m.trim().to_owned());
            out.push(Block { open: i, close, info: info.trim().to_owned(), marker });
            i = close + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Runs `cmd` in `dir` with the built binary first on PATH; returns the
/// merged output, with `[exit N]` appended for a non-zero exit.
fn run(dir: &Path, cmd: &str) -> (String, i32) {
    let bin = Path::new(env!("CARGO_BIN_EXE_canon")).parent().expect("binary dir").to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH joins");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("exec 2>&1; {cmd}"))
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        // Signed runs take the committed public test key seed (so the shown
        // roots are reproducible), and nothing is written to the real home.
        .env("CANON_KEY_SEED_FILE", "fixtures/keys/TEST-ONLY-public.key-seed")
        .env("HOME", dir)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CANON_BLESS")
        .output()
        .expect("sh runs");
    let code = out.status.code().unwrap_or(-1);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if code != 0 {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let _ = writeln!(text, "[exit {code}]");
    }
    (text, code)
}

/// Whether `actual` matches `expected`, where an expected line `...` stands
/// for any number of lines.
fn matches(expected: &[&str], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((&"...", rest)) => (0..=actual.len()).any(|k| matches(rest, &actual[k..])),
        Some((e, rest)) => {
            actual.split_first().is_some_and(|(a, more)| a.trim_end() == e.trim_end() && matches(rest, more))
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from).expect("read dir").map(|e| e.expect("entry")) {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy a fixture");
        }
    }
}

/// A fresh directory for one document: `fixtures/` and flat copies.
fn workdir(doc: &str) -> PathBuf {
    let dir = temp_dir(&format!("docs-{}", doc.replace('/', "-")));
    let fixtures = repo_root().join("fixtures");
    copy_dir(&fixtures, &dir.join("fixtures"));
    let compat = repo_root().join("tests/compat");
    if compat.is_dir() {
        copy_dir(&compat, &dir.join("compat"));
    }
    for sub in [fixtures.join("asm"), fixtures.clone()] {
        for e in std::fs::read_dir(&sub).expect("read fixtures").map(|e| e.expect("entry")) {
            let p = e.path();
            if p.is_file() {
                std::fs::copy(&p, dir.join(e.file_name())).expect("copy a fixture");
            }
        }
    }
    dir
}

#[derive(Default)]
struct Tally {
    run: usize,
    skipped: usize,
    commands: usize,
    failures: Vec<String>,
}

/// Checks (or blesses) one document; returns its new text when blessing.
fn check_doc(rel: &str, tally: &mut Tally) -> Option<String> {
    let path = repo_root().join(rel);
    let text = std::fs::read_to_string(&path).expect("read a document");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let dir = workdir(rel);
    // (first body line, last body line exclusive, replacement) per rewritten output.
    let mut rewrites: Vec<(usize, usize, Vec<String>)> = Vec::new();
    for b in blocks(&lines) {
        let body = b.body(&lines);
        let marker = b.marker.as_deref().unwrap_or("");
        if let Some(name) = marker.strip_prefix("file ") {
            std::fs::write(dir.join(name.trim()), body.join("\n") + "\n").expect("write a doc file");
            continue;
        }
        if !b.is_shell(&lines) {
            continue;
        }
        let at = format!("{rel}:{}", b.open + 1);
        if let Some(reason) = marker.strip_prefix("skip") {
            if reason.trim().is_empty() {
                tally.failures.push(format!("{at}: `doc-test: skip` needs a reason"));
            }
            tally.skipped += 1;
            continue;
        }
        if !marker.is_empty() {
            tally.failures.push(format!("{at}: unknown marker `{marker}`"));
            continue;
        }
        let has_dollar = body.iter().any(|l| l.starts_with("$ "));
        let mut ran = 0;
        if has_dollar {
            let starts: Vec<usize> = (0..body.len()).filter(|&i| body[i].starts_with("$ ")).collect();
            if starts[0] != 0 {
                tally.failures.push(format!("{at}: text before the first `$ ` line"));
            }
            for (k, &s) in starts.iter().enumerate() {
                let end = starts.get(k + 1).copied().unwrap_or(body.len());
                let cmd = &body[s][2..];
                let expected: Vec<&str> = body[s + 1..end].iter().map(String::as_str).collect();
                let (actual, _) = run(&dir, cmd);
                ran += 1;
                let actual_lines: Vec<&str> = actual.lines().collect();
                if !matches(&expected, &actual_lines) {
                    if blessing() {
                        let first = b.open + 1 + s + 1;
                        rewrites.push((
                            first,
                            first + expected.len(),
                            actual_lines.iter().map(|l| l.trim_end().to_owned()).collect(),
                        ));
                    } else {
                        tally.failures.push(format!(
                            "{at}: `{cmd}` printed\n{}\n-- but the document shows --\n{}\n",
                            actual.trim_end(),
                            expected.join("\n")
                        ));
                    }
                }
            }
        } else {
            let script = body.join("\n");
            if body.iter().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')) {
                let (actual, code) = run(&dir, &format!("set -e\n{script}"));
                ran += 1;
                if code != 0 {
                    tally.failures.push(format!("{at}: the block exited {code}:\n{}", actual.trim_end()));
                }
            }
        }
        if ran == 0 {
            tally.failures.push(format!("{at}: a shell block with neither a command nor `doc-test: skip REASON`"));
        } else {
            tally.run += 1;
            tally.commands += ran;
        }
    }
    if rewrites.is_empty() {
        return None;
    }
    let mut new = lines.clone();
    for (from, to, with) in rewrites.into_iter().rev() {
        new.splice(from..to, with);
    }
    Some(new.join("\n") + "\n")
}

/// README.md and docs/*.md, sorted.
fn documents() -> Vec<String> {
    let mut docs = vec!["README.md".to_owned()];
    let mut more: Vec<String> = std::fs::read_dir(repo_root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

#[test]
fn every_shell_block_in_the_docs_runs_and_prints_what_it_shows() {
    let mut tally = Tally::default();
    for doc in documents() {
        if let Some(new) = check_doc(&doc, &mut tally) {
            std::fs::write(repo_root().join(&doc), new).expect("bless a document");
            eprintln!("blessed {doc}");
        }
    }
    // Straight to the process's stderr, past the test harness's capture, so
    // the count shows in every `cargo test` run, not only on failure.
    let count = format!(
        "doc-command test: {} shell blocks run ({} commands), {} opted out\n",
        tally.run, tally.commands, tally.skipped
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), count.as_bytes());
    assert!(tally.run >= 10, "expected the docs to hold runnable examples, found {}", tally.run);
    assert!(
        tally.failures.is_empty(),
        "{} failing doc blocks:\n\n{}",
        tally.failures.len(),
        tally.failures.join("\n\n")
    );
}

#[test]
fn the_wildcard_line_matches_any_run_of_lines() {
    assert!(matches(&["a", "...", "d"], &["a", "b", "c", "d"]));
    assert!(matches(&["a", "...", "d"], &["a", "d"]));
    assert!(!matches(&["a", "...", "d"], &["a", "b"]));
    assert!(!matches(&["a"], &["a", "b"]));
}
