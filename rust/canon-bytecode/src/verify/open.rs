//! Pass 1b: the admission rules of `open` — arities, unique roles and
//! destinations, buffer edges, and that every opened local type only talks to
//! roles of the same open and never to itself.

use canon_types::{SymId, TypeId, TypeNode};

use super::error::VerifyError;
use super::structural::ProcCheck;
use crate::instr::{EdgeBuffer, Instr};
use crate::module::Backpressure;

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
    roles.iter().chain(handlers).try_for_each(|&s| c.sym(i, s))?;
    types.iter().try_for_each(|&t| c.ty(Some(i), t))?;
    c.regs(i, dsts)?;
    for (j, role) in roles.iter().enumerate() {
        if roles[..j].contains(role) {
            return Err(VerifyError::DuplicateRole { at: c.at(Some(i)), role: c.m.sym(*role).into() });
        }
    }
    for (j, dst) in dsts.iter().enumerate() {
        if dsts[..j].contains(dst) {
            return Err(VerifyError::DuplicateDst { at: c.at(Some(i)), reg: *dst });
        }
    }
    buffers.iter().try_for_each(|b| check_edge(c, i, n, b))?;
    for (role, ty) in roles.iter().zip(types) {
        check_peers(c, i, roles, *role, *ty)?;
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
fn check_peers(c: &ProcCheck<'_>, i: u32, roles: &[SymId], role: SymId, root: TypeId) -> Result<(), VerifyError> {
    let nodes = &c.m.types.nodes;
    let mut seen = vec![false; nodes.len()];
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        let Some(slot) = seen.get_mut(id.0 as usize) else { continue };
        if std::mem::replace(slot, true) {
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
                if !roles.contains(peer) {
                    return Err(VerifyError::UnknownPeer {
                        at: c.at(Some(i)),
                        role: c.m.sym(role).into(),
                        peer: c.m.sym(*peer).into(),
                    });
                }
                stack.extend(branches.iter().rev().map(|b| b.cont));
            }
        }
    }
    Ok(())
}
