//! Well-formedness of global types, checked before projection: roles are
//! declared once and used, nobody talks to itself, every choice branch begins
//! with its subject sending (with distinct labels), and every
//! `continue` names an enclosing `rec` and is guarded by a message, and every
//! deadline is at least one round. Timeout branches leave the late sender
//! out, and the late sender owes nobody a message that role would wait for
//! for good (`crate::owed`).
//!
//! Mergeability is not checked here: it depends on the role and is found by
//! projection itself.

use crate::global::{GlobalType, Protocol, Span};
use crate::project::ProjectionError;

/// The span of a global-type node (`Span::default()` for `End`).
pub fn span_of(g: &GlobalType) -> Span {
    match g {
        GlobalType::End => Span::default(),
        GlobalType::Message { span, .. }
        | GlobalType::Invoke { span, .. }
        | GlobalType::Choice { span, .. }
        | GlobalType::Rec { span, .. }
        | GlobalType::Continue { span, .. } => *span,
    }
}

/// Checks `protocol`, returning the first error in source order.
pub fn check(protocol: &Protocol) -> Result<(), ProjectionError> {
    for (i, role) in protocol.roles.iter().enumerate() {
        if protocol.roles[..i].contains(role) {
            return Err(ProjectionError::DuplicateRole { role: role.clone(), span: Span::default() });
        }
    }
    let mut checker = Checker { protocol, used: vec![false; protocol.roles.len()], bound: Vec::new() };
    checker.node(&protocol.body, &mut Vec::new())?;
    if let Some((role, _)) = protocol.roles.iter().zip(&checker.used).find(|(_, used)| !**used) {
        return Err(ProjectionError::UnusedRole { role: role.clone(), span: Span::default() });
    }
    crate::owed::check(protocol)
}

/// The timeout branch `t` of message `label` from `sender`: the sender has
/// lost its place in the session when the deadline passes, so it may not
/// take part in the branch, and the branch may not jump back to a loop
/// around the message (that loop has the sender send it again).
fn late_sender(sender: &str, label: &str, t: &GlobalType, span: Span) -> Result<(), ProjectionError> {
    let refuse = |detail: String, at: Span| ProjectionError::LateSenderInTimeout {
        sender: sender.to_owned(),
        label: label.to_owned(),
        detail,
        span: if at == Span::default() { span } else { at },
    };
    let mut bound: Vec<&str> = Vec::new();
    let mut stack: Vec<(&GlobalType, usize)> = vec![(t, 0)];
    while let Some((g, depth)) = stack.pop() {
        bound.truncate(depth);
        match g {
            GlobalType::End => {}
            GlobalType::Message { from, to, cont, on_timeout, span, .. } => {
                if from == sender || to == sender {
                    return Err(refuse(format!("has `{sender}` exchange a message"), *span));
                }
                stack.push((cont, depth));
                if let Some(o) = on_timeout {
                    stack.push((o, depth));
                }
            }
            GlobalType::Invoke { role, cont, span, .. } => {
                if role == sender {
                    return Err(refuse(format!("has `{sender}` invoke an effect"), *span));
                }
                stack.push((cont, depth));
            }
            GlobalType::Choice { at, branches, span } => {
                if at == sender {
                    return Err(refuse(format!("has `{sender}` choose"), *span));
                }
                stack.extend(branches.iter().map(|b| (b, depth)));
            }
            GlobalType::Rec { var, body, .. } => {
                bound.push(var);
                stack.push((body, depth + 1));
            }
            GlobalType::Continue { var, span } => {
                if !bound.contains(&var.as_str()) {
                    return Err(refuse(format!("jumps back to `rec {var}` around the message"), *span));
                }
            }
        }
    }
    Ok(())
}

struct Checker<'a> {
    protocol: &'a Protocol,
    /// Per declared role: does it appear anywhere?
    used: Vec<bool>,
    /// Enclosing `rec` variables, outermost first.
    bound: Vec<String>,
}

impl Checker<'_> {
    fn role(&mut self, role: &str, span: Span) -> Result<(), ProjectionError> {
        match self.protocol.roles.iter().position(|r| r == role) {
            Some(i) => {
                self.used[i] = true;
                Ok(())
            }
            None => {
                Err(ProjectionError::UnknownRole { role: role.to_owned(), protocol: self.protocol.name.clone(), span })
            }
        }
    }

    /// `unguarded`: the `rec` variables entered since the last message.
    fn node(&mut self, g: &GlobalType, unguarded: &mut Vec<String>) -> Result<(), ProjectionError> {
        match g {
            GlobalType::End => Ok(()),
            GlobalType::Message { from, to, label, timeout_ticks, cont, span, on_timeout, .. } => {
                self.role(from, *span)?;
                self.role(to, *span)?;
                if from == to {
                    return Err(ProjectionError::SelfCommunication {
                        role: from.clone(),
                        label: label.clone(),
                        span: *span,
                    });
                }
                if *timeout_ticks == Some(0) {
                    return Err(ProjectionError::ZeroTimeout { from: from.clone(), label: label.clone(), span: *span });
                }
                if let Some(t) = on_timeout {
                    late_sender(from, label, t, *span)?;
                    self.node(t, &mut Vec::new())?;
                }
                self.node(cont, &mut Vec::new())
            }
            GlobalType::Invoke { role, cont, span, .. } => {
                self.role(role, *span)?;
                self.node(cont, unguarded)
            }
            GlobalType::Choice { at, branches, span } => {
                self.role(at, *span)?;
                self.choice_heads(at, branches, *span)?;
                for b in branches {
                    self.node(b, &mut unguarded.clone())?;
                }
                Ok(())
            }
            GlobalType::Rec { var, body, .. } => {
                self.bound.push(var.clone());
                unguarded.push(var.clone());
                let result = self.node(body, unguarded);
                unguarded.pop();
                self.bound.pop();
                result
            }
            GlobalType::Continue { var, span } => {
                if !self.bound.contains(var) {
                    Err(ProjectionError::UnboundRecVar { var: var.clone(), span: *span })
                } else if unguarded.contains(var) {
                    Err(ProjectionError::UnguardedRecursion { var: var.clone(), span: *span })
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Every branch begins with `at` sending, with distinct (receiver,
    /// label) pairs: the branches may send to different receivers, even the
    /// same label (the subject's code names the receiver); each other role
    /// learns the branch from the first message it receives, which
    /// projection's merge checks.
    fn choice_heads(&self, at: &str, branches: &[GlobalType], span: Span) -> Result<(), ProjectionError> {
        if branches.is_empty() {
            return Err(ProjectionError::EmptyChoice { subject: at.to_owned(), span });
        }
        let mut heads: Vec<(&str, &str)> = Vec::with_capacity(branches.len());
        for b in branches {
            let GlobalType::Message { from, to, label, span: head_span, .. } = b else {
                let at_span = if span_of(b) == Span::default() { span } else { span_of(b) };
                return Err(ProjectionError::ChoiceSubjectNotSender { subject: at.to_owned(), span: at_span });
            };
            if from != at {
                return Err(ProjectionError::ChoiceSubjectNotSender { subject: at.to_owned(), span: *head_span });
            }
            if heads.iter().any(|(t, l)| t == to && l == label) {
                return Err(ProjectionError::DuplicateChoiceLabel {
                    subject: at.to_owned(),
                    label: label.clone(),
                    to: to.clone(),
                    span: *head_span,
                });
            }
            heads.push((to, label));
        }
        Ok(())
    }
}
