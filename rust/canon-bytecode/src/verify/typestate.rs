//! Pass 2: the typestate walk. An abstract interpretation of one procedure's
//! control flow that tracks a [`RegState`] per register and checks every
//! session instruction against the local type of the endpoint it uses.
//!
//! States are kept only at block leaders (instruction 0, every jump/arm/timeout
//! target, every `jmp_if` fall-through); a worklist of leaders, lowest index
//! first, walks each block with one scratch state. Where paths join, endpoint
//! states must be equal; other states merge upwards (`Done < Moved < Value <
//! Unknown`), so each leader's state can only rise a bounded number of times and
//! the walk terminates.

mod transfer;

use std::collections::BTreeSet;

use canon_types::{FlatBranch, SymId, TypeId, TypeNode};

use super::budget::{LabelIndex, Work};
use super::error::VerifyError;
use super::site;
use super::structural::for_each_target;
use crate::instr::{Instr, Reg};
use crate::module::{Module, Param, Proc, ProcId};

/// Most register states kept at once for one procedure (leaders × registers).
/// Initialising them is also counted against the module's work budget.
pub(super) const MAX_STATE_CELLS: u64 = 1 << 22;

/// What the verifier knows about one register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RegState {
    /// A plain value (never an endpoint).
    Value,
    /// A value from outside (a received payload, or an endpoint given back by
    /// a `call`): session instructions on it are checked at run time only.
    Unknown,
    /// The endpoint was moved away (`spawn`, `mov`, sent as a payload).
    Moved,
    /// The endpoint was closed, cancelled or aborted.
    Done,
    /// An endpoint at this resolved local-type node.
    Ep(TypeId),
}

impl RegState {
    fn describe(self) -> String {
        match self {
            RegState::Value => "a value".into(),
            RegState::Unknown => "an unknown value".into(),
            RegState::Moved => "moved".into(),
            RegState::Done => "finished".into(),
            RegState::Ep(t) => format!("an endpoint at type {}", t.0),
        }
    }

    /// The least state above both, or `None` if they hold different endpoints.
    fn join(self, other: RegState) -> Option<RegState> {
        use RegState as S;
        match (self, other) {
            (a, b) if a == b => Some(a),
            (S::Ep(_), _) | (_, S::Ep(_)) => None,
            (S::Unknown, _) | (_, S::Unknown) => Some(S::Unknown),
            (S::Value, _) | (_, S::Value) => Some(S::Value),
            _ => Some(S::Moved),
        }
    }
}

/// What follows an instruction in its block.
enum Flow {
    Next,
    Stop,
}

/// Walks procedure `pid`. Requires the structural pass to have passed.
pub(super) fn walk_proc(
    m: &Module,
    resolved: &[TypeId],
    labels: &LabelIndex,
    work: &Work,
    pid: ProcId,
) -> Result<(), VerifyError> {
    let proc = &m.procs[pid as usize];
    let mut slot = vec![u32::MAX; proc.code.len()];
    let mut leaders = 0u32;
    let mut mark = |i: u32| {
        if slot[i as usize] == u32::MAX {
            slot[i as usize] = leaders;
            leaders += 1;
        }
    };
    mark(0);
    for (i, instr) in proc.code.iter().enumerate() {
        for_each_target(instr, &mut mark);
        if matches!(instr, Instr::JmpIf { .. }) {
            mark(i as u32 + 1);
        }
    }
    let regs = proc.reg_count as usize;
    let cells = u64::from(leaders) * regs as u64;
    if cells > MAX_STATE_CELLS {
        return Err(VerifyError::TooComplex { at: site(m, pid, None), cost: cells, limit: MAX_STATE_CELLS });
    }
    work.spend(cells + proc.code.len() as u64, || site(m, pid, None))?;
    let mut w = Walker {
        m,
        resolved,
        labels,
        work,
        pid,
        proc,
        regs,
        slot,
        states: vec![RegState::Value; cells as usize],
        reached: vec![false; leaders as usize],
        pending: BTreeSet::new(),
    };
    let mut cur = vec![RegState::Value; regs];
    for (r, p) in proc.params.iter().enumerate() {
        if let Param::Endpoint(t) = p {
            cur[r] = RegState::Ep(resolved[t.0 as usize]);
        }
    }
    w.merge(0, &cur)?;
    while let Some(start) = w.pending.pop_first() {
        w.run_block(start, &mut cur)?;
    }
    Ok(())
}

struct Walker<'a> {
    m: &'a Module,
    resolved: &'a [TypeId],
    labels: &'a LabelIndex,
    /// The module-wide budget every step is counted against.
    work: &'a Work,
    pid: ProcId,
    proc: &'a Proc,
    regs: usize,
    /// Instruction index → leader slot (`u32::MAX` if not a leader).
    slot: Vec<u32>,
    /// `leaders × regs` states, one row per leader slot.
    states: Vec<RegState>,
    reached: Vec<bool>,
    pending: BTreeSet<u32>,
}

impl<'a> Walker<'a> {
    fn err_at(&self, i: u32) -> super::Site {
        site(self.m, self.pid, Some(i))
    }

    fn spend(&self, ops: u64) -> Result<(), VerifyError> {
        self.work.spend(ops, || site(self.m, self.pid, None))
    }

    /// Joins `state` into the state at leader `target`, queueing it if it changed.
    fn merge(&mut self, target: u32, state: &[RegState]) -> Result<(), VerifyError> {
        self.spend(self.regs as u64)?;
        let slot = self.slot[target as usize] as usize;
        let row = &mut self.states[slot * self.regs..(slot + 1) * self.regs];
        if !self.reached[slot] {
            self.reached[slot] = true;
            row.copy_from_slice(state);
            self.pending.insert(target);
            return Ok(());
        }
        let mut changed = false;
        for (r, (old, new)) in row.iter_mut().zip(state).enumerate() {
            let Some(joined) = old.join(*new) else {
                let (first, second) = (old.describe(), new.describe());
                let at = site(self.m, self.pid, Some(target));
                return Err(VerifyError::InconsistentStateAtJoin { at, reg: r as Reg, first, second });
            };
            changed |= joined != *old;
            *old = joined;
        }
        if changed {
            self.pending.insert(target);
        }
        Ok(())
    }

    fn run_block(&mut self, start: u32, cur: &mut [RegState]) -> Result<(), VerifyError> {
        let slot = self.slot[start as usize] as usize;
        cur.copy_from_slice(&self.states[slot * self.regs..(slot + 1) * self.regs]);
        let mut i = start;
        loop {
            self.spend(1)?;
            let code = &self.proc.code;
            if let Flow::Stop = self.step(i, &code[i as usize], cur)? {
                return Ok(());
            }
            i += 1;
            if self.slot[i as usize] != u32::MAX {
                return self.merge(i, cur);
            }
        }
    }

    /// The endpoint type in `reg`: `Some` if statically known, `None` if
    /// `Unknown`; an error if the register holds no live endpoint.
    fn endpoint(&self, i: u32, cur: &[RegState], reg: Reg) -> Result<Option<TypeId>, VerifyError> {
        match cur[reg as usize] {
            RegState::Ep(t) => Ok(Some(t)),
            RegState::Unknown => Ok(None),
            RegState::Value => Err(VerifyError::NotAnEndpoint { at: self.err_at(i), reg }),
            RegState::Moved | RegState::Done => Err(VerifyError::UseAfterMove { at: self.err_at(i), reg }),
        }
    }

    fn node(&self, t: TypeId) -> &'a TypeNode {
        &self.m.types.nodes[t.0 as usize]
    }

    fn name(&self, s: SymId) -> String {
        self.m.sym(s).to_owned()
    }

    /// Checks that `reg`'s type sends `label`; returns the resolved continuation.
    fn send_cont(&self, i: u32, cur: &[RegState], reg: Reg, label: SymId) -> Result<Option<TypeId>, VerifyError> {
        let Some(t) = self.endpoint(i, cur, reg)? else { return Ok(None) };
        match self.node(t) {
            TypeNode::End => Err(VerifyError::ActionAfterEnd { at: self.err_at(i), reg }),
            TypeNode::Recv { peer, .. } => {
                Err(VerifyError::SendWhereRecvExpected { at: self.err_at(i), reg, peer: self.name(*peer) })
            }
            TypeNode::Send { branches, .. } => self.branch_cont(i, reg, t, branches, label).map(Some),
            TypeNode::Choose { arms } => {
                // Each arm is a `Send` node (checked with the type table).
                // Without a receiver, the label must name one arm.
                let mut found: Option<(SymId, TypeId)> = None;
                for &arm in arms {
                    if let TypeNode::Send { peer, branches } = self.node(arm) {
                        self.spend(LabelIndex::find_cost(branches.len()))?;
                        if let Some(b) = self.labels.find(arm, branches, label) {
                            if let Some((first, _)) = found {
                                return Err(VerifyError::AmbiguousLabel {
                                    at: self.err_at(i),
                                    reg,
                                    label: self.name(label),
                                    first: self.name(first),
                                    other: self.name(*peer),
                                });
                            }
                            found = Some((*peer, self.resolved[b.cont.0 as usize]));
                        }
                    }
                }
                match found {
                    Some((_, cont)) => Ok(Some(cont)),
                    None => Err(VerifyError::LabelNotOffered { at: self.err_at(i), reg, label: self.name(label) }),
                }
            }
            TypeNode::Mu { .. } | TypeNode::Var { .. } => Ok(None),
        }
    }

    /// `select_to`'s arm `label` to `to`: the node the endpoint continues at
    /// (its own `Send` node, or the `Choose` arm that sends to `to`), which
    /// must offer `label`. `None` if the endpoint is not tracked.
    fn peer_arm(
        &self,
        i: u32,
        cur: &[RegState],
        reg: Reg,
        to: SymId,
        label: SymId,
    ) -> Result<Option<TypeId>, VerifyError> {
        let Some(t) = self.endpoint(i, cur, reg)? else { return Ok(None) };
        let not_offered = || VerifyError::LabelNotOffered {
            at: self.err_at(i),
            reg,
            label: format!("{} to {}", self.name(label), self.name(to)),
        };
        let arm = match self.node(t) {
            TypeNode::End => return Err(VerifyError::ActionAfterEnd { at: self.err_at(i), reg }),
            TypeNode::Recv { peer, .. } => {
                return Err(VerifyError::SendWhereRecvExpected { at: self.err_at(i), reg, peer: self.name(*peer) });
            }
            TypeNode::Send { .. } => t,
            TypeNode::Choose { arms } => {
                self.spend(arms.len() as u64)?;
                let to_peer = |&a: &TypeId| matches!(self.node(a), TypeNode::Send { peer, .. } if *peer == to);
                *arms.iter().find(|a| to_peer(a)).ok_or_else(not_offered)?
            }
            TypeNode::Mu { .. } | TypeNode::Var { .. } => return Ok(None),
        };
        let TypeNode::Send { peer, branches } = self.node(arm) else { return Err(not_offered()) };
        self.spend(LabelIndex::find_cost(branches.len()))?;
        if *peer != to || self.labels.find(arm, branches, label).is_none() {
            return Err(not_offered());
        }
        Ok(Some(arm))
    }

    /// Checks that `reg`'s type receives; returns its node and branches.
    #[allow(clippy::type_complexity)]
    fn recv_branches(
        &self,
        i: u32,
        cur: &[RegState],
        reg: Reg,
    ) -> Result<Option<(TypeId, &'a [FlatBranch])>, VerifyError> {
        let Some(t) = self.endpoint(i, cur, reg)? else { return Ok(None) };
        match self.node(t) {
            TypeNode::End => Err(VerifyError::ActionAfterEnd { at: self.err_at(i), reg }),
            TypeNode::Send { peer, .. } => {
                Err(VerifyError::RecvWhereSendExpected { at: self.err_at(i), reg, peer: self.name(*peer) })
            }
            TypeNode::Choose { arms } => {
                let peer = match arms.first().map(|&a| self.node(a)) {
                    Some(TypeNode::Send { peer, .. }) => self.name(*peer),
                    _ => String::new(),
                };
                Err(VerifyError::RecvWhereSendExpected { at: self.err_at(i), reg, peer })
            }
            TypeNode::Recv { branches, .. } => Ok(Some((t, branches))),
            TypeNode::Mu { .. } | TypeNode::Var { .. } => Ok(None),
        }
    }

    /// The resolved continuation of `label` in node `t` (whose branches are
    /// `branches`), found by binary search and counted against the budget.
    fn branch_cont(
        &self,
        i: u32,
        reg: Reg,
        t: TypeId,
        branches: &[FlatBranch],
        label: SymId,
    ) -> Result<TypeId, VerifyError> {
        self.spend(LabelIndex::find_cost(branches.len()))?;
        match self.labels.find(t, branches, label) {
            Some(b) => Ok(self.resolved[b.cont.0 as usize]),
            None => Err(VerifyError::LabelNotOffered { at: self.err_at(i), reg, label: self.name(label) }),
        }
    }

    /// Writes `state` to `reg`, refusing to drop a live endpoint.
    fn write(&self, i: u32, cur: &mut [RegState], reg: Reg, state: RegState) -> Result<(), VerifyError> {
        if let RegState::Ep(_) = cur[reg as usize] {
            return Err(VerifyError::EndpointOverwritten { at: self.err_at(i), reg });
        }
        cur[reg as usize] = state;
        Ok(())
    }
}
