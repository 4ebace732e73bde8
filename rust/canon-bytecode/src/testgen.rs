//! proptest strategies for arbitrary *structurally* valid modules (feature
//! `testgen`).
//!
//! A generated module always encodes and decodes, but is not necessarily
//! verifiable: types need not be well formed and code need not follow them.
//! [`arb_module`] keeps every reference in range (symbol, type, constant and
//! procedure ids, registers below the frame's `reg_count`, jump targets inside
//! the procedure) and gives the string table unique identifier-like entries,
//! so a disassembler can name everything; [`arb_module_unchecked`] draws every
//! id, register and string from its whole range, to exercise every width of
//! the binary format.

use canon_types::{FlatBranch, SymId, TypeGraph, TypeId, TypeNode};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use proptest::strategy::Union;

use crate::instr::{Arm, EdgeBuffer, Instr, Reg};
use crate::module::{Backpressure, BufferConfig, BufferMode, Const, Module, Param, Proc};

/// Inclusive upper bounds for the ids and indices a generated item may use.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    sym: u32,
    ty: u32,
    konst: u32,
    proc: u32,
    reg: Reg,
    target: u32,
}

impl Bounds {
    const WILD: Bounds =
        Bounds { sym: u32::MAX, ty: u32::MAX, konst: u32::MAX, proc: u32::MAX, reg: Reg::MAX, target: u32::MAX };

    fn sym(self) -> impl Strategy<Value = SymId> + Clone {
        (0..=self.sym).prop_map(SymId)
    }

    fn ty(self) -> impl Strategy<Value = TypeId> + Clone {
        (0..=self.ty).prop_map(TypeId)
    }

    fn reg(self) -> impl Strategy<Value = Reg> + Clone {
        0..=self.reg
    }

    fn target(self) -> impl Strategy<Value = u32> + Clone {
        0..=self.target
    }
}

/// An arbitrary module whose references are all in range (see the module docs).
pub fn arb_module() -> impl Strategy<Value = Module> {
    (1u32..6, 1u32..6, 1u32..4, 1u32..4).prop_flat_map(|(n_strings, n_types, n_consts, n_procs)| {
        let b =
            Bounds { sym: n_strings - 1, ty: n_types - 1, konst: n_consts - 1, proc: n_procs - 1, reg: 0, target: 0 };
        let strings = btree_set("[A-Za-z_][A-Za-z0-9_]{0,7}", n_strings as usize).prop_map(|s| s.into_iter().collect());
        (
            strings,
            vec(arb_type_node(b), n_types as usize),
            vec(arb_const(b), n_consts as usize),
            vec(arb_proc(b, false), n_procs as usize),
            0..n_procs,
        )
            .prop_map(module)
    })
}

/// An arbitrary module with unconstrained ids, registers, jump targets and
/// strings (any Unicode, duplicates allowed): structurally valid only.
pub fn arb_module_unchecked() -> impl Strategy<Value = Module> {
    let b = Bounds::WILD;
    (
        vec("\\PC{0,8}", 0..5),
        vec(arb_type_node(b), 0..5),
        vec(arb_const(b), 0..4),
        vec(arb_proc(b, true), 0..4),
        any::<u32>(),
    )
        .prop_map(module)
}

fn module((strings, nodes, consts, procs, entry): (Vec<String>, Vec<TypeNode>, Vec<Const>, Vec<Proc>, u32)) -> Module {
    Module { strings, types: TypeGraph { nodes }, consts, procs, entry, debug: None }
}

fn arb_type_node(b: Bounds) -> impl Strategy<Value = TypeNode> {
    let branch =
        (b.sym(), vec(b.sym(), 0..3), b.ty()).prop_map(|(label, payload, cont)| FlatBranch { label, payload, cont });
    let branches = vec(branch, 0..3);
    prop_oneof![
        Just(TypeNode::End),
        (b.sym(), branches.clone()).prop_map(|(peer, branches)| TypeNode::Send { peer, branches }),
        (b.sym(), branches).prop_map(|(peer, branches)| TypeNode::Recv { peer, branches }),
        (b.sym(), b.ty()).prop_map(|(var, body)| TypeNode::Mu { var, body }),
        b.ty().prop_map(|mu| TypeNode::Var { mu }),
    ]
}

fn arb_const(b: Bounds) -> impl Strategy<Value = Const> {
    prop_oneof![
        Just(Const::Unit),
        any::<bool>().prop_map(Const::Bool),
        any::<i64>().prop_map(Const::Int),
        vec(any::<u8>(), 0..6).prop_map(Const::Bytes),
        b.sym().prop_map(Const::Str),
        b.sym().prop_map(Const::Label),
    ]
}

/// A procedure. In-range mode sizes the frame and code first so registers and
/// jump targets stay inside them; `wild` draws them from their whole range.
fn arb_proc(b: Bounds, wild: bool) -> impl Strategy<Value = Proc> {
    let param = prop_oneof![Just(Param::Value), b.ty().prop_map(Param::Endpoint)];
    (vec(param, 0..3), 1u16..6, 1usize..8).prop_flat_map(move |(params, extra_regs, code_len)| {
        let reg_count = params.len() as u16 + extra_regs;
        let frame = if wild { b } else { Bounds { reg: reg_count - 1, target: code_len as u32 - 1, ..b } };
        let reg_count = if wild { any::<u16>().boxed() } else { Just(reg_count).boxed() };
        (Just(params), reg_count, vec(arb_instr(frame), code_len), frame.sym())
            .prop_map(|(params, reg_count, code, name)| Proc { name, params, reg_count, code })
    })
}

/// Any instruction, with operands drawn within `b`.
fn arb_instr(b: Bounds) -> impl Strategy<Value = Instr> {
    Union::new([control(b).boxed(), data(b).boxed(), session(b).boxed(), lifecycle(b).boxed(), host(b).boxed()])
}

fn regs(b: Bounds) -> impl Strategy<Value = Vec<Reg>> + Clone {
    vec(b.reg(), 0..3)
}

fn arms(b: Bounds) -> impl Strategy<Value = Vec<Arm>> + Clone {
    vec((b.sym(), b.target()).prop_map(|(label, target)| Arm { label, target }), 0..3)
}

fn control(b: Bounds) -> impl Strategy<Value = Instr> {
    prop_oneof![
        Just(Instr::Nop),
        b.target().prop_map(|target| Instr::Jmp { target }),
        (b.reg(), b.target()).prop_map(|(cond, target)| Instr::JmpIf { cond, target }),
        (0..=b.proc, regs(b)).prop_map(|(proc, args)| Instr::Call { proc, args }),
        Just(Instr::Ret),
        Just(Instr::Yield),
        Just(Instr::Halt),
    ]
}

fn data(b: Bounds) -> impl Strategy<Value = Instr> {
    let r3 = (b.reg(), b.reg(), b.reg());
    prop_oneof![
        (b.reg(), 0..=b.konst).prop_map(|(dst, k)| Instr::Const { dst, k }),
        (b.reg(), b.reg()).prop_map(|(dst, src)| Instr::Mov { dst, src }),
        r3.clone().prop_map(|(dst, a, b)| Instr::Add { dst, a, b }),
        r3.clone().prop_map(|(dst, a, b)| Instr::Sub { dst, a, b }),
        r3.clone().prop_map(|(dst, a, b)| Instr::Eq { dst, a, b }),
        r3.prop_map(|(dst, a, b)| Instr::Lt { dst, a, b }),
    ]
}

fn arb_policy() -> impl Strategy<Value = Backpressure> {
    prop_oneof![
        Just(Backpressure::Block),
        Just(Backpressure::Drop),
        Just(Backpressure::Error),
        any::<u32>().prop_map(|max_capacity| Backpressure::Resize { max_capacity }),
    ]
}

fn arb_edge_buffer() -> impl Strategy<Value = EdgeBuffer> {
    let mode = prop_oneof![Just(BufferMode::Fifo), Just(BufferMode::LatestValue)];
    (0u16..4, 0u16..4, mode, arb_policy(), any::<u32>()).prop_map(|(from, to, mode, policy, capacity)| EdgeBuffer {
        from,
        to,
        config: BufferConfig { mode, policy, capacity },
    })
}

fn session(b: Bounds) -> impl Strategy<Value = Instr> {
    let syms = vec(b.sym(), 0..3);
    let open = (syms.clone(), vec(b.ty(), 0..3), syms, regs(b), vec(arb_edge_buffer(), 0..2))
        .prop_map(|(roles, types, handlers, dsts, buffers)| Instr::Open { roles, types, handlers, dsts, buffers });
    prop_oneof![
        open,
        (b.reg(), b.sym(), b.reg()).prop_map(|(ep, label, src)| Instr::Send { ep, label, src }),
        (b.reg(), b.sym(), b.reg()).prop_map(|(ep, label, dst)| Instr::Recv { ep, label, dst }),
        (b.reg(), arms(b)).prop_map(|(ep, arms)| Instr::Select { ep, arms }),
        (b.reg(), b.reg(), arms(b)).prop_map(|(ep, dst, arms)| Instr::Offer { ep, dst, arms }),
        b.reg().prop_map(|ep| Instr::Close { ep }),
    ]
}

fn lifecycle(b: Bounds) -> impl Strategy<Value = Instr> {
    let recv_timeout =
        (b.reg(), b.reg(), arms(b), any::<u32>(), b.target()).prop_map(|(ep, dst, arms, timeout_ticks, on_timeout)| {
            Instr::RecvTimeout { ep, dst, arms, timeout_ticks, on_timeout }
        });
    prop_oneof![recv_timeout, b.reg().prop_map(|ep| Instr::Cancel { ep }), b.reg().prop_map(|ep| Instr::Abort { ep }),]
}

fn host(b: Bounds) -> impl Strategy<Value = Instr> {
    prop_oneof![
        (b.reg(), b.sym(), b.reg()).prop_map(|(dst, effect, arg)| Instr::Invoke { dst, effect, arg }),
        (0..=b.proc, regs(b)).prop_map(|(proc, args)| Instr::Spawn { proc, args }),
        (b.reg(), b.reg(), b.sym()).prop_map(|(dst, ep, label)| Instr::Produce { dst, ep, label }),
        (b.reg(), b.reg(), b.sym(), b.reg()).prop_map(|(dst, ep, effect, arg)| Instr::Check { dst, ep, effect, arg }),
        (b.reg(), b.reg()).prop_map(|(ep, witness)| Instr::Consume { ep, witness }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instr::OPCODES;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    /// Every opcode is generated: a strategy that silently lost one would
    /// leave that opcode's encoding untested.
    #[test]
    fn every_opcode_is_generated() {
        let mut runner = TestRunner::deterministic();
        let strategy = arb_instr(Bounds::WILD);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            seen.insert(strategy.new_tree(&mut runner).expect("instruction").current().opcode() as u8);
        }
        let all: std::collections::BTreeSet<u8> = OPCODES.iter().map(|(op, _, _)| *op as u8).collect();
        assert_eq!(seen, all);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn in_range_modules_keep_references_in_range(m in arb_module()) {
            prop_assert!((m.entry as usize) < m.procs.len());
            let syms = m.strings.len() as u32;
            for node in &m.types.nodes {
                if let TypeNode::Mu { body: id, .. } | TypeNode::Var { mu: id } = node {
                    prop_assert!((id.0 as usize) < m.types.nodes.len());
                }
                if let TypeNode::Send { peer, branches } | TypeNode::Recv { peer, branches } = node {
                    prop_assert!(peer.0 < syms && branches.iter().all(|b| b.label.0 < syms));
                }
            }
            for p in &m.procs {
                prop_assert!(p.params.len() < p.reg_count as usize + 1);
                for i in &p.code {
                    if let Instr::Jmp { target } | Instr::JmpIf { target, .. } = i {
                        prop_assert!((*target as usize) < p.code.len());
                    }
                    if let Instr::Mov { dst, src } = i {
                        prop_assert!(*dst < p.reg_count && *src < p.reg_count);
                    }
                }
            }
        }
    }
}
