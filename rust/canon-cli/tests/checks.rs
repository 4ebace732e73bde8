//! `canon run --owner LABEL` on a choreography with a readiness check
//! (`tests/compat/accept/099_check_readiness.canon`): the check's witness is
//! issued and consumed, `canon replay audit --capabilities` lists both, the
//! replay re-executes, and the threaded runner writes the same bytes.
//! Without an owner the check is refused (3039).

mod common;

use common::{arg, canon, repo_root, temp_dir};

fn hold() -> String {
    arg(&repo_root().join("tests/compat/accept/099_check_readiness.canon"))
}

#[test]
fn an_owned_run_issues_and_consumes_the_witness_and_audits_both() {
    let dir = temp_dir("checks-owned");
    let (coop, threaded) = (dir.join("c.replay"), dir.join("t.replay"));
    for (out, extra) in [(&coop, vec![]), (&threaded, vec!["--runner", "threaded", "--workers", "3"])] {
        let mut args = vec!["run".to_owned(), hold(), "--owner".into(), "alice".into(), "--seed".into(), "1".into()];
        args.extend(["-q".to_owned(), "-o".to_owned(), arg(out)]);
        args.extend(extra.into_iter().map(str::to_owned));
        canon(&args).expect_code(0).stdout_has(&["ok"]);
    }
    assert_eq!(std::fs::read(&coop).unwrap(), std::fs::read(&threaded).unwrap(), "cooperative == threaded");
    let audit = canon(&["replay".to_owned(), "audit".into(), arg(&coop), "--capabilities".into()]);
    audit.expect_code(0);
    let lines: Vec<&str> = audit.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "#1 t=0 g0 owner \"alice\" generation 0: claimed",
            "#14 t=2 g0 readiness 0x0.0: issued check=\"Ledger.reserve\" generation=0",
            "#21 t=3 g0 readiness 0x0.0: consumed",
        ]
    );
    let verify = canon(&["replay".to_owned(), "verify".into(), arg(&coop), "--program".into(), hold()]);
    verify.expect_code(0).stdout_has(&["re-executed from the recorded host answers reproduces every event"]);
}

#[test]
fn without_an_owner_the_check_is_refused() {
    let dir = temp_dir("checks-unowned");
    let out = dir.join("u.replay");
    let o = canon(&["run".to_owned(), hold(), "--seed".into(), "1".into(), "-q".into(), "-o".into(), arg(&out)]);
    o.expect_code(3).stdout_has(&["fault 3039"]);
    let shown = canon(&["replay".to_owned(), "show".into(), arg(&out)]);
    shown.expect_code(0).stdout_has(&["OwnershipRejected code=4007"]);
}
