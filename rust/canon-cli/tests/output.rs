//! Output robustness: every subcommand that prints, piped into a reader that
//! closes early, exits 0 without a panic; written to `/dev/full`, it fails
//! with a message (exit 1), never a panic. And Ctrl-C: a long run stopped by
//! SIGINT exits 130, says where it stopped, and leaves a partial replay that
//! verifies. Messages on stderr that cannot be written never panic either.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{arg, canon, repo_root, temp_dir, test_key_seed};

/// Every printing subcommand, with arguments that make it print more than a
/// pipe buffer holds (so the write after the reader leaves fails), from the
/// repository root. `replay` files are made in `dir` first.
fn printing_commands(dir: &Path) -> Vec<Vec<String>> {
    let replay = dir.join("many.replay");
    let other = dir.join("other.replay");
    for (path, seed) in [(&replay, "1"), (&other, "2")] {
        canon(&["run", "fixtures/streaming.canon", "--sessions", "300", "--seed", seed, "-o", &arg(path)])
            .expect_code(0);
    }
    // A small signed replay and a bundle of it, for `bundle` and `replay audit`.
    let key = arg(&repo_root().join("fixtures/keys/TEST-ONLY-public.key-seed"));
    let small = dir.join("small.replay");
    canon(&["run", "fixtures/two_buyer.canon", "--sessions", "40", "-q", "-o", &arg(&small)]).expect_code(0);
    let bundle = dir.join("bundle");
    canon(&[
        "bundle",
        "export",
        &arg(&small),
        "--program",
        "fixtures/two_buyer.canon",
        "--key",
        &key,
        "-o",
        &arg(&bundle),
    ])
    .expect_code(0);
    let lifecycle = dir.join("lifecycle.replay");
    canon(&["run", "fixtures/job_lifecycle.canon", "--sessions", "100", "-q", "-o", &arg(&lifecycle)]).expect_code(0);
    // A checkpointed run, for `resume` (which continues a copy of its replay).
    let ckpt_dir = dir.join("ckpt");
    let ckpt_replay = dir.join("ckpt.replay");
    canon(&[
        "run",
        "fixtures/two_buyer.canon",
        "--sessions",
        "60",
        "-q",
        "--checkpoint-every",
        "20",
        "--checkpoint-dir",
        &arg(&ckpt_dir),
        "-o",
        &arg(&ckpt_replay),
    ])
    .expect_code(0);
    let latest = arg(&ckpt_dir.join("latest.ckpt"));
    let resumed = arg(&dir.join("resumed.replay"));
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    vec![
        s(&["resume", &latest, "-o", &resumed]),
        s(&["sim", "--seed", "3", "--seeds", "2", "--steps", "40", "--verbose"]),
        s(&["keygen", "--verifying-keys-of", &key, "--instances", "300"]),
        s(&["keygen", "-o", &arg(&dir.join("new.key-seed"))]),
        s(&["bundle", "export", &arg(&small), "--key", &key, "-o", &arg(&dir.join("new-bundle"))]),
        s(&["bundle", "verify", &arg(&bundle)]),
        s(&["bundle", "pubkey", "--key", &key]),
        s(&["bench", "--list"]),
        s(&["bench", "ping_pong", "--quick"]),
        s(&["bench", "ping_pong", "--quick", "--json"]),
        s(&["replay", "audit", &arg(&small)]),
        s(&["replay", "audit", &arg(&small), "--json"]),
        s(&["replay", "audit", &arg(&lifecycle), "--capabilities"]),
        s(&["replay", "verify", &arg(&small), "--program", "fixtures/two_buyer.canon"]),
        s(&["replay", "verify", &arg(&small), "--program", "fixtures/two_buyer.canon", "--json"]),
        s(&["disasm", "fixtures/asm/ping_pong.cbc"]),
        s(&["check", "fixtures/streaming.canon"]),
        s(&["check", "fixtures/streaming.canon", "--json"]),
        s(&["check", "fixtures/asm/ping_pong.casm"]),
        s(&["project", "fixtures/travel_agency.canon"]),
        s(&["project", "fixtures/travel_agency.canon", "--format", "dot"]),
        s(&["project", "fixtures/travel_agency.canon", "--format", "json"]),
        s(&["run", "fixtures/streaming.canon"]),
        s(&["run", "fixtures/streaming.canon", "--json"]),
        s(&["run", "fixtures/streaming.canon", "-q"]),
        s(&["replay", "show", &arg(&replay)]),
        s(&["replay", "show", &arg(&replay), "--json"]),
        s(&["replay", "diff", &arg(&replay), &arg(&other)]),
        s(&["replay", "diff", &arg(&replay), &arg(&other), "--json"]),
        s(&["replay", "verify", &arg(&replay)]),
        s(&["replay", "verify", &arg(&replay), "--json"]),
        s(&["explain", "E6101"]),
        s(&["completions", "bash"]),
        s(&["--help"]),
    ]
}

/// The subcommands listed by `--help` (for `prefix`, its own subcommands).
fn subcommands(prefix: &[&str]) -> Vec<String> {
    let mut args = prefix.to_vec();
    args.push("--help");
    common::listed_subcommands(&canon(&args).stdout)
}

/// The subcommands that only write files (asm, compile) print nothing to
/// stdout (their stderr is covered by `stderr_commands`); `printing_commands`
/// must name every other one, down to the subcommands of `replay` and
/// `bundle`.
#[test]
fn the_list_covers_every_printing_subcommand() {
    let dir = temp_dir("cover");
    let commands = printing_commands(&dir);
    let listed: std::collections::BTreeSet<String> =
        commands.iter().map(|c| c[0].clone()).filter(|c| !c.starts_with('-')).collect();
    let top = subcommands(&[]);
    assert!(top.len() >= 10, "{top:?}");
    // `worker` is a server: it prints only its log, on stderr, and needs a NATS server.
    let on_stderr: std::collections::BTreeSet<String> =
        stderr_commands(&dir).into_iter().map(|(c, _)| c[0].clone()).collect();
    assert!(on_stderr.contains("asm") && on_stderr.contains("compile"), "{on_stderr:?}");
    for c in top.iter().filter(|c| !["asm", "compile", "worker"].contains(&c.as_str())) {
        assert!(listed.contains(c), "subcommand `{c}` is not covered by the output tests");
        let nested = subcommands(&[c]);
        for n in nested {
            assert!(
                commands.iter().any(|args| args.len() > 1 && args[0] == *c && args[1] == n),
                "subcommand `{c} {n}` is not covered by the output tests"
            );
        }
    }
}

#[test]
fn a_reader_that_closes_early_is_a_clean_exit() {
    let dir = temp_dir("pipe");
    for args in printing_commands(&dir) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_canon"))
            .args(&args)
            .env("CANON_KEY_SEED_FILE", test_key_seed())
            .current_dir(repo_root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("canon starts");
        // Read one byte, then close the pipe: the next write fails with EPIPE.
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut first = [0u8; 1];
        let _ = stdout.read(&mut first);
        drop(stdout);
        let out = child.wait_with_output().expect("canon ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?} panicked on a closed pipe:\n{stderr}");
        let code = out.status.code();
        assert!(
            code == Some(0) || (code == Some(1) && args.contains(&"diff".to_owned())),
            "{args:?} on a closed pipe: exit {code:?}\n{stderr}"
        );
        assert!(!stderr.contains("Broken pipe"), "{args:?} reported the closed pipe:\n{stderr}");
    }
}

#[test]
fn a_full_disk_is_a_typed_failure() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let dir = temp_dir("full");
    for args in printing_commands(&dir) {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("open /dev/full");
        let out = Command::new(env!("CARGO_BIN_EXE_canon"))
            .args(&args)
            .env("CANON_KEY_SEED_FILE", test_key_seed())
            .current_dir(repo_root())
            .stdout(full)
            .output()
            .expect("canon runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?} panicked on /dev/full:\n{stderr}");
        if args[0] == "--help" {
            continue; // clap prints help itself
        }
        assert_eq!(out.status.code(), Some(1), "{args:?} > /dev/full\n{stderr}");
        assert!(
            stderr.contains("error: cannot write to standard output: No space left on device"),
            "{args:?} > /dev/full\n{stderr}"
        );
    }
}

/// Commands that print on standard error (the files they wrote, warnings,
/// diagnostics, errors), with the exit code each has when stderr is writable.
fn stderr_commands(dir: &Path) -> Vec<(Vec<String>, i32)> {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let out = |name: &str| arg(&dir.join(name));
    vec![
        (s(&["asm", "fixtures/asm/ping_pong.casm", "-o", &out("a.cbc")]), 0),
        (s(&["compile", "fixtures/two_buyer.canon", "-o", &out("b.cbc")]), 0),
        (s(&["keygen", "-o", &out("c.key-seed")]), 0),
        (s(&["run", "fixtures/two_buyer.canon", "-q", "--inject", "drop@99"]), 0),
        (s(&["check", "fixtures/choreo/ill_formed/unknown_role.canon"]), 1),
        (s(&["check", "fixtures/choreo/ill_formed/unknown_role.canon", "--message-format", "json"]), 1),
        (s(&["run", "no-such-file.canon"]), 1),
        (s(&["run", "no-such-file.canon", "--message-format", "json"]), 1),
    ]
}

/// What stderr gets in [`messages_on_stderr_never_panic`].
enum Stderr {
    Normal,
    ClosedPipe,
    Full,
}

fn run_with_stderr(args: &[String], stderr: Stderr) -> Option<i32> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_canon"));
    cmd.args(args).env("CANON_KEY_SEED_FILE", test_key_seed()).current_dir(repo_root()).stdout(Stdio::null());
    match stderr {
        Stderr::Normal => cmd.stderr(Stdio::null()),
        Stderr::ClosedPipe => cmd.stderr(Stdio::piped()),
        Stderr::Full => cmd.stderr(std::fs::OpenOptions::new().write(true).open("/dev/full").expect("open /dev/full")),
    };
    let mut child = cmd.spawn().expect("canon starts");
    // Close the reading end at once: every write to stderr fails with EPIPE.
    drop(child.stderr.take());
    child.wait().expect("canon ends").code()
}

/// A message on stderr that cannot be written (`2>&1 | head` whose reader
/// stopped, or stderr on a full disk) is dropped: the command keeps the exit
/// code it has with a writable stderr, and never panics (exit 101).
#[test]
fn messages_on_stderr_never_panic() {
    let dir = temp_dir("stderr");
    // `keygen -o` refuses to overwrite: each run starts from an empty directory.
    let fresh = || {
        for e in std::fs::read_dir(&dir).expect("read dir") {
            std::fs::remove_file(e.expect("entry").path()).expect("remove");
        }
    };
    for (args, code) in stderr_commands(&dir) {
        fresh();
        assert_eq!(run_with_stderr(&args, Stderr::Normal), Some(code), "{args:?}");
        fresh();
        assert_eq!(run_with_stderr(&args, Stderr::ClosedPipe), Some(code), "{args:?} with stderr closed");
        if Path::new("/dev/full").exists() {
            fresh();
            assert_eq!(run_with_stderr(&args, Stderr::Full), Some(code), "{args:?} 2> /dev/full");
        }
    }
}

/// A choreography that never ends: only the round budget or Ctrl-C stops it.
const FOREVER: &str = "global protocol Forever(role A, role B) {\n  rec L {\n    Ping(Int) from A to B;\n    Pong(Int) from B to A;\n    continue L;\n  }\n}\n";

#[cfg(unix)]
#[test]
fn sigint_stops_a_long_run_with_a_partial_replay_that_verifies() {
    let dir = temp_dir("sigint");
    let program = dir.join("forever.canon");
    std::fs::write(&program, FOREVER).expect("write the program");
    let replay = dir.join("partial.replay");
    for runner in ["cooperative", "threaded"] {
        let _ = std::fs::remove_file(&replay);
        let child = Command::new(env!("CARGO_BIN_EXE_canon"))
            .env("CANON_KEY_SEED_FILE", test_key_seed())
            .args(["run", &arg(&program), "--sessions", "4", "--runner", runner, "-o", &arg(&replay)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("canon starts");
        // Let it run a while, then interrupt it as a terminal's Ctrl-C would.
        std::thread::sleep(Duration::from_millis(700));
        let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
        assert!(status.success());
        let out = child.wait_with_output().expect("canon ends");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(130), "{runner}: exit code\n{stdout}\n{stderr}");
        assert!(stderr.contains("interrupted: stopped instance"), "{runner}: no stop message\n{stderr}");
        assert!(stdout.contains("interrupted:"), "{runner}: summary lacks the interruption\n{stdout}");
        assert!(replay.exists(), "{runner}: no partial replay");
        // No temporary file is left beside it.
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("read dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{runner}: temporary files left: {leftovers:?}");
        let verified = canon(&["replay", "verify", &arg(&replay)]);
        verified.expect_code(0).stdout_has(&["format and hash chain ok", "verified: integrity"]);
        let shown = canon(&["replay", "show", &arg(&replay)]);
        shown.expect_code(0).stdout_has(&["Sent", "Received"]);
    }
}

#[cfg(unix)]
#[test]
fn quiet_never_says_ok_for_an_interrupted_run() {
    let dir = temp_dir("sigint-quiet");
    let program = dir.join("forever.canon");
    std::fs::write(&program, FOREVER).expect("write the program");
    let child = Command::new(env!("CARGO_BIN_EXE_canon"))
        .env("CANON_KEY_SEED_FILE", test_key_seed())
        .args(["run", &arg(&program), "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("canon starts");
    std::thread::sleep(Duration::from_millis(400));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill").success());
    let out = child.wait_with_output().expect("canon ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130));
    assert!(stdout.starts_with("interrupted: "), "{stdout}");
}

#[cfg(unix)]
#[test]
fn output_files_get_the_mode_a_new_file_gets() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("mode");
    let plain = dir.join("plain");
    std::fs::write(&plain, b"x").expect("write a plain file");
    let replay = dir.join("a.replay");
    canon(&["run", "fixtures/asm/ping_pong.casm", "-q", "-o", &arg(&replay)]).expect_code(0);
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&replay), mode(&plain));
}

/// Nothing in the binary prints around [`Out`] and the lossy stderr macros:
/// `println!`/`print!` panic on a closed pipe, `eprintln!`/`eprint!` on a
/// closed or full stderr.
#[test]
fn the_binary_prints_only_through_its_writers() {
    let src = repo_root().join("rust/canon-cli/src");
    let mut hits = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&src).expect("rust/canon-cli/src") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("out.rs") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).expect("readable source");
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")) {
            let bare = line.replace("crate::out::stderr", "");
            if ["println!(", "print!(", "eprintln!(", "eprint!("].iter().any(|m| bare.contains(m)) {
                hits.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(files >= 10, "only {files} sources found under {}", src.display());
    assert!(hits.is_empty(), "print through `Out` or `crate::out::stderrln!`:\n{}", hits.join("\n"));
}
