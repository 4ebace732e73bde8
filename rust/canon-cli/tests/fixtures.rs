//! Data-driven test: every fixture program (`fixtures/asm/*.casm`,
//! `fixtures/*.canon`, `fixtures/choreo/*.canon`, and `.scr`/`.nuscr`) runs
//! through the real `canon` binary with `--seed 1`; its exit code must match
//! the fixture's expectation and its `canon replay show` view must match the
//! insta snapshot `fixtures/expected/<file name>.replay.snap`. A fixture's
//! `; args:` (or `// args:`) header gives extra `canon run` arguments
//! (`// args: --owner shop` for a choreography with readiness checks).
//!
//! A changed view fails the test and leaves `<name>.replay.snap.new` beside
//! the snapshot: `cargo insta review` (or `INSTA_UPDATE=always cargo test -p
//! canon-cli --test fixtures`) accepts it; review the diff.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Expect, Fixture, arg, canon, expected_dir, fixtures, temp_dir};

/// Runs `fixture` with its own arguments (its `args:` header) and `extra`,
/// writing the replay to `out`; checks the exit code against the fixture's
/// expectation.
fn run_fixture(fixture: &Fixture, out: &Path, extra: &[&str]) -> common::Output {
    let mut args = vec!["run".to_owned(), arg(&fixture.path), "-o".to_owned(), arg(out)];
    args.extend(fixture.args.iter().cloned());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let o = canon(&args);
    assert_eq!(o.code, Some(fixture.expect.exit_code()), "{}: expected {:?}\n{o}", fixture.name, fixture.expect);
    if let Expect::Fault(code) = fixture.expect {
        o.stdout_has(&[&format!("fault {code}")]);
    }
    if fixture.expect == Expect::Stalled {
        o.stdout_has(&["stalled"]);
    }
    o
}

#[test]
fn every_fixture_runs_as_expected_and_matches_its_snapshot() {
    let all = fixtures();
    assert!(all.len() >= 8, "expected at least the 8 assembly fixtures, found {}", all.len());
    let dir = temp_dir("golden");
    for f in &all {
        let replay = dir.join(format!("{}.replay", f.name));
        run_fixture(f, &replay, &["--seed", "1"]);
        let shown = canon(&["replay".to_owned(), "show".to_owned(), arg(&replay)]);
        shown.expect_code(0);
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(expected_dir());
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_input_file(&f.path);
        settings.bind(|| insta::assert_snapshot!(format!("{}.replay", f.name), shown.stdout));
    }
}

#[test]
fn every_snapshot_belongs_to_a_fixture() {
    let names: BTreeSet<PathBuf> = fixtures().iter().map(Fixture::golden).collect();
    let stale: Vec<PathBuf> = std::fs::read_dir(expected_dir())
        .expect("fixtures/expected exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap") && !names.contains(p))
        .collect();
    assert!(stale.is_empty(), "snapshots without a fixture (delete them): {stale:?}");
    let old: Vec<PathBuf> = std::fs::read_dir(expected_dir())
        .expect("fixtures/expected exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".replay.txt"))
        .collect();
    assert!(old.is_empty(), "hand-blessed goldens are gone; replay views are insta snapshots: {old:?}");
}

#[test]
fn a_fixture_run_twice_and_on_the_threaded_runner_gives_identical_bytes() {
    let dir = temp_dir("twice");
    for f in fixtures() {
        let paths = ["a", "b", "t"].map(|s| dir.join(format!("{}.{s}.replay", f.name)));
        run_fixture(&f, &paths[0], &["--seed", "7", "-q"]);
        run_fixture(&f, &paths[1], &["--seed", "7", "-q"]);
        run_fixture(&f, &paths[2], &["--seed", "7", "-q", "--runner", "threaded", "--workers", "3"]);
        let bytes = paths.map(|p| std::fs::read(p).expect("read a replay"));
        assert!(!bytes[0].is_empty(), "{}: empty replay", f.name);
        assert_eq!(bytes[0], bytes[1], "{}: two runs with the same seed differ", f.name);
        assert_eq!(bytes[0], bytes[2], "{}: the threaded runner's replay differs", f.name);
    }
}

/// The `HostAnswer choose` lines of a replay's text view: the branch decisions.
fn choices(replay: &Path) -> Vec<String> {
    let shown = canon(&["replay".to_owned(), "show".to_owned(), arg(replay)]);
    shown.expect_code(0);
    shown.stdout.lines().filter(|l| l.contains("HostAnswer choose")).map(str::to_owned).collect()
}

#[test]
fn fixtures_with_host_choices_take_different_branches_under_different_seeds() {
    let dir = temp_dir("choices");
    let with_choice: Vec<Fixture> = fixtures().into_iter().filter(Fixture::has_choice).collect();
    assert!(with_choice.iter().any(|f| f.name == "choice.casm"), "choice.casm is a fixture");
    for f in with_choice {
        let mut seen = BTreeSet::new();
        for seed in 1..=8u64 {
            let replay = dir.join(format!("{}.{seed}.replay", f.name));
            run_fixture(&f, &replay, &["--seed", &seed.to_string(), "-q"]);
            let decisions = choices(&replay);
            assert!(!decisions.is_empty(), "{}: seed {seed} made no host choice", f.name);
            seen.insert(decisions);
        }
        assert!(seen.len() >= 2, "{}: 8 seeds all made the same choices: {seen:?}", f.name);
    }
}

#[test]
fn every_replay_re_executes_from_its_recorded_host_answers() {
    let dir = temp_dir("verify");
    for f in fixtures() {
        let replay = dir.join(format!("{}.replay", f.name));
        run_fixture(&f, &replay, &["--seed", "3", "-q"]);
        let args = ["replay".to_owned(), "verify".to_owned(), arg(&replay), "--program".to_owned(), arg(&f.path)];
        let o = canon(&args);
        assert_eq!(o.code, Some(0), "{}: replay verify --program failed\n{o}", f.name);
        o.stdout_has(&["format and hash chain ok", "verified"]);
    }
}

#[test]
fn an_assembled_cbc_runs_exactly_like_its_casm() {
    let dir = temp_dir("cbc");
    for f in fixtures().into_iter().filter(|f| !f.is_choreography()) {
        let cbc = dir.join(format!("{}.cbc", f.name));
        canon(&["asm".to_owned(), arg(&f.path), "-o".to_owned(), arg(&cbc)]).expect_code(0);
        let from_cbc = Fixture { path: cbc, ..f.clone() };
        let (a, b) = (dir.join(format!("{}.a.replay", f.name)), dir.join(format!("{}.b.replay", f.name)));
        run_fixture(&f, &a, &["--seed", "5", "-q"]);
        run_fixture(&from_cbc, &b, &["--seed", "5", "-q"]);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "{}: .cbc and .casm replays differ", f.name);
    }
}
