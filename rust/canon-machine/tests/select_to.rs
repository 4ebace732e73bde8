//! `select_to` at run time on an endpoint the verifier cannot follow (one
//! received by delegation): a label two arms of its choose send, used with
//! no receiver, is the typed fault `AmbiguousLabel` (3040); after a
//! `select_to` names the receiver, the same `send` goes to it.

mod common;

use std::sync::Arc;

use canon_bytecode::{Const, Instr, Param, PeerArm, VerifiedProgram};
use canon_machine::{EventKind, Fault};
use canon_types::{Endpoint, ErrorCode, LocalType};
use common::*;

/// S (A, B, C): A's type sends `M` to B or to C (a choose whose arms share
/// the label); B and C may receive it. The carrier D (P, Q) delegates S.A to
/// Q, which then runs `q_code` with S.A in r1 (an endpoint the verifier
/// tracks as unknown).
fn program(q_code: impl FnOnce(&mut Mb) -> Vec<Instr>) -> Arc<VerifiedProgram> {
    let mut mb = Mb::new();
    let ta = mb.ty(&LocalType::Choose { arms: vec![send("B", "M", &["Int"], end()), send("C", "M", &["Int"], end())] });
    let tb = mb.ty(&recv("A", "M", &["Int"], end()));
    let tc = mb.ty(&recv("A", "M", &["Int"], end()));
    let tp = mb.ty(&send("Q", "Ep", &["Endpoint"], end()));
    let tq = mb.ty(&recv("P", "Ep", &["Endpoint"], end()));
    let (m, ep_label) = (mb.s("M"), mb.s("Ep"));
    let receiver = |mb: &mut Mb, name: &str, t| {
        let code = vec![Instr::Recv { ep: 0, label: m, dst: 1 }, Instr::Close { ep: 0 }, Instr::Halt];
        mb.proc(name, vec![Param::Endpoint(t)], 2, code)
    };
    let pb = receiver(&mut mb, "b", tb);
    let pc = receiver(&mut mb, "c", tc);
    let mut code = vec![Instr::Recv { ep: 0, label: ep_label, dst: 1 }, Instr::Close { ep: 0 }];
    code.extend(q_code(&mut mb));
    let pq = mb.proc("q", vec![Param::Endpoint(tq)], 3, code);
    let open_s = mb.open(&["A", "B", "C"], &[ta, tb, tc], &[0, 1, 2]);
    let open_d = mb.open(&["P", "Q"], &[tp, tq], &[3, 4]);
    let main = mb.proc(
        "main",
        vec![],
        5,
        vec![
            open_s,
            open_d,
            Instr::Spawn { proc: pb, args: vec![1] },
            Instr::Spawn { proc: pc, args: vec![2] },
            Instr::Spawn { proc: pq, args: vec![4] },
            Instr::Send { ep: 3, label: ep_label, src: 0 },
            Instr::Close { ep: 3 },
            Instr::Halt,
        ],
    );
    mb.m.entry = main;
    mb.verified()
}

#[test]
fn a_shared_label_without_a_receiver_is_a_typed_fault() {
    let program = program(|mb| {
        let (m, k) = (mb.s("M"), mb.konst(Const::Int(7)));
        vec![Instr::Const { dst: 2, k }, Instr::Send { ep: 1, label: m, src: 2 }, Instr::Close { ep: 1 }, Instr::Halt]
    });
    let (_, _, group) = run(&program);
    let fault = &group.faults()[0].fault;
    let m = program.module().find_sym("M").expect("M");
    let (b, c) = (program.module().find_sym("B").expect("B"), program.module().find_sym("C").expect("C"));
    assert_eq!(*fault, Fault::AmbiguousLabel { ep: Endpoint { sid: 0, role: 0 }, label: m, first: b, other: c });
    assert_eq!(fault.code(), 3040);
}

#[test]
fn select_to_narrows_to_the_named_receiver() {
    let program = program(|mb| {
        // Q's code starts with two instructions (receive S.A, close D).
        let (m, to, k) = (mb.s("M"), mb.s("C"), mb.konst(Const::Int(7)));
        vec![
            Instr::SelectTo { ep: 1, arms: vec![PeerArm { to, label: m, target: 5 }] },
            Instr::Halt,
            Instr::Halt,
            Instr::Const { dst: 2, k },
            Instr::Send { ep: 1, label: m, src: 2 },
            Instr::Close { ep: 1 },
            Instr::Halt,
        ]
    });
    let (_, events, group) = run(&program);
    assert!(group.faults().is_empty(), "{:?}", group.faults());
    let sent: Vec<u16> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Sent { to, .. } if e.site.sid == 0 => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [2], "M went to C (role 2)");
}
