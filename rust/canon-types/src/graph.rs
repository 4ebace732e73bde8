//! The flat local-type graph: the form stored in a bytecode module's type
//! table and walked by the verifier and the machine.
//!
//! Nodes are addressed by [`TypeId`] (an index). Continuations are ids, and a
//! `Var` node points at the `Mu` node that binds it, so advancing an endpoint's
//! type is following an index — no allocation, no substitution. Names are
//! [`SymId`]s into the module's string table.

use crate::local::{Branch, LocalType, Payload};
use crate::value::SymId;

/// Index of a node in a [`TypeGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct TypeId(pub u32);

/// One labelled branch in the flat form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlatBranch {
    /// The message label (a string-table id).
    pub label: SymId,
    /// Payload type names, in order (payload item names are not kept).
    pub payload: Vec<SymId>,
    /// The id of the node after this message.
    pub cont: TypeId,
}

/// One node of the flat graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeNode {
    /// The session ends for this role.
    End,
    /// Send one of the branches' labels to `peer`.
    Send {
        /// The peer's role name (a string-table id).
        peer: SymId,
        /// The labels, each with its payload and continuation.
        branches: Vec<FlatBranch>,
    },
    /// Receive one of the branches' labels from `peer`.
    Recv {
        /// The peer's role name (a string-table id).
        peer: SymId,
        /// The labels, each with its payload and continuation.
        branches: Vec<FlatBranch>,
    },
    /// Internal choice among peers: each arm is the id of a `Send` node
    /// (directly, not through `Mu`/`Var`) to a peer of its own. Arms may
    /// send the same label (to their different peers): a `select_to` names
    /// the receiver and narrows the endpoint to its arm; sending a label no
    /// other arm sends performs the arm that offers it.
    Choose {
        /// The ids of the `Send` nodes, one per peer.
        arms: Vec<TypeId>,
    },
    /// `μ`: the binder's variable name (kept for printing) and its body.
    Mu {
        /// The variable's name (a string-table id), kept for printing.
        var: SymId,
        /// The id of the body node.
        body: TypeId,
    },
    /// A recursion variable: the id of the `Mu` node that binds it.
    Var {
        /// The id of the binding `Mu` node.
        mu: TypeId,
    },
}

/// Why a graph is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A node refers to a node id outside the table.
    #[error("type {at}: reference to type {target} is out of range ({len} types)")]
    OutOfRange {
        /// The index of the node at fault.
        at: u32,
        /// The node id it refers to.
        target: u32,
        /// How many nodes the table has.
        len: u32,
    },
    /// A variable points at a node that is not a `Mu` binder.
    #[error("type {at}: variable points at type {target}, which is not a mu binder")]
    VarNotMu {
        /// The index of the node at fault.
        at: u32,
        /// The node id it refers to.
        target: u32,
    },
    /// A `Mu`/`Var` cycle with no message in it.
    #[error("type {at}: unguarded recursion (mu/var cycle with no message)")]
    Unguarded {
        /// The index of the node at fault.
        at: u32,
    },
    /// Two branches of one node with the same label.
    #[error("type {at}: duplicate label in one choice")]
    DuplicateLabel {
        /// The index of the node at fault.
        at: u32,
    },
    /// A send, receive or choose node with no branches.
    #[error("type {at}: a choice with no branches")]
    EmptyChoice {
        /// The index of the node at fault.
        at: u32,
    },
    /// An arm of a `Choose` that is not a `Send` node.
    #[error("type {at}: an arm of a choose is not a send node")]
    ChooseArmNotSend {
        /// The index of the node at fault.
        at: u32,
    },
    /// Two arms of a `Choose` that send to the same peer.
    #[error("type {at}: two arms of a choose send to the same peer")]
    ChooseSamePeer {
        /// The index of the node at fault.
        at: u32,
    },
    /// A recursion variable with no enclosing binder (building from a tree).
    #[error("unbound recursion variable `{var}`")]
    UnboundVar {
        /// The variable's name.
        var: String,
    },
}

/// A table of local-type nodes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct TypeGraph {
    /// The nodes; a `TypeId` is an index into this list.
    pub nodes: Vec<TypeNode>,
}

impl TypeGraph {
    /// The node with id `id`, or `None` if it is out of range.
    pub fn get(&self, id: TypeId) -> Option<&TypeNode> {
        self.nodes.get(id.0 as usize)
    }

    /// The peer and branch that sending `label` on the (resolved) node `id`
    /// uses: the `Send` node's own branch, or the branch of the `Choose` arm
    /// that offers `label`. `None` if the node sends no such label.
    pub fn send_branch(&self, id: TypeId, label: SymId) -> Option<(SymId, &FlatBranch)> {
        let in_send = |id: TypeId| match self.get(id)? {
            TypeNode::Send { peer, branches } => branches.iter().find(|b| b.label == label).map(|b| (*peer, b)),
            _ => None,
        };
        match self.get(id)? {
            TypeNode::Send { .. } => in_send(id),
            TypeNode::Choose { arms } => arms.iter().find_map(|&a| in_send(a)),
            _ => None,
        }
    }

    /// For a `Choose` node that sends `label` in two arms, the receivers of
    /// the first two (a `send` naming only the label is ambiguous there);
    /// `None` for every other node and label.
    pub fn ambiguous_receivers(&self, id: TypeId, label: SymId) -> Option<(SymId, SymId)> {
        let TypeNode::Choose { arms } = self.get(id)? else { return None };
        let mut offering = arms.iter().filter_map(|&a| match self.get(a)? {
            TypeNode::Send { peer, branches } if branches.iter().any(|b| b.label == label) => Some(*peer),
            _ => None,
        });
        Some((offering.next()?, offering.next()?))
    }

    /// The `Send` node among `id`'s own node (a `Send` to `to`) or its
    /// `Choose` arms that sends to `to`, if it offers `label`: where a
    /// `select_to` arm naming `to` and `label` narrows the endpoint.
    pub fn send_arm_to(&self, id: TypeId, to: SymId, label: SymId) -> Option<TypeId> {
        let offers = |a: TypeId| match self.get(a) {
            Some(TypeNode::Send { peer, branches }) => *peer == to && branches.iter().any(|b| b.label == label),
            _ => false,
        };
        match self.get(id)? {
            TypeNode::Send { .. } => offers(id).then_some(id),
            TypeNode::Choose { arms } => arms.iter().copied().find(|&a| offers(a)),
            _ => None,
        }
    }

    /// Follows `Mu` bodies and `Var` back-pointers until a communication or
    /// `End` node. Returns `None` if the walk leaves the table or loops (an
    /// unguarded recursion); a verified graph never does either.
    pub fn resolve(&self, mut id: TypeId) -> Option<TypeId> {
        for _ in 0..=self.nodes.len() {
            match self.get(id)? {
                TypeNode::Mu { body, .. } => id = *body,
                TypeNode::Var { mu } => id = *mu,
                _ => return Some(id),
            }
        }
        None
    }

    /// Checks references, binders, guardedness and labels of every node.
    pub fn check(&self) -> Result<(), GraphError> {
        self.check_resolve(&mut 0).map(|_| ())
    }

    /// [`TypeGraph::check`], returning the resolution of every node (what
    /// [`TypeGraph::resolve`] gives for each id) and adding the steps taken to
    /// `work`. Runs in O(n log n) for n nodes and branches: labels are checked
    /// for duplicates by sorting, and `mu`/`var` chains are resolved once each,
    /// memoised, instead of walked again from every node on them.
    pub fn check_resolve(&self, work: &mut u64) -> Result<Vec<TypeId>, GraphError> {
        let len = self.nodes.len() as u32;
        let in_range = |at: u32, t: TypeId| {
            if t.0 < len { Ok(()) } else { Err(GraphError::OutOfRange { at, target: t.0, len }) }
        };
        let mut labels: Vec<SymId> = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let at = i as u32;
            *work += 1;
            match node {
                TypeNode::End => {}
                TypeNode::Send { branches, .. } | TypeNode::Recv { branches, .. } => {
                    if branches.is_empty() {
                        return Err(GraphError::EmptyChoice { at });
                    }
                    labels.clear();
                    for b in branches {
                        in_range(at, b.cont)?;
                        labels.push(b.label);
                    }
                    labels.sort_unstable();
                    *work += sort_cost(labels.len());
                    if labels.windows(2).any(|w| w[0] == w[1]) {
                        return Err(GraphError::DuplicateLabel { at });
                    }
                }
                TypeNode::Choose { arms } => {
                    if arms.is_empty() {
                        return Err(GraphError::EmptyChoice { at });
                    }
                    let mut peers: Vec<SymId> = Vec::with_capacity(arms.len());
                    for &arm in arms {
                        in_range(at, arm)?;
                        let TypeNode::Send { peer, .. } = &self.nodes[arm.0 as usize] else {
                            return Err(GraphError::ChooseArmNotSend { at });
                        };
                        peers.push(*peer);
                    }
                    peers.sort_unstable();
                    *work += sort_cost(peers.len());
                    if peers.windows(2).any(|w| w[0] == w[1]) {
                        return Err(GraphError::ChooseSamePeer { at });
                    }
                }
                TypeNode::Mu { body, .. } => in_range(at, *body)?,
                TypeNode::Var { mu } => {
                    in_range(at, *mu)?;
                    if !matches!(self.nodes[mu.0 as usize], TypeNode::Mu { .. }) {
                        return Err(GraphError::VarNotMu { at, target: mu.0 });
                    }
                }
            }
        }
        self.resolve_all(work)
    }

    /// The resolution of every node, each `mu`/`var` chain followed once:
    /// a node on the current walk is marked, a node already resolved answers
    /// for the whole walk that reached it. References must be in range.
    fn resolve_all(&self, work: &mut u64) -> Result<Vec<TypeId>, GraphError> {
        const UNSET: u32 = u32::MAX;
        const ON_PATH: u32 = u32::MAX - 1;
        let mut out = vec![TypeId(UNSET); self.nodes.len()];
        let mut path: Vec<u32> = Vec::new();
        for start in 0..self.nodes.len() as u32 {
            let mut id = start;
            let target = loop {
                *work += 1;
                match out[id as usize].0 {
                    ON_PATH => return Err(GraphError::Unguarded { at: start }),
                    UNSET => {}
                    done => break done,
                }
                match self.nodes[id as usize] {
                    TypeNode::Mu { body: next, .. } | TypeNode::Var { mu: next } => {
                        out[id as usize] = TypeId(ON_PATH);
                        path.push(id);
                        id = next.0;
                    }
                    _ => break id,
                }
            };
            out[id as usize] = TypeId(target);
            for p in path.drain(..) {
                out[p as usize] = TypeId(target);
            }
        }
        Ok(out)
    }

    /// Appends the nodes of a tree-form local type and returns the id of its
    /// root. `intern` maps names to symbol ids.
    pub fn lower(&mut self, ty: &LocalType, intern: &mut impl FnMut(&str) -> SymId) -> Result<TypeId, GraphError> {
        let mut scope: Vec<(String, TypeId)> = Vec::new();
        self.lower_in(ty, intern, &mut scope)
    }

    fn lower_in(
        &mut self,
        ty: &LocalType,
        intern: &mut impl FnMut(&str) -> SymId,
        scope: &mut Vec<(String, TypeId)>,
    ) -> Result<TypeId, GraphError> {
        let id = TypeId(self.nodes.len() as u32);
        match ty {
            LocalType::End => self.nodes.push(TypeNode::End),
            LocalType::Var { var } => {
                let (_, mu) = scope
                    .iter()
                    .rev()
                    .find(|(v, _)| v == var)
                    .ok_or_else(|| GraphError::UnboundVar { var: var.clone() })?;
                self.nodes.push(TypeNode::Var { mu: *mu });
            }
            LocalType::Mu { var, body } => {
                self.nodes.push(TypeNode::Mu { var: intern(var), body: TypeId(0) });
                scope.push((var.clone(), id));
                let body_id = self.lower_in(body, intern, scope);
                scope.pop();
                self.nodes[id.0 as usize] = TypeNode::Mu { var: intern(var), body: body_id? };
            }
            LocalType::Choose { arms } => {
                self.nodes.push(TypeNode::End);
                let mut ids = Vec::with_capacity(arms.len());
                for arm in arms {
                    ids.push(self.lower_in(arm, intern, scope)?);
                }
                self.nodes[id.0 as usize] = TypeNode::Choose { arms: ids };
            }
            LocalType::Send { to: peer, branches } | LocalType::Recv { from: peer, branches } => {
                let peer = intern(peer);
                // Reserve the node first so a parent's id precedes its children's.
                self.nodes.push(TypeNode::End);
                let mut flat = Vec::with_capacity(branches.len());
                for b in branches {
                    let label = intern(&b.label);
                    let payload = b.payload.iter().map(|p| intern(&p.ty)).collect();
                    let cont = self.lower_in(&b.cont, intern, scope)?;
                    flat.push(FlatBranch { label, payload, cont });
                }
                self.nodes[id.0 as usize] = if matches!(ty, LocalType::Send { .. }) {
                    TypeNode::Send { peer, branches: flat }
                } else {
                    TypeNode::Recv { peer, branches: flat }
                };
            }
        }
        Ok(id)
    }

    /// Rebuilds the tree form rooted at `id`. `name` maps symbol ids back to
    /// strings. A `Var` whose binder is not an ancestor on the path (possible
    /// only in hand-written graphs) is printed by its binder's name all the
    /// same. Returns `None` if an id is out of range.
    pub fn lift(&self, id: TypeId, name: &impl Fn(SymId) -> String) -> Option<LocalType> {
        self.lift_in(id, name, 0)
    }

    fn lift_in(&self, id: TypeId, name: &impl Fn(SymId) -> String, depth: usize) -> Option<LocalType> {
        if depth > self.nodes.len() {
            return None;
        }
        let lift_branches = |branches: &[FlatBranch]| -> Option<Vec<Branch>> {
            branches
                .iter()
                .map(|b| {
                    Some(Branch {
                        label: name(b.label),
                        payload: b
                            .payload
                            .iter()
                            .map(|&t| Payload { name: None, ty: name(t), refinement: None })
                            .collect(),
                        cont: self.lift_in(b.cont, name, depth + 1)?,
                    })
                })
                .collect()
        };
        Some(match self.get(id)? {
            TypeNode::End => LocalType::End,
            TypeNode::Send { peer, branches } => {
                LocalType::Send { to: name(*peer), branches: lift_branches(branches)? }
            }
            TypeNode::Recv { peer, branches } => {
                LocalType::Recv { from: name(*peer), branches: lift_branches(branches)? }
            }
            TypeNode::Choose { arms } => LocalType::Choose {
                arms: arms.iter().map(|&a| self.lift_in(a, name, depth + 1)).collect::<Option<_>>()?,
            },
            TypeNode::Mu { var, body } => {
                LocalType::Mu { var: name(*var), body: Box::new(self.lift_in(*body, name, depth + 1)?) }
            }
            TypeNode::Var { mu } => match self.get(*mu)? {
                TypeNode::Mu { var, .. } => LocalType::Var { var: name(*var) },
                _ => return None,
            },
        })
    }
}

/// Steps counted for sorting `n` items: `n · ⌈log₂ n⌉`.
pub fn sort_cost(n: usize) -> u64 {
    let n = n as u64;
    n * u64::from(64 - n.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interner(table: &mut Vec<String>) -> impl FnMut(&str) -> SymId + '_ {
        move |s: &str| match table.iter().position(|t| t == s) {
            Some(i) => SymId(i as u32),
            None => {
                table.push(s.to_owned());
                SymId(table.len() as u32 - 1)
            }
        }
    }

    fn msg(label: &str, ty: &str, cont: LocalType) -> Branch {
        Branch { label: label.into(), payload: vec![Payload { name: None, ty: ty.into(), refinement: None }], cont }
    }

    #[test]
    fn lower_then_lift_is_identity_and_resolves() {
        let ty = LocalType::Mu {
            var: "X".into(),
            body: Box::new(LocalType::Send {
                to: "B".into(),
                branches: vec![
                    msg(
                        "Ping",
                        "Int",
                        LocalType::Recv {
                            from: "B".into(),
                            branches: vec![msg("Pong", "Int", LocalType::Var { var: "X".into() })],
                        },
                    ),
                    msg("Stop", "Unit", LocalType::End),
                ],
            }),
        };
        let mut names = Vec::new();
        let mut graph = TypeGraph::default();
        let root = graph.lower(&ty, &mut interner(&mut names)).unwrap();
        graph.check().unwrap();
        assert!(matches!(graph.get(graph.resolve(root).unwrap()), Some(TypeNode::Send { .. })));
        let back = graph.lift(root, &|s: SymId| names[s.0 as usize].clone()).unwrap();
        assert_eq!(back, ty);
        assert_eq!(ty.to_string(), "mu X.B!{Ping(Int).B?Pong(Int).X, Stop(Unit).end}");
    }

    #[test]
    fn unguarded_recursion_is_rejected() {
        let graph =
            TypeGraph { nodes: vec![TypeNode::Mu { var: SymId(0), body: TypeId(1) }, TypeNode::Var { mu: TypeId(0) }] };
        assert_eq!(graph.check(), Err(GraphError::Unguarded { at: 0 }));
    }

    /// A chain of `depth` nested binders `mu X1. mu X2. ... A!m.X1`: each node
    /// used to be resolved by walking the rest of the chain.
    fn mu_chain(depth: u32) -> TypeGraph {
        let mut nodes: Vec<TypeNode> =
            (0..depth).map(|i| TypeNode::Mu { var: SymId(0), body: TypeId(i + 1) }).collect();
        nodes.push(TypeNode::Send {
            peer: SymId(1),
            branches: vec![FlatBranch { label: SymId(2), payload: vec![], cont: TypeId(depth + 1) }],
        });
        nodes.push(TypeNode::Var { mu: TypeId(0) });
        TypeGraph { nodes }
    }

    #[test]
    fn mu_chain_resolution_is_linear_in_work() {
        let mut small = 0;
        let resolved = mu_chain(10_000).check_resolve(&mut small).unwrap();
        assert!(resolved.iter().all(|t| *t == TypeId(10_000)));
        let mut large = 0;
        mu_chain(100_000).check_resolve(&mut large).unwrap();
        assert!(large <= small * 12, "10x nodes took {large} steps against {small}");
        assert!(large <= 3 * 100_002, "{large}");
    }

    #[test]
    fn many_labels_are_checked_for_duplicates_in_n_log_n() {
        let choice = |n: u32, dup: bool| TypeGraph {
            nodes: vec![
                TypeNode::Send {
                    peer: SymId(0),
                    branches: (0..n)
                        .map(|i| FlatBranch {
                            label: SymId(if dup && i == n - 1 { 1 } else { i + 1 }),
                            payload: vec![],
                            cont: TypeId(1),
                        })
                        .collect(),
                },
                TypeNode::End,
            ],
        };
        let (mut small, mut large) = (0, 0);
        choice(20_000, false).check_resolve(&mut small).unwrap();
        choice(200_000, false).check_resolve(&mut large).unwrap();
        assert!(large <= small * 12, "10x labels took {large} steps against {small}");
        assert_eq!(choice(200_000, true).check(), Err(GraphError::DuplicateLabel { at: 0 }));
    }

    #[test]
    fn unguarded_cycle_through_a_resolved_prefix_is_found() {
        // 0: mu.1   1: var 2   2: mu.1  (0 reaches the 1↔2 cycle)
        let graph = TypeGraph {
            nodes: vec![
                TypeNode::Mu { var: SymId(0), body: TypeId(1) },
                TypeNode::Var { mu: TypeId(2) },
                TypeNode::Mu { var: SymId(0), body: TypeId(1) },
            ],
        };
        assert_eq!(graph.check(), Err(GraphError::Unguarded { at: 0 }));
    }

    #[test]
    fn a_choose_among_peers_lowers_lifts_and_is_checked() {
        let send = |to: &str, label: &str| LocalType::Send {
            to: to.into(),
            branches: vec![Branch { label: label.into(), payload: vec![], cont: LocalType::End }],
        };
        let ty = LocalType::Choose { arms: vec![send("B", "Ok"), send("C", "Quit")] };
        let mut names = Vec::new();
        let mut graph = TypeGraph::default();
        let root = graph.lower(&ty, &mut interner(&mut names)).unwrap();
        graph.check().unwrap();
        assert_eq!(graph.resolve(root), Some(root));
        let name = |s: SymId| names[s.0 as usize].clone();
        assert_eq!(graph.lift(root, &name).unwrap(), ty);
        assert_eq!(ty.to_string(), "+{B!Ok().end, C!Quit().end}");
        let sym = |s: &str| SymId(names.iter().position(|n| n == s).unwrap() as u32);
        let (peer, branch) = graph.send_branch(root, sym("Quit")).unwrap();
        assert_eq!((peer, branch.label), (sym("C"), sym("Quit")));
        assert!(graph.send_branch(root, sym("B")).is_none());

        // Arms must be send nodes, to distinct peers; a label may begin two
        // arms, which a label alone then does not tell apart.
        let arm = |peer: u32, label: u32| TypeNode::Send {
            peer: SymId(peer),
            branches: vec![FlatBranch { label: SymId(label), payload: vec![], cont: TypeId(3) }],
        };
        let with = |arms: Vec<u32>, a: TypeNode, b: TypeNode| TypeGraph {
            nodes: vec![TypeNode::Choose { arms: arms.into_iter().map(TypeId).collect() }, a, b, TypeNode::End],
        };
        assert_eq!(with(vec![1, 2], arm(0, 5), arm(1, 6)).check(), Ok(()));
        assert_eq!(with(vec![1, 3], arm(0, 5), arm(1, 6)).check(), Err(GraphError::ChooseArmNotSend { at: 0 }));
        assert_eq!(with(vec![1, 2], arm(0, 5), arm(0, 6)).check(), Err(GraphError::ChooseSamePeer { at: 0 }));
        let shared = with(vec![1, 2], arm(0, 5), arm(1, 5));
        assert_eq!(shared.check(), Ok(()));
        assert_eq!(shared.ambiguous_receivers(TypeId(0), SymId(5)), Some((SymId(0), SymId(1))));
        assert_eq!(shared.send_arm_to(TypeId(0), SymId(1), SymId(5)), Some(TypeId(2)));
        assert_eq!(shared.send_arm_to(TypeId(0), SymId(1), SymId(6)), None);
        assert_eq!(with(vec![1, 2], arm(0, 5), arm(1, 6)).ambiguous_receivers(TypeId(0), SymId(5)), None);
        assert_eq!(with(vec![], arm(0, 5), arm(1, 6)).check(), Err(GraphError::EmptyChoice { at: 0 }));
        assert!(matches!(with(vec![1, 9], arm(0, 5), arm(1, 6)).check(), Err(GraphError::OutOfRange { .. })));
    }

    #[test]
    fn unbound_variable_is_an_error() {
        let mut names = Vec::new();
        let err = TypeGraph::default().lower(&LocalType::Var { var: "Y".into() }, &mut interner(&mut names));
        assert_eq!(err, Err(GraphError::UnboundVar { var: "Y".into() }));
    }
}
