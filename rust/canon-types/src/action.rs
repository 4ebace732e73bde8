//! The annotated local form that projection produces: a role's view of a
//! protocol *with* the canon extensions that local types leave out — host
//! effects (`invoke`) and receive deadlines (`within N`). Lowering to bytecode
//! walks this form; [`LocalAction::erase`] drops the annotations and yields the
//! [`LocalType`] that the machine checks against. Projection is written once,
//! here, and local types are derived from it.

use crate::global::Origin;
use crate::local::{Branch, LocalType, Payload};

/// One labelled branch of an annotated send or receive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ActionBranch {
    /// The message label.
    pub label: String,
    /// The payload's declared types.
    pub payload: Vec<Payload>,
    /// What the role does after this message.
    pub cont: LocalAction,
    /// On a send: the payload is the one sent just before (a later receiver
    /// of a multicast), not a new one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub same_payload: bool,
    /// The message statement this branch was projected from.
    #[serde(skip)]
    pub origin: Origin,
}

/// A role's annotated local behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "kind")]
pub enum LocalAction {
    /// The role's part ends.
    End,
    /// Send one of `branches` to `to`; more than one branch means this role
    /// chooses (it is the subject of a choice).
    Send {
        /// The peer sent to.
        to: String,
        /// The labels this step may send or receive, each with its continuation.
        branches: Vec<ActionBranch>,
    },
    /// Choose one of `arms`, each a `Send` to a different peer (the subject
    /// of a choice whose branches begin with messages to different roles).
    Choose {
        /// The arms, each a `Send` to a peer of its own.
        arms: Vec<LocalAction>,
    },
    /// Receive one of `branches` from `from`, waiting at most `timeout_ticks`
    /// rounds if set: on timeout the session is cancelled, or, with
    /// `on_timeout`, this role continues with it (the timeout branch).
    Recv {
        /// The peer received from.
        from: String,
        /// The labels this step may send or receive, each with its continuation.
        branches: Vec<ActionBranch>,
        /// The receive deadline in rounds, if any.
        timeout_ticks: Option<u32>,
        /// The timeout branch: what this role does when the deadline passes
        /// (it then continues the protocol instead of cancelling).
        #[serde(skip_serializing_if = "Option::is_none")]
        on_timeout: Option<Box<LocalAction>>,
        /// Without a timeout branch: the effects invoked, in order, when the
        /// deadline passes, before the session is cancelled (`on cancel`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        on_cancel: Vec<String>,
    },
    /// Perform host effect `effect`, then continue. Invisible in local types.
    Invoke {
        /// The host effect's name.
        effect: String,
        /// A readiness check (`check Effect.op(..)`): lowered to `check`,
        /// its witness consumed before the role's next protected step.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        check: bool,
        /// What follows.
        cont: Box<LocalAction>,
        /// The `invoke` statement this step was projected from.
        #[serde(skip)]
        origin: Origin,
    },
    /// Recursion binder.
    Mu {
        /// The recursion variable.
        var: String,
        /// The loop body.
        body: Box<LocalAction>,
    },
    /// Jump back to the enclosing binder `var`.
    Var {
        /// The recursion variable.
        var: String,
    },
}

/// Why two branches' behaviours cannot be merged for a role that does not
/// know which branch was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MergeConflict(pub String);

impl LocalAction {
    /// The local type: drops `Invoke` steps and receive deadlines; a timeout
    /// branch becomes a branch labelled [`crate::TIMEOUT_LABEL`] (no payload).
    pub fn erase(&self) -> LocalType {
        let branches = |bs: &[ActionBranch]| -> Vec<Branch> {
            bs.iter()
                .map(|b| Branch { label: b.label.clone(), payload: b.payload.clone(), cont: b.cont.erase() })
                .collect()
        };
        match self {
            LocalAction::End => LocalType::End,
            LocalAction::Send { to, branches: bs } => LocalType::Send { to: to.clone(), branches: branches(bs) },
            LocalAction::Recv { from, branches: bs, on_timeout, .. } => {
                let mut all = branches(bs);
                if let Some(t) = on_timeout {
                    all.push(Branch { label: crate::TIMEOUT_LABEL.to_owned(), payload: Vec::new(), cont: t.erase() });
                }
                LocalType::Recv { from: from.clone(), branches: all }
            }
            LocalAction::Choose { arms } => LocalType::Choose { arms: arms.iter().map(LocalAction::erase).collect() },
            LocalAction::Invoke { cont, .. } => cont.erase(),
            LocalAction::Mu { var, body } => LocalType::Mu { var: var.clone(), body: Box::new(body.erase()) },
            LocalAction::Var { var } => LocalType::Var { var: var.clone() },
        }
    }

    /// Whether `var` occurs free in this behaviour.
    pub fn mentions(&self, var: &str) -> bool {
        match self {
            LocalAction::End => false,
            LocalAction::Send { branches, .. } => branches.iter().any(|b| b.cont.mentions(var)),
            LocalAction::Recv { branches, on_timeout, .. } => {
                branches.iter().any(|b| b.cont.mentions(var)) || on_timeout.as_ref().is_some_and(|t| t.mentions(var))
            }
            LocalAction::Choose { arms } => arms.iter().any(|a| a.mentions(var)),
            LocalAction::Invoke { cont, .. } => cont.mentions(var),
            LocalAction::Mu { var: v, body } => v != var && body.mentions(var),
            LocalAction::Var { var: v } => v == var,
        }
    }

    /// Whether this behaviour is `invoke* . var`: a jump back to `var` with no
    /// communication on the way (what a role that takes no part in a loop's
    /// body projects to).
    pub(crate) fn is_silent_jump_to(&self, var: &str) -> bool {
        match self {
            LocalAction::Var { var: v } => v == var,
            LocalAction::Invoke { cont, .. } => cont.is_silent_jump_to(var),
            _ => false,
        }
    }

    /// What this behaviour does first if that is acting (a send or an
    /// effect) rather than waiting for a message or ending: e.g. "sends
    /// `Go` to `B`". `None` for a receive, `end` or a jump.
    pub(crate) fn first_act(&self) -> Option<String> {
        match self {
            LocalAction::End | LocalAction::Var { .. } | LocalAction::Recv { .. } => None,
            LocalAction::Mu { body, .. } => body.first_act(),
            LocalAction::Send { to, branches } => {
                let label = branches.first().map_or("", |b| b.label.as_str());
                Some(format!("sends `{label}` to `{to}`"))
            }
            LocalAction::Choose { arms } => arms.first().and_then(LocalAction::first_act),
            LocalAction::Invoke { effect, check: true, .. } => Some(format!("checks `{effect}`")),
            LocalAction::Invoke { effect, .. } => Some(format!("invokes `{effect}`")),
        }
    }

    /// Whether this behaviour performs any `invoke` before its first
    /// communication.
    pub(crate) fn starts_with_invoke(&self) -> bool {
        matches!(self, LocalAction::Invoke { .. })
    }

    /// `body[var := mu var. body]` for a `Mu`; anything else as is.
    pub(crate) fn unfold(&self) -> LocalAction {
        match self {
            LocalAction::Mu { var, body } => body.substitute(var, self),
            other => other.clone(),
        }
    }

    fn substitute(&self, var: &str, with: &LocalAction) -> LocalAction {
        let branches = |bs: &[ActionBranch]| -> Vec<ActionBranch> {
            bs.iter().map(|b| ActionBranch { cont: b.cont.substitute(var, with), ..b.clone() }).collect()
        };
        match self {
            LocalAction::End => LocalAction::End,
            LocalAction::Var { var: v } if v == var => with.clone(),
            LocalAction::Var { .. } => self.clone(),
            LocalAction::Mu { var: v, .. } if v == var => self.clone(),
            LocalAction::Mu { var: v, body } => {
                LocalAction::Mu { var: v.clone(), body: Box::new(body.substitute(var, with)) }
            }
            LocalAction::Send { to, branches: bs } => LocalAction::Send { to: to.clone(), branches: branches(bs) },
            LocalAction::Choose { arms } => {
                LocalAction::Choose { arms: arms.iter().map(|a| a.substitute(var, with)).collect() }
            }
            LocalAction::Recv { from, branches: bs, timeout_ticks, on_timeout, on_cancel } => LocalAction::Recv {
                from: from.clone(),
                branches: branches(bs),
                timeout_ticks: *timeout_ticks,
                on_timeout: on_timeout.as_ref().map(|t| Box::new(t.substitute(var, with))),
                on_cancel: on_cancel.clone(),
            },
            LocalAction::Invoke { effect, check, cont, origin } => LocalAction::Invoke {
                effect: effect.clone(),
                check: *check,
                cont: Box::new(cont.substitute(var, with)),
                origin: *origin,
            },
        }
    }

    /// Full merge (as in nuscr/Scribble): identical behaviours merge to
    /// themselves; two receives from the same peer merge label-wise (shared
    /// labels need equal payloads and mergeable continuations); a loop
    /// merged with a receive is unfolded once first (nuscr's merge of
    /// recursive branches); anything else is a conflict.
    pub(crate) fn merge(&self, other: &LocalAction) -> Result<LocalAction, MergeConflict> {
        self.merge_within(other, MAX_MERGE_UNFOLDS)
    }

    fn merge_within(&self, other: &LocalAction, unfolds: usize) -> Result<LocalAction, MergeConflict> {
        if self == other {
            return Ok(self.clone());
        }
        match (self, other) {
            (LocalAction::Mu { var: v1, .. }, LocalAction::Mu { var: v2, .. }) if v1 != v2 && unfolds > 0 => {
                self.unfold().merge_within(&other.unfold(), unfolds - 1)
            }
            (LocalAction::Mu { .. }, LocalAction::Recv { .. }) if unfolds > 0 => {
                self.unfold().merge_within(other, unfolds - 1)
            }
            (LocalAction::Recv { .. }, LocalAction::Mu { .. }) if unfolds > 0 => {
                self.merge_within(&other.unfold(), unfolds - 1)
            }
            _ => self.merge_shapes(other, unfolds),
        }
    }

    fn merge_shapes(&self, other: &LocalAction, unfolds: usize) -> Result<LocalAction, MergeConflict> {
        match (self, other) {
            (
                LocalAction::Recv { from: f1, branches: b1, timeout_ticks: t1, on_timeout: o1, on_cancel: c1 },
                LocalAction::Recv { from: f2, branches: b2, timeout_ticks: t2, on_timeout: o2, on_cancel: c2 },
            ) => {
                if c1 != c2 {
                    return Err(MergeConflict(format!("receives from `{f1}` with different `on cancel` effects")));
                }
                if f1 != f2 {
                    return Err(MergeConflict(format!(
                        "receives from `{f1}` in one branch and from `{f2}` in another"
                    )));
                }
                if t1 != t2 {
                    return Err(MergeConflict(format!("receives from `{f1}` with different deadlines")));
                }
                let on_timeout = match (o1, o2) {
                    (None, None) => None,
                    (Some(a), Some(b)) => Some(Box::new(a.merge_within(b, unfolds)?)),
                    _ => {
                        return Err(MergeConflict(format!(
                            "receives from `{f1}` with a timeout branch in one branch and without one in another"
                        )));
                    }
                };
                let branches = merge_branches(b1, b2, unfolds)?;
                Ok(LocalAction::Recv {
                    from: f1.clone(),
                    branches,
                    timeout_ticks: *t1,
                    on_timeout,
                    on_cancel: c1.clone(),
                })
            }
            (
                LocalAction::Invoke { effect: e1, check: k1, cont: c1, origin },
                LocalAction::Invoke { effect: e2, check: k2, cont: c2, .. },
            ) if e1 == e2 && k1 == k2 => Ok(LocalAction::Invoke {
                effect: e1.clone(),
                check: *k1,
                cont: Box::new(c1.merge_within(c2, unfolds)?),
                origin: *origin,
            }),
            (LocalAction::Mu { var: v1, body: c1 }, LocalAction::Mu { var: v2, body: c2 }) if v1 == v2 => {
                Ok(LocalAction::Mu { var: v1.clone(), body: Box::new(c1.merge_within(c2, unfolds)?) })
            }
            _ => Err(MergeConflict(format!(
                "behaves as `{}` in one branch and as `{}` in another",
                self.erase(),
                other.erase()
            ))),
        }
    }
}

/// The most loop unfoldings one merge makes (bounds the work on loops that
/// never line up).
const MAX_MERGE_UNFOLDS: usize = 16;

fn merge_branches(
    b1: &[ActionBranch],
    b2: &[ActionBranch],
    unfolds: usize,
) -> Result<Vec<ActionBranch>, MergeConflict> {
    let mut out = b1.to_vec();
    for b in b2 {
        match out.iter_mut().find(|o| o.label == b.label) {
            Some(o) => {
                if o.payload != b.payload {
                    return Err(MergeConflict(format!("receives `{}` with different payloads", b.label)));
                }
                o.cont = o.cont.merge_within(&b.cont, unfolds)?;
            }
            None => out.push(b.clone()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(from: &str, label: &str, cont: LocalAction) -> LocalAction {
        LocalAction::Recv {
            from: from.into(),
            branches: vec![ActionBranch {
                label: label.into(),
                payload: vec![],
                cont,
                same_payload: false,
                origin: Origin::default(),
            }],
            timeout_ticks: None,
            on_timeout: None,
            on_cancel: Vec::new(),
        }
    }

    #[test]
    fn receives_from_one_peer_merge_label_wise() {
        let a = recv("A", "X", LocalAction::End);
        let b = recv("A", "Y", LocalAction::End);
        let m = a.merge(&b).unwrap();
        assert_eq!(m.erase().to_string(), "A?{X().end, Y().end}");
        let again = m.merge(&recv("A", "X", LocalAction::End)).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn different_peers_or_shapes_conflict() {
        assert!(recv("A", "X", LocalAction::End).merge(&recv("B", "X", LocalAction::End)).is_err());
        assert!(recv("A", "X", LocalAction::End).merge(&LocalAction::End).is_err());
        let deep1 = recv("A", "X", recv("B", "P", LocalAction::End));
        let deep2 = recv("A", "X", LocalAction::End);
        assert!(deep1.merge(&deep2).is_err());
    }

    #[test]
    fn a_loop_merges_with_a_receive_by_unfolding() {
        let lp = LocalAction::Mu {
            var: "X".into(),
            body: Box::new(recv("B", "Item", LocalAction::Var { var: "X".into() })),
        };
        let m = lp.merge(&recv("B", "None", LocalAction::End)).unwrap();
        assert_eq!(m.erase().to_string(), "B?{Item().mu X.B?Item().X, None().end}");
        // Two loops that never line up syntactically: the unfolding stops
        // at its bound with a conflict instead of running forever.
        let other = LocalAction::Mu {
            var: "Y".into(),
            body: Box::new(recv("B", "Item", recv("B", "Item", LocalAction::Var { var: "Y".into() }))),
        };
        assert!(lp.merge(&other).is_err());
    }

    #[test]
    fn a_timeout_branch_erases_to_a_timeout_labelled_branch_and_merges_only_with_its_like() {
        let timed = |t: Option<LocalAction>| LocalAction::Recv {
            from: "W".into(),
            branches: vec![ActionBranch {
                label: "Report".into(),
                payload: vec![],
                cont: LocalAction::End,
                same_payload: false,
                origin: Origin::default(),
            }],
            timeout_ticks: Some(3),
            on_timeout: t.map(Box::new),
            on_cancel: Vec::new(),
        };
        let with = timed(Some(recv("X", "Gone", LocalAction::End)));
        assert_eq!(with.erase().to_string(), "W?{Report().end, @timeout().X?Gone().end}");
        assert_eq!(with.merge(&with.clone()).unwrap(), with);
        assert!(with.merge(&timed(None)).is_err(), "a timeout branch on one side only");
        assert!(with.merge(&timed(Some(LocalAction::End))).is_err(), "different timeout branches");
    }

    #[test]
    fn erase_drops_invokes_and_deadlines() {
        let a = LocalAction::Invoke {
            effect: "Log".into(),
            check: false,
            cont: Box::new(LocalAction::Recv {
                from: "A".into(),
                branches: vec![ActionBranch {
                    label: "X".into(),
                    payload: vec![],
                    cont: LocalAction::End,
                    same_payload: false,
                    origin: Origin::default(),
                }],
                timeout_ticks: Some(3),
                on_timeout: None,
                on_cancel: Vec::new(),
            }),
            origin: Origin::default(),
        };
        assert_eq!(a.erase().to_string(), "A?X().end");
        assert!(a.starts_with_invoke());
        assert!(!a.mentions("X"));
    }
}
