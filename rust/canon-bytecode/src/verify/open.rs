//! Pass 1b: the admission rules of `open` — arities, unique roles and
//! destinations, buffer edges, and that every opened local type only talks to
//! roles of the same open and never to itself.

use std::collections::BTreeSet;

use canon_types::{SymId, TypeId, TypeNode};

use super::budget::sort_cost;
use super::error::VerifyError;
use super::structural::ProcCheck;
use crate::instr::{EdgeBuffer, Instr};
use crate::module::Backpressure;

/// Most roles one `open` may name. Every pair of roles is a potential buffer
/// edge, so a session's bookkeeping grows with the square of its roles; the
/// machine enforces the same bound at run time (`Limits::max_roles_per_open`).
pub const MAX_ROLES_PER_OPEN: usize = 256;

/// Checks one `open` instruction (`instr` must be an `Instr::Open`).
pub(super) fn check_open(c: &ProcCheck<'_>, i: u32, instr: &Instr) -> Result<(), VerifyError> {
    let Instr::Open { roles, types, handlers, dsts, buffers } = instr else {
        return Ok(());
    };
    let n = roles.len();
    if types.len() != n || handlers.len() != n || dsts.len() != n {
        return Err(VerifyError::OpenArityMismatch {
            at: c.at(Some(i)),
            roles: n,
            types: types.len(),
            handlers: handlers.len(),
            dsts: dsts.len(),
        });
    }
    if n == 0 {
        return Err(VerifyError::OpenWithoutRoles { at: c.at(Some(i)) });
    }
    if n > MAX_ROLES_PER_OPEN {
        return Err(VerifyError::TooManyRoles { at: c.at(Some(i)), roles: n, limit: MAX_ROLES_PER_OPEN });
    }
    roles.iter().chain(handlers).try_for_each(|&s| c.sym(i, s))?;
    types.iter().try_for_each(|&t| c.ty(Some(i), t))?;
    c.regs(i, dsts)?;
    c.spend(i, 2 * sort_cost(n) + buffers.len() as u64)?;
    let mut sorted_roles = roles.clone();
    sorted_roles.sort_unstable();
    if let Some(w) = sorted_roles.windows(2).find(|w| w[0] == w[1]) {
        return Err(VerifyError::DuplicateRole { at: c.at(Some(i)), role: c.m.sym(w[0]).into() });
    }
    let mut sorted_dsts = dsts.clone();
    sorted_dsts.sort_unstable();
    if let Some(w) = sorted_dsts.windows(2).find(|w| w[0] == w[1]) {
        return Err(VerifyError::DuplicateDst { at: c.at(Some(i)), reg: w[0] });
    }
    buffers.iter().try_for_each(|b| check_edge(c, i, n, b))?;
    for (role, ty) in roles.iter().zip(types) {
        check_peers(c, i, &sorted_roles, *role, *ty)?;
    }
    Ok(())
}

fn check_edge(c: &ProcCheck<'_>, i: u32, roles: usize, b: &EdgeBuffer) -> Result<(), VerifyError> {
    for index in [b.from, b.to] {
        if index as usize >= roles {
            return Err(VerifyError::EdgeRoleOutOfRange { at: c.at(Some(i)), index, roles });
        }
    }
    if b.from == b.to {
        return Err(VerifyError::EdgeSelfLoop { at: c.at(Some(i)), role: b.from });
    }
    let capacity = b.config.capacity;
    if capacity == 0 {
        return Err(VerifyError::ZeroCapacity { at: c.at(Some(i)), from: b.from, to: b.to });
    }
    if let Backpressure::Resize { max_capacity } = b.config.policy
        && max_capacity < capacity
    {
        return Err(VerifyError::ResizeBelowCapacity { at: c.at(Some(i)), max_capacity, capacity });
    }
    Ok(())
}

/// Walks every node reachable from `root` and checks each peer it names.
/// `roles` is sorted. Each node visited is counted against the budget.
fn check_peers(c: &ProcCheck<'_>, i: u32, roles: &[SymId], role: SymId, root: TypeId) -> Result<(), VerifyError> {
    let nodes = &c.m.types.nodes;
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    let mut stack = vec![root];
    let log_roles = u64::from(usize::BITS - roles.len().leading_zeros());
    while let Some(id) = stack.pop() {
        c.spend(i, 1 + log_roles)?;
        if id.0 as usize >= nodes.len() || !seen.insert(id.0) {
            continue;
        }
        match &nodes[id.0 as usize] {
            TypeNode::End => {}
            TypeNode::Mu { body, .. } => stack.push(*body),
            TypeNode::Var { mu } => stack.push(*mu),
            TypeNode::Send { peer, branches } | TypeNode::Recv { peer, branches } => {
                if *peer == role {
                    return Err(VerifyError::SelfCommunication { at: c.at(Some(i)), role: c.m.sym(role).into() });
                }
                if roles.binary_search(peer).is_err() {
                    return Err(VerifyError::UnknownPeer {
                        at: c.at(Some(i)),
                        role: c.m.sym(role).into(),
                        peer: c.m.sym(*peer).into(),
                    });
                }
                c.spend(i, branches.len() as u64)?;
                stack.extend(branches.iter().rev().map(|b| b.cont));
            }
        }
    }
    Ok(())
}
