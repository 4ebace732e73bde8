//! Pass 1a: module tables, procedure headers and instruction operands.

use std::collections::BTreeMap;

use canon_types::{SymId, TypeId, TypeNode};

use super::budget::{Work, sort_cost};
use super::error::VerifyError;
use super::{open, site};
use crate::instr::{Arm, Instr, Reg};
use crate::module::{Const, Module, Param, Proc, ProcId};

/// Checks the string, type and constant tables and the entry procedure.
/// Returns the resolved-type table (`TypeGraph::resolve` of every id).
pub(super) fn check_module(m: &Module, work: &Work) -> Result<Vec<TypeId>, VerifyError> {
    work.add(sort_cost(m.strings.len()));
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    for (i, s) in m.strings.iter().enumerate() {
        if let Some(&first) = seen.get(s.as_str()) {
            return Err(VerifyError::DuplicateString { index: i as u32, first });
        }
        seen.insert(s, i as u32);
    }
    let mut steps = 0;
    let resolved = m.types.check_resolve(&mut steps).map_err(|source| VerifyError::BadTypeGraph { source })?;
    work.add(steps);
    check_type_syms(m, work)?;
    for (i, c) in m.consts.iter().enumerate() {
        if let Const::Str(s) | Const::Label(s) = c
            && s.0 as usize >= m.strings.len()
        {
            return Err(VerifyError::ConstSymOutOfRange { index: i as u32, sym: s.0, len: m.strings.len() });
        }
    }
    let entry =
        m.procs.get(m.entry as usize).ok_or(VerifyError::EntryOutOfRange { entry: m.entry, procs: m.procs.len() })?;
    if !entry.params.is_empty() {
        return Err(VerifyError::EntryHasParams { at: site(m, m.entry, None), params: entry.params.len() });
    }
    Ok(resolved)
}

/// Every symbol a type node names (peer, labels, payload types, binder
/// names) must be in the string table.
fn check_type_syms(m: &Module, work: &Work) -> Result<(), VerifyError> {
    let len = m.strings.len();
    for (at, node) in m.types.nodes.iter().enumerate() {
        work.add(1);
        let syms: Vec<SymId> = match node {
            TypeNode::End | TypeNode::Var { .. } | TypeNode::Choose { .. } => Vec::new(),
            TypeNode::Mu { var, .. } => vec![*var],
            TypeNode::Send { peer, branches } | TypeNode::Recv { peer, branches } => std::iter::once(*peer)
                .chain(branches.iter().flat_map(|b| std::iter::once(b.label).chain(b.payload.iter().copied())))
                .collect(),
        };
        work.add(syms.len() as u64);
        if let Some(bad) = syms.iter().find(|s| s.0 as usize >= len) {
            return Err(VerifyError::TypeSymOutOfRange { at: at as u32, sym: bad.0, len });
        }
    }
    Ok(())
}

/// Whether execution can continue at the next instruction after `instr`.
pub(super) fn falls_through(instr: &Instr) -> bool {
    !matches!(
        instr,
        Instr::Jmp { .. }
            | Instr::Ret
            | Instr::Halt
            | Instr::Select { .. }
            | Instr::Offer { .. }
            | Instr::RecvTimeout { .. }
    )
}

/// Calls `f` with every jump, arm and timeout target of `instr` (not the
/// fall-through).
pub(super) fn for_each_target(instr: &Instr, mut f: impl FnMut(u32)) {
    match instr {
        Instr::Jmp { target } | Instr::JmpIf { target, .. } => f(*target),
        Instr::Select { arms, .. } | Instr::Offer { arms, .. } => arms.iter().for_each(|a| f(a.target)),
        Instr::RecvTimeout { arms, on_timeout, .. } => {
            arms.iter().for_each(|a| f(a.target));
            f(*on_timeout);
        }
        _ => {}
    }
}

/// Checks procedure `pid`'s header and every operand of its code.
pub(super) fn check_proc(m: &Module, pid: ProcId, work: &Work) -> Result<(), VerifyError> {
    let proc = &m.procs[pid as usize];
    let c = ProcCheck { m, pid, proc, work };
    if proc.name.0 as usize >= m.strings.len() {
        return Err(VerifyError::SymOutOfRange { at: c.at(None), sym: proc.name.0, len: m.strings.len() });
    }
    if (proc.reg_count as usize) < proc.params.len() {
        return Err(VerifyError::RegCountTooSmall {
            at: c.at(None),
            reg_count: proc.reg_count,
            params: proc.params.len(),
        });
    }
    for p in &proc.params {
        if let Param::Endpoint(t) = p {
            c.ty(None, *t)?;
        }
    }
    let Some(last) = proc.code.last() else {
        return Err(VerifyError::EmptyCode { at: c.at(None) });
    };
    for (i, instr) in proc.code.iter().enumerate() {
        c.spend(i as u32, 1)?;
        c.instr(i as u32, instr)?;
    }
    if falls_through(last) {
        return Err(VerifyError::FallsOffEnd { at: c.at(Some(proc.code.len() as u32 - 1)) });
    }
    Ok(())
}

/// Operand checks for one procedure.
pub(super) struct ProcCheck<'a> {
    pub(super) m: &'a Module,
    pub(super) pid: ProcId,
    pub(super) proc: &'a Proc,
    pub(super) work: &'a Work,
}

impl ProcCheck<'_> {
    pub(super) fn at(&self, instr: Option<u32>) -> super::Site {
        site(self.m, self.pid, instr)
    }

    /// Counts `n` steps spent at instruction `i` against the module's budget.
    pub(super) fn spend(&self, i: u32, n: u64) -> Result<(), VerifyError> {
        self.work.spend(n, || self.at(Some(i)))
    }

    pub(super) fn reg(&self, i: u32, reg: Reg) -> Result<(), VerifyError> {
        let reg_count = self.proc.reg_count;
        if reg < reg_count {
            Ok(())
        } else {
            Err(VerifyError::RegisterOutOfRange { at: self.at(Some(i)), reg, reg_count })
        }
    }

    pub(super) fn regs(&self, i: u32, regs: &[Reg]) -> Result<(), VerifyError> {
        regs.iter().try_for_each(|&r| self.reg(i, r))
    }

    pub(super) fn sym(&self, i: u32, sym: SymId) -> Result<(), VerifyError> {
        let len = self.m.strings.len();
        if (sym.0 as usize) < len {
            Ok(())
        } else {
            Err(VerifyError::SymOutOfRange { at: self.at(Some(i)), sym: sym.0, len })
        }
    }

    pub(super) fn ty(&self, i: Option<u32>, ty: TypeId) -> Result<(), VerifyError> {
        let len = self.m.types.nodes.len();
        if (ty.0 as usize) < len { Ok(()) } else { Err(VerifyError::TypeOutOfRange { at: self.at(i), ty: ty.0, len }) }
    }

    fn target(&self, i: u32, target: u32) -> Result<(), VerifyError> {
        let len = self.proc.code.len();
        if (target as usize) < len {
            Ok(())
        } else {
            Err(VerifyError::TargetOutOfRange { at: self.at(Some(i)), target, len })
        }
    }

    fn arms(&self, i: u32, arms: &[Arm]) -> Result<(), VerifyError> {
        self.spend(i, sort_cost(arms.len()))?;
        let mut labels: Vec<SymId> = Vec::with_capacity(arms.len());
        for arm in arms {
            self.sym(i, arm.label)?;
            labels.push(arm.label);
        }
        labels.sort_unstable();
        if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
            return Err(VerifyError::DuplicateArmLabel { at: self.at(Some(i)), label: self.m.sym(w[0]).into() });
        }
        Ok(())
    }

    fn callee(&self, i: u32, callee: ProcId, args: &[Reg]) -> Result<(), VerifyError> {
        let len = self.m.procs.len();
        let Some(target) = self.m.procs.get(callee as usize) else {
            return Err(VerifyError::ProcOutOfRange { at: self.at(Some(i)), callee, len });
        };
        self.regs(i, args)?;
        if args.len() != target.params.len() {
            return Err(VerifyError::ArgCountMismatch {
                at: self.at(Some(i)),
                callee,
                expected: target.params.len(),
                found: args.len(),
            });
        }
        Ok(())
    }

    fn instr(&self, i: u32, instr: &Instr) -> Result<(), VerifyError> {
        for_each_target_checked(instr, |t| self.target(i, t))?;
        match instr {
            Instr::Nop | Instr::Jmp { .. } | Instr::Ret | Instr::Yield | Instr::Halt => Ok(()),
            Instr::JmpIf { cond, .. } => self.reg(i, *cond),
            Instr::Call { proc, args } | Instr::Spawn { proc, args } => self.callee(i, *proc, args),
            Instr::Const { dst, k } => {
                self.reg(i, *dst)?;
                let len = self.m.consts.len();
                if (*k as usize) < len {
                    Ok(())
                } else {
                    Err(VerifyError::ConstOutOfRange { at: self.at(Some(i)), k: *k, len })
                }
            }
            Instr::Mov { dst, src } => self.regs(i, &[*dst, *src]),
            Instr::Add { dst, a, b } | Instr::Sub { dst, a, b } | Instr::Eq { dst, a, b } | Instr::Lt { dst, a, b } => {
                self.regs(i, &[*dst, *a, *b])
            }
            Instr::Open { .. } => {
                open::check_open(self, i, instr)?;
                super::coherence::check_coherence(self, i, instr)
            }
            Instr::Send { ep, label, src: other } | Instr::Recv { ep, label, dst: other } => {
                self.regs(i, &[*ep, *other])?;
                self.sym(i, *label)
            }
            Instr::Select { ep, arms } => {
                self.reg(i, *ep)?;
                self.arms(i, arms)
            }
            Instr::Offer { ep, dst, arms } => {
                self.regs(i, &[*ep, *dst])?;
                self.arms(i, arms)
            }
            Instr::RecvTimeout { ep, dst, arms, timeout_ticks, .. } => {
                self.regs(i, &[*ep, *dst])?;
                self.arms(i, arms)?;
                if *timeout_ticks == 0 {
                    return Err(VerifyError::ZeroTimeout { at: self.at(Some(i)) });
                }
                Ok(())
            }
            Instr::Close { ep } | Instr::Cancel { ep } | Instr::Abort { ep } => self.reg(i, *ep),
            Instr::Invoke { dst, effect, arg } => {
                self.regs(i, &[*dst, *arg])?;
                self.sym(i, *effect)
            }
            Instr::Produce { dst, ep, label } => {
                self.regs(i, &[*dst, *ep])?;
                self.sym(i, *label)
            }
            Instr::Check { dst, ep, effect, arg } => {
                self.regs(i, &[*dst, *ep, *arg])?;
                self.sym(i, *effect)
            }
            Instr::Consume { ep, witness } => self.regs(i, &[*ep, *witness]),
        }
    }
}

/// [`for_each_target`] with a fallible callback; stops at the first error.
fn for_each_target_checked(
    instr: &Instr,
    mut f: impl FnMut(u32) -> Result<(), VerifyError>,
) -> Result<(), VerifyError> {
    let mut result = Ok(());
    for_each_target(instr, |t| {
        if result.is_ok() {
            result = f(t);
        }
    });
    result
}
