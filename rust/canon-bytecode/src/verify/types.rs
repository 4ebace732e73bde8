//! Structural equality of local types in the flat graph, used where an
//! endpoint is passed to a typed parameter.

use std::collections::BTreeSet;

use canon_types::{TypeGraph, TypeId, TypeNode};

/// Whether the (possibly recursive) types at `a` and `b` describe the same
/// protocol: the same kind of node, the same peer, the same labels with the
/// same payloads (in any order), and equal continuations. Equality is
/// coinductive (a pair already being compared is assumed equal), so cycles
/// terminate; at most `n²` pairs are visited. `resolved` maps every id to its
/// first non-`Mu`/`Var` node, and ids must be in range.
pub(super) fn equivalent(graph: &TypeGraph, resolved: &[TypeId], a: TypeId, b: TypeId) -> bool {
    let mut assumed = BTreeSet::new();
    let mut stack = vec![(a, b)];
    while let Some((x, y)) = stack.pop() {
        let (x, y) = (resolved[x.0 as usize], resolved[y.0 as usize]);
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
            _ => return false,
        };
        for b in bx {
            match by.iter().find(|c| c.label == b.label) {
                Some(c) if c.payload == b.payload => stack.push((b.cont, c.cont)),
                _ => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use canon_types::{FlatBranch, SymId};

    use super::*;

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
        assert!(equivalent(&graph, &resolved, TypeId(0), TypeId(3)));
        assert!(equivalent(&graph, &resolved, TypeId(2), TypeId(1)));
        assert!(!equivalent(&graph, &resolved, TypeId(3), TypeId(4)));
    }
}
