//! `canon replay diff` and `canon replay verify` through the real binary.

mod common;

use std::path::{Path, PathBuf};

use common::{arg, canon, repo_root, temp_dir};

/// Runs a fixture with `extra` arguments and returns the replay path.
fn record(dir: &Path, fixture: &str, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args = vec!["run".to_owned(), arg(&repo_root().join(fixture)), "-q".to_owned(), "-o".to_owned(), arg(&out)];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let o = canon(&args);
    assert!(matches!(o.code, Some(0 | 5)), "recording {fixture} failed\n{o}");
    out
}

fn diff(a: &Path, b: &Path, json: bool) -> common::Output {
    let mut args = vec!["replay".to_owned(), "diff".to_owned(), arg(a), arg(b)];
    if json {
        args.push("--json".to_owned());
    }
    canon(&args)
}

fn parse_json(o: &common::Output) -> serde_json::Value {
    serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("--json output is not JSON: {e}\n{o}"))
}

/// The JSON-lines event records of a replay, via `replay show --json`.
fn event_lines(replay: &Path) -> Vec<String> {
    let o = canon(&["replay".to_owned(), "show".to_owned(), "--json".to_owned(), arg(replay)]);
    o.expect_code(0);
    for line in o.stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    }
    // The header line first, the end line (counts and root) last.
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(lines.last().is_some_and(|l| l.contains("\"type\":\"end\"")), "no end line:\n{o}");
    lines[1..lines.len() - 1].iter().map(|l| (*l).to_owned()).collect()
}

#[test]
fn identical_replays_diff_to_zero() {
    let dir = temp_dir("diff-same");
    let a = record(&dir, "fixtures/asm/ping_pong.casm", "a.replay", &["--seed", "1"]);
    let b = record(&dir, "fixtures/asm/ping_pong.casm", "b.replay", &["--seed", "1"]);
    diff(&a, &b, false).expect_code(0).stdout_has(&["identical: 20 events"]);
    let json = parse_json(diff(&a, &b, true).expect_code(0));
    assert_eq!(json["identical"], true);
    assert_eq!(json["a_events"], 20);
}

#[test]
fn different_seeds_diff_to_one_and_name_the_first_divergent_event() {
    let dir = temp_dir("diff-seeds");
    // Seed 6 makes choice.casm buy where seed 1 quits.
    let cases = [("ping_pong.casm", "2"), ("choice.casm", "6"), ("three_party_relay.casm", "2")];
    for (name, seed) in cases {
        let fixture = &format!("fixtures/asm/{name}");
        let a = record(&dir, fixture, "a.replay", &["--seed", "1"]);
        let b = record(&dir, fixture, "b.replay", &["--seed", seed]);
        let (ea, eb) = (event_lines(&a), event_lines(&b));
        let first = ea.iter().zip(&eb).position(|(x, y)| x != y).expect("the two seeds give different events");
        let text = diff(&a, &b, false);
        text.expect_code(1).stdout_has(&[
            "header: seed differs",
            &format!("events: first divergence at event {first}"),
            &format!("a [{first}] "),
            &format!("b [{first}] "),
        ]);
        let json = parse_json(diff(&a, &b, true).expect_code(1));
        assert_eq!(json["identical"], false, "{fixture}");
        assert_eq!(json["events"]["status"], "divergent", "{fixture}");
        assert_eq!(json["events"]["index"], first, "{fixture}");
    }
}

#[test]
fn a_replay_that_stops_early_diffs_as_a_prefix() {
    let dir = temp_dir("diff-prefix");
    let fixture = "fixtures/asm/ping_pong_loop.casm";
    // Unsigned: signatures bind the configuration, so signed runs with another
    // --max-rounds differ from their first message on.
    let full = record(&dir, fixture, "full.replay", &["--seed", "1", "--auth", "none"]);
    let short = record(&dir, fixture, "short.replay", &["--seed", "1", "--auth", "none", "--max-rounds", "3"]);
    let n = event_lines(&short).len();
    assert!(n > 0 && n < event_lines(&full).len());
    diff(&full, &short, false).expect_code(1).stdout_has(&[&format!("events: b ends after {n} events; a continues")]);
    let json = parse_json(diff(&short, &full, true).expect_code(1));
    assert_eq!(json["events"]["status"], "prefix");
    assert_eq!(json["events"]["shorter"], "a");
    assert_eq!(json["events"]["index"], n);
}

#[test]
fn a_header_only_difference_is_still_a_difference() {
    let dir = temp_dir("diff-header");
    // Unsigned: a signed run's signatures bind the configuration (see the next test).
    let a = record(&dir, "fixtures/asm/ping_pong.casm", "a.replay", &["--seed", "1", "--auth", "none"]);
    let b =
        record(&dir, "fixtures/asm/ping_pong.casm", "b.replay", &["--seed", "1", "--auth", "none", "--fuel", "2048"]);
    // The events agree: unsigned and unconsumed, no event binds the run
    // identity (edge histories keep the all-zero hash), so only the header differs.
    diff(&a, &b, false).expect_code(1).stdout_has(&["header: config digest differs", "events: identical (20 events)"]);
    // Signed, the same change of configuration changes every signature: a
    // signature made in one run is not valid in another.
    let a = record(&dir, "fixtures/asm/ping_pong.casm", "sa.replay", &["--seed", "1"]);
    let b = record(&dir, "fixtures/asm/ping_pong.casm", "sb.replay", &["--seed", "1", "--fuel", "2048"]);
    diff(&a, &b, false).expect_code(1).stdout_has(&["header: config digest differs", "first divergence", "sig="]);
}

#[test]
fn a_truncated_or_corrupted_replay_is_a_clear_error() {
    let dir = temp_dir("diff-broken");
    let good = record(&dir, "fixtures/asm/ping_pong.casm", "good.replay", &["--seed", "1"]);
    let bytes = std::fs::read(&good).expect("read the replay");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let cases = [
        ("empty.replay", Vec::new(), "truncated at byte 0"),
        ("head.replay", bytes[..100].to_vec(), "truncated at byte"),
        ("tail.replay", bytes[..bytes.len() - 1].to_vec(), "truncated at byte"),
        ("flipped.replay", flipped, "byte"),
    ];
    for (name, content, message) in cases {
        let bad = dir.join(name);
        std::fs::write(&bad, content).expect("write a broken replay");
        for (a, b) in [(&good, &bad), (&bad, &good)] {
            let o = diff(a, b, false);
            o.expect_clean_failure().expect_code(1).stderr_has(&[&arg(&bad), message]);
            assert!(!o.stdout.contains("identical"), "{name}: a broken file is not identical\n{o}");
        }
        for sub in ["show", "verify"] {
            let o = canon(&["replay".to_owned(), sub.to_owned(), arg(&bad)]);
            o.expect_clean_failure().stderr_has(&[&arg(&bad), message]);
        }
    }
}

#[test]
fn verify_checks_the_program_and_the_configuration() {
    let dir = temp_dir("verify-config");
    let loop_casm = arg(&repo_root().join("fixtures/asm/ping_pong_loop.casm"));
    let other = arg(&repo_root().join("fixtures/asm/choice.casm"));
    let r = record(&dir, "fixtures/asm/ping_pong_loop.casm", "r.replay", &["--seed", "4", "--fuel", "3"]);
    let verify = |extra: &[&str]| {
        let mut args = vec!["replay".to_owned(), "verify".to_owned(), arg(&r)];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        canon(&args)
    };
    verify(&[]).expect_code(0).stdout_has(&["format and hash chain ok, canonical order ok: 31 events"]);
    // The replay records its configuration: no flag is needed to re-execute it.
    verify(&["--program", &loop_casm]).expect_code(0).stdout_has(&["verified"]);
    verify(&["--program", &loop_casm, "--fuel", "3"]).expect_code(0).stdout_has(&["verified"]);
    // A flag that contradicts the recording names the field, the recorded and the given value.
    verify(&["--program", &loop_casm, "--fuel", "4"]).expect_clean_failure().stderr_has(&[
        "--fuel",
        "`fuel_per_quantum`",
        "recorded as 3, given 4",
    ]);
    verify(&["--auth", "none"]).expect_clean_failure().stderr_has(&["`auth`", "recorded as ed25519, given none"]);
    verify(&["--replay-mode", "sequence"])
        .expect_clean_failure()
        .stderr_has(&["`replay_mode`", "recorded as off, given sequence"]);
    verify(&["--max-rounds", "7"]).expect_clean_failure().stderr_has(&["`max_rounds`", "recorded as 1000000, given 7"]);
    verify(&["--program", &other])
        .expect_code(1)
        .stderr_has(&["recorded from program"])
        .stdout_has(&["re-execution diverges", "program digest"]);
}

#[test]
fn several_sessions_record_and_verify() {
    let dir = temp_dir("sessions");
    let fixture = "fixtures/asm/choice.casm";
    let coop = record(&dir, fixture, "coop.replay", &["--seed", "9", "--sessions", "4"]);
    let threaded = record(
        &dir,
        fixture,
        "thr.replay",
        &["--seed", "9", "--sessions", "4", "--runner", "threaded", "--workers", "3"],
    );
    diff(&coop, &threaded, false).expect_code(0);
    let lines = event_lines(&coop);
    for g in 0..4 {
        assert!(lines.iter().any(|l| l.contains(&format!("\"group\":{g},"))), "no events of group {g}");
    }
    let program = arg(&repo_root().join(fixture));
    canon(&["replay".to_owned(), "verify".to_owned(), arg(&coop), "--program".to_owned(), program])
        .expect_code(0)
        .stdout_has(&["verified"]);
}

#[test]
fn every_flipped_byte_of_the_recorded_configuration_is_detected_by_verify() {
    let dir = temp_dir("verify-config-tamper");
    let good = record(&dir, "fixtures/asm/ping_pong.casm", "good.replay", &["--seed", "1", "--fuel", "7"]);
    let bytes = std::fs::read(&good).expect("read the replay");
    let bad = dir.join("bad.replay");
    let program = arg(&repo_root().join("fixtures/asm/ping_pong.casm"));
    // Header bytes 40..44 are the configuration's length, 44..109 the configuration.
    for at in 40..109 {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        std::fs::write(&bad, &damaged).expect("write the damaged replay");
        let o = canon(&["replay".to_owned(), "verify".to_owned(), arg(&bad), "--program".to_owned(), program.clone()]);
        o.expect_clean_failure().expect_code(1);
        assert!(
            o.stderr.contains("hash chain broken") || o.stderr.contains("bad configuration"),
            "header byte {at}: {o}"
        );
    }
    // The untouched file verifies under its recorded --fuel 7, with no flag.
    canon(&["replay".to_owned(), "verify".to_owned(), arg(&good), "--program".to_owned(), program])
        .expect_code(0)
        .stdout_has(&["verified"]);
}
