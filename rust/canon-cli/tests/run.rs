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

#[test]
fn a_fault_in_a_compiled_choreography_names_its_canon_line() {
    let program = arg(&repo_root().join("fixtures/two_buyer.canon"));
    // The third message (Quote to Buyer2) arrives with a bad signature: Buyer2's receive faults.
    let o = canon(&["run".to_owned(), program.clone(), "--inject".to_owned(), "corrupt-signature@2".to_owned()]);
    o.expect_code(3);
    let fault =
        o.stdout.lines().position(|l| l.starts_with("  fault 3028")).unwrap_or_else(|| panic!("a fault line\n{o}"));
    let at = o.stdout.lines().nth(fault + 1).unwrap_or("");
    assert_eq!(at, format!("    at {program}:10:3 `Quote(Int) from Seller to Buyer1, Buyer2;`"), "\n{o}");
    // An assembled program has no source map: the fault names proc and instr only.
    let o = canon(&["run".to_owned(), fixture("fault_buffer_full.casm")]);
    o.expect_code(3);
    assert!(o.stdout.contains("  fault 3014") && !o.stdout.contains("    at "), "\n{o}");
}

#[test]
fn replay_show_with_the_program_names_where_each_fault_happened() {
    let dir = temp_dir("show-fault");
    let out = arg(&dir.join("f.replay"));
    let program = arg(&repo_root().join("fixtures/two_buyer.canon"));
    let run = ["run", &program, "--inject", "corrupt-signature@2", "-q", "-o", &out];
    canon(&run.map(String::from)).expect_code(3);
    let o = canon(&["replay", "show", &out, "--program", &program].map(String::from));
    o.expect_code(0);
    let faulted: Vec<&str> = o.stdout.lines().filter(|l| l.contains(" Faulted code=3028")).collect();
    let expected = format!(
        "t=3 g0 c2 s0:Buyer2 Faulted code=3028 at proc 2 instr 0 {program}:10:3 `Quote(Int) from Seller to Buyer1, Buyer2;`"
    );
    assert_eq!(faulted.first().copied(), Some(expected.as_str()), "\n{o}");
    // With --json, the same site as a `fault_site` object of the event.
    let o = canon(&["replay", "show", &out, "--program", &program, "--json"].map(String::from));
    o.expect_code(0);
    let event = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .find(|v| v["kind"] == "Faulted")
        .unwrap_or_else(|| panic!("a Faulted event\n{o}"));
    let want = serde_json::json!({
        "proc": 2, "instr": 0,
        "source": { "file": program, "line": 10, "column": 3, "statement": "Quote(Int) from Seller to Buyer1, Buyer2;" },
    });
    assert_eq!(event["fault_site"], want, "\n{o}");
    let recorded = canon(&["replay", "show", &out, "--json"].map(String::from));
    assert!(!recorded.stdout.contains("fault_site"), "\n{recorded}");
    // Without --program the line is as recorded; with another program, an error.
    let plain = canon(&["replay", "show", &out].map(String::from));
    assert!(plain.stdout.lines().any(|l| l == "t=3 g0 c2 s0:Buyer2 Faulted code=3028"), "\n{plain}");
    let other = arg(&repo_root().join("fixtures/three_buyer.canon"));
    let o = canon(&["replay", "show", &out, "--program", &other].map(String::from));
    o.expect_code(1);
    assert!(o.stderr.contains("the replay was recorded from program"), "\n{o}");
}
