//! Well-formedness of global types, checked before projection: roles are
//! declared once and used, nobody talks to itself, every choice branch begins
//! with its subject sending (with distinct labels), and every
//! `continue` names an enclosing `rec` and is guarded by a message, and every
//! deadline is at least one round.
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
    match protocol.roles.iter().zip(&checker.used).find(|(_, used)| !**used) {
        Some((role, _)) => Err(ProjectionError::UnusedRole { role: role.clone(), span: Span::default() }),
        None => Ok(()),
    }
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
            GlobalType::Message { from, to, label, timeout_ticks, cont, span, .. } => {
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

    /// Every branch begins with `at` sending, with distinct labels (the
    /// branches may send to different receivers: each other role learns the
    /// branch from the first message it receives, which projection's merge
    /// checks).
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
            if let Some((first, _)) = heads.iter().find(|(_, l)| l == label) {
                if first != to {
                    return Err(ProjectionError::ChoiceLabelToSeveralRoles {
                        subject: at.to_owned(),
                        label: label.clone(),
                        first: (*first).to_owned(),
                        other: to.clone(),
                        span: *head_span,
                    });
                }
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
