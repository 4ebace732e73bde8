//! Host-side session ownership (seed 003): one test per row of the seed's
//! ownership tables, each asserting the exact event order through a golden
//! replay (insta), and a proptest against a model of the rules.

use std::sync::Arc;

use canon_machine::{Auth, EventKind, OwnershipRecord, Scope, SessionStatus};
use canon_replay::Replay;
use canon_runtime::{
    Config, CooperativeRunner, LoadError, Machine, Owner, Runner, SeededHost, ThreadedRunner, reexecute,
};
use canon_types::ErrorCode;

#[path = "common/replayed.rs"]
mod replayed;

use replayed::finish;

const PING: &str = "
.type ta = B!Ping(Int).end
.type tb = A?Ping(Int).end
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn role_a, [r0]
    spawn role_b, [r1]
    halt
.end
.proc role_a(ep ta) regs 2
    produce r1, r0, Ping
    send r0, Ping, r1
    close r0
    halt
.end
.proc role_b(ep tb) regs 2
    recv r0, Ping, r1
    close r0
    halt
.end
";

fn program() -> Arc<canon_bytecode::VerifiedProgram> {
    Arc::new(canon_bytecode::verify(canon_bytecode::assemble(PING).unwrap()).unwrap())
}

fn config() -> Config {
    Config { auth: Auth::None, ..Config::default() }
}

fn owned(machine: &mut Machine) -> (u32, Owner) {
    machine.load_choreography_owned(&program(), Box::new(SeededHost::new(1)), "alice").unwrap()
}

/// Runs one round of `group` (so its session is open), as its owner.
fn open_session(machine: &mut Machine, group: u32, owner: &Owner) {
    machine.group_mut_as(group, owner).unwrap().run_round();
}

/// Runs `scenario` twice (cooperative, threaded) and snapshots the events.
fn golden(name: &str, scenario: fn(&mut Machine)) -> Replay {
    let build = || {
        let mut m = Machine::new(config());
        scenario(&mut m);
        m
    };
    let (replay, text) = finish(&program(), build(), build);
    insta::assert_snapshot!(name, text);
    replay
}

fn status(machine: &Machine, group: u32) -> Option<SessionStatus> {
    machine.groups()[group as usize].store().get(u64::from(group) << 32).map(|s| s.status)
}

// ---- Ownership elements -------------------------------------------------

#[test]
fn element_current_owner_capability_is_label_generation_and_scope() {
    golden("element_current_owner", |m| {
        let (g, alice) = owned(m);
        assert_eq!(m.owner(g), Some(alice.clone()));
        let o = m.ownership(g, alice.sid).unwrap();
        assert_eq!((o.owner.label.as_str(), o.owner.generation, &o.owner.scope), ("alice", 0, &Scope::Full));
    });
}

#[test]
fn element_generation_increments_on_transfer_and_attenuation() {
    golden("element_generation", |m| {
        let (g, alice) = owned(m);
        let bob = m.transfer(g, &alice, "bob").unwrap();
        assert_eq!(bob.generation, 1);
        let narrow = m.attenuate(&bob, Scope::Roles(vec!["A".into()])).unwrap();
        assert_eq!(narrow.generation, 2);
        // Both old handles are stale.
        assert_eq!(m.issue_readiness(&alice, "x").unwrap_err().code(), 4005);
        assert_eq!(m.issue_readiness(&bob, "x").unwrap_err().code(), 4005);
        assert_eq!(m.owner(g), Some(narrow));
    });
}

#[test]
fn element_pending_transfer_receipt_is_one_per_claim() {
    golden("element_pending_receipt", |m| {
        let (g, alice) = owned(m);
        let r = m.begin_transfer(&alice, "bob").unwrap();
        assert_eq!(m.ownership(g, alice.sid).unwrap().pending.as_ref().map(|p| p.receipt), Some(r.id));
        assert_eq!(m.begin_transfer(&alice, "carol").unwrap_err().code(), 4009);
        let bob = m.commit(&r).unwrap();
        assert_eq!((bob.label.as_str(), bob.generation), ("bob", 1));
        assert!(m.ownership(g, alice.sid).unwrap().pending.is_none());
        // A committed receipt cannot be committed again.
        assert_eq!(m.commit(&r).unwrap_err().code(), 4010);
    });
}

#[test]
fn element_readiness_witness_is_single_use_and_generation_bound() {
    golden("element_readiness_witness", |m| {
        let (g, alice) = owned(m);
        let w = m.issue_readiness(&alice, "Ledger.check").unwrap();
        m.consume(&w).unwrap();
        assert_eq!(m.consume(&w).unwrap_err().code(), 4016);
        let w2 = m.issue_readiness(&alice, "Ledger.check").unwrap();
        let bob = m.transfer(g, &alice, "bob").unwrap();
        assert_eq!(m.consume(&w2).unwrap_err().code(), 4017);
        let o = m.ownership(g, bob.sid).unwrap();
        assert_eq!((o.consumed.clone(), o.invalidated.clone()), (vec![0], vec![1]));
    });
}

#[test]
fn element_authority_audit_log_is_computed_from_the_replay() {
    let replay = golden("element_audit_log", |m| {
        let (_, alice) = owned(m);
        let r = m.begin_transfer(&alice, "bob").unwrap();
        m.rollback(&r).unwrap();
        let w = m.issue_readiness(&alice, "check").unwrap();
        m.consume(&w).unwrap();
        let _ = m.consume(&w);
    });
    let log: Vec<String> = canon_replay::capability_lifecycle_audit_log(&replay)
        .iter()
        .map(|e| format!("{:?} {}", e.object, e.action))
        .collect();
    insta::assert_snapshot!("element_audit_log_capabilities", log.join("\n"));
}

#[test]
fn element_terminal_ownership_reason_is_recorded() {
    golden("element_terminal_reason", |m| {
        let (g, alice) = owned(m);
        open_session(m, g, &alice);
        m.owner_died(&alice, "lost heartbeat").unwrap();
        let o = m.ownership(g, alice.sid).unwrap();
        assert_eq!(o.terminal.as_deref(), Some("ownership owner `alice` died: lost heartbeat"));
    });
}

// ---- Default rules ------------------------------------------------------

#[test]
fn rule_at_most_one_current_owner() {
    golden("rule_one_owner", |m| {
        let (g, alice) = owned(m);
        let bob = m.transfer(g, &alice, "bob").unwrap();
        // Only the current handle mutates; the claim cannot be made twice.
        assert!(m.group_mut_as(g, &alice).is_err());
        assert!(m.group_mut_as(g, &bob).is_ok());
        assert_eq!(m.owner(g).map(|o| o.label), Some("bob".to_owned()));
    });
}

#[test]
fn rule_transfer_is_explicit_and_uses_a_receipt() {
    golden("rule_transfer_receipt", |m| {
        let (g, alice) = owned(m);
        let r = m.begin_transfer(&alice, "bob").unwrap();
        // Until committed, alice is the owner.
        assert_eq!(m.owner(g).map(|o| o.label), Some("alice".to_owned()));
        m.commit(&r).unwrap();
        assert_eq!(m.owner(g).map(|o| o.label), Some("bob".to_owned()));
    });
}

#[test]
fn rule_rollback_is_claim_specific() {
    let build = || {
        let mut m = Machine::new(config());
        let (_, a) = owned(&mut m);
        let (_, b) = m.load_choreography_owned(&program(), Box::new(SeededHost::new(2)), "bert").unwrap();
        let ra = m.begin_transfer(&a, "x").unwrap();
        let rb = m.begin_transfer(&b, "y").unwrap();
        m.rollback(&ra).unwrap();
        // Another claim's receipt does not roll back this one.
        let foreign = canon_runtime::Receipt { group: 0, ..rb.clone() };
        assert_eq!(m.rollback(&foreign).unwrap_err().code(), 4020);
        assert!(m.ownership(1, 1 << 32).unwrap().pending.is_some());
        m.commit(&rb).unwrap();
        m
    };
    let (_, text) = finish(&program(), build(), build);
    insta::assert_snapshot!("rule_rollback_claim_specific", text);
}

#[test]
fn rule_fragment_scope_does_not_grant_full_session_mutation() {
    golden("rule_fragment_scope", |m| {
        let (g, alice) = owned(m);
        let ops = m.attenuate(&alice, Scope::Operations(vec!["Ledger.check".into()])).unwrap();
        assert_eq!(m.group_mut_as(g, &ops).err().map(|e| e.code()), Some(4014));
        assert_eq!(m.issue_readiness(&ops, "Other.op").unwrap_err().code(), 4014);
        assert!(m.issue_readiness(&ops, "Ledger.check").is_ok());
        // Attenuation never widens.
        assert_eq!(m.attenuate(&ops, Scope::Full).unwrap_err().code(), 4013);
    });
}

// ---- Failure mapping ----------------------------------------------------

#[test]
fn failure_owner_death_faults_the_session() {
    let mut m = Machine::new(config());
    let (g, alice) = owned(&mut m);
    open_session(&mut m, g, &alice);
    m.owner_died(&alice, "process exited").unwrap();
    assert_eq!(status(&m, g), Some(SessionStatus::Faulted { code: 4011 }));
    golden("failure_owner_death", |m| {
        let (g, alice) = owned(m);
        open_session(m, g, &alice);
        m.owner_died(&alice, "process exited").unwrap();
    });
}

#[test]
fn failure_abandoned_transfer_cancels_the_session() {
    let mut m = Machine::new(config());
    let (g, alice) = owned(&mut m);
    open_session(&mut m, g, &alice);
    let r = m.begin_transfer(&alice, "bob").unwrap();
    m.abandon(&r).unwrap();
    assert_eq!(status(&m, g), Some(SessionStatus::Cancelled));
    golden("failure_abandoned_transfer", |m| {
        let (g, alice) = owned(m);
        open_session(m, g, &alice);
        let r = m.begin_transfer(&alice, "bob").unwrap();
        m.abandon(&r).unwrap();
    });
}

#[test]
fn failure_failed_commit_faults_the_session() {
    let mut m = Machine::new(config());
    let (g, alice) = owned(&mut m);
    open_session(&mut m, g, &alice);
    let r = m.begin_transfer(&alice, "bob").unwrap();
    m.commit_failed(&r, "bob unreachable").unwrap();
    assert_eq!(status(&m, g), Some(SessionStatus::Faulted { code: 4012 }));
    assert_eq!(
        m.ownership(g, alice.sid).unwrap().terminal.as_deref(),
        Some("ownership transfer commit failed: bob unreachable")
    );
    golden("failure_failed_commit", |m| {
        let (g, alice) = owned(m);
        open_session(m, g, &alice);
        let r = m.begin_transfer(&alice, "bob").unwrap();
        m.commit_failed(&r, "bob unreachable").unwrap();
    });
}

#[test]
fn failure_stale_owner_use_fails_closed_without_status_change() {
    let mut m = Machine::new(config());
    let (g, alice) = owned(&mut m);
    open_session(&mut m, g, &alice);
    let bob = m.transfer(g, &alice, "bob").unwrap();
    let before = m.ownership(g, bob.sid).cloned();
    let err = m.owner_died(&alice, "stale").unwrap_err();
    assert!(matches!(
        err,
        LoadError::Ownership(canon_machine::OwnershipError::StaleOwner { presented: 0, generation: 1, .. })
    ));
    assert_eq!(status(&m, g), Some(SessionStatus::Active));
    assert_eq!(m.ownership(g, bob.sid).cloned(), before);
    golden("failure_stale_owner", |m| {
        let (g, alice) = owned(m);
        open_session(m, g, &alice);
        m.transfer(g, &alice, "bob").unwrap();
        assert!(m.owner_died(&alice, "stale").is_err());
        assert!(m.begin_transfer(&alice, "mallory").is_err());
    });
}

#[test]
fn failure_forged_or_reused_witness_is_refused_with_an_audit_record() {
    let replay = golden("failure_forged_witness", |m| {
        let (_, alice) = owned(m);
        let w = m.issue_readiness(&alice, "check").unwrap();
        let forged = canon_runtime::Witness { id: 7, ..w.clone() };
        assert_eq!(m.consume(&forged).unwrap_err().code(), 4015);
        let wrong_check = canon_runtime::Witness { check: "other".into(), ..w.clone() };
        assert_eq!(m.consume(&wrong_check).unwrap_err().code(), 4015);
        m.consume(&w).unwrap();
        assert_eq!(m.consume(&w).unwrap_err().code(), 4016);
    });
    let rejections = canon_replay::capability_lifecycle_audit_log(&replay)
        .iter()
        .filter(|e| e.action.starts_with("rejected"))
        .count();
    assert_eq!(rejections, 3);
}

// ---- Semantic objects ---------------------------------------------------

#[test]
fn semantic_handoff_names_revoked_and_activated_owners() {
    let replay = golden("semantic_handoff", |m| {
        let (g, alice) = owned(m);
        open_session(m, g, &alice);
        let r = m.begin_transfer(&alice, "bob").unwrap();
        m.commit(&r).unwrap();
    });
    let handoff = replay.events.iter().find_map(|e| match &e.kind {
        EventKind::Ownership {
            record: OwnershipRecord::SemanticHandoff { revoked, activated, receipt, generation },
        } => Some((revoked.to_string(), activated.to_string(), *receipt, *generation)),
        _ => None,
    });
    assert_eq!(handoff, Some(("alice".into(), "bob".into(), 0, 1)));
}

#[test]
fn transformation_obligation_lists_invalidated_witnesses() {
    let replay = golden("transformation_obligation", |m| {
        let (g, alice) = owned(m);
        let _w0 = m.issue_readiness(&alice, "a").unwrap();
        let w1 = m.issue_readiness(&alice, "b").unwrap();
        m.consume(&w1).unwrap();
        let _w2 = m.issue_readiness(&alice, "c").unwrap();
        m.transfer(g, &alice, "bob").unwrap();
    });
    let obligation = replay.events.iter().find_map(|e| match &e.kind {
        EventKind::Ownership {
            record: OwnershipRecord::TransformationObligation { invalidated_witnesses, scope, .. },
        } => Some((invalidated_witnesses.clone(), scope.clone())),
        _ => None,
    });
    assert_eq!(obligation, Some((vec![0, 2], Scope::Full)));
}

// ---- Worked example: the job lease ended by its owner's death ------------

#[test]
fn job_lease_owner_death_wakes_the_waiting_dispatcher() {
    let src = include_str!("../../../fixtures/asm/job_lease.casm");
    let program = Arc::new(canon_bytecode::verify(canon_bytecode::assemble(src).unwrap()).unwrap());
    let build = || {
        let mut m = Machine::new(config());
        let (g, o) = m.load_choreography_owned(&program, Box::new(SeededHost::new(1)), "scheduler").unwrap();
        // The dispatcher starts waiting (its timeout witness is issued), then the owner dies.
        for _ in 0..2 {
            m.group_mut_as(g, &o).unwrap().run_round();
        }
        m.owner_died(&o, "worker lost").unwrap();
        m
    };
    let mut m = build();
    let outcome = CooperativeRunner.run(&mut m);
    let replay = Replay::decode(outcome.replay_bytes()).unwrap();
    assert_eq!(reexecute(&program, &replay).unwrap().events, replay.events);
    let t = ThreadedRunner::new(2).run(&mut build());
    assert_eq!(t.replay_bytes(), outcome.replay_bytes());
    assert_eq!(status(&m, 0), Some(SessionStatus::Faulted { code: 4011 }));
    assert!(!replay.events.iter().any(|e| matches!(e.kind, EventKind::TimeoutExpired { .. })));
    // The dispatcher's timeout witness is not left open: it is withdrawn
    // when the dispatcher finds its session ended.
    let settled: Vec<&EventKind> = replay
        .events
        .iter()
        .map(|e| &e.kind)
        .filter(|k| matches!(k, EventKind::TimeoutIssued { .. } | EventKind::TimeoutWithdrawn { .. }))
        .collect();
    assert_eq!(settled, [&EventKind::TimeoutIssued { witness: 0 }, &EventKind::TimeoutWithdrawn { witness: 0 }]);
    let text = canon_replay::render_text(&replay);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("t=")).collect();
    insta::assert_snapshot!("job_lease_owner_death", lines.join("\n"));
}

// ---- Regression: ownership guards host-side mutation ---------------------

#[test]
fn host_side_mutation_of_an_owned_instance_needs_the_current_owner() {
    let mut machine = Machine::new(config());
    let (group, first) = owned(&mut machine);
    assert!(machine.group_mut(group).is_none());
    assert!(machine.group_mut_as(group, &first).is_ok());
    let second = machine.transfer(group, &first, "bob").unwrap();
    assert_eq!(second.generation, 1);
    let err = machine.group_mut_as(group, &first).err().unwrap();
    assert_eq!(err.code(), 4005);
    assert_eq!(machine.owner(group), Some(second.clone()));
    let g = machine.group_mut_as(group, &second).unwrap();
    assert!(g.set_endpoint_key(0, 0, [7; 32]).is_ok());
    assert_eq!(machine.transfer(group, &first, "mallory").err().map(|e| e.code()), Some(4005));
    assert_eq!(machine.owner(group), Some(second.clone()));
    let free = machine.load(&program(), Box::new(SeededHost::new(2))).unwrap();
    assert!(machine.group_mut(free).is_some());
    assert_eq!(machine.group_mut_as(free, &second).err().map(|e| e.code()), Some(4004));
}

// ---- The model ----------------------------------------------------------

/// A host ownership operation; handles, receipts and witnesses are named by
/// their index among all issued so far (so stale ones are exercised).
#[derive(Debug, Clone)]
enum Op {
    Step,
    Begin { handle: usize, to: u8 },
    Commit { receipt: usize },
    Rollback { receipt: usize },
    Abandon { receipt: usize },
    CommitFailed { receipt: usize },
    Attenuate { handle: usize, role: bool },
    Issue { handle: usize, check: u8 },
    Consume { witness: usize },
    Forge { witness: usize },
    Mutate { handle: usize },
    Died { handle: usize },
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let i = 0..6usize;
    prop_oneof![
        Just(Op::Step),
        (i.clone(), 0..3u8).prop_map(|(handle, to)| Op::Begin { handle, to }),
        i.clone().prop_map(|receipt| Op::Commit { receipt }),
        i.clone().prop_map(|receipt| Op::Rollback { receipt }),
        i.clone().prop_map(|receipt| Op::Abandon { receipt }),
        i.clone().prop_map(|receipt| Op::CommitFailed { receipt }),
        (i.clone(), any::<bool>()).prop_map(|(handle, role)| Op::Attenuate { handle, role }),
        (i.clone(), 0..2u8).prop_map(|(handle, check)| Op::Issue { handle, check }),
        i.clone().prop_map(|witness| Op::Consume { witness }),
        i.clone().prop_map(|witness| Op::Forge { witness }),
        i.clone().prop_map(|handle| Op::Mutate { handle }),
        i.prop_map(|handle| Op::Died { handle }),
    ]
}

/// The rules, independently: who owns, what is pending, which witnesses live.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    label: String,
    generation: u64,
    scope: Scope,
    pending: Option<(u64, String)>,
    receipts: u64,
    issued: Vec<(u64, u64, String)>,
    consumed: Vec<u64>,
    invalidated: Vec<u64>,
    witnesses: u64,
    ended: bool,
    open: bool,
}

impl Model {
    fn current(&self, h: &Owner) -> bool {
        h.label == self.label && h.generation == self.generation
    }
    fn bump(&mut self) {
        self.generation += 1;
        let ids: Vec<u64> = self.issued.drain(..).map(|w| w.0).collect();
        self.invalidated.extend(ids);
    }
}

fn run_model(ops: &[Op]) -> Result<(), proptest::test_runner::TestCaseError> {
    use proptest::prop_assert_eq;
    let mut m = Machine::new(config());
    let (g, first) = owned(&mut m);
    let mut handles = vec![first];
    let mut receipts: Vec<canon_runtime::Receipt> = Vec::new();
    let mut witnesses: Vec<canon_runtime::Witness> = Vec::new();
    let mut model = Model {
        label: "alice".into(),
        generation: 0,
        scope: Scope::Full,
        pending: None,
        receipts: 0,
        issued: vec![],
        consumed: vec![],
        invalidated: vec![],
        witnesses: 0,
        ended: false,
        open: false,
    };
    let pick = |n: usize, len: usize| n % len.max(1);
    for op in ops {
        match op {
            Op::Step => {
                let h = m.owner(g).unwrap();
                // Stepping is host-side mutation: only with full scope and a live session.
                match m.group_mut_as(g, &h) {
                    Ok(group) => {
                        group.run_round();
                        prop_assert_eq!((model.scope.clone(), model.ended), (Scope::Full, false));
                        model.open = true;
                    }
                    Err(_) => prop_assert_eq!(model.scope != Scope::Full || model.ended, true),
                }
                // The run itself may end the session (closed).
                if let Some(s) = status(&m, g)
                    && s != SessionStatus::Active
                {
                    model.ended = true;
                }
            }
            Op::Begin { handle, to } => {
                let h = handles[pick(*handle, handles.len())].clone();
                let got = m.begin_transfer(&h, &format!("o{to}"));
                let ok = !model.ended && model.current(&h) && model.pending.is_none();
                prop_assert_eq!(got.is_ok(), ok);
                if let Ok(r) = got {
                    prop_assert_eq!(r.id, model.receipts);
                    model.pending = Some((r.id, r.to.clone()));
                    model.receipts += 1;
                    receipts.push(r);
                }
            }
            Op::Commit { receipt }
            | Op::Rollback { receipt }
            | Op::Abandon { receipt }
            | Op::CommitFailed { receipt } => {
                let Some(r) = receipts.get(pick(*receipt, receipts.len())).cloned() else { continue };
                let valid = !model.ended && model.pending.as_ref().is_some_and(|p| p.0 == r.id);
                let ends = matches!(op, Op::Abandon { .. } | Op::CommitFailed { .. });
                let ok = valid && (!ends || model.open);
                let got = match op {
                    Op::Commit { .. } => m.commit(&r).map(|h| handles.push(h)),
                    Op::Rollback { .. } => m.rollback(&r),
                    Op::Abandon { .. } => m.abandon(&r),
                    _ => m.commit_failed(&r, "unreachable"),
                };
                prop_assert_eq!(got.is_ok(), ok, "{:?}", got);
                if ok {
                    let to = model.pending.take().unwrap().1;
                    match op {
                        Op::Commit { .. } => {
                            model.label = to;
                            model.bump();
                        }
                        Op::Abandon { .. } => {
                            model.ended = true;
                            prop_assert_eq!(status(&m, g), Some(SessionStatus::Cancelled));
                        }
                        Op::CommitFailed { .. } => {
                            model.ended = true;
                            prop_assert_eq!(status(&m, g), Some(SessionStatus::Faulted { code: 4012 }));
                        }
                        _ => {}
                    }
                }
            }
            Op::Attenuate { handle, role } => {
                let h = handles[pick(*handle, handles.len())].clone();
                let scope = if *role { Scope::Roles(vec!["A".into()]) } else { Scope::Operations(vec!["c0".into()]) };
                let got = m.attenuate(&h, scope.clone());
                let ok = !model.ended && model.current(&h) && model.pending.is_none() && scope.within(&model.scope);
                prop_assert_eq!(got.is_ok(), ok);
                if let Ok(next) = got {
                    model.scope = scope;
                    model.bump();
                    handles.push(next);
                }
            }
            Op::Issue { handle, check } => {
                let h = handles[pick(*handle, handles.len())].clone();
                let check = format!("c{check}");
                let got = m.issue_readiness(&h, &check);
                let ok = !model.ended && model.current(&h) && model.scope.allows_check(&check);
                prop_assert_eq!(got.is_ok(), ok);
                if let Ok(w) = got {
                    prop_assert_eq!(w.id, model.witnesses);
                    model.issued.push((w.id, w.generation, check));
                    model.witnesses += 1;
                    witnesses.push(w);
                }
            }
            Op::Consume { witness } | Op::Forge { witness } => {
                let Some(mut w) = witnesses.get(pick(*witness, witnesses.len())).cloned() else { continue };
                if matches!(op, Op::Forge { .. }) {
                    w.generation += 100;
                }
                let got = m.consume(&w);
                let pos = model.issued.iter().position(|x| (x.0, x.1, x.2.as_str()) == (w.id, w.generation, &*w.check));
                let code = if model.ended {
                    Some(4018)
                } else if let Some(p) = pos {
                    model.issued.remove(p);
                    model.consumed.push(w.id);
                    None
                } else if model.issued.iter().any(|x| x.0 == w.id) {
                    Some(4015)
                } else if model.consumed.contains(&w.id) {
                    Some(4016)
                } else if model.invalidated.contains(&w.id) {
                    Some(4017)
                } else {
                    Some(4015)
                };
                prop_assert_eq!(got.err().map(|e| e.code()), code);
            }
            Op::Mutate { handle } => {
                let h = handles[pick(*handle, handles.len())].clone();
                let ok = m.group_mut_as(g, &h).is_ok();
                prop_assert_eq!(ok, !model.ended && model.current(&h) && model.scope == Scope::Full);
            }
            Op::Died { handle } => {
                let h = handles[pick(*handle, handles.len())].clone();
                let got = m.owner_died(&h, "gone");
                let ok = !model.ended && model.current(&h) && model.open;
                prop_assert_eq!(got.is_ok(), ok);
                if ok {
                    model.ended = true;
                    model.pending = None;
                    prop_assert_eq!(status(&m, g), Some(SessionStatus::Faulted { code: 4011 }));
                }
            }
        }
        // The machine agrees with the model after every step.
        let o = m.ownership(g, u64::from(g) << 32).unwrap();
        if o.terminal.is_none() && !model.ended {
            prop_assert_eq!(
                m.owner(g).map(|h| (h.label, h.generation, h.scope)),
                Some((model.label.clone(), model.generation, model.scope.clone()))
            );
        }
        prop_assert_eq!(o.pending.as_ref().map(|p| (p.receipt, p.to.clone())), model.pending.clone());
        prop_assert_eq!(
            o.issued.iter().map(|w| (w.id, w.generation, w.check.clone())).collect::<Vec<_>>(),
            model.issued.clone()
        );
        prop_assert_eq!(&o.consumed, &model.consumed);
        prop_assert_eq!(&o.invalidated, &model.invalidated);
    }
    let outcome = CooperativeRunner.run(&mut m);
    let replay = Replay::decode(outcome.replay_bytes()).unwrap();
    let again = reexecute(&program(), &replay).unwrap();
    prop_assert_eq!(&again.events, &replay.events);
    prop_assert_eq!(again.root, replay.root);
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Random sequences of claims, staged transfers (commit, rollback,
    /// abandon, failed commit), attenuations, witnesses (issued, consumed,
    /// reused, forged, stale), guarded mutation, rounds and owner death: the
    /// machine never panics, agrees with the model after every step, and
    /// re-executing the replay reproduces it.
    #[test]
    fn host_ownership_operations_follow_the_model(ops in proptest::collection::vec(op(), 0..24)) {
        run_model(&ops)?;
    }
}
