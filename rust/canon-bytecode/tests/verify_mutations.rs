//! Mutation tests (after Move's invalid-mutation tests): take a valid module,
//! corrupt one field, and expect one specific `VerifyError` variant.

mod verify_common;

use canon_bytecode::{Backpressure, Const, EdgeBuffer, Instr, Module, Param, VERIFY_CODES, verify};
use canon_types::{SymId, TypeId, TypeNode};
use verify_common::*;

type Mutation = (&'static str, fn() -> Module, fn(&mut Module), &'static str);

fn open_of(m: &mut Module) -> &mut Instr {
    &mut m.procs[0].code[0]
}

fn edit_open(
    m: &mut Module,
    f: impl FnOnce(&mut Vec<SymId>, &mut Vec<TypeId>, &mut Vec<SymId>, &mut Vec<u16>, &mut Vec<EdgeBuffer>),
) {
    let Instr::Open { roles, types, handlers, dsts, buffers } = open_of(m) else {
        unreachable!("proc 0 starts with open")
    };
    f(roles, types, handlers, dsts, buffers);
}

fn label(m: &Module, s: &str) -> SymId {
    m.find_sym(s).unwrap()
}

const MODULE_LEVEL: &[Mutation] = &[
    ("duplicate string", ping_pong, |m| m.strings.push("A".into()), "DuplicateString"),
    ("var not at a mu", ping_pong, |m| m.types.nodes[2] = TypeNode::Var { mu: TypeId(0) }, "BadTypeGraph"),
    (
        "type peer out of range",
        ping_pong,
        |m| {
            if let TypeNode::Send { peer, .. } = &mut m.types.nodes[0] {
                *peer = SymId(99);
            }
        },
        "TypeSymOutOfRange",
    ),
    ("const str out of range", ping_pong, |m| m.consts[0] = Const::Str(SymId(99)), "ConstSymOutOfRange"),
    ("entry out of range", ping_pong, |m| m.entry = 7, "EntryOutOfRange"),
    ("entry with params", ping_pong, |m| m.entry = 1, "EntryHasParams"),
];

const PROC_LEVEL: &[Mutation] = &[
    ("reg_count below params", ping_pong, |m| m.procs[1].reg_count = 0, "RegCountTooSmall"),
    ("empty code", ping_pong, |m| m.procs[1].code.clear(), "EmptyCode"),
    ("falls off the end", ping_pong, |m| m.procs[1].code[4] = Instr::Nop, "FallsOffEnd"),
    ("param type out of range", ping_pong, |m| m.procs[2].params[0] = Param::Endpoint(TypeId(50)), "TypeOutOfRange"),
    ("proc name out of range", ping_pong, |m| m.procs[2].name = SymId(500), "SymOutOfRange"),
];

const OPERANDS: &[Mutation] = &[
    (
        "send src register",
        ping_pong,
        |m| {
            if let Instr::Send { src, .. } = &mut m.procs[1].code[1] {
                *src = 9;
            }
        },
        "RegisterOutOfRange",
    ),
    ("jump target", offer_loop, |m| m.procs[1].code[1] = Instr::Jmp { target: 99 }, "TargetOutOfRange"),
    (
        "send label",
        ping_pong,
        |m| {
            if let Instr::Send { label, .. } = &mut m.procs[1].code[1] {
                *label = SymId(99);
            }
        },
        "SymOutOfRange",
    ),
    ("open type", ping_pong, |m| edit_open(m, |_, t, _, _, _| t[0] = TypeId(99)), "TypeOutOfRange"),
    ("const index", ping_pong, |m| m.procs[1].code[0] = Instr::Const { dst: 1, k: 5 }, "ConstOutOfRange"),
    ("spawn proc", ping_pong, |m| m.procs[0].code[1] = spawn(9, &[0]), "ProcOutOfRange"),
    ("spawn arity", ping_pong, |m| m.procs[0].code[1] = spawn(1, &[0, 1]), "ArgCountMismatch"),
    (
        "duplicate arm label",
        offer_loop,
        |m| {
            if let Instr::Offer { arms, .. } = &mut m.procs[1].code[0] {
                arms[1].label = arms[0].label;
            }
        },
        "DuplicateArmLabel",
    ),
    (
        "zero timeout",
        select_timeout,
        |m| {
            if let Instr::RecvTimeout { timeout_ticks, .. } = &mut m.procs[1].code[0] {
                *timeout_ticks = 0;
            }
        },
        "ZeroTimeout",
    ),
    (
        "timeout target",
        select_timeout,
        |m| {
            if let Instr::RecvTimeout { on_timeout, .. } = &mut m.procs[1].code[0] {
                *on_timeout = 6;
            }
        },
        "TargetOutOfRange",
    ),
];

const OPEN: &[Mutation] = &[
    (
        "B does not receive the label A sends",
        ping_pong,
        |m| {
            let pong = label(m, "Pong");
            if let TypeNode::Recv { branches, .. } = &mut m.types.nodes[3] {
                branches[0].label = pong;
            }
        },
        "IncoherentOpen",
    ),
    (
        "A and B disagree on a payload",
        ping_pong,
        |m| {
            let int = label(m, "Int");
            if let TypeNode::Recv { branches, .. } = &mut m.types.nodes[3] {
                branches[0].payload = vec![int, int];
            }
        },
        "IncoherentOpen",
    ),
    (
        "A sends a second message B never receives",
        ping_pong,
        |m| {
            // A: B!Ping.B!Ping.B?Pong.end against B: A?Ping.A!Pong.end: both
            // reach end with the second Ping undelivered.
            let ping = label(m, "Ping");
            let int = label(m, "Int");
            let b = label(m, "B");
            m.types.nodes.push(TypeNode::Send {
                peer: b,
                branches: vec![canon_types::FlatBranch { label: ping, payload: vec![int], cont: TypeId(1) }],
            });
            if let TypeNode::Send { branches, .. } = &mut m.types.nodes[0] {
                branches[0].cont = TypeId(6);
            }
        },
        "IncoherentOpen",
    ),
    ("open arity", ping_pong, |m| edit_open(m, |_, _, h, _, _| _ = h.pop()), "OpenArityMismatch"),
    (
        "open without roles",
        ping_pong,
        |m| *open_of(m) = Instr::Open { roles: vec![], types: vec![], handlers: vec![], dsts: vec![], buffers: vec![] },
        "OpenWithoutRoles",
    ),
    ("duplicate role", ping_pong, |m| edit_open(m, |r, _, _, _, _| r[1] = r[0]), "DuplicateRole"),
    ("duplicate dst", ping_pong, |m| edit_open(m, |_, _, _, d, _| d[1] = d[0]), "DuplicateDst"),
    ("edge role index", ping_pong, |m| edit_open(m, |_, _, _, _, b| b[0].to = 5), "EdgeRoleOutOfRange"),
    ("edge self loop", ping_pong, |m| edit_open(m, |_, _, _, _, b| b[0].to = 0), "EdgeSelfLoop"),
    ("edge capacity", ping_pong, |m| edit_open(m, |_, _, _, _, b| b[0].config.capacity = 0), "ZeroCapacity"),
    (
        "resize below capacity",
        ping_pong,
        |m| edit_open(m, |_, _, _, _, b| b[0].config.policy = Backpressure::Resize { max_capacity: 2 }),
        "ResizeBelowCapacity",
    ),
    (
        "peer not a role",
        ping_pong,
        |m| {
            let h = label(m, "h");
            if let TypeNode::Recv { peer, .. } = &mut m.types.nodes[1] {
                *peer = h;
            }
        },
        "UnknownPeer",
    ),
    (
        "talks to itself",
        ping_pong,
        |m| {
            let a = label(m, "A");
            if let TypeNode::Recv { peer, .. } = &mut m.types.nodes[1] {
                *peer = a;
            }
        },
        "SelfCommunication",
    ),
];

const TYPESTATE: &[Mutation] = &[
    (
        "send on a value",
        ping_pong,
        |m| {
            if let Instr::Send { ep, .. } = &mut m.procs[1].code[1] {
                *ep = 1;
            }
        },
        "NotAnEndpoint",
    ),
    ("spawn a moved endpoint", ping_pong, |m| m.procs[0].code[2] = spawn(2, &[0]), "UseAfterMove"),
    ("overwrite an endpoint", ping_pong, |m| m.procs[1].code[0] = Instr::Const { dst: 0, k: 0 }, "EndpointOverwritten"),
    (
        "send where recv expected",
        ping_pong,
        |m| m.procs[2].code[0] = Instr::Send { ep: 0, label: label(m, "Ping"), src: 1 },
        "SendWhereRecvExpected",
    ),
    (
        "recv where send expected",
        ping_pong,
        |m| m.procs[1].code[1] = Instr::Recv { ep: 0, label: label(m, "Ping"), dst: 1 },
        "RecvWhereSendExpected",
    ),
    (
        "label not offered",
        ping_pong,
        |m| {
            let pong = label(m, "Pong");
            if let Instr::Send { label, .. } = &mut m.procs[1].code[1] {
                *label = pong;
            }
        },
        "LabelNotOffered",
    ),
    (
        "send after end",
        ping_pong,
        |m| m.procs[1].code[3] = Instr::Send { ep: 0, label: label(m, "Ping"), src: 1 },
        "ActionAfterEnd",
    ),
    ("close too early", ping_pong, |m| m.procs[1].code[2] = Instr::Close { ep: 0 }, "CloseBeforeEnd"),
    (
        "offer misses an arm",
        offer_loop,
        |m| {
            if let Instr::Offer { arms, .. } = &mut m.procs[1].code[0] {
                arms.pop();
            }
        },
        "OfferArmsMismatch",
    ),
    ("endpoint never closed", ping_pong, |m| m.procs[1].code[3] = Instr::Nop, "EndpointLeaked"),
    ("end-typed endpoint dropped", offer_loop, |m| m.procs[1].code[2] = Instr::Nop, "EndpointLeaked"),
    (
        "loop exits mid-protocol",
        offer_loop,
        |m| m.procs[2].code[9] = Instr::Jmp { target: 10 },
        "InconsistentStateAtJoin",
    ),
    ("spawn with the other role's type", ping_pong, |m| m.procs[0].code[1] = spawn(1, &[1]), "EndpointTypeMismatch"),
    ("param talks to another peer", ping_pong, |m| m.procs[1].params[0] = Param::Endpoint(TypeId(4)), "WrongPeer"),
    ("endpoint to a value param", ping_pong, |m| m.procs[1].params[0] = Param::Value, "EndpointToValueParam"),
    (
        "select a label the type lacks",
        select_timeout,
        |m| {
            let ping = m.intern("Ping");
            if let Instr::Select { arms, .. } = &mut m.procs[2].code[0] {
                arms[1].label = ping;
            }
        },
        "LabelNotOffered",
    ),
    (
        "select on a receiving endpoint",
        select_timeout,
        |m| {
            let arms = vec![arm(m, "More", 1), arm(m, "Stop", 2)];
            m.procs[1].code[0] = Instr::Select { ep: 0, arms };
        },
        "SendWhereRecvExpected",
    ),
    ("produce a label two arms share", select_to, |m| m.procs[1].code[0] = Instr::Nop, "AmbiguousLabel"),
    (
        "select a label two arms share",
        select_to,
        |m| {
            let arms = vec![arm(m, "Win", 1)];
            m.procs[1].code[0] = Instr::Select { ep: 0, arms };
        },
        "AmbiguousLabel",
    ),
    (
        "select_to a receiver the type does not send to",
        select_to,
        |m| {
            let a = m.intern("A");
            if let Instr::SelectTo { arms, .. } = &mut m.procs[1].code[0] {
                arms[1].to = a;
            }
        },
        "LabelNotOffered",
    ),
    (
        "select_to one receiver and label twice",
        select_to,
        |m| {
            if let Instr::SelectTo { arms, .. } = &mut m.procs[1].code[0] {
                arms[1].to = arms[0].to;
            }
        },
        "DuplicateArmLabel",
    ),
    (
        "arm narrowed to one receiver sends to the other",
        select_to,
        |m| {
            let lose = m.intern("Lose");
            m.procs[1].code[2] = Instr::Send { ep: 0, label: lose, src: 1 };
        },
        "LabelNotOffered",
    ),
];

fn run(table: &[Mutation]) {
    for (name, base, mutate, expected) in table {
        let mut m = base();
        assert!(verify(m.clone()).is_ok(), "{name}: the base module must verify");
        mutate(&mut m);
        let e = verify_err(m);
        assert_eq!(variant(&e), *expected, "{name}: got `{e}`");
    }
}

#[test]
fn module_level_mutations() {
    run(MODULE_LEVEL);
}

#[test]
fn proc_level_mutations() {
    run(PROC_LEVEL);
}

#[test]
fn operand_mutations() {
    run(OPERANDS);
}

#[test]
fn open_mutations() {
    run(OPEN);
}

#[test]
fn typestate_mutations() {
    run(TYPESTATE);
}

/// Typestate errors name the procedure and the instruction.
#[test]
fn typestate_errors_name_proc_and_instr() {
    let mut m = offer_loop();
    m.procs[2].code[9] = Instr::Jmp { target: 10 };
    let e = verify_err(m);
    let at = e.location().unwrap();
    assert_eq!((at.proc, at.name.as_str(), at.instr), (2, "client", Some(10)), "{e}");
    assert!(e.to_string().starts_with("proc 2 (client) instr 10: paths join with r0 as"), "{e}");
}

/// A procedure whose leaders × registers exceed the state budget is refused,
/// not verified slowly.
#[test]
fn oversized_state_is_too_complex() {
    let mut m = ping_pong();
    let mut code: Vec<Instr> = (1..=100).map(|t| Instr::Jmp { target: t }).collect();
    code.push(Instr::Halt);
    add_proc(&mut m, "big", vec![], u16::MAX, code);
    let e = verify_err(m);
    assert_eq!(variant(&e), "TooComplex", "{e}");
}

/// Every code in the table is produced by at least one mutation above.
#[test]
fn mutations_cover_every_code() {
    let mut seen: Vec<&str> = [MODULE_LEVEL, PROC_LEVEL, OPERANDS, OPEN, TYPESTATE]
        .iter()
        .flat_map(|t| t.iter().map(|(_, _, _, v)| *v))
        // Budget and size limits are tested at their edges in verify_cost.rs.
        .chain(["TooComplex", "TooManyRoles"])
        .collect();
    seen.sort_unstable();
    seen.dedup();
    let missing: Vec<&str> = VERIFY_CODES.iter().map(|c| c.name).filter(|n| !seen.contains(n)).collect();
    assert!(missing.is_empty(), "no mutation test for {missing:?}");
}
