//! `canon replay audit`: the audit logs computed from a replay file.

mod common;

use common::{arg, canon, repo_root, temp_dir};

#[test]
fn replay_audit_shows_the_lease_witness_lifecycle() {
    let dir = temp_dir("audit");
    let replay = dir.join("lease.replay");
    let fixture = arg(&repo_root().join("fixtures/asm/job_lease.casm"));
    // The run ends with the worker's fault (exit 3), and writes its replay.
    canon(&["run".to_owned(), fixture, "-o".to_owned(), arg(&replay)]).expect_code(3);
    let semantic = "\
#5 t=1 g0 witness 0: TimeoutIssued
#6 t=4 g0 witness 0: TimeoutExpired
#7 t=4 g0 witness 0: CancellationRequested
#8 t=4 g0 witness 0: Cancelled (consumed)
#9 t=4 g0 session 0x0: SessionTerminal Cancelled
#11 t=7 g0 coroutine 2: FailureBranchEntered code=3035
#12 t=7 g0 coroutine 2: Faulted code=3035
";
    let out = canon(&["replay".to_owned(), "audit".to_owned(), arg(&replay)]);
    out.expect_code(0);
    assert_eq!(out.stdout, semantic);
    let caps = canon(&["replay".to_owned(), "audit".to_owned(), arg(&replay), "--capabilities".to_owned()]);
    caps.expect_code(0);
    assert_eq!(
        caps.stdout,
        "#5 t=1 g0 witness 0: issued (timeout)\n#6 t=4 g0 witness 0: expired\n#8 t=4 g0 witness 0: consumed (cancellation)\n"
    );
    let json = canon(&[
        "replay".to_owned(),
        "audit".to_owned(),
        arg(&replay),
        "--capabilities".to_owned(),
        "--json".to_owned(),
    ]);
    let first: serde_json::Value = serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["object"]["witness"], 0);
    assert_eq!(first["action"], "issued (timeout)");
    assert_eq!(first["tick"], 1);
}
