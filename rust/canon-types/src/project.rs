//! Projection: from a [`Protocol`] to one role's behaviour.
//!
//! Standard multiparty projection with full merge (as in nuscr and Scribble):
//! the sender of a message sees a send, the receiver a receive, everyone else
//! nothing; the subject of a choice sees an internal choice; every other role
//! sees the merge of its branches' behaviours, which must be identical or be
//! receives from one peer with compatible labels. A recursion a role takes no
//! part in is pruned: a branch that jumps back to a loop the role has not
//! communicated in since the loop began is dropped from the merge, and a loop
//! whose body is only such a jump projects to `end`. Such a jump may not be
//! dropped inside an inner loop the role takes part in and repeats: on a later
//! pass it is reached after the role communicated (refused as unmergeable).
//!
//! Projection is written once, producing the annotated [`LocalAction`]
//! (which keeps `invoke` steps and receive deadlines); [`project`] erases it
//! to a [`LocalType`].

use crate::action::{ActionBranch, LocalAction};
use crate::codes::ErrorCode;
use crate::global::{GlobalType, Origin, Protocol, Span};
use crate::local::LocalType;
use crate::wf;

/// Why a protocol cannot be projected. Every variant carries the [`Span`] of
/// the offending node (`Span::default()` where there is none, e.g. for a role
/// declaration, which global types do not locate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// A choice branch does not begin with the subject sending.
    #[error("choice at `{subject}`: a branch does not begin with a message sent by `{subject}`")]
    ChoiceSubjectNotSender {
        /// The role that makes the choice.
        subject: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// Two branches of a choice begin with the same label to the same role.
    #[error("choice at `{subject}`: more than one branch begins with `{label}` to `{to}`")]
    DuplicateChoiceLabel {
        /// The role that makes the choice.
        subject: String,
        /// The message label.
        label: String,
        /// The role both branches send it to.
        to: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A choice has no branches.
    #[error("choice at `{subject}` has no branches")]
    EmptyChoice {
        /// The role that makes the choice.
        subject: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A third party's behaviours in a choice's branches do not merge.
    #[error("role `{role}` cannot tell the branches of this choice apart: it {detail}")]
    Unmergeable {
        /// The role concerned.
        role: String,
        /// How its behaviours in the branches differ.
        detail: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A continue is reached from its rec with no message in between.
    #[error("unguarded recursion: `continue {var}` is reached with no message since `rec {var}`")]
    UnguardedRecursion {
        /// The recursion variable.
        var: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A continue names no enclosing rec.
    #[error("`continue {var}` is not inside `rec {var}`")]
    UnboundRecVar {
        /// The recursion variable.
        var: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A declared role never takes part.
    #[error("role `{role}` is declared but never sends, receives or invokes")]
    UnusedRole {
        /// The role concerned.
        role: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A role is used (or projected on) but not declared.
    #[error("role `{role}` is not declared in protocol `{protocol}`")]
    UnknownRole {
        /// The role concerned.
        role: String,
        /// The protocol's name.
        protocol: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A role is declared more than once.
    #[error("role `{role}` is declared more than once")]
    DuplicateRole {
        /// The role concerned.
        role: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A role sends a message to itself.
    #[error("role `{role}` sends `{label}` to itself")]
    SelfCommunication {
        /// The role concerned.
        role: String,
        /// The message label.
        label: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A role invokes effects in a loop it does not communicate in.
    #[error("role `{role}` invokes effects in `rec {var}` but takes no part in its messages, so it would loop forever")]
    SilentLoop {
        /// The role concerned.
        role: String,
        /// The recursion variable.
        var: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A role left out of a loop's repeating branches acts before it is told the choice.
    #[error(
        "role `{role}` takes no part in the branches of this choice that repeat a loop, and in the others it {action} before receiving anything, so it could act before the choice is made"
    )]
    ActsBeforeEnabled {
        /// The role concerned.
        role: String,
        /// What it does first in those branches.
        action: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A message deadline of 0 rounds (`within 0`).
    #[error("`{label}` from `{from}` has a deadline of 0 rounds (`within 0`); a deadline must be at least 1")]
    ZeroTimeout {
        /// The sending role.
        from: String,
        /// The message label.
        label: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// The sender of a message takes part in its timeout branch.
    #[error(
        "the timeout branch of `{label}` {detail}, but `{sender}` has lost its place in the session when the deadline passes"
    )]
    LateSenderInTimeout {
        /// The role that sent the message.
        sender: String,
        /// The message label.
        label: String,
        /// What the timeout branch makes the sender do.
        detail: String,
        /// Where in the choreography source (`Span::default()` if unknown).
        span: Span,
    },
    /// A role may wait for good for a message the late sender of a timed
    /// message owes it from before that message. (Names are boxed strings to
    /// keep the error small.)
    #[error(
        "`{waiting}` may wait forever for `{owed}` from `{sender}`: `{receiver}` may start waiting for `{label}` before `{sender}` sends `{owed}`, and when that deadline passes `{sender}` loses its place and never sends it; have `{receiver}` learn that `{owed}` was sent before it waits (by a message after it from `{sender}` or `{waiting}`), or give `{owed}` a deadline of its own"
    )]
    OwedByLateSender {
        /// The role that would wait.
        waiting: Box<str>,
        /// The label of the message it would wait for.
        owed: Box<str>,
        /// The sender of the timed message (and of the owed one).
        sender: Box<str>,
        /// The timed message's label.
        label: Box<str>,
        /// The timed message's receiver, who decides the timeout.
        receiver: Box<str>,
        /// Where in the choreography source: the timed message.
        span: Span,
    },
}

crate::error_codes! {
    /// The projection and well-formedness codes (6101..), pinned by the codes
    /// snapshot test. 6103 (a choice whose branches begin with messages to
    /// different roles) and 6114 (one label beginning branches to different
    /// roles) are retired: such choices project to a choose among peers,
    /// whose `select_to` names the receiver, and the codes are not reused.
    pub PROJECTION_CODES for ProjectionError {
        ChoiceSubjectNotSender = 6101: "a choice branch does not begin with the subject sending",
        DuplicateChoiceLabel = 6102: "two branches of a choice begin with the same label to the same role",
        EmptyChoice = 6104: "a choice has no branches",
        Unmergeable = 6105: "a third party's behaviours in a choice's branches do not merge",
        UnguardedRecursion = 6106: "a continue is reached from its rec with no message in between",
        UnboundRecVar = 6107: "a continue names no enclosing rec",
        UnusedRole = 6108: "a declared role never takes part",
        UnknownRole = 6109: "a role is used (or projected on) but not declared",
        DuplicateRole = 6110: "a role is declared more than once",
        SelfCommunication = 6111: "a role sends a message to itself",
        SilentLoop = 6112: "a role invokes effects in a loop it does not communicate in",
        ZeroTimeout = 6113: "a message deadline of 0 rounds (`within 0`)",
        ActsBeforeEnabled = 6115: "a role left out of a loop's repeating branches acts before it is told the choice",
        LateSenderInTimeout = 6116: "the sender of a message takes part in its timeout branch",
        OwedByLateSender = 6117: "a role may wait forever for a message the late sender of a timed message owes it",
    }
}

impl ProjectionError {
    /// The source range of the offending node.
    pub fn span(&self) -> Span {
        match self {
            ProjectionError::ChoiceSubjectNotSender { span, .. }
            | ProjectionError::DuplicateChoiceLabel { span, .. }
            | ProjectionError::EmptyChoice { span, .. }
            | ProjectionError::Unmergeable { span, .. }
            | ProjectionError::UnguardedRecursion { span, .. }
            | ProjectionError::UnboundRecVar { span, .. }
            | ProjectionError::UnusedRole { span, .. }
            | ProjectionError::UnknownRole { span, .. }
            | ProjectionError::DuplicateRole { span, .. }
            | ProjectionError::SelfCommunication { span, .. }
            | ProjectionError::SilentLoop { span, .. }
            | ProjectionError::ZeroTimeout { span, .. }
            | ProjectionError::ActsBeforeEnabled { span, .. }
            | ProjectionError::LateSenderInTimeout { span, .. }
            | ProjectionError::OwedByLateSender { span, .. } => *span,
        }
    }

    /// The variant name, as listed in [`PROJECTION_CODES`].
    pub fn name(&self) -> &'static str {
        let code = self.code();
        PROJECTION_CODES.iter().find(|e| e.code == code).map_or("ProjectionError", |e| e.name)
    }
}

/// Projects `protocol` on `role`, erased to its local type.
pub fn project(protocol: &Protocol, role: &str) -> Result<LocalType, ProjectionError> {
    Ok(project_actions(protocol, role)?.erase())
}

/// Projects `protocol` on every declared role, in declaration order.
pub fn project_all(protocol: &Protocol) -> Result<Vec<(String, LocalType)>, ProjectionError> {
    Ok(project_all_actions(protocol)?.into_iter().map(|(r, a)| (r, a.erase())).collect())
}

/// Projects `protocol` on `role`, keeping `invoke` steps and deadlines.
/// Checks well-formedness first.
pub fn project_actions(protocol: &Protocol, role: &str) -> Result<LocalAction, ProjectionError> {
    wf::check(protocol)?;
    project_checked(protocol, role)
}

/// [`project_actions`] for every declared role, in declaration order; checks
/// well-formedness once.
pub fn project_all_actions(protocol: &Protocol) -> Result<Vec<(String, LocalAction)>, ProjectionError> {
    wf::check(protocol)?;
    protocol.roles.iter().map(|r| Ok((r.clone(), project_checked(protocol, r)?))).collect()
}

fn project_checked(protocol: &Protocol, role: &str) -> Result<LocalAction, ProjectionError> {
    if !protocol.roles.iter().any(|r| r == role) {
        return Err(ProjectionError::UnknownRole {
            role: role.to_owned(),
            protocol: protocol.name.clone(),
            span: Span::default(),
        });
    }
    let mut unguarded = Vec::new();
    Projector { role, pruned: std::cell::RefCell::new(Vec::new()), resumed: std::cell::RefCell::new(Vec::new()) }
        .node(&protocol.body, &mut unguarded)
}

/// Projects on one role. `unguarded` holds the recursion variables bound
/// since the role last communicated, outermost first.
struct Projector<'a> {
    role: &'a str,
    /// Every jump left out of a merge (its loop variable and the choice's
    /// span), in projection order: a loop checks the ones made in its body.
    pruned: std::cell::RefCell<Vec<(String, Span)>>,
    /// Merges that left out a jump and go on by jumping back to an enclosing
    /// loop the role has communicated in (its loop variable and the choice's
    /// span): that loop checks, once its body is projected, that the role
    /// does not act first in it (E6115).
    resumed: std::cell::RefCell<Vec<(String, Span)>>,
}

impl Projector<'_> {
    fn node(&self, g: &GlobalType, unguarded: &mut Vec<String>) -> Result<LocalAction, ProjectionError> {
        match g {
            GlobalType::End => Ok(LocalAction::End),
            GlobalType::Message {
                from,
                to,
                label,
                payload,
                timeout_ticks,
                cont,
                same_payload,
                span,
                on_timeout,
                on_cancel,
            } => {
                if from != self.role && to != self.role {
                    let Some(t) = on_timeout else { return self.node(cont, unguarded) };
                    // A third party: the receiver decides between the message
                    // and its timeout branch, as in a choice at the receiver.
                    let normal = self.node(cont, &mut unguarded.clone())?;
                    let timed_out = self.node(t, &mut unguarded.clone())?;
                    return self.merge(vec![normal, timed_out], unguarded, *span);
                }
                let on_timeout = match on_timeout {
                    Some(t) if to == self.role => Some(Box::new(self.node(t, &mut Vec::new())?)),
                    _ => None,
                };
                let cont = self.node(cont, &mut Vec::new())?;
                let same_payload = *same_payload && from == self.role;
                let branches = vec![ActionBranch {
                    label: label.clone(),
                    payload: payload.clone(),
                    cont,
                    same_payload,
                    origin: Origin(*span),
                }];
                Ok(if from == self.role {
                    LocalAction::Send { to: to.clone(), branches }
                } else {
                    LocalAction::Recv {
                        from: from.clone(),
                        branches,
                        timeout_ticks: *timeout_ticks,
                        on_timeout,
                        on_cancel: on_cancel.clone(),
                    }
                })
            }
            GlobalType::Invoke { role, effect, check, cont, span } => {
                let cont = self.node(cont, unguarded)?;
                Ok(if role == self.role {
                    LocalAction::Invoke {
                        effect: effect.clone(),
                        check: *check,
                        cont: Box::new(cont),
                        origin: Origin(*span),
                    }
                } else {
                    cont
                })
            }
            GlobalType::Choice { at, branches, span } => {
                let mut projected = Vec::with_capacity(branches.len());
                for b in branches {
                    projected.push(self.node(b, &mut unguarded.clone())?);
                }
                if at == self.role {
                    self.select(at, projected, *span)
                } else {
                    self.merge(projected, unguarded, *span)
                }
            }
            GlobalType::Rec { var, body, span } => {
                let outer = unguarded.clone();
                let pruned_before = self.pruned.borrow().len();
                unguarded.push(var.clone());
                let body = self.node(body, unguarded);
                unguarded.retain(|v| v != var);
                let body = body?;
                if body.is_silent_jump_to(var) {
                    if body.starts_with_invoke() {
                        return Err(ProjectionError::SilentLoop {
                            role: self.role.to_owned(),
                            var: var.clone(),
                            span: *span,
                        });
                    }
                    return Ok(LocalAction::End);
                }
                // A jump back to an enclosing loop was left out of a merge in
                // this loop's body, where the role had not communicated since
                // the enclosing loop began. If the role also communicates in
                // this loop and repeats it, the jump is reached again after
                // that communication, on a later pass: the role would stay in
                // this loop while the others go back to the enclosing one.
                if body.mentions(var) {
                    let pruned = self.pruned.borrow();
                    if let Some((jump, at)) = pruned[pruned_before..].iter().find(|(v, _)| outer.contains(v)) {
                        return Err(ProjectionError::Unmergeable {
                            role: self.role.to_owned(),
                            detail: format!(
                                "takes part in `rec {var}` but not in this branch, which goes back to `rec {jump}`, so it cannot tell when `rec {var}` ends"
                            ),
                            span: *at,
                        });
                    }
                }
                // A merge in this loop's body left out a jump and goes on by
                // repeating this loop: the role repeats it before it is told
                // the choice, so it must not act first in it.
                let resumed = self.resumed.borrow().iter().find(|(v, _)| v == var).map(|(_, at)| *at);
                if let Some(at) = resumed
                    && let Some(action) = body.first_act()
                {
                    return Err(ProjectionError::ActsBeforeEnabled { role: self.role.to_owned(), action, span: at });
                }
                self.resumed.borrow_mut().retain(|(v, _)| v != var);
                Ok(if body.mentions(var) { LocalAction::Mu { var: var.clone(), body: Box::new(body) } } else { body })
            }
            GlobalType::Continue { var, .. } => Ok(LocalAction::Var { var: var.clone() }),
        }
    }

    /// The subject's view of a choice: the branches' first messages grouped
    /// by receiver. Branches that all send to one peer give one send whose
    /// branches are those messages; branches that send to different peers
    /// give a [`LocalAction::Choose`] with one send per peer, in order of
    /// first appearance (well-formedness guarantees each branch projects to
    /// a one-branch send). One label may begin branches to different
    /// receivers: the receiver and the label name the branch.
    fn select(&self, at: &str, projected: Vec<LocalAction>, span: Span) -> Result<LocalAction, ProjectionError> {
        let mut groups: Vec<(String, Vec<crate::action::ActionBranch>)> = Vec::new();
        for p in projected {
            let LocalAction::Send { to, branches } = p else {
                return Err(ProjectionError::ChoiceSubjectNotSender { subject: at.to_owned(), span });
            };
            match groups.iter_mut().find(|(peer, _)| *peer == to) {
                Some((_, all)) => all.extend(branches),
                None => groups.push((to, branches)),
            }
        }
        let mut sends = groups.into_iter().map(|(to, branches)| LocalAction::Send { to, branches });
        match (sends.next(), sends.len()) {
            (None, _) => Err(ProjectionError::EmptyChoice { subject: at.to_owned(), span }),
            (Some(only), 0) => Ok(only),
            (Some(first), _) => Ok(LocalAction::Choose { arms: std::iter::once(first).chain(sends).collect() }),
        }
    }

    /// A third party's view of a choice: the merge of its branches, leaving
    /// out branches that only jump back to a loop it has not communicated in.
    fn merge(
        &self,
        projected: Vec<LocalAction>,
        unguarded: &[String],
        span: Span,
    ) -> Result<LocalAction, ProjectionError> {
        let silent = |p: &LocalAction| matches!(p, LocalAction::Var { var } if unguarded.contains(var));
        let (jumps, live): (Vec<LocalAction>, Vec<LocalAction>) = projected.into_iter().partition(silent);
        if !live.is_empty() {
            let mut pruned = self.pruned.borrow_mut();
            for j in &jumps {
                if let LocalAction::Var { var } = j {
                    pruned.push((var.clone(), span));
                }
            }
        }
        let mut live = live.into_iter();
        let Some(first) = live.next() else {
            // Every branch loops back without this role: keep the outermost
            // loop so pruning continues outward.
            let outermost = unguarded.iter().find(|v| jumps.iter().any(|j| j.is_silent_jump_to(v)));
            return Ok(outermost.map_or(LocalAction::End, |v| LocalAction::Var { var: v.clone() }));
        };
        let merged = live.try_fold(first, |acc, p| {
            acc.merge(&p).map_err(|c| ProjectionError::Unmergeable { role: self.role.to_owned(), detail: c.0, span })
        })?;
        // Branches were left out because this role takes no part in them:
        // it learns which branch was taken only from a message it
        // receives. If it would act first, it would act before the choice
        // is made (once per pass of a loop it cannot see), which the global
        // protocol does not allow.
        if !jumps.is_empty()
            && let Some(action) = merged.first_act()
        {
            return Err(ProjectionError::ActsBeforeEnabled { role: self.role.to_owned(), action, span });
        }
        // The same when the merge goes on by jumping back to a loop the role
        // has communicated in: its first act is that loop's, checked there.
        if !jumps.is_empty()
            && let LocalAction::Var { var } = &merged
        {
            self.resumed.borrow_mut().push((var.clone(), span));
        }
        Ok(merged)
    }
}
