//! `canon run` outcomes and flags through the real binary: the exit code and
//! the status line of each outcome, the summary, and output errors.

mod common;

use common::{arg, canon, repo_root, temp_dir};

fn fixture(name: &str) -> String {
    arg(&repo_root().join("fixtures/asm").join(name))
}

#[test]
fn quiet_prints_exactly_one_status_line_per_outcome() {
    let cases = [
        ("ping_pong.casm", &[][..], 0, "ok"),
        ("fault_buffer_full.casm", &[][..], 3, "faulted: fault 3014 (1 faulted coroutines)"),
        ("fault_payload_type.casm", &[][..], 3, "faulted: fault 3011 (1 faulted coroutines)"),
        ("deadlock.casm", &[][..], 4, "stalled: instance 0"),
        ("ping_pong_loop.casm", &["--max-rounds", "3"][..], 5, "round budget exhausted"),
    ];
    for (name, extra, code, line) in cases {
        let mut args = vec!["run".to_owned(), fixture(name), "-q".to_owned()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let o = canon(&args);
        o.expect_code(code);
        assert_eq!(o.stdout, format!("{line}\n"), "{name}\n{o}");
        assert!(o.stderr.is_empty(), "{name}: nothing on stderr\n{o}");
    }
}

#[test]
fn the_summary_counts_instances_and_names_the_replay() {
    let dir = temp_dir("summary");
    let out = dir.join("s.replay");
    let o = canon(&[
        "run".to_owned(),
        fixture("ping_pong.casm"),
        "--sessions".to_owned(),
        "3".to_owned(),
        "-o".to_owned(),
        arg(&out),
    ]);
    o.expect_code(0).stdout_has(&[
        "(seed 0, cooperative runner)",
        "instances 3, sessions 3, messages 6",
        "final session statuses: Closed 3",
        &format!(" -> {}", arg(&out)),
    ]);
    assert!(out.exists(), "-o writes the replay");
    let root = o.stdout.lines().find_map(|l| l.trim().strip_prefix("replay root ")).expect("a replay root line");
    assert_eq!(root.split(' ').next().map(str::len), Some(64), "the root is 32 bytes of hex\n{o}");
}

#[test]
fn a_stall_report_lists_every_blocked_coroutine() {
    let o = canon(&["run".to_owned(), fixture("deadlock.casm")]);
    o.expect_code(4).stdout_has(&[
        "instance 0 stalled at tick 1; blocked:",
        "coroutine 1 endpoint s0:A waits for a message from B [Ping]",
        "coroutine 2 endpoint s0:B waits for a message from A [Pong]",
    ]);
}

#[test]
fn a_fault_report_names_code_and_place() {
    let o = canon(&["run".to_owned(), fixture("fault_buffer_full.casm")]);
    o.expect_code(3).stdout_has(&[
        "final session statuses: Faulted(3014) 1",
        "fault 3014 in instance 0 coroutine 1 at proc 1 instr 3 (tick 1): endpoint s0:A: buffer to B is full",
    ]);
}

#[test]
fn an_unwritable_replay_path_is_an_error() {
    let dir = temp_dir("unwritable");
    let out = dir.join("no-such-dir").join("r.replay");
    let o = canon(&["run".to_owned(), fixture("ping_pong.casm"), "-o".to_owned(), arg(&out)]);
    o.expect_clean_failure().expect_code(1).stderr_has(&["cannot write", &arg(&out)]);
}

#[test]
fn fuel_zero_runs_like_fuel_one() {
    let dir = temp_dir("fuel");
    let (a, b) = (dir.join("a.replay"), dir.join("b.replay"));
    canon(&[
        "run".to_owned(),
        fixture("ping_pong_loop.casm"),
        "--fuel".to_owned(),
        "0".to_owned(),
        "-q".to_owned(),
        "-o".to_owned(),
        arg(&a),
    ])
    .expect_code(0);
    canon(&[
        "run".to_owned(),
        fixture("ping_pong_loop.casm"),
        "--fuel".to_owned(),
        "1".to_owned(),
        "-q".to_owned(),
        "-o".to_owned(),
        arg(&b),
    ])
    .expect_code(0);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

/// Worker counts that would exhaust threads are refused up front with a
/// clear error; the cap itself is accepted. (`--sessions` needs no cap:
/// instances are built when the runner reaches them.)
#[test]
fn worker_counts_are_capped() {
    let run = |extra: &[&str]| {
        let mut args = vec!["run".to_owned(), fixture("ping_pong.casm"), "-q".to_owned()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        canon(&args)
    };
    run(&["--runner", "threaded", "--workers", "20000"])
        .expect_clean_failure()
        .stderr_has(&["--workers 20000", "per core"]);
    run(&["--runner", "threaded", "--workers", "64"]).expect_code(0);
}

#[test]
fn the_instruction_budget_stops_a_spinning_run() {
    let o = canon(&[
        "run".to_owned(),
        fixture("ping_pong_loop.casm"),
        "-q".to_owned(),
        "--max-instructions".to_owned(),
        "5".to_owned(),
    ]);
    o.expect_code(5);
    assert_eq!(o.stdout, "instruction budget exhausted\n", "{o}");
}
