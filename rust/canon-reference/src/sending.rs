//! What an endpoint may send now (format.md, type nodes `send` and
//! `choose`): the options a `send`, `produce` or `select` picks from by
//! label, and the arm a `select_to` narrows to by receiver and label.

use canon_types::{Endpoint, SymId, TypeId, TypeNode};

use crate::{Exec, Fault, Reference, code};

impl Reference<'_> {
    /// Every message `ep` may send now, each with the role index it goes to:
    /// a `Send` node's branches to its peer, or (format.md, type tag `0x05`)
    /// the branches of every arm of a `choose`, each to its arm's peer.
    pub(crate) fn send_options(&self, ep: Endpoint) -> Exec<Vec<(u16, canon_types::FlatBranch)>> {
        let s = self.session(ep.sid).expect("checked session");
        let graph = &self.program.module().types;
        let arms: Vec<TypeId> = match self.node(s.types[usize::from(ep.role)]) {
            TypeNode::Choose { arms } => arms.clone(),
            TypeNode::Send { .. } => {
                let (to, branches) = self.expect(ep, true)?;
                return Ok(branches.into_iter().map(|b| (to, b)).collect());
            }
            TypeNode::End => return Err(Fault { code: code::ACTION_AFTER_END, at: Some(ep) }),
            _ => return Err(Fault { code: code::SEND_WHERE_RECV_EXPECTED, at: Some(ep) }),
        };
        let mut out = Vec::new();
        for arm in arms {
            if let Some(TypeNode::Send { peer, branches }) = graph.get(arm) {
                let to = s.roles.iter().position(|r| r == peer).expect("verified peer") as u16;
                out.extend(branches.iter().map(|b| (to, b.clone())));
            }
        }
        Ok(out)
    }

    /// The option of `options` that sends `label`.
    pub(crate) fn send_option(
        options: Vec<(u16, canon_types::FlatBranch)>,
        label: SymId,
        at: Endpoint,
    ) -> Exec<(u16, canon_types::FlatBranch)> {
        let mut sending = options.into_iter().filter(|(_, b)| b.label == label);
        let first = sending.next().ok_or(Fault { code: code::LABEL_NOT_OFFERED, at: Some(at) })?;
        // Two options sending the label are two arms of a choose (one send
        // node never repeats a label): the label alone names no arm.
        match sending.next() {
            Some(_) => Err(Fault { code: code::AMBIGUOUS_LABEL, at: Some(at) }),
            None => Ok(first),
        }
    }

    /// `select_to`'s chosen arm: the send node that sends `label` to the
    /// role named `to` — the endpoint's own send node, or the choose arm
    /// whose peer is `to` — where the endpoint's type narrows to.
    pub(crate) fn arm_to(&self, ep: Endpoint, to: SymId, label: SymId) -> Exec<TypeId> {
        let s = self.session(ep.sid).expect("checked session");
        let current = s.types[usize::from(ep.role)];
        let candidates: Vec<TypeId> = match self.node(current) {
            TypeNode::Choose { arms } => arms.clone(),
            TypeNode::Send { .. } => vec![current],
            _ => Vec::new(),
        };
        let sends = |id: &TypeId| {
            matches!(self.node(*id), TypeNode::Send { peer, branches }
                if *peer == to && branches.iter().any(|b| b.label == label))
        };
        candidates.into_iter().find(sends).ok_or(Fault { code: code::LABEL_NOT_OFFERED, at: Some(ep) })
    }
}
