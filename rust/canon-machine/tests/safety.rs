//! Session-lifecycle safety (seed 003): owner death, endpoints never from
//! the host, delegation moves only what the sender owns, late effects,
//! per-endpoint close and draining. One regression test per contradiction.

mod common;

use std::sync::Arc;

use canon_bytecode::{Const, Instr, Param, VerifiedProgram};
use canon_machine::{
    Auth, Config, Event, EventKind, Fault, GroupStatus, Host, HostCtx, Injection, SessionStatus, TerminalReason,
};
use canon_types::{Endpoint, ErrorCode, SymId, Value};
use common::*;

const SA: Endpoint = Endpoint { sid: 0, role: 0 };
const SB: Endpoint = Endpoint { sid: 0, role: 1 };

/// `(tick, coroutine, sid, kind)` of every event from `from` on.
fn trail(events: &[Event], from: usize) -> Vec<(u64, u32, u64, EventKind)> {
    events[from..].iter().map(|e| (e.site.tick, e.site.coroutine, e.site.sid, e.kind.clone())).collect()
}

fn no_session_active(group: &canon_machine::Group) {
    for (n, s) in group.store().sessions().iter().enumerate() {
        assert_ne!(s.status, SessionStatus::Active, "session {n} left Active");
    }
}

/// A: `B!M(Int).end` runs `a_code` (endpoint in register 0), B receives M and closes.
/// `a_code` gets the symbols `M` and `Job`; constant 0 is `Int(7)`, 1 a `Str`.
fn a_then_b(a_code: impl FnOnce(SymId, SymId) -> Vec<Instr>, a_regs: u16) -> (Arc<VerifiedProgram>, SymId, SymId) {
    let mut mb = Mb::new();
    let ta = mb.ty(&send("B", "M", &["Int"], end()));
    let tb = mb.ty(&recv("A", "M", &["Int"], end()));
    let m = mb.s("M");
    let job = mb.s("Job");
    mb.konst(Const::Int(7));
    mb.konst(Const::Str(m));
    let pa = mb.proc("a", vec![Param::Endpoint(ta)], a_regs, a_code(m, job));
    let pb = mb.proc(
        "b",
        vec![Param::Endpoint(tb)],
        2,
        vec![Instr::Recv { ep: 0, label: m, dst: 1 }, Instr::Close { ep: 0 }, Instr::Halt],
    );
    let open = mb.open(&["A", "B"], &[ta, tb], &[0, 1]);
    let main = mb.proc(
        "main",
        vec![],
        2,
        vec![open, Instr::Spawn { proc: pa, args: vec![0] }, Instr::Spawn { proc: pb, args: vec![1] }, Instr::Halt],
    );
    mb.m.entry = main;
    (mb.verified(), m, job)
}

#[test]
fn owner_death_by_a_fault_naming_no_endpoint_faults_its_sessions() {
    // A adds an Int to a Str (3017: no endpoint named) while owning S.A.
    let (program, _, _) = a_then_b(
        |m, _| {
            vec![
                Instr::Const { dst: 1, k: 0 },
                Instr::Const { dst: 2, k: 1 },
                Instr::Add { dst: 3, a: 1, b: 2 },
                Instr::Send { ep: 0, label: m, src: 1 },
                Instr::Close { ep: 0 },
                Instr::Halt,
            ]
        },
        4,
    );
    let (outcome, events, group) = run(&program);
    assert_eq!(outcome.status, GroupStatus::Completed);
    assert_eq!(group.faults()[0].fault.code(), 3017);
    let at = events.iter().position(|e| matches!(e.kind, EventKind::FailureBranchEntered { .. })).unwrap();
    let none = canon_machine::EventSite::NO_SID;
    assert_eq!(
        trail(&events, at),
        vec![
            (1, 1, none, EventKind::FailureBranchEntered { code: 3017 }),
            (1, 1, none, EventKind::Faulted { code: 3017 }),
            (1, 1, 0, EventKind::SessionTerminal { reason: TerminalReason::Faulted { code: 3017 } }),
            // B, blocked on the faulted session, ends.
            (1, 2, 0, EventKind::Halted),
        ]
    );
    let site = &events[at + 2].site;
    assert_eq!((site.sid, site.role), (SA.sid, SA.role));
    assert_eq!(group.store().get(0).unwrap().status, SessionStatus::Faulted { code: 3017 });
    no_session_active(&group);
}

/// A host that answers `produce` and `invoke` with `answer`.
struct Forger {
    answer: Value,
    invoked: u32,
}

impl Host for Forger {
    fn produce(&mut self, _: &HostCtx<'_>, _: SymId) -> Value {
        self.answer.clone()
    }
    fn accept(&mut self, _: &HostCtx<'_>, _: SymId, _: &Value) -> bool {
        true
    }
    fn choose(&mut self, _: &HostCtx<'_>, _: &[SymId]) -> usize {
        0
    }
    fn invoke(&mut self, _: &HostCtx<'_>, _: SymId, _: &Value) -> Value {
        self.invoked += 1;
        self.answer.clone()
    }
}

#[test]
fn a_produce_answer_holding_an_endpoint_is_refused() {
    let (program, m, _) = a_then_b(
        |m, _| {
            vec![
                Instr::Produce { dst: 1, ep: 0, label: m },
                Instr::Send { ep: 0, label: m, src: 1 },
                Instr::Close { ep: 0 },
                Instr::Halt,
            ]
        },
        2,
    );
    for answer in [Value::Endpoint(SB), Value::Tuple(Arc::from(vec![Value::Int(1), Value::Endpoint(SB)]))] {
        let host = Box::new(Forger { answer: answer.clone(), invoked: 0 });
        let (outcome, events, group) = run_with(&program, &Config::default(), host);
        assert_eq!(outcome.status, GroupStatus::Completed);
        assert_eq!(group.faults()[0].fault, Fault::HostEndpoint { forged: SB });
        assert_eq!(group.faults()[0].fault.code(), 3033);
        // The answer is recorded (re-execution refuses it again), nothing is sent,
        // and the session ends Faulted: B never becomes a victim of the forgery.
        let at = events.iter().position(|e| matches!(e.kind, EventKind::HostAnswer { .. })).unwrap();
        let kinds: Vec<EventKind> = events[at..].iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::HostAnswer { point: canon_machine::HostPoint::Produce { label: m }, answer },
                EventKind::FailureBranchEntered { code: 3033 },
                EventKind::Faulted { code: 3033 },
                EventKind::SessionTerminal { reason: TerminalReason::Faulted { code: 3033 } },
                EventKind::Halted,
            ]
        );
        assert!(!events.iter().any(|e| matches!(e.kind, EventKind::Sent { .. })));
        no_session_active(&group);
    }
}

#[test]
fn an_invoke_answer_holding_an_endpoint_is_refused() {
    let (program, _, _) = a_then_b(
        |m, job| {
            vec![
                Instr::Const { dst: 1, k: 0 },
                Instr::Invoke { dst: 2, effect: job, arg: 1 },
                Instr::Send { ep: 0, label: m, src: 1 },
                Instr::Close { ep: 0 },
                Instr::Halt,
            ]
        },
        3,
    );
    let host = Box::new(Forger { answer: Value::Endpoint(SB), invoked: 0 });
    let (_, events, group) = run_with(&program, &Config::default(), host);
    assert_eq!(group.faults()[0].fault.code(), 3033);
    assert_eq!(group.faults()[0].fault, Fault::HostEndpoint { forged: SB });
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::HostAnswer { .. })));
    no_session_active(&group);
}

#[test]
fn invoke_after_the_session_was_cancelled_is_a_late_effect() {
    let (program, _, job) = a_then_b(
        |_, job| {
            vec![
                Instr::Cancel { ep: 0 },
                Instr::Const { dst: 1, k: 0 },
                Instr::Invoke { dst: 2, effect: job, arg: 1 },
                Instr::Halt,
            ]
        },
        3,
    );
    let (outcome, events, group) =
        run_with(&program, &Config::default(), Box::new(Forger { answer: Value::Unit, invoked: 0 }));
    assert_eq!(outcome.status, GroupStatus::Completed);
    assert_eq!(group.faults()[0].fault, Fault::LateEffect { ep: SA, effect: job });
    assert_eq!(group.faults()[0].fault.code(), 3035);
    // The host was never asked: no answer is recorded.
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::HostAnswer { .. })));
    let at = events.iter().position(|e| matches!(e.kind, EventKind::CancellationRequested { .. })).unwrap();
    let kinds: Vec<EventKind> = events[at..].iter().filter(|e| e.site.coroutine == 1).map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::CancellationRequested { witness: 0 },
            EventKind::Cancelled { witness: 0 },
            EventKind::SessionTerminal { reason: TerminalReason::Cancelled },
            EventKind::FailureBranchEntered { code: 3035 },
            EventKind::Faulted { code: 3035 },
        ]
    );
    assert_eq!(group.store().get(0).unwrap().status, SessionStatus::Cancelled);
}

/// The entry opens S (A, B) into r0, r1 and a carrier D (P, Q) into r2, r3,
/// spawns `b` with S.B and `q` with D.Q, then sends S.A over D.
fn delegation_program() -> Arc<VerifiedProgram> {
    let mut mb = Mb::new();
    let ta = mb.ty(&send("B", "M", &["Int"], end()));
    let tb = mb.ty(&recv("A", "M", &["Int"], end()));
    let tp = mb.ty(&send("Q", "Ep", &["Endpoint"], end()));
    let tq = mb.ty(&recv("P", "Ep", &["Endpoint"], end()));
    let (m, ep_label) = (mb.s("M"), mb.s("Ep"));
    let k7 = mb.konst(Const::Int(7));
    let pb = mb.proc(
        "b",
        vec![Param::Endpoint(tb)],
        2,
        vec![Instr::Recv { ep: 0, label: m, dst: 1 }, Instr::Close { ep: 0 }, Instr::Halt],
    );
    // Q receives S.A and plays A with it.
    let pq = mb.proc(
        "q",
        vec![Param::Endpoint(tq)],
        3,
        vec![
            Instr::Recv { ep: 0, label: ep_label, dst: 1 },
            Instr::Close { ep: 0 },
            Instr::Const { dst: 2, k: k7 },
            Instr::Send { ep: 1, label: m, src: 2 },
            Instr::Close { ep: 1 },
            Instr::Halt,
        ],
    );
    let open_s = mb.open(&["A", "B"], &[ta, tb], &[0, 1]);
    let open_d = mb.open(&["P", "Q"], &[tp, tq], &[2, 3]);
    let main = mb.proc(
        "main",
        vec![],
        4,
        vec![
            open_s,
            open_d,
            Instr::Spawn { proc: pb, args: vec![1] },
            Instr::Spawn { proc: pq, args: vec![3] },
            Instr::Send { ep: 2, label: ep_label, src: 0 },
            Instr::Close { ep: 2 },
            Instr::Halt,
        ],
    );
    mb.m.entry = main;
    mb.verified()
}

#[test]
fn delegation_moves_the_endpoint_visibly() {
    let (outcome, events, group) = run(&delegation_program());
    assert_eq!((outcome.status, outcome.faults), (GroupStatus::Completed, 0));
    let delegation: Vec<(u32, EventKind)> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Delegated { .. } | EventKind::DelegationCompleted { .. }))
        .map(|e| (e.site.coroutine, e.kind.clone()))
        .collect();
    assert_eq!(
        delegation,
        vec![(0, EventKind::Delegated { endpoint: SA }), (2, EventKind::DelegationCompleted { endpoint: SA })]
    );
    // Delegated right after its Sent; completed right after its Received.
    let d = events.iter().position(|e| matches!(e.kind, EventKind::Delegated { .. })).unwrap();
    assert!(matches!(events[d - 1].kind, EventKind::Sent { .. }));
    let c = events.iter().position(|e| matches!(e.kind, EventKind::DelegationCompleted { .. })).unwrap();
    assert!(matches!(events[c - 1].kind, EventKind::Received { .. }));
    assert_eq!(group.store().get(0).unwrap().status, SessionStatus::Closed);
}

#[test]
fn a_corrupted_endpoint_payload_cannot_steal_an_endpoint_under_auth_none() {
    // The transport flips the role of the delegated endpoint: Q would receive
    // S.B, which B owns. The receive is refused; S (whose A endpoint the
    // corrupted message lost) and D both end Faulted; B is never robbed.
    let program = delegation_program();
    let config = Config { auth: Auth::None, ..Config::default() };
    let mut g = canon_machine::Group::new(Arc::clone(&program), 0, &config, Box::new(canon_machine::NullHost));
    g.inject(0, Injection::CorruptPayload);
    let outcome = g.run_to_end();
    let mut events = Vec::new();
    g.drain_events(&mut events);
    assert_eq!(outcome.status, GroupStatus::Completed);
    let d = Endpoint { sid: 1, role: 1 };
    assert_eq!(g.faults()[0].fault, Fault::ForgedEndpoint { ep: d, forged: SB });
    assert_eq!(g.faults()[0].fault.code(), 3034);
    let at = events.iter().position(|e| matches!(e.kind, EventKind::FailureBranchEntered { .. })).unwrap();
    let tail: Vec<(u32, u64, u16, EventKind)> = events[at..]
        .iter()
        .filter(|e| e.site.coroutine == 2)
        .map(|e| (e.site.coroutine, e.site.sid, e.site.role, e.kind.clone()))
        .collect();
    let faulted = TerminalReason::Faulted { code: 3034 };
    assert_eq!(
        tail,
        vec![
            (2, 1, 1, EventKind::FailureBranchEntered { code: 3034 }),
            (2, 1, 1, EventKind::Faulted { code: 3034 }),
            (2, 1, 1, EventKind::SessionTerminal { reason: faulted }),
            // The carrier's one message was sent and never delivered.
            (2, 1, 1, EventKind::EdgeHistory { from: 0, to: 1, sent: 1, delivered: 0, history: [0; 32] }),
            (2, 0, 0, EventKind::SessionTerminal { reason: faulted }),
        ]
    );
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::DelegationCompleted { .. })));
    no_session_active(&g);
}

#[test]
fn every_close_is_visible_and_undelivered_messages_drain() {
    // A duplicated M leaves one message undelivered when both endpoints close.
    let (program, m, _) = a_then_b(
        |m, _| {
            vec![
                Instr::Const { dst: 1, k: 0 },
                Instr::Send { ep: 0, label: m, src: 1 },
                Instr::Close { ep: 0 },
                Instr::Halt,
            ]
        },
        2,
    );
    let (_, clean, group) = run(&program);
    let closes: Vec<(u16, EventKind)> = clean
        .iter()
        .filter(|e| {
            e.site.tick >= 1
                && !matches!(
                    e.kind,
                    EventKind::Sent { .. }
                        | EventKind::Received { .. }
                        | EventKind::Halted
                        | EventKind::EdgeHistory { .. }
                )
        })
        .map(|e| (e.site.role, e.kind.clone()))
        .collect();
    assert_eq!(
        closes,
        vec![
            (0, EventKind::EndpointClosed),
            (1, EventKind::EndpointClosed),
            (1, EventKind::Closed),
            (1, EventKind::SessionTerminal { reason: TerminalReason::Closed }),
            (1, EventKind::EpochAdvanced { epoch: 1 }),
        ]
    );
    assert_eq!(group.store().get(0).unwrap().status, SessionStatus::Closed);

    let config = Config { auth: Auth::None, ..Config::default() };
    let mut g = canon_machine::Group::new(Arc::clone(&program), 0, &config, Box::new(canon_machine::NullHost));
    g.inject(0, Injection::Duplicate);
    assert_eq!(g.run_to_end().faults, 0);
    let mut events = Vec::new();
    g.drain_events(&mut events);
    let at = events.iter().rposition(|e| e.kind == EventKind::EndpointClosed).unwrap();
    let histories: Vec<(u16, u16, u64, u64)> = events[at..]
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::EdgeHistory { from, to, sent, delivered, .. } => Some((from, to, sent, delivered)),
            _ => None,
        })
        .collect();
    // One message sent (the transport duplicated it), one delivered.
    assert_eq!(histories, vec![(0, 1, 1, 1)]);
    let kinds: Vec<EventKind> = events[at..]
        .iter()
        .filter(|e| !matches!(e.kind, EventKind::EdgeHistory { .. }))
        .map(|e| e.kind.clone())
        .collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::EndpointClosed,
            EventKind::Draining { undelivered: 1 },
            EventKind::Discarded { from: 0, to: 1, label: m, seq: 0 },
            EventKind::Closed,
            EventKind::SessionTerminal { reason: TerminalReason::Closed },
            EventKind::EpochAdvanced { epoch: 1 },
            EventKind::Halted,
        ]
    );
    assert_eq!(g.store().get(0).unwrap().status, SessionStatus::Closed);
}
