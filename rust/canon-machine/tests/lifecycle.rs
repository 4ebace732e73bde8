//! Stall detection, timeouts, cancel, abort and fault event orders.

mod common;

use std::sync::Arc;

use canon_bytecode::{Const, Instr, Param, VerifiedProgram};
use canon_machine::{
    Config, Event, EventKind, Expected, Fault, GroupStatus, Host, HostCtx, Op, SessionStatus, TerminalReason,
};
use canon_types::{Endpoint, ErrorCode, LocalType, SymId, Value, ValueKind};
use common::*;

fn kinds_of(events: &[canon_machine::Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind.clone()).collect()
}

#[test]
fn deadlock_stalls_and_lists_blocked_endpoints() {
    let mut mb = Mb::new();
    let ta = mb.ty(&recv("B", "M", &["Int"], send("B", "N", &["Int"], end())));
    let tb = mb.ty(&recv("A", "N", &["Int"], send("A", "M", &["Int"], end())));
    let (m, n) = (mb.s("M"), mb.s("N"));
    let pa = mb.proc(
        "a",
        vec![Param::Endpoint(ta)],
        2,
        vec![
            Instr::Recv { ep: 0, label: m, dst: 1 },
            Instr::Send { ep: 0, label: n, src: 1 },
            Instr::Close { ep: 0 },
            Instr::Halt,
        ],
    );
    let pb = mb.proc(
        "b",
        vec![Param::Endpoint(tb)],
        2,
        vec![
            Instr::Recv { ep: 0, label: n, dst: 1 },
            Instr::Send { ep: 0, label: m, src: 1 },
            Instr::Close { ep: 0 },
            Instr::Halt,
        ],
    );
    let open = mb.open(&["A", "B"], &[ta, tb], &[0, 1]);
    let main = mb.proc(
        "main",
        vec![],
        2,
        vec![open, Instr::Spawn { proc: pa, args: vec![0] }, Instr::Spawn { proc: pb, args: vec![1] }, Instr::Halt],
    );
    mb.m.entry = main;
    let (a, b) = (mb.s("A"), mb.s("B"));
    let (outcome, _, _) = run(&mb.verified());
    let GroupStatus::Stalled(report) = outcome.status else { panic!("expected a stall, got {:?}", outcome.status) };
    assert_eq!(report.tick, 1, "round 1 is the first in which nobody can move");
    assert_eq!(report.blocked.len(), 2);
    let first = &report.blocked[0];
    assert_eq!((first.coroutine, first.sid, first.role, first.role_name), (1, 0, 0, a));
    assert_eq!(first.waits, Expected::Recv { peer: b });
    assert_eq!(first.labels, vec![m]);
    let second = &report.blocked[1];
    assert_eq!((second.coroutine, second.role, second.waits), (2, 1, Expected::Recv { peer: a }));
    assert_eq!(second.labels, vec![n]);
}

/// A waits with `recv_timeout` (timeout 3) for a message B sends only after
/// `delay` rounds; on timeout A cancels. Returns the program.
fn timeout_program(delay: i64) -> Arc<VerifiedProgram> {
    let mut mb = Mb::new();
    let ta = mb.ty(&recv("B", "M", &["Int"], end()));
    let tb = mb.ty(&send("A", "M", &["Int"], end()));
    let m = mb.s("M");
    let (k0, k1, kd) = (mb.konst(Const::Int(0)), mb.konst(Const::Int(1)), mb.konst(Const::Int(delay)));
    let pa = mb.proc(
        "a",
        vec![Param::Endpoint(ta)],
        2,
        vec![
            Instr::RecvTimeout { ep: 0, dst: 1, arms: vec![arm(m, 1)], timeout_ticks: 3, on_timeout: 3 },
            Instr::Close { ep: 0 },
            Instr::Halt,
            Instr::Cancel { ep: 0 },
            Instr::Halt,
        ],
    );
    let pb = mb.proc(
        "b",
        vec![Param::Endpoint(tb)],
        5,
        vec![
            Instr::Const { dst: 1, k: k0 },
            Instr::Const { dst: 2, k: k1 },
            Instr::Const { dst: 3, k: kd },
            Instr::Lt { dst: 4, a: 1, b: 3 },
            Instr::JmpIf { cond: 4, target: 8 },
            Instr::Send { ep: 0, label: m, src: 1 },
            Instr::Close { ep: 0 },
            Instr::Halt,
            Instr::Add { dst: 1, a: 1, b: 2 },
            Instr::Yield,
            Instr::Jmp { target: 3 },
        ],
    );
    let open = mb.open(&["A", "B"], &[ta, tb], &[0, 1]);
    let main = mb.proc(
        "main",
        vec![],
        2,
        vec![open, Instr::Spawn { proc: pa, args: vec![0] }, Instr::Spawn { proc: pb, args: vec![1] }, Instr::Halt],
    );
    mb.m.entry = main;
    mb.verified()
}

#[test]
fn recv_timeout_fires_at_first_attempt_plus_timeout_then_cancel() {
    let (outcome, events, group) = run(&timeout_program(10));
    assert_eq!(outcome.status, GroupStatus::Completed);
    // A first attempts in round 1 (spawned in round 0): the timeout becomes
    // active then (witness issued), and expires at the deadline 1 + 3.
    let issued = events.iter().find(|e| matches!(e.kind, EventKind::TimeoutIssued { .. })).unwrap();
    assert_eq!(
        (issued.site.tick, issued.site.coroutine, &issued.kind),
        (1, 1, &EventKind::TimeoutIssued { witness: 0 })
    );
    let at = events.iter().position(|e| matches!(e.kind, EventKind::TimeoutExpired { .. })).unwrap();
    assert_eq!((events[at].site.tick, events[at].site.coroutine), (4, 1));
    // The cancellation uses and consumes the very witness the timeout issued.
    assert_eq!(
        kinds_of(&events[at..at + 5]),
        vec![
            EventKind::TimeoutExpired { witness: 0 },
            EventKind::CancellationRequested { witness: 0 },
            EventKind::Cancelled { witness: 0 },
            EventKind::SessionTerminal { reason: TerminalReason::Cancelled },
            EventKind::Halted,
        ]
    );
    assert_eq!(group.store().get(0).unwrap().lifecycle.consumed, vec![0]);
    assert_eq!(group.store().get(0).unwrap().lifecycle.expired_timeout, None);
    // B touches the cancelled session later and ends with Halted, no fault.
    let last = events.last().unwrap();
    assert_eq!((last.site.coroutine, &last.kind), (2, &EventKind::Halted));
    assert_eq!(outcome.faults, 0);
    assert_eq!(group.store().get(0).unwrap().status, SessionStatus::Cancelled);
}

#[test]
fn recv_timeout_delivers_when_the_message_comes_in_time() {
    let (outcome, events, group) = run(&timeout_program(1));
    assert_eq!(outcome.status, GroupStatus::Completed);
    // Issued at the first attempt (round 1), withdrawn when M arrives (round 3).
    let timeouts: Vec<(u64, EventKind)> = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::TimeoutIssued { .. } | EventKind::TimeoutExpired { .. } | EventKind::TimeoutWithdrawn { .. }
            )
        })
        .map(|e| (e.site.tick, e.kind.clone()))
        .collect();
    assert_eq!(
        timeouts,
        vec![(1, EventKind::TimeoutIssued { witness: 0 }), (3, EventKind::TimeoutWithdrawn { witness: 0 })]
    );
    assert_eq!(group.store().get(0).unwrap().status, SessionStatus::Closed);
}

#[test]
fn abort_then_blocked_peer_halts() {
    let mut mb = Mb::new();
    let ta = mb.ty(&send("B", "M", &["Int"], end()));
    let tb = mb.ty(&recv("A", "M", &["Int"], end()));
    let m = mb.s("M");
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
        vec![open, Instr::Spawn { proc: pb, args: vec![1] }, Instr::Yield, Instr::Abort { ep: 0 }, Instr::Halt],
    );
    mb.m.entry = main;
    let (outcome, events, _) = run(&mb.verified());
    assert_eq!(outcome.status, GroupStatus::Completed);
    let kinds: Vec<(u64, u32, EventKind)> =
        events.iter().filter(|e| e.site.tick >= 1).map(|e| (e.site.tick, e.site.coroutine, e.kind.clone())).collect();
    assert_eq!(
        kinds,
        vec![
            (1, 0, EventKind::Aborted),
            (1, 0, EventKind::SessionTerminal { reason: TerminalReason::Aborted }),
            (1, 0, EventKind::Halted),
            (1, 1, EventKind::Halted),
        ]
    );
}

/// The entry opens session S (A, B) and a carrier session D, sends S's A
/// endpoint over D to itself so that the verifier sees it as an unknown
/// value (checked at run time only), spawns `peer` with S's B endpoint, then
/// runs `bad` on register 4 (the A endpoint; register 5 holds `Int(7)`,
/// register 6 a `Str`). `bad` starts at instruction 9.
fn carrier(mut mb: Mb, ta: LocalType, tb: LocalType, peer: Vec<Instr>, bad: Vec<Instr>) -> Arc<VerifiedProgram> {
    let (ta, tb) = (mb.ty(&ta), mb.ty(&tb));
    let tp = mb.ty(&send("Q", "Ep", &["Endpoint"], end()));
    let tq = mb.ty(&recv("P", "Ep", &["Endpoint"], end()));
    let ep_label = mb.s("Ep");
    let (k7, kstr) = (mb.konst(Const::Int(7)), mb.konst(Const::Str(ep_label)));
    let peer = mb.proc("peer", vec![Param::Endpoint(tb)], 4, peer);
    let open_s = mb.open(&["A", "B"], &[ta, tb], &[0, 1]);
    let open_d = mb.open(&["P", "Q"], &[tp, tq], &[2, 3]);
    let mut code = vec![
        open_s,
        open_d,
        Instr::Spawn { proc: peer, args: vec![1] },
        Instr::Send { ep: 2, label: ep_label, src: 0 },
        Instr::Recv { ep: 3, label: ep_label, dst: 4 },
        Instr::Close { ep: 2 },
        Instr::Close { ep: 3 },
        Instr::Const { dst: 5, k: k7 },
        Instr::Const { dst: 6, k: kstr },
    ];
    code.extend(bad);
    code.push(Instr::Halt);
    let main = mb.proc("main", vec![], 8, code);
    mb.m.entry = main;
    mb.verified()
}

fn single_fault(program: &Arc<VerifiedProgram>) -> (Fault, Vec<Event>) {
    let (outcome, events, group) = run(program);
    assert_eq!(outcome.faults, 1, "events: {events:#?}");
    assert_eq!(outcome.status, GroupStatus::Completed);
    (group.faults()[0].fault.clone(), events)
}

/// Peer code for role B whose type is `A!label(Int).end`.
fn peer_send(label: SymId) -> Vec<Instr> {
    // Constant 0 is `Int(7)` (the first constant `carrier` adds).
    vec![Instr::Const { dst: 1, k: 0 }, Instr::Send { ep: 0, label, src: 1 }, Instr::Close { ep: 0 }, Instr::Halt]
}

/// Peer code for role B whose type is `A?label(Int).end`.
fn peer_recv(label: SymId) -> Vec<Instr> {
    vec![Instr::Recv { ep: 0, label, dst: 1 }, Instr::Close { ep: 0 }, Instr::Halt]
}

/// The carrier for a session where A's type is `B!M(Int).end` and B receives
/// `M` and closes; `bad` is what A does instead.
fn a_sends_m_to_b(mb: Mb, m: SymId, bad: Vec<Instr>) -> Arc<VerifiedProgram> {
    carrier(mb, send("B", "M", &["Int"], end()), recv("A", "M", &["Int"], end()), peer_recv(m), bad)
}

const A: Endpoint = Endpoint { sid: 0, role: 0 };

#[test]
fn send_where_recv_expected_faults_the_coroutine_and_the_session() {
    let mut mb = Mb::new();
    let (m, b) = (mb.s("M"), mb.s("B"));
    let ta = recv("B", "M", &["Int"], end());
    let tb = send("A", "M", &["Int"], end());
    let program = carrier(mb, ta, tb, peer_send(m), vec![Instr::Send { ep: 4, label: m, src: 5 }]);
    let (fault, events) = single_fault(&program);
    assert_eq!(fault, Fault::SendWhereRecvExpected { ep: A, label: m, peer: b });
    let code = fault.code();
    assert_eq!(code, 3005);
    let at = events.iter().position(|e| matches!(e.kind, EventKind::FailureBranchEntered { .. })).unwrap();
    assert_eq!(
        kinds_of(&events[at..at + 3]),
        vec![
            EventKind::FailureBranchEntered { code },
            EventKind::Faulted { code },
            EventKind::SessionTerminal { reason: TerminalReason::Faulted { code } },
        ]
    );
    assert_eq!((events[at].site.sid, events[at].site.role, events[at].site.coroutine), (0, 0, 0));
    // The peer then touches the faulted session and ends quietly.
    let last = events.last().unwrap();
    assert_eq!((last.site.coroutine, &last.kind), (1, &EventKind::Halted));
}

#[test]
fn recv_where_send_expected() {
    let mut mb = Mb::new();
    let (m, b) = (mb.s("M"), mb.s("B"));
    let program = a_sends_m_to_b(mb, m, vec![Instr::Recv { ep: 4, label: m, dst: 5 }]);
    assert_eq!(single_fault(&program).0, Fault::RecvWhereSendExpected { ep: A, attempted: Op::Recv, peer: b });
}

#[test]
fn wrong_label_is_not_offered() {
    let mut mb = Mb::new();
    let (m, n, b) = (mb.s("M"), mb.s("N"), mb.s("B"));
    let program = a_sends_m_to_b(mb, m, vec![Instr::Send { ep: 4, label: n, src: 5 }]);
    let expected = Expected::Send { peer: b };
    assert_eq!(single_fault(&program).0, Fault::LabelNotOffered { ep: A, label: n, expected });
}

#[test]
fn send_after_end() {
    let mut mb = Mb::new();
    let m = mb.s("M");
    let peer = vec![Instr::Close { ep: 0 }, Instr::Halt];
    let program = carrier(mb, end(), end(), peer, vec![Instr::Send { ep: 4, label: m, src: 5 }]);
    assert_eq!(single_fault(&program).0, Fault::ActionAfterEnd { ep: A, attempted: Op::Send });
}

#[test]
fn close_before_end() {
    let mut mb = Mb::new();
    let (m, b) = (mb.s("M"), mb.s("B"));
    let program = a_sends_m_to_b(mb, m, vec![Instr::Close { ep: 4 }]);
    assert_eq!(single_fault(&program).0, Fault::CloseBeforeEnd { ep: A, expected: Expected::Send { peer: b } });
}

#[test]
fn payload_kind_mismatch() {
    let mut mb = Mb::new();
    let (m, int) = (mb.s("M"), mb.s("Int"));
    let program = a_sends_m_to_b(mb, m, vec![Instr::Send { ep: 4, label: m, src: 6 }]);
    let fault = single_fault(&program).0;
    assert_eq!(fault, Fault::PayloadKindMismatch { ep: A, label: m, expected: int, found: ValueKind::Str });
}

#[test]
fn payload_arity_mismatch() {
    let mut mb = Mb::new();
    let m = mb.s("M");
    let ta = send("B", "M", &["Int", "Int"], end());
    let tb = recv("A", "M", &["Int", "Int"], end());
    let program = carrier(mb, ta, tb, peer_recv(m), vec![Instr::Send { ep: 4, label: m, src: 5 }]);
    let fault = single_fault(&program).0;
    assert_eq!(fault, Fault::PayloadArityMismatch { ep: A, label: m, expected: 2, found: 1 });
}

#[test]
fn unexpected_label_cannot_arrive_in_a_verified_program() {
    // B's type sends N, A's type only receives M: the arriving N would have
    // no arm (UnexpectedLabel at run time), so the verifier refuses the open
    // as incoherent and such a program never runs.
    let result = std::panic::catch_unwind(|| {
        let mut mb = Mb::new();
        let (m, n) = (mb.s("M"), mb.s("N"));
        carrier(
            mb,
            recv("B", "M", &["Int"], end()),
            send("A", "N", &["Int"], end()),
            peer_send(n),
            vec![Instr::Recv { ep: 4, label: m, dst: 5 }],
        )
    });
    let message = result.err().and_then(|p| p.downcast::<String>().ok()).expect("the module does not verify");
    assert!(message.contains("not coherent: B may send N to A"), "{message}");
}

#[test]
fn close_then_send_on_a_closed_session() {
    let mut mb = Mb::new();
    let m = mb.s("M");
    let peer = vec![Instr::Close { ep: 0 }, Instr::Halt];
    // The never-taken path (10 → 12) joins r4 as unknown at the send, so the
    // verifier leaves the use after close to the machine.
    let bad = vec![
        Instr::Yield,
        Instr::JmpIf { cond: 5, target: 12 },
        Instr::Jmp { target: 13 },
        Instr::Close { ep: 4 },
        Instr::Send { ep: 4, label: m, src: 5 },
    ];
    let (outcome, events, group) = run(&carrier(mb, end(), end(), peer, bad));
    assert_eq!(outcome.faults, 1);
    assert_eq!(group.faults()[0].fault, Fault::SessionClosed { ep: A });
    assert_eq!(group.faults()[0].pc, 13);
    // A closed session stays closed: no SessionTerminal{Faulted}.
    assert!(
        !events.iter().any(|e| matches!(e.kind, EventKind::SessionTerminal { reason: TerminalReason::Faulted { .. } }))
    );
    assert_eq!(group.store().get(0).unwrap().status, SessionStatus::Closed);
}

#[test]
fn send_on_own_closed_endpoint_while_peer_is_open() {
    let mut mb = Mb::new();
    let m = mb.s("M");
    let peer = vec![Instr::Yield, Instr::Yield, Instr::Yield, Instr::Close { ep: 0 }, Instr::Halt];
    let bad = vec![
        Instr::JmpIf { cond: 5, target: 11 },
        Instr::Jmp { target: 12 },
        Instr::Close { ep: 4 },
        Instr::Send { ep: 4, label: m, src: 5 },
    ];
    let program = carrier(mb, end(), end(), peer, bad);
    assert_eq!(single_fault(&program).0, Fault::EndpointClosed { ep: A });
}

#[test]
fn host_rejection_faults_the_receiver() {
    struct Picky(Vec<String>);
    impl Host for Picky {
        fn produce(&mut self, _: &HostCtx<'_>, _: SymId) -> Value {
            Value::Unit
        }
        fn accept(&mut self, ctx: &HostCtx<'_>, _: SymId, payload: &Value) -> bool {
            self.0.push(ctx.module.sym(ctx.role_name).to_owned());
            *payload != Value::Int(1)
        }
        fn choose(&mut self, _: &HostCtx<'_>, _: &[SymId]) -> usize {
            0
        }
        fn invoke(&mut self, _: &HostCtx<'_>, _: SymId, arg: &Value) -> Value {
            arg.clone()
        }
    }
    let program = ping_pong(3);
    let (outcome, events, group) = run_with(&program, &Config::default(), Box::new(Picky(Vec::new())));
    assert_eq!(outcome.faults, 1);
    // Ping(0) to B, Pong(0) to A, Ping(1) to B: rejected.
    let ping = program.module().find_sym("Ping").unwrap();
    let b = Endpoint { sid: 0, role: 1 };
    assert_eq!(group.faults()[0].fault, Fault::HostRejected { ep: b, label: ping });
    let answer = events.iter().find(|e| matches!(e.kind, EventKind::HostAnswer { .. })).unwrap();
    assert_eq!(
        answer.kind,
        EventKind::HostAnswer { point: canon_machine::HostPoint::Accept { label: ping }, answer: Value::Bool(false) }
    );
}
