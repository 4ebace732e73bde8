//! `canon run --checkpoint-every` and `canon resume`: a checkpointed run
//! resumed from any of its checkpoints, or after its process was killed,
//! writes the replay of the uninterrupted run; a damaged checkpoint is
//! refused naming what is wrong.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{canon_in, temp_dir, test_key_seed};

fn fixture(name: &str) -> String {
    common::repo_root().join("fixtures/asm").join(name).to_string_lossy().into_owned()
}

fn run(dir: &Path, extra: &[&str], output: &str, sessions: &str) {
    let mut args = ["run", &fixture("choice.cbc")[..], "--sessions", sessions, "-o", output, "-q"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    args.extend(extra.iter().map(|s| s.to_string()));
    canon_in(dir, &args).expect_code(0);
}

#[test]
fn resuming_from_any_checkpoint_gives_the_uninterrupted_replay() {
    let dir = temp_dir("ckpt-resume");
    run(&dir, &[], "whole.replay", "300");
    for runner in ["cooperative", "threaded"] {
        let cks = format!("cks-{runner}");
        run(
            &dir,
            &["--runner", runner, "--checkpoint-every", "40", "--checkpoint-dir", &cks, "--keep", "3"],
            "part.replay",
            "300",
        );
        let whole = std::fs::read(dir.join("whole.replay")).expect("replay");
        assert_eq!(whole, std::fs::read(dir.join("part.replay")).expect("replay"), "checkpointing changed the bytes");
        let mut numbered: Vec<String> = std::fs::read_dir(dir.join(&cks))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("ckpt-"))
            .collect();
        numbered.sort();
        assert_eq!(numbered.len(), 3, "--keep 3 keeps three: {numbered:?}");
        // A resumed run goes on checkpointing into its checkpoint's directory
        // (and prunes it), so each checkpoint is resumed from a copy of its own.
        for (i, name) in numbered.iter().chain([&"latest.ckpt".to_owned()]).enumerate() {
            let copy = dir.join(format!("{cks}-copy{i}"));
            std::fs::create_dir_all(&copy).expect("dir");
            for file in [name.as_str(), "run.json"] {
                std::fs::copy(dir.join(&cks).join(file), copy.join(file)).expect("copy");
            }
            let ck = format!("{cks}-copy{i}/{name}");
            canon_in(&dir, &["resume", &ck, "-o", "resumed.replay", "-q"]).expect_code(0);
            assert_eq!(whole, std::fs::read(dir.join("resumed.replay")).expect("replay"), "resumed from {ck}");
            let note = std::fs::read_to_string(dir.join("resumed.replay.resumed")).expect("sidecar");
            assert!(note.contains(&format!("resumed from {ck} at group")), "{note}");
        }
        // Resuming in place truncates the run's own replay and continues it.
        canon_in(&dir, &["resume", &format!("{cks}/latest.ckpt"), "-q"]).expect_code(0);
        assert_eq!(whole, std::fs::read(dir.join("part.replay")).expect("replay"));
    }
}

#[test]
fn damaged_checkpoints_and_replays_are_refused() {
    let dir = temp_dir("ckpt-refused");
    run(&dir, &["--checkpoint-every", "40", "--checkpoint-dir", "cks"], "part.replay", "100");
    let good = std::fs::read(dir.join("cks/latest.ckpt")).expect("checkpoint");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "corrupt",
            {
                let mut b = good.clone();
                let n = b.len() - 1;
                b[n] ^= 1;
                b
            },
            "corrupted",
        ),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        (
            "version",
            {
                let mut b = good.clone();
                b[4] = 9;
                b
            },
            "version 9",
        ),
        ("magic", b"not a checkpoint at all".to_vec(), "CNCK"),
    ];
    for (name, bytes, says) in cases {
        let path = format!("cks/{name}.ckpt");
        std::fs::write(dir.join(&path), bytes).expect("write");
        canon_in(&dir, &["resume", &path, "-o", "x.replay"]).expect_clean_failure().stderr_has(&[says]);
    }
    // A replay that does not hold the checkpointed prefix is refused.
    std::fs::write(dir.join("part.replay"), b"short").expect("write");
    canon_in(&dir, &["resume", "cks/latest.ckpt"]).expect_clean_failure().stderr_has(&["fewer than the checkpoint"]);
}

/// The distributed execution layer's iterative task
/// (`fixtures/seeds/iterative_task.canon`, docs/tutorial-seed-systems.md):
/// the process is killed (SIGKILL) after it wrote a checkpoint; `canon
/// resume` completes the run to the uninterrupted replay.
#[test]
fn a_killed_iterative_task_resumes_to_the_identical_replay() {
    let dir = temp_dir("ckpt-killed");
    let task = common::repo_root().join("fixtures/seeds/iterative_task.canon").to_string_lossy().into_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_canon"))
        .env("CANON_KEY_SEED_FILE", test_key_seed())
        .current_dir(&dir)
        .args(["run", &task, "--sessions", "20000", "-o", "part.replay", "-q"])
        .args(["--runner", "threaded", "--workers", "2", "--checkpoint-every", "2000", "--checkpoint-dir", "cks"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawns");
    // Polls (at most about five minutes) until the first checkpoint is written.
    let mut polls = 0;
    while !dir.join("cks/latest.ckpt").exists() {
        polls += 1;
        assert!(polls < 15_000, "no checkpoint written");
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = child.try_wait().expect("waits").is_none();
    child.kill().expect("kills");
    child.wait().expect("reaped");
    canon_in(&dir, &["resume", "cks/latest.ckpt", "-q"]).expect_code(0);
    canon_in(&dir, &["run", &task, "--sessions", "20000", "-o", "whole.replay", "-q"]).expect_code(0);
    let note = std::fs::read_to_string(dir.join("part.replay.resumed")).expect("the resume is noted");
    assert!(note.starts_with("resumed from cks/latest.ckpt at group "), "{note}");
    let (whole, resumed) = (std::fs::read(dir.join("whole.replay")), std::fs::read(dir.join("part.replay")));
    assert!(whole.expect("replay") == resumed.expect("replay"), "the resumed replay differs");
    assert!(killed, "the run ended before it could be killed: make it longer");
}

/// A run with `--owner` checkpoints the owner with the instances not yet
/// run: resumed from any checkpoint (also one taken inside an instance,
/// between its check and the step that consumes the witness), it claims
/// their sessions too and writes the uninterrupted run's replay.
#[test]
fn an_owned_run_resumes_to_the_identical_replay() {
    let dir = temp_dir("ckpt-owner");
    let program = common::repo_root().join("fixtures/shipment_checks.canon").to_string_lossy().into_owned();
    let run = |extra: &[&str], output: &str| {
        let mut args = vec!["run", &program[..], "--sessions", "40", "--owner", "shop", "-o", output, "-q"];
        args.extend(extra);
        canon_in(&dir, &args).expect_code(0);
    };
    run(&[], "whole.replay");
    let whole = std::fs::read(dir.join("whole.replay")).expect("replay");
    // 6 rounds an instance: every 7 rounds, most checkpoints fall inside one.
    run(&["--checkpoint-every", "7", "--checkpoint-dir", "cks", "--keep", "40"], "part.replay");
    assert_eq!(whole, std::fs::read(dir.join("part.replay")).expect("replay"), "checkpointing changed the bytes");
    let mut numbered: Vec<String> = std::fs::read_dir(dir.join("cks"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ckpt-"))
        .collect();
    numbered.sort();
    assert!(numbered.len() >= 20, "expected a checkpoint every 7 rounds: {numbered:?}");
    for (i, name) in numbered.iter().enumerate() {
        let copy = dir.join(format!("copy{i}"));
        std::fs::create_dir_all(&copy).expect("dir");
        for file in [name.as_str(), "run.json"] {
            std::fs::copy(dir.join("cks").join(file), copy.join(file)).expect("copy");
        }
        let ck = format!("copy{i}/{name}");
        canon_in(&dir, &["resume", &ck, "-o", "resumed.replay", "-q"]).expect_code(0);
        assert!(
            whole == std::fs::read(dir.join("resumed.replay")).expect("replay"),
            "resumed from {ck}: the replay differs"
        );
    }
}
