//! Valid example modules for the verifier tests, built directly as `Module`
//! values: each test corrupts one field of one of them.

#![allow(dead_code)] // each test binary uses a different subset

use canon_bytecode::{Arm, BufferConfig, Const, EdgeBuffer, Instr, Module, Param, Proc, VerifyError, verify};
use canon_types::{FlatBranch, SymId, TypeId, TypeNode};

/// Interns `s` in `m`.
pub fn sym(m: &mut Module, s: &str) -> SymId {
    m.intern(s)
}

fn branch(m: &mut Module, label: &str, payload: &[&str], cont: u32) -> FlatBranch {
    let label = sym(m, label);
    let payload = payload.iter().map(|p| sym(m, p)).collect();
    FlatBranch { label, payload, cont: TypeId(cont) }
}

/// A `Send` node to `peer` with the given branches `(label, payload, cont)`.
pub fn send(m: &mut Module, peer: &str, branches: &[(&str, &[&str], u32)]) -> TypeNode {
    let peer = sym(m, peer);
    let branches = branches.iter().map(|(l, p, c)| branch(m, l, p, *c)).collect();
    TypeNode::Send { peer, branches }
}

/// A `Recv` node from `peer` with the given branches `(label, payload, cont)`.
pub fn recv(m: &mut Module, peer: &str, branches: &[(&str, &[&str], u32)]) -> TypeNode {
    let peer = sym(m, peer);
    let branches = branches.iter().map(|(l, p, c)| branch(m, l, p, *c)).collect();
    TypeNode::Recv { peer, branches }
}

/// Appends a procedure.
pub fn add_proc(m: &mut Module, name: &str, params: Vec<Param>, reg_count: u16, code: Vec<Instr>) {
    let name = sym(m, name);
    m.procs.push(Proc { name, params, reg_count, code });
}

/// An `open` of two roles into `r0`, `r1` with one buffered edge 0→1.
pub fn open2(m: &mut Module, roles: [&str; 2], types: [u32; 2]) -> Instr {
    let h = sym(m, "h");
    Instr::Open {
        roles: roles.iter().map(|r| sym(m, r)).collect(),
        types: types.iter().map(|&t| TypeId(t)).collect(),
        handlers: vec![h, h],
        dsts: vec![0, 1],
        buffers: vec![EdgeBuffer { from: 0, to: 1, config: BufferConfig { capacity: 4, ..BufferConfig::default() } }],
    }
}

/// An arm for `label` continuing at `target`.
pub fn arm(m: &mut Module, label: &str, target: u32) -> Arm {
    Arm { label: sym(m, label), target }
}

/// Ping-pong: `main` (proc 0) opens A and B and spawns `role_a` (proc 1:
/// send Ping, recv Pong, close) and `role_b` (proc 2: recv Ping, produce and
/// send Pong, close).
///
/// Types: 0 `B!Ping(Int)` → 1 `B?Pong(Int)` → 2 `end`; 3 `A?Ping(Int)` → 4
/// `A!Pong(Int)` → 5 `end`.
pub fn ping_pong() -> Module {
    let mut m = Module::default();
    sym(&mut m, "main");
    let nodes = vec![
        send(&mut m, "B", &[("Ping", &["Int"], 1)]),
        recv(&mut m, "B", &[("Pong", &["Int"], 2)]),
        TypeNode::End,
        recv(&mut m, "A", &[("Ping", &["Int"], 4)]),
        send(&mut m, "A", &[("Pong", &["Int"], 5)]),
        TypeNode::End,
    ];
    m.types.nodes = nodes;
    m.consts = vec![Const::Int(1)];
    let open = open2(&mut m, ["A", "B"], [0, 3]);
    add_proc(&mut m, "main", vec![], 2, vec![open, spawn(1, &[0]), spawn(2, &[1]), Instr::Halt]);
    let (ping, pong) = (sym(&mut m, "Ping"), sym(&mut m, "Pong"));
    let role_a = vec![
        Instr::Const { dst: 1, k: 0 },
        Instr::Send { ep: 0, label: ping, src: 1 },
        Instr::Recv { ep: 0, label: pong, dst: 2 },
        Instr::Close { ep: 0 },
        Instr::Halt,
    ];
    add_proc(&mut m, "role_a", vec![Param::Endpoint(TypeId(0))], 3, role_a);
    let role_b = vec![
        Instr::Recv { ep: 0, label: ping, dst: 1 },
        Instr::Produce { dst: 2, ep: 0, label: pong },
        Instr::Send { ep: 0, label: pong, src: 2 },
        Instr::Close { ep: 0 },
        Instr::Ret,
    ];
    add_proc(&mut m, "role_b", vec![Param::Endpoint(TypeId(3))], 3, role_b);
    m
}

/// `spawn proc, args`.
pub fn spawn(proc: u32, args: &[u16]) -> Instr {
    Instr::Spawn { proc, args: args.to_vec() }
}

/// The loop types: 0 `mu X.` 1 `C?{More(Int).` 2 `X, Stop().` 3 `end}`;
/// 4 `mu X.` 5 `S!{More(Int).` 6 `X, Stop().` 7 `end}`.
fn loop_types(m: &mut Module) {
    let x = sym(m, "X");
    let nodes = vec![
        TypeNode::Mu { var: x, body: TypeId(1) },
        recv(m, "C", &[("More", &["Int"], 2), ("Stop", &[], 3)]),
        TypeNode::Var { mu: TypeId(0) },
        TypeNode::End,
        TypeNode::Mu { var: x, body: TypeId(5) },
        send(m, "S", &[("More", &["Int"], 6), ("Stop", &[], 7)]),
        TypeNode::Var { mu: TypeId(4) },
        TypeNode::End,
    ];
    m.types.nodes = nodes;
}

/// A loop over a `mu` type: `main` opens S and C; `server` (proc 1) offers
/// More/Stop in a loop; `client` (proc 2) counts to 3, sending More, then
/// Stop.
pub fn offer_loop() -> Module {
    let mut m = Module::default();
    sym(&mut m, "main");
    loop_types(&mut m);
    m.consts = vec![Const::Int(0), Const::Int(3), Const::Int(1)];
    let open = open2(&mut m, ["S", "C"], [0, 4]);
    add_proc(&mut m, "main", vec![], 2, vec![open, spawn(1, &[0]), spawn(2, &[1]), Instr::Halt]);
    let arms = vec![arm(&mut m, "More", 1), arm(&mut m, "Stop", 2)];
    let server =
        vec![Instr::Offer { ep: 0, dst: 1, arms }, Instr::Jmp { target: 0 }, Instr::Close { ep: 0 }, Instr::Halt];
    add_proc(&mut m, "server", vec![Param::Endpoint(TypeId(0))], 2, server);
    let (more, stop) = (sym(&mut m, "More"), sym(&mut m, "Stop"));
    let client = vec![
        Instr::Const { dst: 1, k: 0 },
        Instr::Const { dst: 2, k: 1 },
        Instr::Const { dst: 4, k: 2 },
        Instr::Lt { dst: 3, a: 1, b: 2 },
        Instr::JmpIf { cond: 3, target: 7 },
        Instr::Send { ep: 0, label: stop, src: 1 },
        Instr::Jmp { target: 10 },
        Instr::Send { ep: 0, label: more, src: 1 },
        Instr::Add { dst: 1, a: 1, b: 4 },
        Instr::Jmp { target: 3 },
        Instr::Close { ep: 0 },
        Instr::Halt,
    ];
    add_proc(&mut m, "client", vec![Param::Endpoint(TypeId(4))], 5, client);
    m
}

/// The loop types again, with a host-chosen `select` client (proc 2) and a
/// server (proc 1) that waits with `recv_timeout` and cancels on timeout.
pub fn select_timeout() -> Module {
    let mut m = Module::default();
    sym(&mut m, "main");
    loop_types(&mut m);
    let open = open2(&mut m, ["S", "C"], [0, 4]);
    add_proc(&mut m, "main", vec![], 2, vec![open, spawn(1, &[0]), spawn(2, &[1]), Instr::Halt]);
    let arms = vec![arm(&mut m, "More", 1), arm(&mut m, "Stop", 2)];
    let server = vec![
        Instr::RecvTimeout { ep: 0, dst: 1, arms, timeout_ticks: 5, on_timeout: 4 },
        Instr::Jmp { target: 0 },
        Instr::Close { ep: 0 },
        Instr::Halt,
        Instr::Cancel { ep: 0 },
        Instr::Halt,
    ];
    add_proc(&mut m, "server", vec![Param::Endpoint(TypeId(0))], 2, server);
    let arms = vec![arm(&mut m, "More", 1), arm(&mut m, "Stop", 4)];
    let (more, stop) = (sym(&mut m, "More"), sym(&mut m, "Stop"));
    let client = vec![
        Instr::Select { ep: 0, arms },
        Instr::Produce { dst: 1, ep: 0, label: more },
        Instr::Send { ep: 0, label: more, src: 1 },
        Instr::Jmp { target: 0 },
        Instr::Send { ep: 0, label: stop, src: 1 },
        Instr::Close { ep: 0 },
        Instr::Halt,
    ];
    add_proc(&mut m, "client", vec![Param::Endpoint(TypeId(4))], 2, client);
    m
}

/// A choice among peers whose branches begin with the same label sent to
/// different receivers: the auctioneer (proc 1) tells one bidder `Win` and
/// the other `Lose`, naming the receiver with `select_to`.
pub const SELECT_TO_CASM: &str = include_str!("../../../../tests/differential/select_to.casm");

/// [`SELECT_TO_CASM`], assembled.
pub fn select_to() -> Module {
    canon_bytecode::assemble(SELECT_TO_CASM).expect("the select_to example assembles")
}

/// Every valid example, by name.
pub fn valid_modules() -> Vec<(&'static str, Module)> {
    vec![
        ("ping_pong", ping_pong()),
        ("offer_loop", offer_loop()),
        ("select_timeout", select_timeout()),
        ("select_to", select_to()),
    ]
}

/// Verifies `m`, expecting an error.
pub fn verify_err(m: Module) -> VerifyError {
    match verify(m) {
        Ok(_) => panic!("the corrupted module verified"),
        Err(e) => e,
    }
}

/// The variant name of an error (its `VERIFY_CODES` row).
pub fn variant(e: &VerifyError) -> &'static str {
    e.entry().name
}
