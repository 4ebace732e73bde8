//! Seed 000's nine-stage decision pipeline end to end
//! (`fixtures/seeds/decision_pipeline.canon`, docs/tutorial-seed-systems.md):
//! 1,000 decisions run on the threaded runner, the ledger (the replay)
//! verified against its root with the program, and every decision checked
//! from the ledger alone: the stages entered and exited in strict sequence,
//! each hand-off inside its stage's cumulative budget, every missed deadline
//! failing closed (the decision cancelled at exactly its deadline, no
//! verdict), every hand-off signed, and the final review escalating to the
//! supervisor exactly when the reviewer is late (the decision still closes,
//! with the supervisor's ruling).

mod common;

use std::collections::BTreeMap;

use canon_machine::{Event, EventKind, TerminalReason};
use common::{arg, canon, temp_dir};

const PIPELINE: &str = "fixtures/seeds/decision_pipeline.canon";
const DECISIONS: u32 = 1000;

/// The stages in order, and the cumulative budget (rounds from the start of
/// the decision) within which each stage's hand-off must reach the next
/// stage (COMMIT's verdict: the source).
const STAGES: [(&str, u64); 9] = [
    ("Intake", 2),
    ("Normalize", 5),
    ("Engine", 13),
    ("Score", 28),
    ("Arbitrate", 33),
    ("Dispatch", 34),
    ("Evaluate", 39),
    ("Consensus", 47),
    ("Commit", 50),
];

/// The final review's budget: rounds from the verdict reaching the source
/// within which the reviewer must uphold it, or the review escalates.
const REVIEW: u64 = 6;

/// Labels a stage sends when it degrades (its failure posture).
const DEGRADED: [&str; 4] = ["Heuristic", "SentinelOnly", "SafeBlock", "NoQuorum"];

/// One decision as the ledger records it.
#[derive(Default, Debug)]
struct Decision {
    /// Role index → name.
    roles: Vec<String>,
    /// (tick, receiver role, sender role index, label) of every delivery.
    received: Vec<(u64, String, String, String)>,
    /// (tick, sender role, receiver role, label, signed) of every send.
    sent: Vec<(u64, String, String, String, bool)>,
    /// Role → ticks its timeouts were issued, in order.
    issued: BTreeMap<String, Vec<u64>>,
    /// (tick, role) of the expired timeout.
    expired: Vec<(u64, String)>,
    /// (tick, role) of every endpoint closed (a revoked late sender's too).
    closed: Vec<(u64, String)>,
    terminal: Option<TerminalReason>,
}

fn decisions(replay: &canon_replay::Replay) -> BTreeMap<u64, Decision> {
    let name = |id: canon_types::SymId| replay.header.sym(id).unwrap_or("?").to_owned();
    let mut out: BTreeMap<u64, Decision> = BTreeMap::new();
    for Event { site, kind } in &replay.events {
        if site.sid == canon_machine::EventSite::NO_SID {
            continue;
        }
        let d = out.entry(site.sid).or_default();
        let role = |d: &Decision, i: u16| d.roles.get(usize::from(i)).cloned().unwrap_or_default();
        match kind {
            EventKind::Opened { roles, .. } => d.roles = roles.iter().map(|r| name(*r)).collect(),
            EventKind::Sent { to, label, signature, .. } => {
                let (from, to) = (role(d, site.role), role(d, *to));
                d.sent.push((site.tick, from, to, name(*label), signature.is_some()));
            }
            EventKind::Received { from, label, .. } => {
                let (me, from) = (role(d, site.role), role(d, *from));
                d.received.push((site.tick, me, from, name(*label)));
            }
            EventKind::TimeoutIssued { .. } => {
                let me = role(d, site.role);
                d.issued.entry(me).or_default().push(site.tick);
            }
            EventKind::TimeoutExpired { .. } => {
                let me = role(d, site.role);
                d.expired.push((site.tick, me));
            }
            EventKind::EndpointClosed => {
                let me = role(d, site.role);
                d.closed.push((site.tick, me));
            }
            EventKind::SessionTerminal { reason } => d.terminal = Some(*reason),
            _ => {}
        }
    }
    out
}

/// The receiver of stage `k`'s hand-off.
fn next(k: usize) -> &'static str {
    STAGES.get(k + 1).map_or("Source", |s| s.0)
}

/// What one decision came to.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Verdict {
        degraded: bool,
    },
    /// The reviewer missed the final review's deadline: the review
    /// escalated to the supervisor, whose ruling the source heard.
    Escalated {
        degraded: bool,
    },
    Rejected,
    /// Failed closed at the deadline of this stage's hand-off.
    FailedClosed(&'static str),
}

/// Checks one decision against the pipeline's rules and says what it came to.
fn check(sid: u64, d: &Decision) -> Outcome {
    assert_eq!(d.roles.len(), 16, "s{sid}: source, nine stages, three model services, archive, reviewer, supervisor");
    assert!(d.sent.iter().all(|s| s.4), "s{sid}: an unsigned hand-off");
    let entry = |k: usize| {
        let from = if k == 0 { "Source" } else { STAGES[k - 1].0 };
        d.received.iter().find(|r| r.1 == STAGES[k].0 && r.2 == from).map(|r| r.0)
    };
    let exit = |k: usize| d.sent.iter().find(|s| s.1 == STAGES[k].0 && s.2 == next(k)).map(|s| (s.0, s.3.clone()));
    let mut previous_exit = None;
    for (k, (stage, budget)) in STAGES.iter().enumerate() {
        let Some(entered) = entry(k) else {
            // A stage not entered: the decision failed closed waiting for it.
            let [(at, who)] = d.expired.as_slice() else {
                panic!("s{sid}: {stage} never entered, and no deadline: {d:?}")
            };
            let (waiter, deadline) = (STAGES[k].0, STAGES[k - 1].1);
            assert_eq!(who, waiter, "s{sid}: the deadline that expired is not the one of the stage waited for");
            assert_eq!(*at, d.issued[waiter][0] + deadline, "s{sid}: {waiter} expired off its deadline");
            assert_eq!(d.terminal, Some(TerminalReason::Cancelled), "s{sid}: a missed deadline fails closed");
            assert!(!d.received.iter().any(|r| r.1 == "Source"), "s{sid}: no verdict after failing closed");
            return Outcome::FailedClosed(STAGES[k - 1].0);
        };
        if let Some(out) = previous_exit {
            assert!(out < entered, "s{sid}: {stage} entered at {entered}, before its predecessor exited at {out}");
        }
        let Some((exited, _)) = exit(k) else {
            let waiter = next(k);
            let [(at, who)] = d.expired.as_slice() else { panic!("s{sid}: {stage} never exited, and no deadline") };
            assert_eq!(who, waiter, "s{sid}");
            assert_eq!(*at, d.issued[waiter][0] + budget, "s{sid}: {waiter} expired off its deadline");
            assert_eq!(d.terminal, Some(TerminalReason::Cancelled), "s{sid}");
            return Outcome::FailedClosed(stage);
        };
        assert!(entered <= exited, "s{sid}: {stage} exited before it entered");
        let waiter = next(k);
        let delivered = d.received.iter().find(|r| r.1 == waiter && r.2 == *stage).map(|r| r.0);
        if let Some(at) = delivered {
            assert!(at <= d.issued[waiter][0] + budget, "s{sid}: {stage}'s hand-off arrived after its budget");
        }
        previous_exit = Some(exited);
    }
    assert_eq!(d.terminal, Some(TerminalReason::Closed), "s{sid}: a decision through its stages closes");
    let last = d.received.iter().find(|r| r.1 == "Source").expect("the source hears the outcome");
    match last.3.as_str() {
        "Verdict" => review(sid, d, last.0),
        "Rejected" => {
            assert!(d.expired.is_empty(), "s{sid}: a deadline expired in a rejection");
            assert!(d.sent.iter().any(|s| s.3 == "Malformed"), "s{sid}: rejected without a malformed event");
            assert!(d.received.iter().any(|r| r.1 == "Source" && r.2 == "Reviewer" && r.3 == "Halt"), "s{sid}");
            assert!(d.received.iter().any(|r| r.1 == "Supervisor" && r.3 == "Halt"), "s{sid}");
            Outcome::Rejected
        }
        other => panic!("s{sid}: the source heard {other}"),
    }
}

/// The final review of a decision whose verdict reached the source at
/// `verdict`: the source waits at most `REVIEW` rounds for the reviewer to
/// uphold it. The reviewer reads the archive's pages until the archive
/// seals the record, then answers; so from the archive's sends alone the
/// reviewer's answer would reach the source two rounds after the seal was
/// sent (the seal delivered, the answer delivered). The review escalates
/// exactly when that is past the deadline: the deadline expires at its
/// round, the reviewer's endpoint is revoked in the same round, the source
/// escalates to the supervisor, the supervisor's ruling reaches the source,
/// and the decision still closes. Otherwise the reviewer upholds the
/// verdict in time and the source tells the supervisor so.
fn review(sid: u64, d: &Decision, verdict: u64) -> Outcome {
    let degraded = d.sent.iter().any(|s| DEGRADED.contains(&s.3.as_str()));
    let issued = d.issued.get("Source").map(Vec::as_slice).unwrap_or_default();
    let [_, review_issued] = issued else {
        panic!("s{sid}: the source waited {issued:?}, not for the verdict and then the review")
    };
    assert_eq!(*review_issued, verdict, "s{sid}: the review's deadline starts when the verdict reaches the source");
    let deadline = review_issued + REVIEW;
    let sealed = d.sent.iter().find(|s| s.1 == "Archive" && s.2 == "Reviewer" && s.3 == "Sealed").map(|s| s.0);
    let sealed = sealed.unwrap_or_else(|| panic!("s{sid}: the archive never sealed the record"));
    let late = sealed + 2 > deadline;
    let heard = |from: &str, label: &str| {
        d.received.iter().find(|r| r.1 == "Source" && r.2 == from && r.3 == label).map(|r| r.0)
    };
    let told =
        |label: &str| d.sent.iter().find(|s| s.1 == "Source" && s.2 == "Supervisor" && s.3 == label).map(|s| s.0);
    if late {
        assert_eq!(
            d.expired,
            [(deadline, "Source".to_owned())],
            "s{sid}: the late review expires at its deadline, and only it"
        );
        assert!(
            d.closed.contains(&(deadline, "Reviewer".to_owned())),
            "s{sid}: the late reviewer is revoked at the deadline"
        );
        assert_eq!(heard("Reviewer", "Upheld"), None, "s{sid}: the late reviewer was heard");
        assert_eq!(told("Escalate"), Some(deadline), "s{sid}: the review escalates at its deadline");
        let ruling = heard("Supervisor", "Ruling").unwrap_or_else(|| panic!("s{sid}: no ruling after escalating"));
        assert!(ruling > deadline, "s{sid}");
        assert_eq!(told("Upheld"), None, "s{sid}");
        Outcome::Escalated { degraded }
    } else {
        assert!(d.expired.is_empty(), "s{sid}: a deadline expired in a review in time: {:?}", d.expired);
        let upheld =
            heard("Reviewer", "Upheld").unwrap_or_else(|| panic!("s{sid}: the reviewer in time was not heard"));
        assert!(upheld <= deadline, "s{sid}: upheld at {upheld}, after the deadline {deadline}");
        assert_eq!(upheld, sealed + 2, "s{sid}: the reviewer answers on reading the seal");
        assert!(told("Upheld").is_some() && told("Escalate").is_none(), "s{sid}");
        assert_eq!(heard("Supervisor", "Ruling"), None, "s{sid}: a ruling without an escalation");
        Outcome::Verdict { degraded }
    }
}

#[test]
fn a_thousand_decisions_run_in_stage_order_within_budget_and_verify() {
    let dir = temp_dir("seed-pipeline");
    let ledger = dir.join("ledger.replay");
    let run = canon(&[
        "run",
        PIPELINE,
        "--sessions",
        &DECISIONS.to_string(),
        "--runner",
        "threaded",
        "--workers",
        "2",
        "-o",
        &arg(&ledger),
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
    let bytes = std::fs::read(&ledger).expect("the ledger");
    let replay = canon_replay::Replay::decode(&bytes).expect("the ledger decodes");
    let all = decisions(&replay);
    assert_eq!(all.len(), DECISIONS as usize);
    let mut outcomes: BTreeMap<Outcome, u32> = BTreeMap::new();
    let mut escalated: Vec<(u64, u64)> = Vec::new();
    for (sid, d) in &all {
        let outcome = check(*sid, d);
        if matches!(outcome, Outcome::Escalated { .. }) {
            escalated.push((*sid, d.expired[0].0));
        }
        *outcomes.entry(outcome).or_default() += 1;
    }
    // Every path is taken: full and degraded verdicts, rejections, and
    // decisions failing closed at a deadline.
    let failed_closed: u32 =
        outcomes.iter().filter(|(o, _)| matches!(o, Outcome::FailedClosed(_))).map(|(_, n)| n).sum();
    assert!(outcomes.get(&Outcome::Verdict { degraded: false }).is_some_and(|n| *n > 0), "{outcomes:?}");
    assert!(outcomes.get(&Outcome::Verdict { degraded: true }).is_some_and(|n| *n > 0), "{outcomes:?}");
    assert!(outcomes.get(&Outcome::Rejected).is_some_and(|n| *n > 0), "{outcomes:?}");
    assert!(failed_closed > 0, "{outcomes:?}");
    // Some reviews escalate, some do not; only the final review does.
    let escalations: u32 =
        outcomes.iter().filter(|(o, _)| matches!(o, Outcome::Escalated { .. })).map(|(_, n)| n).sum();
    assert_eq!(escalations as usize, escalated.len());
    assert!(escalations > 0, "{outcomes:?}");
    assert!(outcomes.keys().any(|o| matches!(o, Outcome::Verdict { .. })), "{outcomes:?}");
    // The escalations, decision and round, each at its review's deadline.
    for (sid, round) in &escalated {
        let d = &all[sid];
        assert_eq!(*round, d.issued["Source"][1] + REVIEW, "s{sid}");
    }
    // Every decision that did not fail closed closed, escalated ones with them.
    assert_eq!(summary["session_statuses"]["Closed"].as_u64(), Some(u64::from(DECISIONS - failed_closed)), "{summary}");
    assert_eq!(summary["instances"].as_u64(), Some(u64::from(DECISIONS)), "{summary}");
    // The run's exit code says decisions were cancelled (6), and how many.
    run.expect_code(6);
    assert_eq!(summary["session_statuses"]["Cancelled"].as_u64(), Some(u64::from(failed_closed)), "{summary}");
    // The ledger verifies: chain, every signature, every delivery against its
    // send, re-execution with the program, and the root a trusted record holds.
    let root = summary["replay"]["root"].as_str().expect("the root");
    canon(&[
        "replay",
        "verify",
        &arg(&ledger),
        "--program",
        PIPELINE,
        "--root",
        root,
        "--require",
        "integrity",
        "--require",
        "authentic",
        "--require",
        "behaviour",
    ])
    .expect_code(0);
    // The cooperative runner writes the same ledger.
    let again = dir.join("again.replay");
    canon(&["run", PIPELINE, "--sessions", &DECISIONS.to_string(), "-o", &arg(&again), "-q"]).expect_code(6);
    assert!(std::fs::read(&again).expect("replay") == bytes, "the runners disagree");
    // One flipped byte in the ledger is found.
    let mut tampered = bytes.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x10;
    let bad = dir.join("tampered.replay");
    std::fs::write(&bad, &tampered).unwrap();
    canon(&["replay", "verify", &arg(&bad), "--program", PIPELINE]).expect_code(1);
}
