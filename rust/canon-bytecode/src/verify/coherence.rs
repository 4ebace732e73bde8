//! Pass 1c: the local types of one `open` must be coherent: whatever one
//! role may send another may receive, in order, with the same payload types,
//! and no message may be left over when every role has reached `end`.
//!
//! The check explores the composition of the opened types: one state is the
//! current (resolved) type of every role and the content of every directed
//! edge (FIFO, each message the sender's branch). A role at a send may push
//! any of its branches onto the edge to its peer (at a choose, any branch of
//! any arm onto the edge to that arm's peer; up to
//! [`COHERENCE_EDGE_BOUND`] messages per edge); a role at a receive takes
//! the front message of the edge from its peer. Errors:
//! - a receive whose front message has a label the receiver does not
//!   offer, or payload types other than the receiver's for that label;
//! - every role at `end` with a message still on an edge.
//!
//! A receive with a timeout branch (labelled [`canon_types::TIMEOUT_LABEL`])
//! may also take that branch while the edge from its peer is empty: the
//! receiver continues with the branch and the peer (the late sender) leaves
//! the session, which counts as `end` for it from then on; messages left on
//! edges to it are not an error (the machine reports them as `Discarded`
//! when the session closes).
//!
//! A deadlock is not an error here (a protocol may wait on the host or on
//! timeouts; the machine reports stalls). Exploration stops after
//! [`COHERENCE_MAX_STATES`] states; types whose composition is larger are
//! accepted on the states explored (the bound is documented in
//! `bytecode-spec/verifier.md`). Peers outside the open are rejected earlier.

use std::collections::{BTreeSet, VecDeque};

use canon_types::{FlatBranch, SymId, TypeId, TypeNode};

use super::error::VerifyError;
use super::structural::ProcCheck;
use crate::instr::Instr;

/// The type of a role that left the session (a late sender whose receiver
/// took its timeout branch): it acts no more and counts as at `end`.
const LEFT: TypeId = TypeId(u32::MAX);

/// Messages per directed edge the exploration lets queue up.
pub const COHERENCE_EDGE_BOUND: usize = 2;
/// States of one open's composition the exploration visits at most.
pub const COHERENCE_MAX_STATES: usize = 4096;

/// One message on an edge: the sender's type node and branch index.
type Msg = (TypeId, u32);

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct State {
    types: Vec<TypeId>,
    /// `n * n` edges, `[from * n + to]`.
    edges: Vec<Vec<Msg>>,
}

/// Checks one `open` instruction (`instr` must be an `Instr::Open` that
/// passed the admission checks of `open.rs`).
pub(super) fn check_coherence(c: &ProcCheck<'_>, i: u32, instr: &Instr) -> Result<(), VerifyError> {
    let Instr::Open { roles, types, .. } = instr else {
        return Ok(());
    };
    let g = &c.m.types;
    let n = roles.len();
    let incoherent = |detail: String| VerifyError::IncoherentOpen { at: c.at(Some(i)), detail };
    let resolve = |t: TypeId| g.resolve(t).ok_or_else(|| incoherent(format!("type {} does not resolve", t.0)));
    let index = |peer: SymId| roles.iter().position(|r| *r == peer);
    let name = |s: SymId| c.m.sym(s).to_owned();
    let branch = |(node, b): Msg| -> Option<&FlatBranch> {
        match g.get(node)? {
            TypeNode::Send { branches, .. } => branches.get(b as usize),
            _ => None,
        }
    };
    let start =
        State { types: types.iter().map(|&t| resolve(t)).collect::<Result<_, _>>()?, edges: vec![vec![]; n * n] };
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([start]);
    while let Some(state) = queue.pop_front() {
        if seen.len() >= COHERENCE_MAX_STATES {
            break;
        }
        if seen.contains(&state) {
            continue;
        }
        let all_end = state.types.iter().all(|&t| t == LEFT || matches!(g.get(t), Some(TypeNode::End)));
        // Messages to a role that left stay undelivered: the machine reports
        // them when the session closes (`Draining`, `Discarded`).
        let left_over = |(e, q): &(usize, &Vec<Msg>)| !q.is_empty() && state.types[e % n] != LEFT;
        if all_end && let Some((e, _)) = state.edges.iter().enumerate().find(left_over) {
            let label = branch(state.edges[e][0]).map_or_else(String::new, |b| name(b.label));
            return Err(incoherent(format!(
                "every role reaches end with message {label} from {} to {} undelivered",
                name(roles[e / n]),
                name(roles[e % n])
            )));
        }
        for r in 0..n {
            // A send node, or each arm of a choose: this role may push any
            // of its branches onto the edge to that arm's peer.
            let sends: &[TypeId] = match g.get(state.types[r]) {
                Some(TypeNode::Send { .. }) => std::slice::from_ref(&state.types[r]),
                Some(TypeNode::Choose { arms }) => arms,
                _ => &[],
            };
            for &node in sends {
                let Some(TypeNode::Send { peer, branches }) = g.get(node) else { continue };
                let Some(p) = index(*peer) else { continue };
                let e = r * n + p;
                if state.edges[e].len() >= COHERENCE_EDGE_BOUND {
                    continue;
                }
                for (b, br) in branches.iter().enumerate() {
                    let mut next = state.clone();
                    next.edges[e].push((node, b as u32));
                    next.types[r] = resolve(br.cont)?;
                    queue.push_back(next);
                }
            }
            if let Some(TypeNode::Recv { peer, branches }) = g.get(state.types[r]) {
                let Some(p) = index(*peer) else { continue };
                let e = p * n + r;
                let Some(&front) = state.edges[e].first() else {
                    let timeout = branches.iter().find(|b| c.m.sym(b.label) == canon_types::TIMEOUT_LABEL);
                    if let Some(t) = timeout {
                        let mut next = state.clone();
                        next.types[r] = resolve(t.cont)?;
                        next.types[p] = LEFT;
                        queue.push_back(next);
                    }
                    continue;
                };
                let Some(sent) = branch(front) else { continue };
                let Some(got) = branches.iter().find(|b| b.label == sent.label) else {
                    return Err(incoherent(format!(
                        "{} may send {} to {}, which does not receive it there",
                        name(roles[p]),
                        name(sent.label),
                        name(roles[r])
                    )));
                };
                if got.payload != sent.payload {
                    return Err(incoherent(format!(
                        "{} and {} disagree on the payload of {}",
                        name(roles[p]),
                        name(roles[r]),
                        name(sent.label)
                    )));
                }
                let mut next = state.clone();
                next.edges[e].remove(0);
                next.types[r] = resolve(got.cont)?;
                queue.push_back(next);
            }
        }
        // Recorded once explored (nothing above reads `seen`): the state
        // itself, not a copy.
        seen.insert(state);
    }
    Ok(())
}
