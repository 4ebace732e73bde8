//! The job orchestrator seed system end to end (docs/tutorial-seed-systems.md):
//! a job leased to a worker that stops reporting loses its lease after the
//! configured rounds and is re-queued to another worker; a duplicated
//! submission under `--replay-mode nullifier` is refused where it arrives,
//! with no state change, and shows in `replay show` and the audit; the
//! run replays deterministically; its audit bundle exports and verifies, and
//! a tampered bundle is refused naming the file.

mod common;

use common::{arg, canon, repo_root, temp_dir};

fn lease() -> String {
    arg(&repo_root().join("fixtures/job_lease.canon"))
}

/// The `canon replay show` lines of `replay` that contain `needle`.
fn shown(replay: &std::path::Path) -> String {
    let o = canon(&["replay".to_owned(), "show".to_owned(), arg(replay)]);
    o.expect_code(0);
    o.stdout
}

fn count(view: &str, needle: &str) -> usize {
    view.lines().filter(|l| l.contains(needle)).count()
}

/// Index of the first line of `view` containing `needle`.
fn line_of(view: &str, needle: &str) -> usize {
    view.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle:?}\n{view}"))
}

#[test]
fn a_silent_worker_loses_its_lease_and_the_job_is_requeued() {
    let dir = temp_dir("job-lease");
    let replay = dir.join("lease.replay");
    canon(&["run".to_owned(), lease(), "-o".to_owned(), arg(&replay), "-q".to_owned()]).expect_code(0);
    let view = shown(&replay);
    // The scheduler starts waiting when it has sent the lease (witness 0),
    // the same witness expires three rounds later, and the late worker's
    // endpoint is closed by that deadline, before the job is re-queued.
    let issued = line_of(&view, "s0:Scheduler TimeoutIssued witness=0");
    let expired = line_of(&view, "s0:Scheduler TimeoutExpired witness=0");
    let revoked = line_of(&view, "s0:Worker1 EndpointClosed");
    let requeued = line_of(&view, "Sent -> Worker2 Requeue");
    assert!(issued < expired && expired + 1 == revoked && revoked < requeued, "{view}");
    let t = |i: usize| -> u64 {
        let line = view.lines().nth(i).expect("a line");
        line.trim_start_matches("t=").split_whitespace().next().and_then(|t| t.parse().ok()).expect("a tick")
    };
    assert_eq!(t(expired) - t(issued), 3, "the lease is `within 3`\n{view}");
    // Worker2 completes the job, the client is told once, the session closes.
    assert_eq!(count(&view, "Received <- Worker2 Report"), 1, "{view}");
    assert_eq!(count(&view, "Sent -> Client Done"), 1, "{view}");
    assert_eq!(count(&view, "Received <- Worker1 Report"), 0, "{view}");
    // The late worker never reports: its next operation ends it quietly,
    // and the input it never read is reported when the session closes.
    assert_eq!(count(&view, "Sent -> Scheduler Report"), 1, "only Worker2 reports\n{view}");
    assert!(view.contains("s0:Worker1 Halted"), "{view}");
    assert!(view.contains("Discarded"), "{view}");
    assert!(view.contains("SessionTerminal Closed"), "{view}");
    assert!(!view.contains("Cancelled"), "a timeout branch does not cancel\n{view}");
}

#[test]
fn a_duplicated_submission_is_refused_with_no_state_change_under_nullifier_mode() {
    let dir = temp_dir("job-dup");
    let (replay, clean) = (dir.join("dup.replay"), dir.join("clean.replay"));
    let program = lease();
    let run = |out: &std::path::Path, inject: &[&str]| {
        let out = arg(out);
        let mut args = vec!["run", program.as_str(), "--replay-mode", "nullifier", "-o", out.as_str(), "-q"];
        args.extend_from_slice(inject);
        canon(&args).expect_code(0);
    };
    run(&replay, &["--inject", "duplicate@0"]);
    run(&clean, &[]);
    let view = shown(&replay);
    // The transport delivered the submission twice (message #0 is the
    // client's Submit): the copy is refused where it arrives, right after
    // the injection, with the identity the scheduler then consumes, once.
    let injected = line_of(&view, "Injected duplicate nth=0 -> Scheduler");
    let refused = line_of(&view, "DuplicateRefused -> Scheduler seq=0");
    assert_eq!(refused, injected + 1, "{view}");
    let id = view.lines().nth(refused).and_then(|l| l.split("id=").nth(1)).and_then(|r| r.split(' ').next());
    let id = id.expect("the refused identity");
    assert_eq!(count(&view, &format!("Scheduler Consumed nullifier id={id}")), 1, "{view}");
    assert_eq!(count(&view, "Received <- Client Submit"), 1, "{view}");
    assert_eq!(count(&view, "Sent -> Worker1 Lease"), 1, "{view}");
    // Nothing else changed: no fault, no copy left to discard, and every
    // other line is the clean run's (the signatures too: the same keys sign
    // the same envelopes).
    assert!(!view.lines().any(|l| l.contains("Discarded") && l.contains("Submit")), "{view}");
    assert!(!view.contains("Faulted"), "{view}");
    let other = |v: &str| -> Vec<String> {
        v.lines().filter(|l| !l.contains("Injected") && !l.contains("DuplicateRefused")).map(str::to_owned).collect()
    };
    let (with, without) = (other(&view), other(&shown(&clean)));
    // The trailer (events, blocks, root) differs; the events do not.
    let events = |v: &[String]| v.iter().filter(|l| l.starts_with("t=")).cloned().collect::<Vec<_>>();
    assert_eq!(events(&with), events(&without));
    // The audit log shows the refusal.
    let audit = canon(&["replay".to_owned(), "audit".to_owned(), arg(&replay)]);
    audit.expect_code(0);
    assert!(audit.stdout.lines().any(|l| l.contains(&format!("DuplicateRefused 0->1 seq=0 id={id}"))), "{audit}");
    // Re-executing the replay reaches the same verdict (the configuration,
    // the replay mode and the injection are recorded in it), and a second
    // run writes the same bytes.
    let verify = ["replay", "verify", &arg(&replay), "--program", &lease()].map(str::to_owned);
    canon(&verify).expect_code(0).stdout_has(&["behaviour    yes"]);
    let again = dir.join("again.replay");
    run(&again, &["--inject", "duplicate@0"]);
    assert!(std::fs::read(&again).unwrap() == std::fs::read(&replay).unwrap(), "two runs differ");
}

#[test]
fn a_job_replays_deterministically_and_its_audit_bundle_verifies() {
    let dir = temp_dir("job-bundle");
    let (a, b) = (dir.join("a.replay"), dir.join("b.replay"));
    for r in [&a, &b] {
        canon(&["run".to_owned(), lease(), "-o".to_owned(), arg(r), "-q".to_owned()]).expect_code(0);
    }
    let bytes = |p: &std::path::Path| std::fs::read(p).expect("a replay");
    assert_eq!(bytes(&a), bytes(&b), "two runs of the job differ");
    let verify = ["replay", "verify", &arg(&a), "--program", &lease()].map(str::to_owned);
    canon(&verify).expect_code(0).stdout_has(&["behaviour    yes"]);

    let key = dir.join("bundle.key-seed");
    canon(&["keygen".to_owned(), "-o".to_owned(), arg(&key)]).expect_code(0);
    let bundle = dir.join("audit");
    let export = ["bundle", "export", &arg(&a), "--program", &lease(), "--key", &arg(&key), "-o", &arg(&bundle)]
        .map(str::to_owned);
    canon(&export).expect_code(0);
    let pubkey = canon(&["bundle".to_owned(), "pubkey".to_owned(), "--key".to_owned(), arg(&key)]);
    pubkey.expect_code(0);
    let signer = dir.join("signer.pub");
    std::fs::write(&signer, &pubkey.stdout).expect("write the signer key");
    let check = ["bundle", "verify", &arg(&bundle), "--pubkey", &arg(&signer)].map(str::to_owned);
    canon(&check).expect_code(0);

    // One flipped byte in the events is found and the file named.
    let events = bundle.join("events.jsonl");
    let mut text = std::fs::read(&events).expect("events.jsonl");
    let at = text.iter().position(|&c| c == b'W').expect("a role name in the events");
    text[at] = b'X';
    std::fs::write(&events, text).expect("tamper");
    let o = canon(&check);
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stderr.contains("events.jsonl") || o.stdout.contains("events.jsonl"), "{o}");
}
