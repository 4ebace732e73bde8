//! Verifier cost: crafted modules that used to take seconds to minutes are
//! verified in O(n log n) steps or refused by the module-wide work budget.
//! Every module is built by a small generator here; costs are asserted on the
//! work the verifier counts (`verify_counted`), never on time.

use canon_bytecode::{Arm, Instr, MAX_ROLES_PER_OPEN, MAX_VERIFY_WORK, Module, Param, Proc, verify, verify_counted};
use canon_types::{FlatBranch, SymId, TypeGraph, TypeId, TypeNode};

fn module() -> Module {
    Module { strings: vec![], types: TypeGraph::default(), consts: vec![], procs: vec![], entry: 0 }
}

fn proc(m: &mut Module, name: &str, params: Vec<Param>, reg_count: u16, code: Vec<Instr>) {
    let name = m.intern(name);
    m.procs.push(Proc { name, params, reg_count, code });
}

/// Appends fresh, distinct strings `{prefix}{i}` (without `Module::intern`'s
/// linear search, so generating 200,000 of them stays cheap).
fn fresh(m: &mut Module, prefix: &str, n: usize) -> Vec<SymId> {
    let first = m.strings.len() as u32;
    m.strings.extend((0..n).map(|i| format!("{prefix}{i}")));
    (first..first + n as u32).map(SymId).collect()
}

fn branch(label: SymId, cont: u32) -> FlatBranch {
    FlatBranch { label, payload: vec![], cont: TypeId(cont) }
}

fn work(m: Module) -> u64 {
    let (result, work) = verify_counted(m);
    result.unwrap_or_else(|e| panic!("{e}"));
    work
}

/// One choice of `n` labels: A selects among all of them and B offers all of
/// them, so the arm-duplicate, select and offer checks each see `n` labels.
fn wide_choice(n: u32) -> Module {
    let mut m = module();
    let (a, b, h) = (m.intern("A"), m.intern("B"), m.intern("h"));
    let labels = fresh(&mut m, "l", n as usize);
    m.types.nodes.push(TypeNode::Send { peer: b, branches: labels.iter().map(|&l| branch(l, 1)).collect() });
    m.types.nodes.push(TypeNode::End);
    m.types.nodes.push(TypeNode::Recv { peer: a, branches: labels.iter().map(|&l| branch(l, 1)).collect() });
    let arms = |target| labels.iter().map(|&label| Arm { label, target }).collect::<Vec<_>>();
    let code = vec![
        Instr::Open {
            roles: vec![a, b],
            types: vec![TypeId(0), TypeId(2)],
            handlers: vec![h, h],
            dsts: vec![0, 1],
            buffers: vec![],
        },
        Instr::Select { ep: 0, arms: arms(2) },
        Instr::Send { ep: 0, label: labels[n as usize - 1], src: 2 },
        Instr::Offer { ep: 1, dst: 3, arms: arms(4) },
        Instr::Close { ep: 0 },
        Instr::Close { ep: 1 },
        Instr::Halt,
    ];
    proc(&mut m, "main", vec![], 4, code);
    m
}

#[test]
fn two_hundred_thousand_labels_verify_in_n_log_n() {
    let small = work(wide_choice(20_000));
    let large = work(wide_choice(200_000));
    assert!(large <= small * 12, "10x labels: {large} steps against {small}");
}

#[test]
fn a_duplicate_among_two_hundred_thousand_arms_is_found() {
    let mut m = wide_choice(200_000);
    let Instr::Offer { arms, .. } = &mut m.procs[0].code[3] else { unreachable!() };
    arms[199_999].label = arms[0].label;
    assert!(matches!(verify(m), Err(canon_bytecode::VerifyError::DuplicateArmLabel { .. })));
}

#[test]
fn offer_mismatch_among_many_labels_is_reported_without_quadratic_work() {
    let mut m = wide_choice(200_000);
    let l = m.intern("other");
    let Instr::Offer { arms, .. } = &mut m.procs[0].code[3] else { unreachable!() };
    arms[7].label = l;
    let (result, spent) = verify_counted(m);
    match result {
        Err(canon_bytecode::VerifyError::OfferArmsMismatch { missing, extra, .. }) => {
            assert_eq!((missing, extra), (vec!["l7".to_owned()], vec!["other".to_owned()]));
        }
        other => panic!("{other:?}"),
    }
    let accepted = work(wide_choice(200_000));
    assert!(spent <= accepted, "the error cost {spent} steps, the accepted module {accepted}");
}

/// `mu X1. mu X2. ... mu Xn. A!m.X1`, used by B; A receives forever.
fn mu_chain(n: u32) -> Module {
    let mut m = module();
    let (a, b, h, msg) = (m.intern("A"), m.intern("B"), m.intern("h"), m.intern("m"));
    m.types.nodes.extend((0..n).map(|i| TypeNode::Mu { var: h, body: TypeId(i + 1) }));
    m.types.nodes.push(TypeNode::Send { peer: a, branches: vec![branch(msg, n + 1)] });
    m.types.nodes.push(TypeNode::Var { mu: TypeId(0) });
    let recv_loop = n + 2;
    m.types.nodes.push(TypeNode::Recv { peer: b, branches: vec![branch(msg, recv_loop)] });
    let open = Instr::Open {
        roles: vec![a, b],
        types: vec![TypeId(recv_loop), TypeId(0)],
        handlers: vec![h, h],
        dsts: vec![0, 1],
        buffers: vec![],
    };
    let code = vec![
        open,
        Instr::Send { ep: 1, label: msg, src: 2 },
        Instr::Recv { ep: 0, label: msg, dst: 3 },
        Instr::Jmp { target: 1 },
    ];
    proc(&mut m, "main", vec![], 4, code);
    m
}

#[test]
fn hundred_thousand_node_mu_chain_verifies_in_linear_work() {
    let small = work(mu_chain(10_000));
    let large = work(mu_chain(100_000));
    assert!(large <= small * 12, "10x chain: {large} steps against {small}");
}

/// A sends `m` to B forever, written as a cycle of `n` send nodes.
fn send_cycle(m: &mut Module, n: u32) -> TypeId {
    let (b, msg) = (m.intern("B"), m.intern("m"));
    let start = m.types.nodes.len() as u32;
    for i in 0..n {
        let next = start + (i + 1) % n;
        m.types.nodes.push(TypeNode::Send { peer: b, branches: vec![branch(msg, next)] });
    }
    TypeId(start)
}

/// `main` opens A at a send cycle of `p` nodes and passes A's endpoint to a
/// procedure whose parameter is a send cycle of `q` nodes: the two types are
/// equivalent, which the coinductive check proves only after lcm(p, q) pairs.
fn two_cycles(p: u32, q: u32) -> Module {
    let mut m = module();
    let (a, b, h, msg) = (m.intern("A"), m.intern("B"), m.intern("h"), m.intern("m"));
    let opened = send_cycle(&mut m, p);
    let declared = send_cycle(&mut m, q);
    let recv = TypeId(m.types.nodes.len() as u32);
    m.types.nodes.push(TypeNode::Recv { peer: a, branches: vec![branch(msg, recv.0)] });
    let open = Instr::Open {
        roles: vec![a, b],
        types: vec![opened, recv],
        handlers: vec![h, h],
        dsts: vec![0, 1],
        buffers: vec![],
    };
    let main =
        vec![open, Instr::Spawn { proc: 1, args: vec![0] }, Instr::Spawn { proc: 2, args: vec![1] }, Instr::Halt];
    proc(&mut m, "main", vec![], 2, main);
    let sender = vec![Instr::Send { ep: 0, label: msg, src: 1 }, Instr::Cancel { ep: 0 }, Instr::Halt];
    proc(&mut m, "sender", vec![Param::Endpoint(declared)], 2, sender);
    let receiver = vec![Instr::Recv { ep: 0, label: msg, dst: 1 }, Instr::Cancel { ep: 0 }, Instr::Halt];
    proc(&mut m, "receiver", vec![Param::Endpoint(recv)], 2, receiver);
    m
}

#[test]
fn coprime_send_cycles_are_refused_by_the_module_budget() {
    let (result, work) = verify_counted(two_cycles(10_007, 10_000));
    match result {
        Err(canon_bytecode::VerifyError::TooComplex { at, limit, .. }) => {
            assert_eq!((at.name.as_str(), limit), ("main", MAX_VERIFY_WORK));
        }
        other => panic!("{other:?}"),
    }
    assert!(work <= MAX_VERIFY_WORK + 1_024, "refused within one step of the limit: {work}");
}

#[test]
fn equivalence_of_equal_length_cycles_costs_linear_work() {
    let small = work(two_cycles(1_000, 1_000));
    let large = work(two_cycles(10_000, 10_000));
    assert!(large <= small * 12, "10x cycles: {large} steps against {small}");
}

/// A module of `procs` procedures besides `main`, each cheap on its own: a
/// chain of 1,024 jumps over 1,024 registers.
fn many_procs(procs: usize) -> Module {
    let mut m = module();
    proc(&mut m, "main", vec![], 1, vec![Instr::Halt]);
    let code: Vec<Instr> = (1..1_024).map(|t| Instr::Jmp { target: t }).chain([Instr::Halt]).collect();
    for i in 0..procs {
        proc(&mut m, &format!("p{i}"), vec![], 1_024, code.clone());
    }
    m
}

/// The budget is per module: procedures that are each far under it but
/// together over it are refused, naming the procedure where it ran out.
#[test]
fn the_budget_is_shared_by_every_procedure() {
    let one = work(many_procs(1)) - work(many_procs(0));
    let fit = (MAX_VERIFY_WORK / one) as usize - 1;
    assert!(fit >= 8, "one procedure costs {one}");
    work(many_procs(fit));
    let over = fit + 2;
    match verify(many_procs(over)) {
        Err(canon_bytecode::VerifyError::TooComplex { at, .. }) => {
            assert!(at.name == format!("p{}", over - 1) || at.name == format!("p{}", over - 2), "{}", at.name);
        }
        other => panic!("{other:?}"),
    }
}

/// An open of `n` roles, each at `end`, all closed at once.
fn wide_open(n: usize) -> Module {
    let mut m = module();
    let h = m.intern("h");
    let roles = fresh(&mut m, "R", n);
    m.types.nodes.push(TypeNode::End);
    let open = Instr::Open {
        roles,
        types: vec![TypeId(0); n],
        handlers: vec![h; n],
        dsts: (0..n as u16).collect(),
        buffers: vec![],
    };
    let closes = (0..n as u16).map(|ep| Instr::Close { ep });
    let code = std::iter::once(open).chain(closes).chain([Instr::Halt]).collect();
    proc(&mut m, "main", vec![], n as u16, code);
    m
}

#[test]
fn roles_per_open_limit_at_its_edge() {
    verify(wide_open(MAX_ROLES_PER_OPEN)).unwrap();
    for n in [MAX_ROLES_PER_OPEN + 1, 20_000] {
        match verify(wide_open(n)) {
            Err(canon_bytecode::VerifyError::TooManyRoles { roles, limit, .. }) => {
                assert_eq!((roles, limit), (n, MAX_ROLES_PER_OPEN));
            }
            other => panic!("{other:?}"),
        }
    }
}
