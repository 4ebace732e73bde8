//! Structural equality of local types in the flat graph, used where an
//! endpoint is passed to a typed parameter.

use std::collections::BTreeSet;

use canon_types::{TypeGraph, TypeId, TypeNode};

use super::budget::LabelIndex;
use super::error::VerifyError;

/// Steps counted per pair visited: a pair is a search and an insertion in a
/// set that can hold a million entries (about 20 levels of comparisons, each
/// a likely cache miss), far dearer than the array updates other passes count
/// as one step. With the module budget this refuses after about half a
/// million pairs (about half a second).
const PAIR_COST: u64 = 128;

/// Whether the (possibly recursive) types at `a` and `b` describe the same
/// protocol: the same kind of node, the same peer, the same labels with the
/// same payloads (in any order), and equal continuations. Equality is
/// coinductive (a pair already being compared is assumed equal), so cycles
/// terminate; up to `n²` pairs could be visited, so every pair and every
/// label lookup is passed to `spend`, which refuses once the module's budget
/// is used up. `resolved` maps every id to its first non-`Mu`/`Var` node, and
/// ids must be in range.
pub(super) fn equivalent(
    graph: &TypeGraph,
    resolved: &[TypeId],
    labels: &LabelIndex,
    spend: impl Fn(u64) -> Result<(), VerifyError>,
    a: TypeId,
    b: TypeId,
) -> Result<bool, VerifyError> {
    let mut assumed = BTreeSet::new();
    let mut stack = vec![(a, b)];
    while let Some((x, y)) = stack.pop() {
        let (x, y) = (resolved[x.0 as usize], resolved[y.0 as usize]);
        spend(PAIR_COST)?;
        if x == y || !assumed.insert((x, y)) {
            continue;
        }
        let (bx, by) = match (&graph.nodes[x.0 as usize], &graph.nodes[y.0 as usize]) {
            (TypeNode::End, TypeNode::End) => continue,
            (TypeNode::Send { peer: p, branches: bx }, TypeNode::Send { peer: q, branches: by })
            | (TypeNode::Recv { peer: p, branches: bx }, TypeNode::Recv { peer: q, branches: by })
                if p == q && bx.len() == by.len() =>
            {
                (bx, by)
            }
            _ => return Ok(false),
        };
        spend(bx.len() as u64 * LabelIndex::find_cost(by.len()))?;
        for b in bx {
            match labels.find(y, by, b.label) {
                Some(c) if c.payload == b.payload => stack.push((b.cont, c.cont)),
                _ => return Ok(false),
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use canon_types::{FlatBranch, SymId};

    use super::*;
    use crate::verify::budget::Work;

    fn send(peer: u32, label: u32, cont: u32) -> TypeNode {
        TypeNode::Send {
            peer: SymId(peer),
            branches: vec![FlatBranch { label: SymId(label), payload: vec![], cont: TypeId(cont) }],
        }
    }

    #[test]
    fn unrolled_loops_are_equivalent_and_other_peers_are_not() {
        // 0: mu.1   1: B!a.2   2: var 0   3: B!a.3 (a loop without a binder)
        // 4: C!a.4
        let graph = TypeGraph {
            nodes: vec![
                TypeNode::Mu { var: SymId(9), body: TypeId(1) },
                send(0, 1, 2),
                TypeNode::Var { mu: TypeId(0) },
                send(0, 1, 3),
                send(5, 1, 4),
            ],
        };
        let resolved: Vec<TypeId> = (0..5).map(|i| graph.resolve(TypeId(i)).unwrap()).collect();
        let work = Work::new(1_000);
        let labels = LabelIndex::new(&graph, &work);
        let eq = |a, b| equivalent(&graph, &resolved, &labels, |_| Ok(()), TypeId(a), TypeId(b)).unwrap();
        assert!(eq(0, 3));
        assert!(eq(2, 1));
        assert!(!eq(3, 4));
    }
}
