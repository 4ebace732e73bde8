//! The transfer function of the typestate walk: what one instruction requires
//! of, and does to, the register states.

use std::collections::BTreeSet;

use canon_types::{FlatBranch, SymId, TypeNode};

use super::{Flow, RegState, Walker};
use crate::instr::{Arm, Instr, Reg};
use crate::module::{Param, ProcId};
use crate::verify::budget::LabelIndex;
use crate::verify::error::VerifyError;
use crate::verify::types;

impl Walker<'_> {
    /// Applies instruction `i` to `cur`, merging into every jump target it has.
    pub(super) fn step(&mut self, i: u32, instr: &Instr, cur: &mut [RegState]) -> Result<Flow, VerifyError> {
        self.spend(operand_count(instr))?;
        match instr {
            Instr::Nop | Instr::Yield => {}
            Instr::Jmp { target } => {
                self.merge(*target, cur)?;
                return Ok(Flow::Stop);
            }
            Instr::JmpIf { target, .. } => self.merge(*target, cur)?,
            Instr::Ret | Instr::Halt => {
                self.check_no_leak(i, cur)?;
                return Ok(Flow::Stop);
            }
            Instr::Const { dst, .. }
            | Instr::Add { dst, .. }
            | Instr::Sub { dst, .. }
            | Instr::Eq { dst, .. }
            | Instr::Lt { dst, .. }
            | Instr::Invoke { dst, .. } => self.write(i, cur, *dst, RegState::Value)?,
            Instr::Mov { dst, src } => self.mov(i, cur, *dst, *src)?,
            Instr::Open { types, dsts, .. } => {
                for (t, dst) in types.iter().zip(dsts) {
                    self.write(i, cur, *dst, RegState::Ep(self.resolved[t.0 as usize]))?;
                }
            }
            Instr::Send { ep, label, src } => {
                if let Some(next) = self.send_cont(i, cur, *ep, *label)? {
                    cur[*ep as usize] = RegState::Ep(next);
                }
                if let RegState::Ep(_) = cur[*src as usize] {
                    cur[*src as usize] = RegState::Moved;
                }
            }
            Instr::Recv { ep, label, dst } => {
                if let Some((t, branches)) = self.recv_branches(i, cur, *ep)? {
                    cur[*ep as usize] = RegState::Ep(self.branch_cont(i, *ep, t, branches, *label)?);
                }
                self.write(i, cur, *dst, RegState::Unknown)?;
            }
            Instr::Produce { dst, ep, label } => {
                self.send_cont(i, cur, *ep, *label)?;
                self.write(i, cur, *dst, RegState::Value)?;
            }
            // A check and a consume name the endpoint's session and leave
            // its type where it is.
            Instr::Check { dst, ep, .. } => {
                self.endpoint(i, cur, *ep)?;
                self.write(i, cur, *dst, RegState::Value)?;
            }
            Instr::Consume { ep, .. } => {
                self.endpoint(i, cur, *ep)?;
            }
            Instr::Select { ep, arms } => {
                self.select(i, cur, *ep, arms)?;
                return Ok(Flow::Stop);
            }
            Instr::Offer { ep, dst, arms } => {
                self.offer(i, cur, *ep, *dst, arms, None)?;
                return Ok(Flow::Stop);
            }
            Instr::RecvTimeout { ep, dst, arms, on_timeout, .. } => {
                // A type with a timeout branch: the arms cover the other
                // labels, and the timeout target continues with that branch.
                let timeout = self.timeout_branch(cur, *ep)?;
                self.offer(i, cur, *ep, *dst, arms, timeout.map(|(label, _)| label))?;
                let saved = cur[*ep as usize];
                if let Some((_, cont)) = timeout {
                    cur[*ep as usize] = RegState::Ep(cont);
                }
                self.merge(*on_timeout, cur)?;
                cur[*ep as usize] = saved;
                return Ok(Flow::Stop);
            }
            Instr::Close { ep } => self.close(i, cur, *ep)?,
            Instr::Cancel { ep } | Instr::Abort { ep } => {
                self.endpoint(i, cur, *ep)?;
                cur[*ep as usize] = RegState::Done;
            }
            Instr::Spawn { proc, args } => self.pass_args(i, cur, *proc, args, RegState::Moved)?,
            Instr::Call { proc, args } => self.pass_args(i, cur, *proc, args, RegState::Unknown)?,
        }
        Ok(Flow::Next)
    }

    /// At `ret`/`halt` no register may still hold an endpoint (one at `end`
    /// must be closed, not dropped).
    fn check_no_leak(&self, i: u32, cur: &[RegState]) -> Result<(), VerifyError> {
        self.spend(cur.len() as u64)?;
        match cur.iter().position(|s| matches!(s, RegState::Ep(_))) {
            Some(r) => Err(VerifyError::EndpointLeaked { at: self.err_at(i), reg: r as Reg }),
            None => Ok(()),
        }
    }

    /// `mov`: copies the state; an endpoint moves, leaving `src` moved.
    fn mov(&self, i: u32, cur: &mut [RegState], dst: Reg, src: Reg) -> Result<(), VerifyError> {
        let moved = cur[src as usize];
        self.write(i, cur, dst, moved)?;
        if let RegState::Ep(_) = moved {
            cur[src as usize] = RegState::Moved;
        }
        Ok(())
    }

    /// `select`: the type must send every arm's label; each arm continues
    /// with the state unchanged (the arm's code then performs the `send`).
    fn select(&mut self, i: u32, cur: &[RegState], ep: Reg, arms: &[Arm]) -> Result<(), VerifyError> {
        for arm in arms {
            self.send_cont(i, cur, ep, arm.label)?;
        }
        arms.iter().try_for_each(|arm| self.merge(arm.target, cur))
    }

    fn close(&self, i: u32, cur: &mut [RegState], ep: Reg) -> Result<(), VerifyError> {
        if let Some(t) = self.endpoint(i, cur, ep)?
            && !matches!(self.node(t), TypeNode::End)
        {
            return Err(VerifyError::CloseBeforeEnd { at: self.err_at(i), reg: ep });
        }
        cur[ep as usize] = RegState::Done;
        Ok(())
    }

    /// The timeout branch of `reg`'s type, if it is a receive that has one
    /// (a branch labelled [`canon_types::TIMEOUT_LABEL`]): its label and
    /// resolved continuation.
    fn timeout_branch(&self, cur: &[RegState], reg: Reg) -> Result<Option<(SymId, canon_types::TypeId)>, VerifyError> {
        let RegState::Ep(t) = cur[reg as usize] else { return Ok(None) };
        let TypeNode::Recv { branches, .. } = self.node(t) else { return Ok(None) };
        self.spend(branches.len() as u64)?;
        Ok(branches
            .iter()
            .find(|b| self.m.sym(b.label) == canon_types::TIMEOUT_LABEL)
            .map(|b| (b.label, self.resolved[b.cont.0 as usize])))
    }

    /// `offer`/`recv_timeout`: the arms must cover exactly the type's labels
    /// (but `timeout`, the label of a `recv_timeout`'s timeout branch); each
    /// arm continues with its branch's continuation and `dst` received.
    fn offer(
        &mut self,
        i: u32,
        cur: &mut [RegState],
        ep: Reg,
        dst: Reg,
        arms: &[Arm],
        timeout: Option<SymId>,
    ) -> Result<(), VerifyError> {
        let branches = self.recv_branches(i, cur, ep)?;
        if let Some((t, branches)) = branches {
            // Arm labels are distinct (pass 1), so equal counts and every arm
            // offered (none of them the timeout label) mean equal label sets.
            self.spend(arms.len() as u64 * LabelIndex::find_cost(branches.len()))?;
            let all_offered =
                arms.iter().all(|a| Some(a.label) != timeout && self.labels.find(t, branches, a.label).is_some());
            if arms.len() + usize::from(timeout.is_some()) != branches.len() || !all_offered {
                return Err(self.arms_mismatch(i, ep, branches, arms, timeout));
            }
        }
        if let RegState::Ep(_) = cur[dst as usize] {
            return Err(VerifyError::EndpointOverwritten { at: self.err_at(i), reg: dst });
        }
        let saved = (cur[ep as usize], cur[dst as usize]);
        for arm in arms {
            if let Some((t, branches)) = branches {
                cur[ep as usize] = RegState::Ep(self.branch_cont(i, ep, t, branches, arm.label)?);
            }
            cur[dst as usize] = RegState::Unknown;
            self.merge(arm.target, cur)?;
            (cur[ep as usize], cur[dst as usize]) = saved;
        }
        Ok(())
    }

    /// `OfferArmsMismatch` listing the labels offered but not handled and
    /// handled but not offered, in branch and arm order (sorted lookups, so
    /// the error costs O(n log n) to build as well).
    fn arms_mismatch(
        &self,
        i: u32,
        ep: Reg,
        branches: &[FlatBranch],
        arms: &[Arm],
        timeout: Option<SymId>,
    ) -> VerifyError {
        let offered: BTreeSet<SymId> = branches.iter().map(|b| b.label).filter(|l| Some(*l) != timeout).collect();
        let handled: BTreeSet<SymId> = arms.iter().map(|a| a.label).collect();
        let missing = branches
            .iter()
            .filter(|b| !handled.contains(&b.label) && Some(b.label) != timeout)
            .map(|b| self.name(b.label))
            .collect();
        let extra = arms.iter().filter(|a| !offered.contains(&a.label)).map(|a| self.name(a.label)).collect();
        VerifyError::OfferArmsMismatch { at: self.err_at(i), reg: ep, missing, extra }
    }

    /// `call`/`spawn`: endpoint arguments must match the callee's declared
    /// parameter types; afterwards they are in state `after`.
    fn pass_args(
        &self,
        i: u32,
        cur: &mut [RegState],
        callee: ProcId,
        args: &[Reg],
        after: RegState,
    ) -> Result<(), VerifyError> {
        let params = &self.m.procs[callee as usize].params;
        for (param, (&reg, declared)) in args.iter().zip(params).enumerate() {
            match (cur[reg as usize], *declared) {
                (RegState::Ep(found), Param::Endpoint(expected)) => {
                    let expected = self.resolved[expected.0 as usize];
                    let spend = |n: u64| self.spend(n);
                    if !types::equivalent(&self.m.types, self.resolved, self.labels, spend, found, expected)? {
                        return Err(self.arg_mismatch(i, reg, callee, param, expected, found));
                    }
                    cur[reg as usize] = after;
                }
                (RegState::Ep(_), Param::Value) => {
                    return Err(VerifyError::EndpointToValueParam { at: self.err_at(i), reg, callee, param });
                }
                (_, Param::Endpoint(_)) => {
                    self.endpoint(i, cur, reg)?;
                }
                (_, Param::Value) => {}
            }
        }
        Ok(())
    }

    fn arg_mismatch(
        &self,
        i: u32,
        reg: Reg,
        callee: ProcId,
        param: usize,
        expected: canon_types::TypeId,
        found: canon_types::TypeId,
    ) -> VerifyError {
        let at = self.err_at(i);
        match (self.node(expected), self.node(found)) {
            (TypeNode::Send { peer: e, .. }, TypeNode::Send { peer: f, .. })
            | (TypeNode::Recv { peer: e, .. }, TypeNode::Recv { peer: f, .. })
                if e != f =>
            {
                VerifyError::WrongPeer { at, reg, callee, param, expected: self.name(*e), found: self.name(*f) }
            }
            _ => VerifyError::EndpointTypeMismatch { at, reg, callee, param, expected: expected.0, found: found.0 },
        }
    }
}

/// How many operands `instr` carries: the register-state work of applying it
/// is at most proportional to this.
fn operand_count(instr: &Instr) -> u64 {
    1 + match instr {
        Instr::Open { roles, buffers, .. } => 3 * roles.len() + buffers.len(),
        Instr::Select { arms, .. } | Instr::Offer { arms, .. } | Instr::RecvTimeout { arms, .. } => arms.len(),
        Instr::Call { args, .. } | Instr::Spawn { args, .. } => args.len(),
        _ => 0,
    } as u64
}
